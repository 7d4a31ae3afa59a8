"""How well a set of predictions routes: the share of the oracle's gain it captures over a
sweep of cost weights.

Pooled log loss cannot see what routing pays for. A predictor that gets every arm's
probability right up to one shared shift scores well on it and still picks the same arm for
every query; routing is decided by the *differences* between arms on one query and by where
those differences outweigh the difference in price. So a predictor is judged the way the
policy uses it: for each ``lam`` of a sweep, every query takes the arm maximising
``p - lam * cost / scale``, and what that choice truly earns (``score - lam * cost / scale``)
is compared with the best single arm at that ``lam`` (what random mixing of single arms can
reach at best, in utility terms) and with the per-query oracle. The figure is the share of
the oracle's margin over the best single arm that the predictions recover, summed over the
sweep: 0 is no better than always taking one arm, 1 is the oracle.

Rows with unmeasured arms are judged over the arms they have (a policy restricted to them),
so tables with holes need no special case.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

LAMBDAS: tuple[float, ...] = (0.0, 0.03, 0.06, 0.1, 0.17, 0.3, 0.5, 0.8, 1.3, 2.0, 3.5, 6.0)
"""Cost weights of the sweep, relative to the dearest arm's mean cost (the policy's own
scale). The low end buys quality, the high end the cheapest arm that is still right."""


def routing_gain(
    p: FloatArray,
    y: FloatArray,
    cost: FloatArray | None,
    lambdas: tuple[float, ...] = LAMBDAS,
    guard: Callable[[float, npt.NDArray[np.int64]], npt.NDArray[np.int64]] | None = None,
) -> float:
    """Share of the oracle's margin over the best single arm that routing by ``p`` earns.

    ``p``, ``y`` and ``cost`` are ``[n, k]``; ``y`` is NaN where an arm was not measured.
    ``cost`` may be ``None`` (or all NaN): then only quality is judged (``lam = 0``).
    ``guard`` turns the routed arm per row into the one taken at ``lam``, as a hull guard
    does; it sees only the rows with an arm measured, and must take only measured arms.
    """
    measured: npt.NDArray[np.bool_] = ~np.isnan(y)
    rows: npt.NDArray[np.bool_] = np.asarray(measured.any(axis=1))
    p, y, measured = p[rows], y[rows], measured[rows]
    if p.shape[0] == 0:
        return 0.0
    c = _costs(cost, rows, y.shape)
    # The policy's scale: the dearest arm's mean cost where it was measured.
    arm_mean = np.where(measured, c, 0.0).sum(axis=0) / np.maximum(measured.sum(axis=0), 1)
    scale = float(arm_mean.max())
    if not scale > 0:
        lambdas = (0.0,)
        scale = 1.0
    idx = np.arange(p.shape[0])
    y0 = np.where(measured, y, 0.0)
    gained = possible = 0.0
    for lam in lambdas:
        u = y0 - lam * c / scale
        chosen = np.where(measured, p - lam * c / scale, -np.inf).argmax(axis=1)
        if guard is not None:
            chosen = guard(lam, chosen)
        routed = float(u[idx, chosen].mean())
        oracle = float(np.where(measured, u, -np.inf).max(axis=1).mean())
        # A single arm on rows that lack it: the mean of the arms the row has (a coin toss).
        row_mean = np.where(measured, u, 0.0).sum(axis=1) / measured.sum(axis=1)
        single = float(np.where(measured, u, row_mean[:, None]).mean(axis=0).max())
        gained += routed - single
        possible += max(oracle - single, 0.0)
    return gained / possible if possible > 1e-12 else 0.0


def _costs(
    cost: FloatArray | None, rows: npt.NDArray[np.bool_], shape: tuple[int, ...]
) -> FloatArray:
    if cost is None:
        return np.zeros(shape)
    c = np.asarray(cost, dtype=np.float64)[rows]
    if np.isnan(c).all():
        return np.zeros(shape)
    # An arm's unknown cost on a row is its mean cost elsewhere (0 for an arm never priced).
    known = ~np.isnan(c)
    mean = np.where(known, c, 0.0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)
    out: FloatArray = np.where(known, c, mean[None, :])
    return out
