"""Replaying tables with holes: queries on which some arms were never measured.

Real outcome tables are rarely complete: a benchmark adds a model for half its configs, a log
only holds the arms that were called. Dropping every query with a hole throws most of such a
table away (a table where no query has every arm leaves nothing), so each query is replayed
over the arms measured on it: a policy can only pick an arm whose outcome is known, which is
the choice it would face if the other arms did not exist for that query.

Baselines that do not look at the query (one arm always, random mixing of arms) still need an
answer where their arm is unmeasured, or they would be scored on easier or harder queries
than the routers they are compared with. They take the measured arm nearest in price (mean
cost per call, on a log scale): a query-blind stand-in that keeps the baseline's spending
level, and the report says which arm stood in where. Each arm's own numbers, on its measured
queries only, are reported beside them as restricted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ponder.policies import FloatArray, IntArray
from ponder.simulate._report import ArmCoverage, HolePattern, Holes

BoolArray = npt.NDArray[np.bool_]


def fill_unmeasured(
    value: FloatArray, cost: FloatArray, mask: BoolArray
) -> tuple[FloatArray, FloatArray]:
    """Copies where no utility sweep can pick an unmeasured cell, at any ``lam >= 0``.

    The value there is below every measured value and the cost above every measured cost, so
    ``value - lam * cost`` loses to each measured arm of the row; ``lambda_grid`` also finds
    no switching point involving those cells. This keeps the policies' vectorised argmax
    untouched instead of masking on every knob value.
    """
    v = np.where(mask, value, np.min(value, where=mask, initial=np.inf) - 1.0)
    top = float(np.max(cost, where=mask, initial=0.0))
    c = np.where(mask, cost, 2.0 * top + 1.0)
    return v, c


def masked_cost_scale(cost: FloatArray, mask: BoolArray) -> float:
    """``default_cost_scale`` over measured cells: the largest arm mean, 1.0 if all free."""
    means = column_means(cost, mask)
    scale = float(np.nanmax(means)) if np.isfinite(means).any() else 0.0
    return scale if scale > 0 else 1.0


def column_means(values: FloatArray, mask: BoolArray) -> FloatArray:
    """Mean of each column over its measured rows (NaN for a column never measured)."""
    counts = mask.sum(axis=0)
    sums = np.where(mask, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def masked_stops(p_ordered: FloatArray, m_ordered: BoolArray, threshold: float) -> IntArray:
    """Where a cascade stops when unmeasured arms are skipped: at the first measured arm
    predicted to succeed, else at the last measured arm (which answers whatever it says)."""
    k = p_ordered.shape[1]
    hit = (p_ordered >= threshold) & m_ordered
    last = k - 1 - m_ordered[:, ::-1].argmax(axis=1)
    hit[np.arange(p_ordered.shape[0]), last] = True
    return hit.argmax(axis=1).astype(np.int64)


def stand_ins(mask: BoolArray, mean_cost: FloatArray) -> IntArray:
    """``[n, k]``: the arm whose outcome replaces arm ``j`` on row ``i`` (``j`` if measured).

    The replacement is the measured arm nearest in log mean cost, ties to the cheaper, then
    the lower index; every row must have at least one measured arm.
    """
    n, k = mask.shape
    logc = np.log(np.maximum(mean_cost, 1e-300))
    out = np.empty((n, k), dtype=np.int64)
    for j in range(k):
        # lexsort sorts by the last key first: distance, then cost, then index
        rank = np.lexsort((np.arange(k), mean_cost, np.abs(logc - logc[j]))).astype(np.int64)
        rank = np.r_[j, rank[rank != j]]
        out[:, j] = rank[mask[:, rank].argmax(axis=1)]
    return out


def coverage(
    arms: Sequence[str],
    tasks: Sequence[str] | None,
    scores: FloatArray,
    costs: FloatArray,
    mask: BoolArray,
    standin: IntArray,
    never_measured: Sequence[str],
) -> Holes:
    """What the report says about the holes: how many rows, which arms, where."""
    measured = mask.sum(axis=0)
    quality, cost = column_means(scores, mask), column_means(costs, mask)
    per_arm: dict[str, ArmCoverage] = {}
    for j, a in enumerate(arms):
        by = Counter(int(x) for x in standin[~mask[:, j], j])
        per_arm[a] = ArmCoverage(
            measured=int(measured[j]),
            quality=float(quality[j]),
            cost_per_query=float(cost[j]),
            stand_ins={arms[x]: c for x, c in by.most_common()},
        )
    holes = ~mask.all(axis=1)
    patterns = Counter(
        tuple(a for j, a in enumerate(arms) if not mask[i, j]) for i in np.flatnonzero(holes)
    )
    labels = list(tasks or ())
    by_task: dict[str, dict[str, int]] = {}
    for task in sorted(set(labels)):
        rows = np.fromiter((t == task for t in labels), dtype=bool, count=len(labels))
        missing = (~mask[rows]).sum(axis=0)
        if missing.any():
            by_task[task] = {a: int(missing[j]) for j, a in enumerate(arms) if missing[j]}
    return Holes(
        rows_with_holes=int(holes.sum()),
        never_measured=tuple(never_measured),
        arms=per_arm,
        patterns=tuple(
            HolePattern(missing=m, n_queries=c)
            for m, c in sorted(patterns.items(), key=lambda mc: (-mc[1], mc[0]))
        ),
        by_task=by_task,
    )
