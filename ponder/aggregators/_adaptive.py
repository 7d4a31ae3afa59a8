"""Adaptive-Consistency (Aggarwal et al., EMNLP 2023): stop sampling once the vote is settled.

Most queries are easy and their samples agree from the start; paying for a fixed ``k``
samples on them wastes most of the sampling budget. Sampling in small batches and stopping
once the leader is very probably the true majority keeps the accuracy of majority voting
at a fraction of the cost. The Beta rule here is the paper's, kept as the baseline; the
rules that see every answer, the budget and the classifier are in
:mod:`ponder.aggregators._stopping`, and :func:`adaptive_vote` replays any of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ponder.aggregators._extract import AnswerEquality, answers_equal
from ponder.aggregators._stopping import StopRule, next_draw
from ponder.aggregators._vote import Aggregate, Clusters


def _beta_cdf_half(a: int, b: int) -> float:
    """``BetaCDF(0.5; a, b)``: scipy when present, else the exact binomial sum.

    For integer ``a, b`` the regularised incomplete beta at 1/2 is the probability that a
    Binomial(a + b - 1, 1/2) draw is at least ``a``, so no special functions are needed.
    """
    try:
        from scipy.special import betainc
    except ImportError:
        n = a + b - 1
        return sum(math.comb(n, j) for j in range(a, n + 1)) / 2**n
    return float(betainc(a, b, 0.5))


@dataclass(frozen=True)
class StoppingRule:
    """Beta stopping criterion on the counts of the two leading answers.

    With leader count ``v1`` and runner-up count ``v2``, the leader's share among the two
    has posterior Beta(v1 + 1, v2 + 1) under a uniform prior; sampling stops once
    ``P(share > 1/2) >= confidence``. Only the top two matter, as in the paper: the rest
    are mass neither can claim. It ignores the budget left and the classifier's prediction
    (it is a :class:`~ponder.aggregators.StopRule` that takes them and looks at neither).
    """

    confidence: float = 0.95
    min_samples: int = 2

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")

    def majority_probability(self, counts: Sequence[int]) -> float:
        """P(the leader's true share exceeds the runner-up's) given the counts so far."""
        top = sorted((int(c) for c in counts if c > 0), reverse=True)
        if not top:
            return 0.0
        v1 = top[0]
        v2 = top[1] if len(top) > 1 else 0
        return 1.0 - _beta_cdf_half(v1 + 1, v2 + 1)

    def should_stop(
        self, counts: Sequence[int], *, left: int | None = None, p: float | None = None
    ) -> bool:
        """Whether the leading answer is settled; ``counts`` per distinct answer, any order."""
        if sum(counts) < self.min_samples:
            return False
        return self.majority_probability(counts) >= self.confidence


DEFAULT_RULE = StoppingRule()


def adaptive_vote(
    answers: Sequence[str | None],
    max_samples: int,
    batch: int = 1,
    rule: StopRule = DEFAULT_RULE,
    equal: AnswerEquality = answers_equal,
    p: float | None = None,
) -> tuple[Aggregate, int]:
    """Replay ``answers`` in batches, stopping early per ``rule``; majority over what was used.

    Returns the majority aggregate of the consumed prefix and its length. ``None`` answers
    use budget but cast no vote, so a run of failed extractions never triggers a stop.
    ``max_samples`` is the query's budget (the rule sees what is left of it) and ``p`` the
    classifier's per-sample success, for rules that use them. The loop is
    :func:`~ponder.aggregators.next_draw`, the one the live router runs.
    """
    if max_samples < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    limit = min(max_samples, len(answers))
    clusters = Clusters(equal)
    while k := next_draw(rule, clusters.counts, drawn=clusters.n, budget=limit, batch=batch, p=p):
        for answer in answers[clusters.n : clusters.n + k]:
            clusters.add(answer)
    return clusters.aggregate(), clusters.n
