"""AIQ against random mixing of the single arms, with a bootstrap interval over queries.

A router whose frontier falls below random mixing is worse than no router, so the figure
that says whether it does is ponder's AIQ minus random's, on the same rows and cost range,
with its noise: the rows are resampled with replacement, and the whole replay (ponder's
sweep at the point estimate's ``lam`` values, with its hull guard, and the single arms)
is run again on each resample. A difference whose interval lies above zero is a router
that pays; one whose interval straddles zero cannot be told from mixing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ponder.outcomes import OutcomeTable
from ponder.policies import HullGuard
from ponder.simulate._metrics import aiq
from ponder.simulate._report import Report
from ponder.simulate._simulate import Adjust, guarded, simulate

FloatArray = npt.NDArray[np.float64]
Guards = Sequence[HullGuard | None]


def area(rep: Report, policy: str, lo: float, hi: float) -> float:
    pts = rep.policies[policy].points
    return aiq([p.cost_per_query for p in pts], [p.quality for p in pts], lo, hi)


def aiq_minus_random(
    replay: OutcomeTable,
    p: FloatArray,
    cost: FloatArray,
    guards: Guards | None,
    cost_range: tuple[float, float] | None = None,
    *,
    n_boot: int = 100,
    seed: int = 0,
) -> list[float]:
    """``[point, low, high]``: ponder's AIQ minus random's and its 90% bootstrap interval,
    on ``cost_range`` (default: the replay's own AIQ range), kept fixed across resamples."""
    table = dataclasses.replace(replay, samples={})  # votes are not what is measured here
    rep = simulate(table, p, cost, by_task=False, guard=guards)
    lo, hi = cost_range or rep.summary.aiq_cost_range
    point = area(rep, "ponder", lo, hi) - area(rep, "random", lo, hi)
    lams = [pt.param for pt in rep.policies["ponder"].points if pt.param is not None]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        i = rng.integers(0, table.n_queries, table.n_queries)
        g = None if guards is None else [guards[k] for k in i]
        r = simulate(table.take(i), p[i], cost[i], by_task=False, lambdas=lams, guard=g)
        draws.append(area(r, "ponder", lo, hi) - area(r, "random", lo, hi))
    return [point, float(np.quantile(draws, 0.05)), float(np.quantile(draws, 0.95))]


def forcing(
    guards: Guards | None, arms: Sequence[str], measured: npt.NDArray[np.bool_]
) -> Adjust | None:
    """The guards as ``routing_gain`` takes them: over the rows with an arm measured (the
    rows it judges), taking only measured arms."""
    if guards is None:
        return None
    kept = np.flatnonzero(measured.any(axis=1)).astype(np.int64)
    return guarded(guards, kept, arms, measured[kept])
