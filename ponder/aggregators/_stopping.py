"""When to stop drawing samples of one arm: rules that see every answer drawn so far.

A vote is only worth another sample while that sample can still change it. Three rules here,
beside the Adaptive-Consistency Beta rule (:class:`~ponder.aggregators.StoppingRule`, kept
as the baseline), decide that from the whole answer distribution, the samples left in the
query's budget and, where there is one, the classifier's prediction:

* :class:`CannotBeOvertaken` stops once no answer can catch the leader with the samples
  left, so it always returns the answer the vote over the whole budget would have;
* :class:`LeadBy` stops once the leader is a fixed number of votes ahead (the rule of
  thumb, and the baseline the others must beat);
* :class:`DirichletStop` stops once a Dirichlet-multinomial posterior over the answers, with
  the classifier's per-sample success as its prior, says the leader very probably still
  leads when the budget is spent.

All rules share one small Protocol (:class:`StopRule`) and one draw loop
(:func:`next_draw`), which both the live router and the simulator run, so what the simulator
says a rule spends is what the router spends.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_P_EDGE = 1e-6  # a prediction of exactly 0 or 1 would make the prior degenerate
_BELOW_ONE = 1.0 - 1e-12  # a probability short of certainty never passes confidence 1


@runtime_checkable
class StopRule(Protocol):
    """Whether to stop drawing samples of one arm for one query.

    ``counts`` holds the votes of each distinct answer in order of first appearance (the
    order :class:`~ponder.aggregators.Clusters` keeps, which breaks ties); ``left`` is how
    many samples the query's budget still allows; ``p`` is the classifier's predicted
    success of one sample of the arm on this query (``None`` when unknown).
    """

    def should_stop(self, counts: Sequence[int], *, left: int, p: float | None = None) -> bool:
        """True once drawing more samples is not worth it."""
        ...


def _leader(counts: Sequence[int]) -> int | None:
    """Index of the answer the vote returns now: most votes, ties to the first seen."""
    best: int | None = None
    for k, c in enumerate(counts):
        if c > 0 and (best is None or c > counts[best]):
            best = k
    return best


def cannot_be_overtaken(counts: Sequence[int], left: int) -> bool:
    """Whether the current leader wins the vote however the ``left`` samples fall.

    A rival ``k`` that took every remaining sample would end with ``counts[k] + left`` votes;
    it wins on more votes, or on a tie if it was seen first. A new answer is seen after the
    leader, so it needs more votes than the leader has. A sample without an answer casts
    no vote, which can only help the leader.
    """
    if left <= 0:
        return True
    lead = _leader(counts)
    if lead is None:
        return False
    top = counts[lead]
    if left > top:  # a new answer could pass the leader (on a tie, the leader came first)
        return False
    for k, c in enumerate(counts):
        if k == lead:
            continue
        if c + left > top or (c + left == top and k < lead):
            return False
    return True


@dataclass(frozen=True)
class CannotBeOvertaken:
    """Stop once the leader cannot be overtaken by the samples left in the budget.

    Exact: the answer is always the one the vote over the whole budget gives, so a budget
    of ``n`` costs no accuracy against ``vote@n``; it saves the samples that could not have
    changed the vote. It knows nothing of the classifier, so it never stops on a lead the
    remaining samples could still undo, however unlikely that is.
    """

    def should_stop(self, counts: Sequence[int], *, left: int, p: float | None = None) -> bool:
        return cannot_be_overtaken(counts, left)


def lead(counts: Sequence[int]) -> int:
    """The leader's votes minus the runner-up's (0 before any vote)."""
    top = second = 0
    for c in counts:
        if c > top:
            top, second = c, top
        elif c > second:
            second = c
    return top - second


@dataclass(frozen=True)
class LeadBy:
    """Stop once the leader is ``margin`` votes ahead of the runner-up, or cannot be
    overtaken in the budget at all.

    The plain rule of thumb, and a hard baseline: two or three agreeing samples already say
    most of what the counts can. On recorded samples (MATH with gpt-3.5 and gpt-4, GSM8K,
    CSQA, BBH Date; issue 20) neither the Dirichlet rule nor the best stop per vote state
    read off the same queries' outcomes (in-sample, so optimistic) drew more than about a
    fifth fewer samples than it at equal accuracy. Calibration offers it beside
    :class:`DirichletStop` and keeps whichever holds the vote's accuracy out of fold for
    fewer samples.
    """

    margin: int = 2

    def __post_init__(self) -> None:
        if self.margin < 1:
            raise ValueError(f"margin must be >= 1, got {self.margin}")

    def should_stop(self, counts: Sequence[int], *, left: int, p: float | None = None) -> bool:
        return lead(counts) >= self.margin or cannot_be_overtaken(counts, left)


def _betaln(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _lgamma(x: FloatArray) -> FloatArray:
    from scipy.special import gammaln

    return np.asarray(gammaln(x), dtype=np.float64)


def _bb_rows(total: npt.NDArray[np.int64], a: float, b: float, width: int) -> FloatArray:
    """Beta-binomial pmfs: row ``r`` is P(k of ``total[r]`` draws) for ``k < width``.

    ``a = 0`` puts all mass on ``k = 0`` (the stream cannot be drawn), ``b = 0`` on
    ``k = total``. Log-gammas are taken once per distinct argument (``O(width)``) and
    combined by broadcasting: this runs inside every stopping decision.
    """
    n = total[:, None]
    k = np.arange(width)[None, :]
    valid = k <= n
    if a <= 0.0 or b <= 0.0:
        at = np.zeros_like(n) if a <= 0.0 else n
        return np.asarray((k == at) & valid, dtype=np.float64)
    grid = np.arange(width + 1, dtype=np.float64)
    fact = _lgamma(grid + 1.0)
    g_a, g_b, g_ab = _lgamma(grid + a), _lgamma(grid + b), _lgamma(grid + a + b)
    rest = np.where(valid, n - k, 0)
    kk = np.where(valid, k, 0)
    log = fact[n] - fact[kk] - fact[rest] + g_a[kk] + g_b[rest] - g_ab[n] - _betaln(a, b)
    return np.where(valid, np.exp(log), 0.0)


def _loses(
    m: int,
    first: tuple[float, float],
    second: tuple[float, float],
    *,
    nested: bool,
    leader_first: bool,
    gap: int,
    rival_wins_ties: bool,
) -> float:
    """P(a rival ends with at least the leader's votes) after ``m`` more draws.

    Two stages of a Polya urn: the first stream gets ``x ~ BB(m; *first)`` of the draws;
    the second stage splits the other ``m - x`` (``nested=False``) or those ``x``
    themselves (``nested=True``) with ``BB(.; *second)``. ``leader_first`` says whether the
    first stream is the leader's; ``gap`` is the leader's lead now.
    """
    first_pmf = _bb_rows(np.array([m]), first[0], first[1], m + 1)[0]
    idx = np.arange(m + 1)
    if nested:
        # x draws to the pair, split leader : rival as second; leader gets y of x.
        split = _bb_rows(idx, second[0], second[1], m + 1)
        lead_gain = np.broadcast_to(idx[None, :], split.shape)
        rival_gain = idx[:, None] - idx[None, :]
    else:
        split = _bb_rows(m - idx, second[0], second[1], m + 1)
        a_gain = np.broadcast_to(idx[:, None], split.shape)
        b_gain = np.broadcast_to(idx[None, :], split.shape)
        lead_gain, rival_gain = (a_gain, b_gain) if leader_first else (b_gain, a_gain)
    margin = gap + lead_gain - rival_gain
    lost = margin < 0 if not rival_wins_ties else margin <= 0
    return float(np.sum(first_pmf[:, None] * split * lost))


def _log_crp(sizes: Sequence[int], gamma: float) -> float:
    """Log probability, under a Chinese restaurant process, of the observed sequence of
    wrong answers falling into clusters of these ``sizes``."""
    total = sum(sizes)
    if total == 0:
        return 0.0
    return (
        len(sizes) * math.log(gamma)
        + sum(math.lgamma(s) for s in sizes)
        - (math.lgamma(gamma + total) - math.lgamma(gamma))
    )


def correct_answer_posterior(
    counts: Sequence[int], p: float, kappa: float, gamma: float
) -> tuple[FloatArray, float]:
    """P(answer ``k`` is the right one) for each seen answer, and P(none seen is).

    The model behind :class:`DirichletStop`: one sample is right with a per-query rate
    ``~ Beta(p kappa, (1 - p) kappa)`` (the :class:`~ponder.policies.VoteModel`), and wrong
    samples fall into wrong answers by a Chinese restaurant process with concentration
    ``gamma``. Where wrong answers scatter (``gamma`` large), a big cluster beside
    scattered ones is very probably the right answer: under any other hypothesis it would
    be a wrong answer repeated far more often than wrong answers repeat.
    """
    q = min(max(p, _P_EDGE), 1.0 - _P_EDGE)
    a, b = q * kappa, (1.0 - q) * kappa
    n = sum(counts)
    base = _betaln(a, b)
    sizes = [c for c in counts if c > 0]
    logs = []
    for k, c in enumerate(counts):
        if c <= 0:
            logs.append(-math.inf)
            continue
        others = [s for j, s in enumerate(counts) if j != k and s > 0]
        logs.append(_betaln(a + c, b + n - c) - base + _log_crp(others, gamma))
    logs.append(_betaln(a, b + n) - base + _log_crp(sizes, gamma))
    arr = np.array(logs)
    w = np.exp(arr - arr.max())
    w /= w.sum()
    return w[:-1], float(w[-1])


def leader_win_probability(
    counts: Sequence[int], left: int, p: float, kappa: float, gamma: float
) -> float:
    """A lower bound on P(the current leader is still the vote's answer after ``left``
    more samples); see :func:`_win_probability`. Cached: replays and calibration ask the
    same question of many queries (``p`` is rounded to 0.001 for the cache, far finer than
    any classifier is calibrated)."""
    return _win_probability(tuple(int(c) for c in counts), int(left), round(p, 3), kappa, gamma)


@functools.lru_cache(maxsize=1 << 16)
def _win_probability(
    counts: tuple[int, ...], left: int, p: float, kappa: float, gamma: float
) -> float:
    """P(the current leader is still the vote's answer after ``left`` more samples), from
    below, under the Dirichlet-multinomial model of :func:`correct_answer_posterior`.

    For each rival (every other answer seen, and one for all answers not yet seen) the
    chance it ends level with or ahead of the leader is worked out exactly under each
    hypothesis about which answer is right (the leader, the rival, or another one, where
    both are wrong and every remaining sample is counted against the leader), weighted by
    the posterior, and summed over rivals (a union bound). Scattered wrong answers make
    each rival small and the leader very probably right, so they speed stopping.
    """
    if left <= 0:
        return 1.0
    lead = _leader(counts)
    if lead is None:
        return 0.0
    if cannot_be_overtaken(counts, left):
        return 1.0
    q = min(max(p, _P_EDGE), 1.0 - _P_EDGE)
    a, b = q * kappa, (1.0 - q) * kappa
    n, top = sum(counts), counts[lead]
    w, w_new = correct_answer_posterior(counts, q, kappa, gamma)
    m = left
    lost = 0.0
    for k, c in enumerate(counts):
        if k == lead or c <= 0:
            continue
        gap = top - c
        ties = k < lead
        if gap > m or (gap == m and not ties):
            continue  # cannot catch up
        rest = n - top - c + gamma
        both_wrong = 1.0 - w[lead] - w[k]
        lost += w[lead] * _loses(
            m,
            (a + top, b + n - top),
            (c, rest),
            nested=False,
            leader_first=True,
            gap=gap,
            rival_wins_ties=ties,
        )
        lost += w[k] * _loses(
            m,
            (a + c, b + n - c),
            (top, rest),
            nested=False,
            leader_first=False,
            gap=gap,
            rival_wins_ties=ties,
        )
        if both_wrong > 0:
            lost += both_wrong * _loses(
                m,
                (top + c, rest),
                (top, c),
                nested=True,
                leader_first=True,
                gap=gap,
                rival_wins_ties=ties,
            )
    if m >= top:  # an answer not seen yet could still pass the leader
        rest = n - top + gamma
        lost += w_new * _loses(
            m,
            (a, b + n),
            (top, rest),
            nested=False,
            leader_first=False,
            gap=top,
            rival_wins_ties=False,
        )
        lost += w[lead] * _loses(
            m,
            (a + top, b + n - top),
            (gamma, n - top),
            nested=False,
            leader_first=True,
            gap=top,
            rival_wins_ties=False,
        )
        others = 1.0 - w[lead]  # the leader is wrong: new wrong answers may gather votes
        if others > 0:
            lost += others * _loses(
                m,
                (top + gamma, n - top),
                (top, gamma),
                nested=True,
                leader_first=True,
                gap=top,
                rival_wins_ties=False,
            )
    return max(0.0, 1.0 - lost)


@dataclass(frozen=True)
class DirichletStop:
    """Stop once the leader very probably wins the vote over the whole budget.

    The answers are modelled as draws from an unknown distribution over answers with a
    Dirichlet-process prior centred on the classifier's prediction: the right answer holds
    a share ``~ Beta(p kappa, (1 - p) kappa)`` and wrong answers scatter with concentration
    ``gamma`` (both fitted on recorded samples; see :mod:`ponder.policies`). Sampling stops
    when :func:`leader_win_probability` reaches ``confidence``, or when the leader cannot be
    overtaken at all. Unlike the Beta rule it counts every answer: three votes against
    three different wrong answers settle a query that three against one wrong answer does
    not, and a query the classifier finds easy settles sooner. ``mean`` stands in for the
    prediction when there is none.
    """

    confidence: float = 0.95
    kappa: float = 0.336
    gamma: float = 1.0
    mean: float = 0.5
    min_samples: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence <= 1.0:
            raise ValueError(f"confidence must be in (0, 1], got {self.confidence}")
        if not (self.kappa > 0 and self.gamma > 0):
            raise ValueError("kappa and gamma must be > 0")
        if not 0.0 <= self.mean <= 1.0:
            raise ValueError(f"mean must be in [0, 1], got {self.mean}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")

    def win_probability(self, counts: Sequence[int], left: int, p: float | None = None) -> float:
        """:func:`leader_win_probability` with this rule's prior."""
        prior = self.mean if p is None else p
        return leader_win_probability(counts, left, prior, self.kappa, self.gamma)

    def settled(self, counts: Sequence[int], left: int, p: float | None = None) -> float:
        """The highest confidence at which this rule would stop here: 1 when the leader
        cannot be overtaken, else the leader's win probability (0 before ``min_samples``).
        Calibration sweeps confidences over one trajectory of these; :meth:`should_stop`
        compares the same number, so the sweep and the live rule cannot disagree."""
        if cannot_be_overtaken(counts, left):
            return 1.0
        if sum(counts) < self.min_samples:
            return 0.0
        return min(self.win_probability(counts, left, p), _BELOW_ONE)

    def should_stop(self, counts: Sequence[int], *, left: int, p: float | None = None) -> bool:
        return self.settled(counts, left, p) >= self.confidence


@dataclass(frozen=True)
class SamplePlan:
    """What to draw for one query of one arm: at most ``budget`` samples (0: none, escalate
    instead), stopping when ``rule`` says so; ``p`` is the prior the rule is given (the
    classifier's per-sample success, as the arm's calibration shrinks it)."""

    budget: int
    rule: StopRule
    p: float | None = None

    def __post_init__(self) -> None:
        if self.budget < 0:
            raise ValueError(f"budget must be >= 0, got {self.budget}")


def next_draw(
    rule: StopRule,
    counts: Sequence[int],
    *,
    drawn: int,
    budget: int,
    batch: int,
    p: float | None = None,
) -> int:
    """How many samples to draw next (0: stop): the live router's loop and the replay's.

    ``drawn`` samples (answered or not) are spent out of ``budget``; the rule is asked only
    once something has been drawn, and the next batch never overruns the budget.
    """
    left = budget - drawn
    if left <= 0:
        return 0
    if drawn > 0 and rule.should_stop(counts, left=left, p=p):
        return 0
    return min(batch, left)
