"""Surface statistics of query texts, computed for many texts at once.

The features are defined by the pure-Python implementation the packaged model was trained on
(``str.split``, ``str.count``, ``str.translate`` and five regular expressions over the text as
:func:`clip` cuts it); ``tests/classifiers/test_text_stats_oracle.py`` keeps a frozen copy of
it and checks that this module agrees with it exactly. Here the texts of a batch are joined,
each after a newline, into one string whose code points go into one numpy array: one table
lookup classifies every character, one ``bincount`` counts each class per text, and runs of
word and digit characters are found with a few array operations. The three patterns that
remain regular expressions are rewritten to start with a literal, so the regex engine jumps
between candidates instead of trying every position. A single short text, where a dozen
numpy calls cost more than the work, goes through the reference's own string methods
(:func:`short_row`, with a faster digit count).

Equivalences the rewrite relies on (each covered by the oracle test):

- ``\\b(?:def|...)\\b|#include`` counts whole-word keyword occurrences plus ``#include``:
  whole words cannot overlap, and ``#include`` contains no keyword as a whole word;
  ``kw(?<!\\w kw)\\b`` is ``\\bkw\\b`` with the literal first.
- ``^...`` under MULTILINE matches at the start and after each newline; with every text
  placed after a newline, ``\\n...`` finds the same lines (no pattern crosses a newline).
- ``\\d+(?:[.,]\\d+)?`` matches greedily from the first digit run of each chain of runs
  joined by single ``.``/``,``: a chain of m runs holds ceil(m / 2) matches.
- ``\\\\[A-Za-z]+`` matches once per backslash followed by an ASCII letter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt

HEAD_CHARS = 4096
"""Characters read from the start of a long text (see :func:`clip`)."""
TAIL_CHARS = 4096
"""Characters read from the end of a long text (see :func:`clip`)."""


def clip(text: str) -> str:
    """The part of ``text`` a featurizer reads: all of it up to ``HEAD_CHARS + TAIL_CHARS``
    characters, else its head and tail joined by a newline.

    Routing runs on every request, before the provider call, so its cost must not grow with
    the prompt: a 990K-character prompt took 76 ms to featurize whole, blocking every other
    request on the event loop. The head holds the instructions and the tail the question,
    which is what difficulty depends on; the middle of a long prompt is mostly pasted
    material. Texts under the cap are read whole, so a model trained before the cap gets
    the same features for them (and the packaged model's probe check still passes).
    """
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return f"{text[:HEAD_CHARS]}\n{text[-TAIL_CHARS:]}"


STATS_NAMES: Final[tuple[str, ...]] = (
    "log_chars", "log_words", "log_lines", "digit_ratio", "non_ascii_ratio",
    "log_latex_cmds", "log_dollars", "log_carets", "log_equals", "log_numbers",
    "log_code_fences", "log_code_words", "log_braces", "log_semicolons",
    "log_question_marks", "log_choice_lines", "log_turn_lines", "log_max_word_len",
)  # fmt: skip

# Character classes: one lookup per character, then one bincount per batch.
_OTHER, _DIGIT, _DOLLAR, _CARET, _EQUALS, _BRACE, _SEMI, _QUESTION = range(8)
_LETTER, _BACKSLASH, _POINT, _NON_ASCII, _NEWLINE, _SPACE = range(8, 14)
_N_CLASSES = 14  # the whitespace classes come last: a character is in a word if cls < _NEWLINE


def _class_table() -> npt.NDArray[np.uint8]:
    table = np.full(129, _OTHER, dtype=np.uint8)  # index 128: every non-ASCII code point
    for c in range(128):
        if chr(c).isspace():  # str.split's whitespace, \x1c-\x1f included
            table[c] = _SPACE
    for chars, cls in (
        ("0123456789", _DIGIT),
        ("$", _DOLLAR),
        ("^", _CARET),
        ("=", _EQUALS),
        ("{}", _BRACE),
        (";", _SEMI),
        ("?", _QUESTION),
        ("\n", _NEWLINE),
        ("\\", _BACKSLASH),
        (".,", _POINT),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", _LETTER),
    ):
        table[[ord(c) for c in chars]] = cls
    table[128] = _NON_ASCII
    return table


_CLASS: Final = _class_table()

_KEYWORDS = ("def", "return", "import", "elif", "lambda", "function", "const", "void",
             "printf", "println")  # fmt: skip
_KEYWORD_PATTERNS: Final = tuple((kw, re.compile(rf"{kw}(?<!\w{kw})\b")) for kw in _KEYWORDS)
_INCLUDE = re.compile("#include")
_FENCE = re.compile("```")
_CHOICE_LINE = re.compile(r"\n[ \t]*(?:\([A-Ha-h]\)|[A-H][.)])[ \t]+\S")
_TURN_LINE = re.compile(r"\n[ \t]*(?:User|Assistant|Human|System|Q|A)[ \t]*:")

_LOGGED = [1, 2, *range(5, 18)]
"""Columns that are log1p of a count."""

# The reference's own patterns, for short texts (see short_row).
_LATEX_CMD = re.compile(r"\\[A-Za-z]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CODE_WORD = re.compile(
    r"\b(?:def|return|import|elif|lambda|function|const|void|printf|println)\b|#include"
)
_CHOICE_LINE_START = re.compile(r"^[ \t]*(?:\([A-Ha-h]\)|[A-H][.)])[ \t]+\S", re.MULTILINE)
_TURN_LINE_START = re.compile(r"^[ \t]*(?:User|Assistant|Human|System|Q|A)[ \t]*:", re.MULTILINE)

_SHORT_CHARS = 1000
"""Below this length a single text is cheaper with string methods (:func:`short_row`)."""

_BATCH_CHARS = 1 << 20
"""Characters featurized per pass: bounds the arrays of a large batch (a few MB each)."""

IntArray = npt.NDArray[np.int64]


def text_stats(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """The (len(texts), 18) float32 statistics of :data:`STATS_NAMES`, in that order."""
    out = np.empty((len(texts), len(STATS_NAMES)), dtype=np.float32)
    if len(texts) == 1 and len(texts[0]) < _SHORT_CHARS:
        out[0] = short_row(texts[0])
        return out
    start = 0
    while start < len(texts):
        stop, size = start, 0
        while stop < len(texts) and (stop == start or size < _BATCH_CHARS):
            size += min(len(texts[stop]), HEAD_CHARS + TAIL_CHARS + 1) + 1
            stop += 1
        out[start:stop] = _rows(texts[start:stop])
        start = stop
    return out


def short_row(text: str) -> list[float]:
    """One short text's statistics with string methods and regular expressions: for a
    single routing decision on a short prompt, a few numpy calls cost more than this."""
    t = clip(text)
    n = len(t)
    words = t.split()
    raw = t.encode("utf-8", "surrogatepass")  # ASCII digits are ASCII bytes in UTF-8
    log = math.log1p
    denom = max(n, 1)
    return [
        log(len(text)),
        log(len(words)),
        log(t.count("\n") + 1 if t else 0),
        (len(raw) - len(raw.translate(None, b"0123456789"))) / denom,
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
        log(len(_CHOICE_LINE_START.findall(t))),
        log(len(_TURN_LINE_START.findall(t))),
        log(max(map(len, words), default=0)),
    ]


def _rows(texts: Sequence[str]) -> npt.NDArray[np.float64]:
    clipped = [clip(t) for t in texts]
    joined = "\n" + "\n".join(clipped)
    lengths = [len(t) for t in clipped]
    if joined.isascii():
        codes: npt.NDArray[np.unsignedinteger] = np.frombuffer(
            joined.encode("ascii"), dtype=np.uint8
        )
    else:
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    cls = _CLASS.take(codes, mode="clip")  # every non-ASCII code point reads entry 128
    at = _Texts(lengths)

    counts = at.class_counts(cls)
    word = cls < _NEWLINE  # not whitespace as str.split sees it (below, beyond ASCII too)
    decimal = cls == _DIGIT if counts[:, _DIGIT].any() else None  # what \d matches...
    if counts[:, _NON_ASCII].any():
        others = np.unique(codes[cls == _NON_ASCII]).tolist()
        spaces = [c for c in others if chr(c).isspace()]
        decimals = [c for c in others if chr(c).isdecimal()]  # ...beyond ASCII too
        if spaces:
            word &= ~np.isin(codes, spaces)
        if decimals:
            in_decimals = np.isin(codes, decimals)
            decimal = in_decimals if decimal is None else decimal | in_decimals

    begin, end = _runs(word)  # the newlines between texts end every word
    words, longest = at.count(begin), at.longest(begin, end - begin)
    numbers = at.zeros() if decimal is None else _number_count(decimal, cls, at)
    if counts[:, _BACKSLASH].any():
        backslash = (cls[:-1] == _BACKSLASH).nonzero()[0]  # the last character is no command
        latex = at.count(backslash[cls[backslash + 1] == _LETTER])
    else:
        latex = at.zeros()
    code_words = at.matches(_INCLUDE, joined)
    for kw, pattern in _KEYWORD_PATTERNS:
        if kw in joined:
            code_words += at.matches(pattern, joined)
    fences = at.matches(_FENCE, joined)
    choices = at.matches(_CHOICE_LINE, joined, at_newline=True)
    turns = at.matches(_TURN_LINE, joined, at_newline=True)

    lines = np.where(at.sizes > 0, counts[:, _NEWLINE] + 1, 0)
    denom = np.maximum(at.sizes, 1).astype(np.float64)
    out = np.empty((at.n, len(STATS_NAMES)), dtype=np.float64)
    out[:, 0] = [math.log1p(len(t)) for t in texts]  # the true length, not the clipped one
    out[:, 3] = counts[:, _DIGIT] / denom  # int64 / float64: Python's int / int, exactly
    out[:, 4] = counts[:, _NON_ASCII] / denom
    logged = np.stack(
        [
            words,
            lines,
            latex,
            counts[:, _DOLLAR],
            counts[:, _CARET],
            counts[:, _EQUALS],
            numbers,
            fences,
            code_words,
            counts[:, _BRACE],
            counts[:, _SEMI],
            counts[:, _QUESTION],
            choices,
            turns,
            longest,
        ],
        axis=1,
    )
    out[:, _LOGGED] = _log1p_table()[logged]  # every count is at most the clipped length + 1
    return out


@cache
def _log1p_table() -> npt.NDArray[np.float64]:
    """``math.log1p(i)`` for every count a clipped text can hold: the very doubles the
    reference implementation computed (numpy's own log1p may differ in the last bit)."""
    return np.array([math.log1p(i) for i in range(HEAD_CHARS + TAIL_CHARS + 3)])


class _Texts:
    """Where each text of a batch lies in the joined string (text i after the i-th newline),
    and per-text sums over positions in it; a batch of one skips the bookkeeping."""

    def __init__(self, lengths: list[int]) -> None:
        self.n = len(lengths)
        size = np.array(lengths, dtype=np.int64)
        self.starts = np.cumsum(size + 1) - size
        self.sizes = size
        self._owner: IntArray | None = None

    @property
    def owner(self) -> IntArray:
        """The text of each character; the newlines before texts belong to none (n)."""
        if self._owner is None:
            n = self.n
            self._owner = np.repeat(
                np.stack([np.full(n, n), np.arange(n)], axis=1).ravel(),
                np.stack([np.ones(n, dtype=np.int64), self.sizes], axis=1).ravel(),
            )
        return self._owner

    def class_counts(self, cls: npt.NDArray[np.uint8]) -> IntArray:
        """(n, classes): how many characters of each class each text holds."""
        if self.n == 1:
            counts = np.bincount(cls[1:], minlength=_N_CLASSES)
            return counts.reshape(1, _N_CLASSES).astype(np.int64)
        k = _N_CLASSES
        flat = np.bincount(self.owner * k + cls, minlength=(self.n + 1) * k)
        return flat.reshape(self.n + 1, k)[: self.n].astype(np.int64)

    def zeros(self) -> IntArray:
        return np.zeros(self.n, dtype=np.int64)

    def count(self, where: IntArray, weights: IntArray | None = None) -> IntArray:
        """Per text, how many of the positions ``where`` (or the sum of their weights)."""
        if self.n == 1:
            total = len(where) if weights is None else int(weights.sum())
            return np.array([total], dtype=np.int64)
        counts = np.bincount(self.owner[where], weights=weights, minlength=self.n + 1)
        return counts[: self.n].astype(np.int64)

    def longest(self, where: IntArray, values: IntArray) -> IntArray:
        """Per text, the largest of ``values`` at the positions ``where`` (0 if none)."""
        if self.n == 1:
            return np.array([int(values.max(initial=0))], dtype=np.int64)
        out = np.zeros(self.n + 1, dtype=np.int64)
        np.maximum.at(out, self.owner[where], values)
        return out[: self.n]

    def matches(
        self, pattern: re.Pattern[str], joined: str, *, at_newline: bool = False
    ) -> IntArray:
        """Non-overlapping matches of ``pattern`` per text (a match that starts on the newline
        before a line counts for the text that line is in)."""
        if self.n == 1:
            return np.array([len(pattern.findall(joined))], dtype=np.int64)
        shift = 1 if at_newline else 0
        where = np.fromiter((m.start() + shift for m in pattern.finditer(joined)), np.int64)
        text_of = np.searchsorted(self.starts, where, side="right") - 1
        return np.bincount(text_of, minlength=self.n).astype(np.int64)


def _runs(mask: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
    """Start and (exclusive) end of each run of True in ``mask``."""
    edges = np.empty(len(mask) + 1, dtype=np.bool_)  # nonzero is fastest on booleans
    if len(mask):
        edges[0], edges[-1] = mask[0], mask[-1]
        np.not_equal(mask[1:], mask[:-1], out=edges[1:-1])
    else:
        edges[0] = False
    at = edges.nonzero()[0]  # begin, end, begin, end...
    return at[0::2], at[1::2]


def _number_count(
    decimal: npt.NDArray[np.bool_], cls: npt.NDArray[np.uint8], at: _Texts
) -> IntArray:
    """Matches of ``\\d+(?:[.,]\\d+)?`` per text, without the regex: runs of digits joined
    by a single point or comma form chains, and a chain of m runs holds ceil(m / 2) matches,
    which is (runs - links) chains plus floor(l / 2) for each stretch of l links."""
    begin, end = _runs(decimal)
    if len(begin) == 0:
        return np.zeros(at.n, dtype=np.int64)
    link = (begin[1:] == end[:-1] + 1) & (cls[end[:-1]] == _POINT)
    count = at.count(begin) - at.count(begin[:-1][link])
    link_begin, link_end = _runs(link)
    if len(link_begin):
        count += at.count(begin[link_begin], weights=(link_end - link_begin) // 2)
    return count
