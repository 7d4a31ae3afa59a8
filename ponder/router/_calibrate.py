"""Set the cost weight ``lam`` from a target, the way RouteLLM sets its threshold.

Only predictions are needed, so the sample can be unlabelled queries from your traffic. The
decision rule is the :class:`~ponder.router.Decider`'s own (cost relative to the dearest arm of
each query), so the ``lam`` found here means the same thing when written into the menu.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ponder.errors import NoArmFitsError
from ponder.policies import NO_ARM, choose_by_utility
from ponder.router._ceiling import Ceiling
from ponder.router._decide import Decider
from ponder.router._request import check_controls

_LAM_MAX = 1e4


@dataclass(frozen=True)
class Calibration:
    """The ``lam`` :func:`calibrate` found, and what routing at it gives on the sample:
    mean cost and predicted success, and each arm's share of the queries. (The record of
    an adaptive arm's sampling calibration is
    :class:`~ponder.policies.SamplingCalibration`.)"""

    lam: float
    mean_cost: float
    mean_p_success: float
    share: dict[str, float]
    n_queries: int
    met: bool
    """False when no ``lam`` meets the target: the result is then the closest one can get."""


def calibrate(
    decider: Decider,
    texts: Sequence[str],
    *,
    target_cost: float | None = None,
    target_quality: float | None = None,
    max_cost: float | None = None,
) -> Calibration:
    """The cheapest-spending ``lam`` that meets the target on these queries.

    ``target_cost``: the smallest ``lam`` whose mean cost per query is at most the target.
    ``target_quality``: the largest ``lam`` whose mean predicted success is at least it.
    Each query takes the arm the router would give it, the model's hull guard included.
    """
    if (target_cost is None) == (target_quality is None):
        raise ValueError("give exactly one of target_cost and target_quality")
    if target_cost is not None and not 0 < target_cost < math.inf:
        raise ValueError("target_cost must be a finite number > 0")
    if target_quality is not None and not 0 < target_quality <= 1:
        raise ValueError("target_quality must be in (0, 1]")
    check_controls(max_cost, None)
    if not texts:
        raise ValueError("no queries to calibrate on")
    ceiling = decider.menu.max_cost if max_cost is None else max_cost
    est = decider.estimate(texts)
    p, cost = est.p_success, est.expected_cost
    relative = cost / np.maximum(cost.max(axis=1, keepdims=True), 1e-300)
    allowed = None if ceiling is None else Ceiling(ceiling).fitting(est.worst_cost)
    rows = np.arange(len(texts))

    def outcome(lam: float) -> tuple[float, float, np.ndarray]:
        ch = decider.apply_guard(lam, choose_by_utility(p, relative, lam, 1.0, allowed), allowed)
        hit = ch != NO_ARM
        if not hit.any():
            raise NoArmFitsError(f"no arm fits the ceiling of ${ceiling} for any query")
        return float(cost[rows[hit], ch[hit]].mean()), float(p[rows[hit], ch[hit]].mean()), ch

    def ok(lam: float) -> bool:
        mean_cost, mean_p, _ = outcome(lam)
        if target_cost is not None:
            return mean_cost <= target_cost
        assert target_quality is not None
        return mean_p >= target_quality

    # Mean cost and mean quality both fall as lam grows. For a cost target, the answer is
    # the smallest lam that is within budget; for a quality target, the largest that meets it.
    want_small = target_cost is not None
    lo, hi = 0.0, _LAM_MAX
    if ok(lo if want_small else hi):
        lam = lo if want_small else hi
    else:
        for _ in range(80):
            mid = (lo + hi) / 2
            if ok(mid) == want_small:
                hi = mid
            else:
                lo = mid
        lam = hi if want_small else lo
    mean_cost, mean_p, ch = outcome(lam)
    labels = decider.menu.labels
    share = {labels[j]: float(np.mean(ch == j)) for j in range(len(labels))}
    return Calibration(lam, mean_cost, mean_p, share, len(texts), ok(lam))
