"""A guard on utility routing: where the model could not beat the single-arm hull out of
fold, take the best single arm instead of guessing.

Random mixing of single arms (the hull of their points, RouterBench's "random" floor) needs
no model at all, so a router whose frontier falls below it is worse than none. That happens
where the predictions cannot tell arms apart on the traffic at hand: the argmax then
follows noise, and pays for it in quality or cost. The comparison is made where the
policy makes its decisions, one cost weight ``lam`` at a time: routing at ``lam`` earns
``mean(score - lam * cost / scale)``, and the best the hull offers at that slope is one of
its vertices, the single arm with the highest such utility. (A concave frontier lies on or
above another exactly when it does at every slope, so beating the best single arm's utility
at every ``lam`` of the sweep is what keeps the frontier on or above the hull; at a fixed
``lam`` a mix of two arms never has a higher utility than the better of the two.)

The guard is fitted on the model's out-of-fold predictions of its own training rows, never
on rows it is judged on: at each ``lam`` of a grid, it keeps routing only where routing's
advantage over the best single arm, measured fold by fold, is above zero by a margin (in
standard errors across the folds, so a lead that one cluster of queries carries does not
count), and otherwise names that arm. The margin is chosen by cross-validation over the
same folds: the decision for each fold is made on the others and scored on it by routing
gain (the share of the oracle's margin earned, summed over the grid). The live router,
calibration and the simulator all apply it through :meth:`HullGuard.apply`.

A guard is only as good as its out-of-fold estimate: where the fit's folds share kinds of
query with each other (clusters of similar queries are held out, not whole generators or
tasks), routing looks better out of fold than on kinds never seen, and the guard falls
back less than it should there.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ponder.policies._protocol import BoolArray, FloatArray, IntArray
from ponder.policies._utility import default_cost_scale, lambda_grid

MARGINS: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
"""Margins tried by cross-validation, in standard errors of routing's advantage over the
best single arm across folds: routing is kept where that advantage is above zero by more."""

GRID_POINTS = 60
"""Values of ``lam`` the guard decides at (placed where the routed choices change)."""


@dataclass(frozen=True)
class HullGuard:
    """Per cost weight, the single arm to take instead of routing (``None``: route).

    ``lams`` is sorted and starts at 0; ``fallback[i]`` holds from ``lams[i]`` up to the
    next value (a step function: a ``lam`` between two decisions takes the lower one's).
    ``lam`` is relative to the cost scale the policy uses (the dearest arm's mean cost).
    ``margin`` is the one cross-validation chose; ``gain`` and ``gain_unguarded`` are the
    cross-validated routing gains with and without the guard, kept so a reader of the
    model can see what the guard bought.
    """

    lams: tuple[float, ...]
    fallback: tuple[str | None, ...]
    margin: float = 0.0
    gain: float = math.nan
    gain_unguarded: float = math.nan

    def __post_init__(self) -> None:
        if not self.lams or len(self.lams) != len(self.fallback):
            raise ValueError("a hull guard needs one fallback per lam, and at least one lam")
        if list(self.lams) != sorted(self.lams) or self.lams[0] < 0:
            raise ValueError("a hull guard's lams must be sorted and >= 0")

    @property
    def active(self) -> bool:
        """Whether the guard ever overrides routing."""
        return any(a is not None for a in self.fallback)

    def arm_at(self, lam: float) -> str | None:
        """The arm to take at ``lam`` instead of routing, or ``None`` to route."""
        return self.fallback[max(bisect.bisect_right(self.lams, float(lam)) - 1, 0)]

    def apply(
        self,
        lam: float,
        chosen: IntArray,
        index: Mapping[str, int],
        usable: BoolArray | None = None,
    ) -> IntArray:
        """``chosen`` (the routed arm per row) with the guard applied at ``lam``: the
        fallback arm, where there is one. ``index`` maps arm names to columns (an arm
        missing from it is never forced); ``usable`` (``[n, k]``) says where an arm may be
        forced (measured, or under the ceiling)."""
        name = self.arm_at(lam)
        j = None if name is None else index.get(name)
        if j is None:
            return chosen
        take = np.ones(chosen.shape, dtype=bool) if usable is None else usable[:, j]
        return np.where(take, j, chosen).astype(np.int64)

    def to_state(self) -> dict[str, Any]:
        return {
            "lams": list(self.lams),
            "fallback": list(self.fallback),
            "margin": self.margin,
            "gain": None if math.isnan(self.gain) else self.gain,
            "gain_unguarded": None if math.isnan(self.gain_unguarded) else self.gain_unguarded,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> HullGuard:
        def num(key: str) -> float:
            v = state.get(key)
            return math.nan if v is None else float(v)

        return cls(
            lams=tuple(float(x) for x in state["lams"]),
            fallback=tuple(None if a is None else str(a) for a in state["fallback"]),
            margin=float(state.get("margin", 0.0)),
            gain=num("gain"),
            gain_unguarded=num("gain_unguarded"),
        )


@dataclass(frozen=True)
class _FoldSums:
    """Per ``lam`` and fold: summed utility of routing ``[L, F]``, of each single arm
    ``[L, F, k]`` and of the oracle ``[L, F]``, and the fold's row count ``[F]``."""

    routed: FloatArray
    single: FloatArray
    oracle: FloatArray
    rows: FloatArray


def fit_hull_guard(
    p: FloatArray,
    y: FloatArray,
    cost: FloatArray | None,
    fold_of: IntArray,
    arms: Sequence[str],
    *,
    margins: Sequence[float] = MARGINS,
    n_lams: int = GRID_POINTS,
) -> HullGuard:
    """The guard for out-of-fold predictions ``p`` of training outcomes ``y`` (``[n, k]``,
    NaN where an arm was not measured) at true ``cost`` (``None``: quality alone).

    Routing replays the policy's rule: each query takes the measured arm maximising
    ``p - lam * expected / scale``, with each arm's expected cost its mean cost (what the
    router believes before a call), and earns its true score minus its true cost. A single
    arm on a row that lacks it earns the row's mean over its arms (as in ``routing_gain``).
    The margin is chosen by the mean over held-out folds of the guarded policy's routing
    gain, each fold's decisions made on the other folds.
    """
    measured = ~np.isnan(y)
    keep: npt.NDArray[np.bool_] = np.asarray(
        measured.any(axis=1) & np.isfinite(np.where(measured, p, 0.0)).all(axis=1)
    )
    p, y, measured, folds = p[keep], y[keep], measured[keep], np.asarray(fold_of)[keep]
    true_cost, expected = _costs(cost, keep, measured)
    scale = default_cost_scale(expected)
    p_known = np.where(measured, p, 0.0)
    if np.any(expected > 0):
        lams = lambda_grid(p_known, expected, n_lams, cost_scale=scale)
    else:
        lams = np.zeros(1)
    data = _Replay(p_known, y, measured, true_cost, expected, scale)
    sums = _fold_sums(data, lams, folds)
    scores = [_cv_gain(sums, m) for m in margins]
    best = int(np.argmax(scores))  # the first (smallest margin) of equals
    every = np.ones(sums.rows.size, dtype=bool)
    fallback = _decide(sums, every, margins[best])
    return HullGuard(
        lams=tuple(float(x) for x in lams),
        fallback=tuple(None if j < 0 else arms[j] for j in fallback.tolist()),
        margin=float(margins[best]),
        gain=float(scores[best]),
        gain_unguarded=_cv_gain(sums, -math.inf),
    )


@dataclass(frozen=True)
class _Replay:
    """Training rows as the guard replays them (unmeasured cells: ``measured`` False)."""

    p: FloatArray
    y: FloatArray
    measured: BoolArray
    true_cost: FloatArray
    expected: FloatArray
    scale: float


def _costs(
    cost: FloatArray | None, keep: BoolArray, measured: BoolArray
) -> tuple[FloatArray, FloatArray]:
    """True cost per cell (an arm's mean where unknown) and the expected cost: the mean."""
    if cost is None or not np.isfinite(cost).any():
        zero = np.zeros(measured.shape)
        return zero, zero
    c = np.asarray(cost, dtype=np.float64)[keep]
    known = np.isfinite(c) & measured
    mean = np.where(known, c, 0.0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)
    expected = np.broadcast_to(mean, c.shape)
    return np.where(known, c, expected), np.ascontiguousarray(expected)


def _fold_sums(d: _Replay, lams: FloatArray, folds: IntArray) -> _FoldSums:
    ids, fold = np.unique(folds, return_inverse=True)
    n_f, k = ids.size, d.y.shape[1]
    rows = np.arange(d.y.shape[0])
    y0 = np.where(d.measured, d.y, 0.0)
    shape = (lams.size, n_f)
    routed, oracle, single = np.zeros(shape), np.zeros(shape), np.zeros((*shape, k))
    for i, lam in enumerate(lams):
        u = y0 - lam * d.true_cost / d.scale
        pred = np.where(d.measured, d.p - lam * d.expected / d.scale, -np.inf)
        routed[i] = np.bincount(fold, u[rows, pred.argmax(axis=1)], n_f)
        oracle[i] = np.bincount(fold, np.where(d.measured, u, -np.inf).max(axis=1), n_f)
        row_mean = np.where(d.measured, u, 0.0).sum(axis=1) / d.measured.sum(axis=1)
        filled = np.where(d.measured, u, row_mean[:, None])
        for j in range(k):
            single[i, :, j] = np.bincount(fold, filled[:, j], n_f)
    return _FoldSums(routed, single, oracle, np.bincount(fold, minlength=n_f).astype(float))


def _decide(s: _FoldSums, use: BoolArray, z: float) -> IntArray:
    """Per ``lam``, decided on the folds in ``use``: the best single arm over their rows
    where routing's mean advantage over it per query, fold by fold, is not above zero by
    ``z`` standard errors (the spread across folds, each a cluster of kinds of query held
    out), else -1 (route)."""
    best = s.single[:, use].sum(axis=1).argmax(axis=1)  # [L]
    if z == -math.inf:  # no guard: how routing alone fares
        return np.full(best.shape, -1, dtype=np.int64)
    lam_rows = np.arange(best.size)
    adv = (s.routed[:, use] - s.single[:, use][lam_rows, :, best]) / s.rows[use]  # [L, F']
    n = adv.shape[1]
    se = adv.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(best.size)
    routes = adv.mean(axis=1) - z * se > 0.0
    return np.where(routes, -1, best).astype(np.int64)


def _cv_gain(s: _FoldSums, z: float) -> float:
    """Mean over folds of the guarded policy's routing gain on the fold (the share of the
    oracle's margin over the fold's best single arm earned, over the grid), with the
    decisions made on the other folds' rows."""
    gains = []
    n_f = s.rows.size
    for f in range(n_f):
        fb = _decide(s, np.arange(n_f) != f, z)
        here = s.single[:, f]  # [L, k]
        took = np.where(fb < 0, s.routed[:, f], here[np.arange(fb.size), np.maximum(fb, 0)])
        top = here.max(axis=1)
        possible = float(np.maximum(s.oracle[:, f] - top, 0.0).sum())
        gains.append(float((took - top).sum()) / possible if possible > 0 else 0.0)
    return float(np.mean(gains))
