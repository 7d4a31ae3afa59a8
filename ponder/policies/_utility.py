"""The utility policy: per query, the arm with the best predicted success minus priced cost.

``argmax_j p[i, j] - lam * cost[i, j] / cost_scale`` is the Lagrangian of "maximise expected
quality subject to a mean-cost budget": sweeping ``lam`` from 0 upwards traces the
policy's whole cost/quality frontier, and one ``lam`` is one operating point. Dividing by
``cost_scale`` (by default the largest mean arm cost) makes ``lam`` unit-free: ``lam = 1``
means "the most expensive arm must be worth one whole probability point of success more".

To pick ``lam`` for a budget or a quality target, :func:`ponder.router.calibrate` runs the
router's own rule over predictions on a sample of *unlabelled* queries, as RouteLLM
calibrates its thresholds: no outcome is needed, so a deployment can recalibrate on its
own traffic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ponder.policies._protocol import NO_ARM, BoolArray, FloatArray, IntArray, as_matrices

_TIE_BREAK = 1e-9


def default_cost_scale(cost: FloatArray) -> float:
    """The largest mean arm cost (over queries); 1.0 when every arm is free.

    Pass the same value explicitly when ``lam`` must mean the same thing across batches
    (e.g. calibrate on a sample, then route single queries).
    """
    c = np.asarray(cost, dtype=np.float64)
    means = c.mean(axis=0) if c.ndim == 2 else c
    scale = float(np.max(means)) if means.size else 0.0
    return scale if scale > 0 else 1.0


def choose_by_utility(
    p: FloatArray,
    cost: FloatArray,
    lam: float,
    scale: float,
    allowed: BoolArray | None = None,
) -> IntArray:
    """Core of :class:`UtilityPolicy` on already validated ``[n, k]`` inputs.

    Ties in utility go to the cheaper arm (then the lower index): at ``lam = 0`` with
    binary ``p`` ties are the rule, and paying more for the same expected success is never
    right. The tie-break is folded into the price, ``lam + 1e-9``, so a tie costs no extra
    pass: the simulator calls this once per ``lam`` on the whole table, and it is as cheap
    as a bare argmax. (The shift only reorders arms whose utility differs by less than
    ``1e-9`` of the cost scale.) Queries with no allowed arm get :data:`NO_ARM`.
    """
    u = cost * (-(lam + _TIE_BREAK) / scale)
    u += p  # in place: one temporary instead of two on the hot path
    if allowed is None:
        return u.argmax(axis=1).astype(np.int64, copy=False)
    choice = np.where(allowed, u, -np.inf).argmax(axis=1).astype(np.int64, copy=False)
    choice[~allowed.any(axis=1)] = NO_ARM
    return choice


@dataclass(frozen=True)
class UtilityPolicy:
    """Pick ``argmax p - lam * cost / cost_scale`` among arms with ``cost <= max_cost``.

    ``lam = 0`` buys the highest predicted success whatever it costs; a large ``lam`` buys
    the cheapest arm. ``max_cost`` is a hard per-call ceiling (USD): arms above it are never
    chosen, and a query with no arm under it gets -1. ``cost_scale`` defaults to
    :func:`default_cost_scale` of the costs passed to :meth:`choose`.
    """

    lam: float = 0.0
    max_cost: float | None = None
    cost_scale: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.lam) or self.lam < 0:
            raise ValueError(f"lam must be a finite number >= 0, got {self.lam}")
        if self.cost_scale is not None and not self.cost_scale > 0:
            raise ValueError(f"cost_scale must be > 0, got {self.cost_scale}")

    def choose(self, p: FloatArray, cost: FloatArray) -> IntArray:
        pa, ca = as_matrices(p, cost)
        scale = self.cost_scale or default_cost_scale(ca)
        return choose_by_utility(pa, ca, self.lam, scale, _allowed(ca, self.max_cost))


def _allowed(cost: FloatArray, max_cost: float | None) -> BoolArray | None:
    return None if max_cost is None else cost <= max_cost


def top_lambda(
    p: FloatArray, cost: FloatArray, scale: float, allowed: BoolArray | None = None
) -> float:
    """Smallest ``lam`` (up to rounding) at which every query takes its cheapest allowed arm.

    Query ``i`` leaves arm ``j`` for its cheapest arm ``m`` once
    ``lam > (p_ij - p_im) * scale / (c_ij - c_im)``; the maximum of those ratios is the end
    of the sweep. Bounding it exactly keeps sweeps off a guessed range.
    """
    return float(_breakpoints(p, cost, scale, allowed)[0].max(initial=0.0)) * (1 + 1e-9)


def _breakpoints(
    p: FloatArray, cost: FloatArray, scale: float, allowed: BoolArray | None
) -> tuple[FloatArray, FloatArray]:
    """Per-query ``lam`` at which each arm loses to the cheapest arm, and at which the
    ``lam = 0`` choice loses to each cheaper arm. Every real switch lies between the two."""
    ok = np.ones(p.shape, dtype=bool) if allowed is None else allowed
    rows = np.arange(p.shape[0])
    c = np.where(ok, cost, np.inf)
    cmin = c.min(axis=1)
    cheapest = np.where(c == cmin[:, None], p, -np.inf).argmax(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        dc = cost - cmin[:, None]
        dp = p - p[rows, cheapest][:, None]
        arrive = (dp * scale / dc)[ok & (dc > 0) & (dp > 0)]
        first = choose_by_utility(p, cost, 0.0, scale, allowed)
        fr = np.maximum(first, 0)
        dc2 = cost[rows, fr][:, None] - cost
        dp2 = p[rows, fr][:, None] - p
        leave = (dp2 * scale / dc2)[ok & (dc2 > 0)]
    return arrive, leave


def lambda_grid(
    p: FloatArray,
    cost: FloatArray,
    n: int = 60,
    *,
    max_cost: float | None = None,
    cost_scale: float | None = None,
) -> FloatArray:
    """About ``n`` values of ``lam``, from 0 to :func:`top_lambda`, placed where choices change.

    Half are quantiles of the per-query switching points (so every step moves a similar
    share of queries), half are log-spaced across their range (so sparse regions between
    clusters are not skipped). A fixed grid would waste points wherever costs or
    probabilities happen to be scaled differently.
    """
    pa, ca = as_matrices(p, cost)
    scale = cost_scale or default_cost_scale(ca)
    arrive, leave = _breakpoints(pa, ca, scale, _allowed(ca, max_cost))
    vals = np.concatenate([arrive, leave])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if vals.size == 0:
        return np.zeros(1)
    top = float(arrive.max(initial=0.0)) * (1 + 1e-9)
    n_q = max(n // 2, 2)
    n_g = max(n - n_q - 2, 2)
    grid = np.concatenate(
        [
            [0.0, top],
            np.quantile(vals, np.linspace(0.0, 1.0, n_q)),
            np.geomspace(vals.min(), max(top, vals.max()), n_g),
        ]
    )
    return np.unique(grid[grid >= 0])


def _bisect(ok: Callable[[float], bool], lo: float, hi: float, iters: int) -> tuple[float, float]:
    """Shrink ``[lo, hi]`` keeping ``not ok(lo)`` and ``ok(hi)``; ``ok`` is monotone in lam."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return lo, hi


def calibrate_to_cost(
    p: FloatArray,
    cost: FloatArray,
    target_mean_cost: float,
    *,
    max_cost: float | None = None,
    cost_scale: float | None = None,
    iters: int = 60,
) -> float:
    """Smallest ``lam`` whose mean chosen cost (over routed queries) is at most the target.

    The mean cost is a non-increasing step function of ``lam`` (per query, a larger ``lam``
    never moves to a dearer arm), so bisection finds the step; the result spends at most
    the budget and as close to it as the predictions allow. A target above the ``lam = 0``
    cost returns 0; one below the cheapest possible cost returns :func:`top_lambda`.
    Only predictions are used: calibrate on a sample of unlabelled queries.
    """
    pa, ca = as_matrices(p, cost)
    scale = cost_scale or default_cost_scale(ca)
    allowed = _allowed(ca, max_cost)
    rows = np.arange(pa.shape[0])

    def mean_cost(lam: float) -> float:
        ch = choose_by_utility(pa, ca, lam, scale, allowed)
        hit = ch >= 0
        if not hit.any():
            raise ValueError(f"no arm fits max_cost={max_cost} for any query")
        return float(ca[rows[hit], ch[hit]].mean())

    target = float(target_mean_cost)
    if mean_cost(0.0) <= target:
        return 0.0
    hi = top_lambda(pa, ca, scale, allowed)
    if mean_cost(hi) > target:
        return hi
    return _bisect(lambda lam: mean_cost(lam) <= target, 0.0, hi, iters)[1]

