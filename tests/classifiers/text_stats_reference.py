"""The text statistics the packaged model was trained on, frozen: a pure-Python copy of
TextStats up to its vectorised rewrite. ``test_text_stats_oracle`` holds TextStats to it bit
for bit, and ``bench/bench_route_latency.py`` times it as the "before" side."""

from __future__ import annotations

import math
import re

import numpy as np

# Frozen: do not edit.
_HEAD_CHARS = 4096
_TAIL_CHARS = 4096
_LATEX_CMD = re.compile(r"\\[A-Za-z]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CODE_WORD = re.compile(
    r"\b(?:def|return|import|elif|lambda|function|const|void|printf|println)\b|#include"
)
_CHOICE_LINE = re.compile(r"^[ \t]*(?:\([A-Ha-h]\)|[A-H][.)])[ \t]+\S", re.MULTILINE)
_TURN_LINE = re.compile(r"^[ \t]*(?:User|Assistant|Human|System|Q|A)[ \t]*:", re.MULTILINE)
_DIGITS = str.maketrans("", "", "0123456789")


def clip(text: str) -> str:
    if len(text) <= _HEAD_CHARS + _TAIL_CHARS:
        return text
    return f"{text[:_HEAD_CHARS]}\n{text[-_TAIL_CHARS:]}"


def reference_row(text: str) -> list[float]:
    t = clip(text)
    n = len(t)
    words = t.split()
    log = math.log1p
    denom = max(n, 1)
    return [
        log(len(text)),
        log(len(words)),
        log(t.count("\n") + 1 if t else 0),
        (n - len(t.translate(_DIGITS))) / denom,
        (n - len(t.encode("ascii", "ignore"))) / denom,
        log(len(_LATEX_CMD.findall(t))),
        log(t.count("$")),
        log(t.count("^")),
        log(t.count("=")),
        log(len(_NUMBER.findall(t))),
        log(t.count("```")),
        log(len(_CODE_WORD.findall(t))),
        log(t.count("{") + t.count("}")),
        log(t.count(";")),
        log(t.count("?")),
        log(len(_CHOICE_LINE.findall(t))),
        log(len(_TURN_LINE.findall(t))),
        log(max(map(len, words), default=0)),
    ]


def reference(texts: list[str]) -> np.ndarray:
    out = np.empty((len(texts), 18), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i] = reference_row(text)
    return out
