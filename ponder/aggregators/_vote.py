"""Aggregators: from several sampled answers of one arm to the one answer the user gets.

They take already-extracted answers rather than raw responses so that the simulator can
replay recorded samples and the live router can vote on fresh ones with the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ponder.aggregators._extract import AnswerEquality, answers_equal


@dataclass(frozen=True)
class Aggregate:
    """The combined answer and how strongly the samples back it.

    ``agreement`` is a cheap confidence signal (the share of samples equivalent to
    ``answer``), which is what lets a router decide whether more samples are worth buying.
    When every sample is ``None`` the answer is ``None`` with full agreement; with no samples
    at all ``index`` is ``None`` and agreement 0.
    """

    answer: str | None
    index: int | None
    agreement: float
    n: int


@runtime_checkable
class Aggregator(Protocol):
    """Anything that combines the answers of several samples into one."""

    def aggregate(self, answers: Sequence[str | None]) -> Aggregate:
        """One answer for ``answers`` (one entry per sample, ``None`` where none was found)."""
        ...


def _agreement(answers: Sequence[str | None], chosen: str | None, equal: AnswerEquality) -> float:
    if not answers:
        return 0.0
    if chosen is None:
        same = sum(a is None for a in answers)
    else:
        same = sum(a is not None and (a == chosen or equal(chosen, a)) for a in answers)
    return same / len(answers)


class Clusters:
    """Greedy clustering of answers by equivalence, built one sample at a time.

    Incremental so that adaptive sampling does not re-compare the whole prefix after every
    batch: with a symbolic checker each comparison can cost milliseconds.
    """

    def __init__(self, equal: AnswerEquality = answers_equal) -> None:
        self._equal = equal
        self._first: list[int] = []  # index of the sample that opened each cluster
        self._answer: list[str] = []
        self._size: list[int] = []
        self.n = 0
        self.first_none: int | None = None

    def add(self, answer: str | None) -> None:
        """Assign the next sample to the first cluster whose representative it equals."""
        index = self.n
        self.n += 1
        if answer is None:
            if self.first_none is None:
                self.first_none = index
            return
        for k, rep in enumerate(self._answer):
            if answer == rep or self._equal(rep, answer):
                self._size[k] += 1
                return
        self._first.append(index)
        self._answer.append(answer)
        self._size.append(1)

    @property
    def counts(self) -> list[int]:
        """Size of each cluster of non-``None`` answers, in order of first appearance."""
        return list(self._size)

    def aggregate(self) -> Aggregate:
        """The largest cluster; ties go to the one that appeared first."""
        if not self._size:
            if self.n == 0:
                return Aggregate(answer=None, index=None, agreement=0.0, n=0)
            return Aggregate(answer=None, index=self.first_none, agreement=1.0, n=self.n)
        best = max(range(len(self._size)), key=lambda k: (self._size[k], -self._first[k]))
        return Aggregate(
            answer=self._answer[best],
            index=self._first[best],
            agreement=self._size[best] / self.n,
            n=self.n,
        )


class FirstAnswer:
    """The single-sample baseline: whatever the first sample said, even ``None``.

    Deliberately does not skip a missing first answer, so that replaying recorded samples
    through it reproduces the accuracy of sampling once.
    """

    def __init__(self, equal: AnswerEquality = answers_equal) -> None:
        self.equal = equal

    def aggregate(self, answers: Sequence[str | None]) -> Aggregate:
        if not answers:
            return Aggregate(answer=None, index=None, agreement=0.0, n=0)
        first = answers[0]
        return Aggregate(first, 0, _agreement(answers, first, self.equal), len(answers))


class MajorityVote:
    """Self-consistency (Wang et al. 2022): the most common answer up to equivalence.

    ``None`` never wins unless every sample is ``None``: a failed extraction is not a vote.
    """

    def __init__(self, equal: AnswerEquality = answers_equal) -> None:
        self.equal = equal

    def aggregate(self, answers: Sequence[str | None]) -> Aggregate:
        clusters = Clusters(self.equal)
        for answer in answers:
            clusters.add(answer)
        return clusters.aggregate()


class BestOfN:
    """Verifier selection: the sample with the highest score (unit tests, a reward model).

    ``scorer(index, answer)`` gets the sample index so it can look up anything recorded
    alongside the answer. ``None`` answers and NaN scores are never preferred; ties go to
    the earliest sample.
    """

    def __init__(
        self,
        scorer: Callable[[int, str | None], float],
        equal: AnswerEquality = answers_equal,
    ) -> None:
        self.scorer = scorer
        self.equal = equal

    def aggregate(self, answers: Sequence[str | None]) -> Aggregate:
        if not answers:
            return Aggregate(answer=None, index=None, agreement=0.0, n=0)
        candidates = [i for i, a in enumerate(answers) if a is not None]
        if not candidates:
            return Aggregate(answer=None, index=0, agreement=1.0, n=len(answers))
        best, best_score = candidates[0], -math.inf
        for i in candidates:
            score = float(self.scorer(i, answers[i]))
            if not math.isnan(score) and score > best_score:
                best, best_score = i, score
        chosen = answers[best]
        return Aggregate(chosen, best, _agreement(answers, chosen, self.equal), len(answers))
