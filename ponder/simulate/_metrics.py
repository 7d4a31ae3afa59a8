"""Cost/quality frontier metrics: RouterBench's AIQ and RouteLLM's APGR and CPT.

A routing policy swept over its knob (a threshold, a willingness to pay, a cost ceiling)
traces points in the cost/quality plane. Comparing two policies point by point is
meaningless when they were swept at different costs, so the literature summarises a whole
sweep by one number:

* **AIQ** (Average Improvement in Quality; Hu et al. 2024, *RouterBench*, arXiv:2403.12031)
  reduces a policy's points to their non-decreasing upper convex hull and averages that
  curve over a common cost range. The hull is the right object because any two operating
  points can be mixed at random, query by query, which reaches every point on the segment
  between them; and spending more can never be forced to lose quality.
* **APGR** and **CPT(x%)** (Ong et al. 2024, *RouteLLM*, arXiv:2406.18665) are for the
  two-arm case (weak, strong). The x axis is the share of calls sent to the strong model
  and the y axis is normalised to the *performance gap recovered*
  ``PGR = (quality - weak) / (strong - weak)``.

Sources read (public reference code; nothing is copied):

* RouterBench, ``evaluation/AIQ.py`` in github.com/withmartian/routerbench.
  ``get_non_descreasing_convex_hull_of`` sorts points by cost, replaces every point by the
  highest chord of two other points above it (the upper concave envelope at that cost),
  prepends the cheapest point, then drops points whose quality is below their predecessor's.
  ``calc_AIQ`` appends ``(max cost over all routers compared, last hull quality)`` to every
  hull (the flat extension) and returns ``np.trapz(hull) / max_cost``. The integral starts
  at the router's *own* cheapest point while the normaliser is ``max_cost - 0``, so a cost
  below a router's cheapest point is credited zero quality and the implicit ``cost_min`` is
  0. :func:`aiq` keeps both conventions and takes ``cost_min`` explicitly
  (``cost_min=0`` reproduces RouterBench's number).
* RouteLLM, ``routellm/evals/evaluate.py`` (``generate_results``) and
  ``routellm/evals/benchmarks.py``. Routers are evaluated at the ``num_results + 1``
  (default 11) cutoffs of ``pd.qcut`` over the router's scores, which always include 100 %
  and 0 % strong calls. ``auc_metric`` is ``np.trapz(accuracy, strong_pct / 100)`` over the
  points sorted by share; ``apgr_metric`` is
  ``(AUC - weak_auc) / (strong_auc - weak_auc)`` with the two constant curves integrated
  over the *same* observed share range, i.e. the mean PGR over that range.
  ``pct_call_metric`` (CPT at 20/50/80 %) is
  ``np.interp(weak + x * (strong - weak), accuracy, strong_pct)``.

Every function here is pure numpy; points with a NaN coordinate are ignored.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Two qualities (or AIQs) closer than this, relative to their size, count as equal.
_REL_TOL = 1e-9


# --------------------------------------------------------------------------- helpers


def _points(
    xs: npt.ArrayLike, ys: npt.ArrayLike, x_name: str, y_name: str
) -> tuple[FloatArray, FloatArray]:
    """Validate two equal-length 1-D array-likes; drop the pairs with a NaN coordinate."""
    try:
        x = np.asarray(xs, dtype=np.float64)
        y = np.asarray(ys, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{x_name} and {y_name} must be numeric: {exc}") from None
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"{x_name} and {y_name} must be 1-D, got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:
        raise ValueError(f"{x_name} and {y_name} must have equal length, got {x.size} and {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if np.isinf(x).any() or np.isinf(y).any():
        raise ValueError(f"{x_name} and {y_name} must not contain infinities")
    if x.size == 0:
        raise ValueError(f"no point with both {x_name} and {y_name} known (empty input or all NaN)")
    return x, y


def _finite(value: float, name: str) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _REL_TOL * max(1.0, abs(a), abs(b))


def _max_per_x(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Sort by x and keep the highest y at each distinct x.

    Two operating points at the same cost are alternatives, and nobody would pick the worse.
    """
    order = np.lexsort((y, x))  # by x, then y ascending: the last of each run is the max
    xs, ys = x[order], y[order]
    last = np.r_[xs[1:] != xs[:-1], True]
    return xs[last], ys[last]


def _mean_per_x(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Sort by x and average y at each distinct x.

    For a share-of-strong-calls curve, repeated shares are repeated measurements of one
    operating point (RouteLLM averages its random router's runs per share the same way).
    """
    ux, inverse = np.unique(x, return_inverse=True)
    sums = np.bincount(inverse, weights=y)
    counts = np.bincount(inverse)
    return ux, sums / counts


def _trapezoid(x: FloatArray, y: FloatArray) -> float:
    """Exact area under the polyline through ``(x, y)`` (x sorted); numpy-version agnostic."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2.0)


def _pgr_curve(
    strong_share: npt.ArrayLike,
    qualities: npt.ArrayLike,
    weak_quality: float,
    strong_quality: float,
) -> tuple[FloatArray, FloatArray] | None:
    """Sorted distinct shares and their PGR; ``None`` when weak and strong tie (no gap)."""
    s, q = _points(strong_share, qualities, "strong_share", "qualities")
    if (s < 0.0).any() or (s > 1.0).any():
        raise ValueError(
            "strong_share must be a fraction in [0, 1] (not a percentage); "
            f"got values from {s.min()} to {s.max()}"
        )
    weak = _finite(weak_quality, "weak_quality")
    strong = _finite(strong_quality, "strong_quality")
    if _close(weak, strong):
        return None
    s, q = _mean_per_x(s, q)
    return s, (q - weak) / (strong - weak)


# --------------------------------------------------------------------------- frontier


def upper_frontier(costs: npt.ArrayLike, qualities: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vertices of the non-decreasing upper convex hull of the points, sorted by cost.

    This is RouterBench's "non-decreasing convex hull" (``get_non_descreasing_convex_hull_of``
    in ``evaluation/AIQ.py``): the upper concave envelope of the points, cut where it stops
    rising. Linear interpolation between consecutive vertices is achievable by randomly
    mixing the two policies per query, and past the last vertex the curve stays flat
    (spending more is never forced to lose quality), which :func:`quality_at_cost` applies.

    Computed with a monotone-chain scan, O(n log n), instead of RouterBench's O(n^3) pair
    search; the piecewise-linear curve is the same (checked against a port of their code on
    random point sets). The scan is a Python loop over the sweep's points, which are few;
    sorting and de-duplication are vectorised. The scan only needs the points up to
    the cheapest one of maximal quality: anything to its right is dominated by it, and a
    chord to such a point never lies above the chord to the maximum (both are at most as
    high and further away). Duplicate costs keep the best quality; points with a NaN
    coordinate are ignored; collinear middle points are not vertices. The cheapest point is
    always the first vertex, and qualities of the vertices are strictly increasing.

    Raises ``ValueError`` for unequal lengths, infinities, or no usable point.
    """
    c, q = _points(costs, qualities, "costs", "qualities")
    c, q = _max_per_x(c, q)
    peak = int(np.argmax(q))  # first maximum = cheapest, since c is sorted
    c, q = c[: peak + 1], q[: peak + 1]
    hull: list[int] = []
    for i in range(c.size):
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            # Pop `a` when it is on or below the chord from `o` to `i` (a non-right turn);
            # the relative slack makes points collinear up to rounding count as on it.
            lhs = (c[a] - c[o]) * (q[i] - q[o])
            rhs = (q[a] - q[o]) * (c[i] - c[o])
            if lhs - rhs >= -1e-12 * (abs(lhs) + abs(rhs)):
                hull.pop()
            else:
                break
        hull.append(i)
    idx = np.asarray(hull, dtype=np.intp)
    return c[idx], q[idx]


def quality_at_cost(costs: npt.ArrayLike, qualities: npt.ArrayLike, budget: float) -> float:
    """Quality of the frontier at a cost ``budget``.

    Linear between hull vertices (random mixing of the two adjacent operating points), flat
    beyond the last vertex, and NaN below the cheapest point, where no mix of the policy's
    points can operate. ``budget`` may be ``+inf`` (the best quality); NaN is an error.
    """
    b = float(budget)
    if math.isnan(b):
        raise ValueError("budget must not be NaN")
    hc, hq = upper_frontier(costs, qualities)
    if b < hc[0]:
        return math.nan
    return float(np.interp(b, hc, hq))


def cost_to_reach(costs: npt.ArrayLike, qualities: npt.ArrayLike, target: float) -> float | None:
    """Least cost at which the frontier reaches quality ``target``; ``None`` if it never does.

    A target at or below the cheapest point's quality costs that point's cost (the frontier
    does not exist below it). In between, the cost is interpolated along the hull, which is
    strictly increasing so the inverse is unique.
    """
    t = _finite(target, "target")
    hc, hq = upper_frontier(costs, qualities)
    if t <= hq[0]:
        return float(hc[0])
    if t > hq[-1]:
        return float(hc[-1]) if _close(t, float(hq[-1])) else None
    return float(np.interp(t, hq, hc))


def aiq(costs: npt.ArrayLike, qualities: npt.ArrayLike, cost_min: float, cost_max: float) -> float:
    """Average Improvement in Quality: mean height of the frontier over ``[cost_min, cost_max]``.

    RouterBench (Hu et al. 2024, arXiv:2403.12031) defines
    ``AIQ = 1 / (c_max - c_min) * integral_{c_min}^{c_max} hull(c) dc`` with ``hull`` the
    non-decreasing convex hull (:func:`upper_frontier`) extended flat to ``c_max``, the
    largest cost among all routers being compared. Pass the same ``cost_min``/``cost_max``
    to every policy of one comparison, or the numbers are not comparable.

    Conventions, following RouterBench's ``calc_AIQ`` (``evaluation/AIQ.py``):

    * below the policy's cheapest point the curve contributes zero area (the policy cannot
      operate there and gets no credit for it), while the normaliser stays the full range;
      so ``cost_max`` at or below the cheapest point gives 0. RouterBench's code has an
      implicit ``cost_min = 0``; pass 0 to reproduce it. The zero credit assumes qualities
      are non-negative (a score, an accuracy, a win rate), as they are there.
    * beyond the last hull vertex the curve is flat at the best quality;
    * a ``cost_max`` below the last vertex simply truncates the integral.

    A zero-width range (``cost_min == cost_max``) returns the limit of the average as the
    range shrinks to that cost: the frontier's value there, or 0 below the cheapest point.
    ``cost_max < cost_min`` or a non-finite bound is a ``ValueError``.
    """
    lo_bound = _finite(cost_min, "cost_min")
    hi_bound = _finite(cost_max, "cost_max")
    if hi_bound < lo_bound:
        raise ValueError(f"cost_max ({cost_max}) is below cost_min ({cost_min})")
    hc, hq = upper_frontier(costs, qualities)
    start = max(lo_bound, float(hc[0]))  # zero credit below the cheapest point
    if hi_bound == lo_bound:
        return float(np.interp(lo_bound, hc, hq)) if lo_bound >= hc[0] else 0.0
    if start >= hi_bound:
        return 0.0
    inner = hc[(hc > start) & (hc < hi_bound)]
    xs = np.concatenate(([start], inner, [hi_bound]))
    ys = np.interp(xs, hc, hq)  # np.interp is flat past the ends: the flat extension
    return _trapezoid(xs, ys) / (hi_bound - lo_bound)


# --------------------------------------------------------------------------- two arms


def apgr(
    strong_share: npt.ArrayLike,
    qualities: npt.ArrayLike,
    weak_quality: float,
    strong_quality: float,
) -> float:
    """Average Performance Gap Recovered of a weak/strong router (RouteLLM).

    ``strong_share[i]`` is the fraction of calls (in [0, 1], not percent) that operating
    point ``i`` sends to the strong model and ``qualities[i]`` its quality. With
    ``PGR = (quality - weak_quality) / (strong_quality - weak_quality)``, RouteLLM defines
    APGR as the integral of PGR over the share of strong calls from 0 to 1 and computes it
    by the trapezoid rule over the evaluated points (``apgr_metric`` in
    ``routellm/evals/evaluate.py``: ``(AUC - weak_auc) / (strong_auc - weak_auc)``, the
    constant curves integrated over the same observed range). That equals the mean PGR over
    the observed share range, which is what this returns. RouteLLM's points always span 0 %
    to 100 %; include both ends (all-weak and all-strong) to get the textbook number.

    Repeated shares are averaged; points with a NaN are ignored. A single point (or a
    zero-width range) returns its PGR. Random mixing (the straight line from weak to
    strong) scores 0.5; NaN is returned when ``weak_quality == strong_quality`` (PGR is
    undefined).
    """
    curve = _pgr_curve(strong_share, qualities, weak_quality, strong_quality)
    if curve is None:
        return math.nan
    s, pgr = curve
    if s.size == 1:
        return float(pgr[0])
    return _trapezoid(s, pgr) / float(s[-1] - s[0])


def cpt(
    strong_share: npt.ArrayLike,
    qualities: npt.ArrayLike,
    weak_quality: float,
    strong_quality: float,
    pgr: float,
) -> float | None:
    """Call-Performance Threshold CPT(x%): least share of strong calls reaching PGR ``pgr``.

    ``pgr`` is a fraction (0.5 for CPT(50%)); the result is a share in [0, 1]. The curve is
    the polyline through the points sorted by share (repeated shares averaged), and the
    answer is its *first* crossing of the target, interpolated within the segment.

    RouteLLM's ``pct_call_metric`` uses ``np.interp(target, accuracy, strong_pct)``, which
    agrees when quality rises with the share, but assumes a monotone curve and clamps: an
    unreachable target comes back as 100 %. Here an unreachable target is ``None``, as is
    a tie between weak and strong (PGR undefined). A target met at the first point returns
    that point's share.
    """
    target = _finite(pgr, "pgr")
    curve = _pgr_curve(strong_share, qualities, weak_quality, strong_quality)
    if curve is None:
        return None
    s, p = curve
    reached = p >= target - _REL_TOL * max(1.0, abs(target))
    if not reached.any():
        return None
    i = int(np.argmax(reached))
    if i == 0:
        return float(s[0])
    x0, x1, y0, y1 = float(s[i - 1]), float(s[i]), float(p[i - 1]), float(p[i])
    x = x0 + (target - y0) * (x1 - x0) / (y1 - y0)  # y0 < target <= y1 (within tolerance)
    return min(max(x, x0), x1)


def gap_closed(aiq_policy: float, aiq_random: float, aiq_oracle: float) -> float | None:
    """Share of the AIQ gap between random mixing and the oracle that a policy closes.

    ``(aiq_policy - aiq_random) / (aiq_oracle - aiq_random)``: 0 is no better than mixing
    the arms at random, 1 matches the per-query oracle; negative means worse than random.
    It is the AIQ analogue of RouteLLM's PGR, with random mixing instead of the weak model
    as the floor. ``None`` when the oracle and random AIQs are equal up to a relative
    1e-9 (nothing to close). Non-finite inputs are a ``ValueError``.
    """
    policy = _finite(aiq_policy, "aiq_policy")
    rand = _finite(aiq_random, "aiq_random")
    oracle = _finite(aiq_oracle, "aiq_oracle")
    if _close(oracle, rand):
        return None
    return (policy - rand) / (oracle - rand)
