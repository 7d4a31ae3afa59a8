"""Final-answer extraction and answer equivalence.

Voting only works if two samples that reach the same result are recognised as agreeing, so
extraction and equality are kept separate and pluggable: a task with its own answer format
(code, JSON, a label set) swaps the extractor or the equality without touching the voters.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Protocol, runtime_checkable

AnswerEquality = Callable[[str, str], bool]
"""Decides whether two extracted answers mean the same thing."""


@runtime_checkable
class AnswerExtractor(Protocol):
    """Anything that turns a model's full response into its final answer, or ``None``."""

    def __call__(self, text: str) -> str | None: ...


_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_GSM8K = re.compile(r"####\s*([^\n]+)")
# "the answer is X" / "Answer: X", up to the end of the sentence (a period followed by
# whitespace, so decimals survive) or of the line.
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*([^\n]+?)\s*(?=\.\s|\.?\s*$)", re.I | re.M)
_CHOICE_ALONE = re.compile(r"^\s*\(?([A-J])\)?[.:]?\s*$", re.M)
_CHOICE = re.compile(r"^\(?([A-J])\)?[.:]?$")
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_FRACTION = re.compile(r"^([-+]?)(?:\\frac\{([^{}]+)\}\{([^{}]+)\}|([^/]+)/([^/]+))$")
_TEXT_WRAP = re.compile(r"^\\(?:text|textbf|mathrm)\{([^{}]*)\}$")


def _last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``, matching braces so nested LaTeX stays whole."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i]
    return None


def normalize_answer(answer: str) -> str:
    """Canonical surface form, so that cosmetic differences never split a vote."""
    s = answer.strip()
    for token in ("\\left", "\\right", "\\!", "\\,", "\\;", "$"):
        s = s.replace(token, "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\s+", "", s)
    s = s.rstrip(".")
    wrapped = _TEXT_WRAP.match(s)
    if wrapped:
        s = wrapped.group(1)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    return s


def _as_choice(candidate: str) -> str:
    """``(B)``, ``B.`` and ``B`` are the same multiple-choice answer."""
    m = _CHOICE.match(candidate.strip())
    return m.group(1) if m else candidate


def extract_answer(text: str) -> str | None:
    """Default extractor: the most explicit answer marker present wins.

    Order matters: a boxed answer or a GSM8K ``####`` line is an unambiguous declaration,
    while the last number or last line are guesses kept for models that skip the formatting.
    """
    if not text or not text.strip():
        return None
    candidate: str | None = _last_boxed(text)
    if candidate is None:
        gsm = _GSM8K.findall(text)
        candidate = gsm[-1] if gsm else None
    if candidate is None:
        said = _ANSWER_IS.findall(text)
        candidate = _as_choice(normalize_answer(said[-1])) if said else None
    if candidate is None:
        alone = _CHOICE_ALONE.findall(text)
        candidate = alone[-1] if alone else None
    if candidate is None:
        numbers = _NUMBER.findall(text)
        candidate = numbers[-1] if numbers else None
    if candidate is None:
        lines = [line for line in text.splitlines() if line.strip()]
        candidate = lines[-1]
    normalized = normalize_answer(candidate)
    return normalized or None


def _to_number(s: str) -> float | None:
    """A finite float for plain numbers and simple fractions, else ``None``."""
    if _PLAIN_NUMBER.match(s):
        value = float(s)
        return value if math.isfinite(value) else None
    m = _FRACTION.match(s)
    if not m:
        return None
    num, den = (m.group(2), m.group(3)) if m.group(2) is not None else (m.group(4), m.group(5))
    if not (_PLAIN_NUMBER.match(num) and _PLAIN_NUMBER.match(den)):
        return None
    d = float(den)
    if d == 0:
        return None
    value = float(num) / d
    return -value if m.group(1) == "-" else value


@functools.lru_cache(maxsize=1)
def _math_verify() -> ModuleType | None:
    try:
        import math_verify
    except ImportError:
        return None
    return math_verify


def _verify_latex(a: str, b: str) -> bool:
    """Symbolic equivalence via HuggingFace ``math_verify``; any failure counts as unequal.

    Its timeouts use ``signal.alarm``, which only works in the main thread, so elsewhere
    (a live router's worker threads) they are switched off rather than crashing.
    """
    mv = _math_verify()
    if mv is None:
        return False
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        parsed = []
        for s in (a, b):
            p = mv.parse(s, parsing_timeout=timeout)
            if not p:
                p = mv.parse(f"${s}$", parsing_timeout=timeout)
            if not p:
                return False
            parsed.append(p)
        return bool(mv.verify(parsed[0], parsed[1], timeout_seconds=timeout))
    except Exception:
        return False


def answers_equal(a: str, b: str) -> bool:
    """Equivalence of two extracted answers, cheapest check first.

    When both sides are plain numbers or both are choice letters the cheap comparison is
    final: asking a symbolic checker whether 3 equals 4 would only cost time.
    """
    na, nb = normalize_answer(a), normalize_answer(b)
    if na == nb:
        return True
    xa, xb = _to_number(na), _to_number(nb)
    if xa is not None and xb is not None:
        return math.isclose(xa, xb, rel_tol=1e-9, abs_tol=0.0)
    if _CHOICE.match(na) and _CHOICE.match(nb):
        return _as_choice(na) == _as_choice(nb)
    return _verify_latex(a, b)
