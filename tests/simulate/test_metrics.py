"""Frontier metrics: hand-computed areas, the published conventions, and random properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ponder.simulate._metrics import (
    aiq,
    apgr,
    cost_to_reach,
    cpt,
    gap_closed,
    quality_at_cost,
    upper_frontier,
)

# A concave frontier: slopes 0.4, 0.15, 0.075. (3, 0.75) is under the chord (2,.75)-(4,.9).
C4 = [0.0, 1.0, 2.0, 4.0]
Q4 = [0.2, 0.6, 0.75, 0.9]
AREA4 = (0.2 + 0.6) / 2 + (0.6 + 0.75) / 2 + (0.75 + 0.9) / 2 * 2  # 2.725 on [0, 4]


def _brute_frontier(c: np.ndarray, q: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Independent reference: the upper concave envelope evaluated as the highest chord
    between any two points spanning x (RouterBench's pairwise construction), then made
    non-decreasing by a running max. NaN left of the cheapest point."""
    lo, hi = c[:, None], c[None, :]
    ok = lo < hi
    out = np.full(grid.shape, -np.inf)
    for k, x in enumerate(grid):
        same = q[c == x]
        if same.size:
            out[k] = same.max()
        span = ok & (lo <= x) & (x <= hi)
        if span.any():
            t = np.where(span, (x - lo) / np.where(ok, hi - lo, 1.0), 0.0)
            chord = np.where(span, q[:, None] + t * (q[None, :] - q[:, None]), -np.inf)
            out[k] = max(out[k], chord.max())
    out = np.maximum.accumulate(np.where(np.isfinite(out), out, -np.inf))
    out[grid < c.min()] = np.nan
    out[grid > c.max()] = q.max()
    return out


# --------------------------------------------------------------------------- upper_frontier


def test_frontier_drops_dominated_and_collinear_points() -> None:
    c, q = upper_frontier([0, 1, 2, 3, 4, 1.5], [0.2, 0.6, 0.75, 0.75, 0.9, 0.675])
    # (3, .75) is under a chord; (1.5, .675) is exactly on the (1,.6)-(2,.75) chord.
    np.testing.assert_allclose(c, C4)
    np.testing.assert_allclose(q, Q4)


def test_frontier_is_cut_at_the_cheapest_best_point() -> None:
    c, q = upper_frontier([3, 1, 2, 5], [0.5, 0.2, 0.9, 0.9])
    np.testing.assert_allclose(c, [1, 2])
    np.testing.assert_allclose(q, [0.2, 0.9])


def test_frontier_single_point_and_unsorted_input() -> None:
    c, q = upper_frontier([2.5], [0.4])
    assert c.tolist() == [2.5] and q.tolist() == [0.4]
    c, q = upper_frontier([4, 0, 2, 1], [0.9, 0.2, 0.75, 0.6])
    np.testing.assert_allclose(c, C4)


def test_frontier_duplicate_costs_keep_the_best_quality() -> None:
    c, q = upper_frontier([1, 1, 2, 2], [0.3, 0.5, 0.7, 0.6])
    np.testing.assert_allclose(c, [1, 2])
    np.testing.assert_allclose(q, [0.5, 0.7])


def test_frontier_all_points_at_one_cost() -> None:
    c, q = upper_frontier([1, 1, 1], [0.2, 0.9, 0.4])
    assert c.tolist() == [1.0] and q.tolist() == [0.9]


def test_frontier_ignores_nan_points() -> None:
    c, q = upper_frontier([0, math.nan, 1, 2, 4, 0.5], [0.2, 0.99, 0.6, 0.75, 0.9, math.nan])
    np.testing.assert_allclose(c, C4)
    np.testing.assert_allclose(q, Q4)


@pytest.mark.parametrize(
    ("costs", "qualities", "match"),
    [
        ([1, 2], [0.5], "equal length"),
        ([[1, 2]], [[0.5, 0.6]], "1-D"),
        ([], [], "no point"),
        ([math.nan, 1], [0.5, math.nan], "no point"),
        ([1, math.inf], [0.5, 0.6], "infinit"),
        (["a", "b"], [0.5, 0.6], "numeric"),
    ],
)
def test_frontier_rejects_bad_input(costs: list, qualities: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        upper_frontier(costs, qualities)


# --------------------------------------------------------------------------- quality_at_cost


def test_quality_at_cost_interpolates_and_is_flat_after_and_nan_before() -> None:
    costs, quals = [1.0, 3.0], [0.4, 0.8]
    assert quality_at_cost(costs, quals, 2.0) == pytest.approx(0.6)
    assert quality_at_cost(costs, quals, 2.5) == pytest.approx(0.7)
    assert quality_at_cost(costs, quals, 1.0) == pytest.approx(0.4)
    assert quality_at_cost(costs, quals, 10.0) == pytest.approx(0.8)
    assert quality_at_cost(costs, quals, math.inf) == pytest.approx(0.8)
    assert math.isnan(quality_at_cost(costs, quals, 0.5))
    with pytest.raises(ValueError, match="NaN"):
        quality_at_cost(costs, quals, math.nan)


def test_quality_at_cost_uses_the_hull_not_the_raw_points() -> None:
    # The raw point at cost 2 has quality 0.3, but mixing (1, .4) and (3, .8) gives 0.6.
    assert quality_at_cost([1, 2, 3], [0.4, 0.3, 0.8], 2.0) == pytest.approx(0.6)


# --------------------------------------------------------------------------- cost_to_reach


def test_cost_to_reach() -> None:
    costs, quals = [1.0, 3.0], [0.4, 0.8]
    assert cost_to_reach(costs, quals, 0.6) == pytest.approx(2.0)
    assert cost_to_reach(costs, quals, 0.8) == pytest.approx(3.0)
    assert cost_to_reach(costs, quals, 0.1) == pytest.approx(1.0)  # the cheapest point
    assert cost_to_reach(costs, quals, 0.81) is None
    # A dominated expensive point does not make a target "reachable" later.
    assert cost_to_reach([1, 2, 5], [0.4, 0.9, 0.7], 0.9) == pytest.approx(2.0)
    assert cost_to_reach(C4, Q4, 0.675) == pytest.approx(1.5)


# --------------------------------------------------------------------------- aiq


def test_aiq_triangle_hull_with_flat_extension() -> None:
    # Hull (0,0)-(1,1), then flat at 1 up to cost 2: area 0.5 + 1.0 over a range of 2.
    assert aiq([0, 1], [0, 1], 0.0, 2.0) == pytest.approx(0.75)
    # The point (2, 1) adds nothing: it is the flat extension itself.
    assert aiq([0, 1, 2], [0, 1, 1], 0.0, 2.0) == pytest.approx(0.75)


def test_aiq_hand_computed_concave_frontier() -> None:
    assert aiq(C4, Q4, 0.0, 4.0) == pytest.approx(AREA4 / 4)  # 0.68125
    assert aiq(C4, Q4, 0.0, 5.0) == pytest.approx((AREA4 + 0.9) / 5)  # flat extension
    # A sub-range: from 1 to 3, area (.6+.75)/2 + (.75+.825)/2 = 1.4625.
    assert aiq(C4, Q4, 1.0, 3.0) == pytest.approx(1.4625 / 2)


def test_aiq_dominated_interior_point_changes_nothing() -> None:
    base = aiq(C4, Q4, 0.0, 4.0)
    assert aiq([*C4, 3.0], [*Q4, 0.75], 0.0, 4.0) == pytest.approx(base)
    assert aiq([*C4, 0.5], [*Q4, 0.1], 0.0, 4.0) == pytest.approx(base)
    assert aiq([*C4, 6.0], [*Q4, 0.5], 0.0, 4.0) == pytest.approx(base)
    # ...while a point above the frontier raises it (the test can fail).
    assert aiq([*C4, 3.0], [*Q4, 0.88], 0.0, 4.0) > base + 0.01


def test_aiq_random_mixing_of_two_arms_is_the_trapezoid() -> None:
    assert aiq([1.0, 3.0], [0.4, 0.8], 1.0, 3.0) == pytest.approx((0.4 + 0.8) / 2)


def test_aiq_gives_no_credit_below_the_cheapest_point() -> None:
    # RouterBench integrates from the router's own cheapest point but divides by the full
    # range: [0, 1) contributes nothing here.
    assert aiq([1.0, 2.0], [0.5, 0.5], 0.0, 2.0) == pytest.approx(0.25)
    assert aiq([1.0, 3.0], [0.4, 0.8], 0.0, 3.0) == pytest.approx(1.2 / 3)


def test_aiq_cost_max_below_the_cheapest_point_is_zero() -> None:
    assert aiq([1.0, 3.0], [0.4, 0.8], 0.0, 0.5) == 0.0
    assert aiq([1.0, 3.0], [0.4, 0.8], 0.0, 1.0) == 0.0


def test_aiq_zero_width_range_is_the_frontier_value() -> None:
    assert aiq([1.0, 3.0], [0.4, 0.8], 2.0, 2.0) == pytest.approx(0.6)
    assert aiq([1.0, 3.0], [0.4, 0.8], 1.0, 1.0) == pytest.approx(0.4)
    assert aiq([1.0, 3.0], [0.4, 0.8], 9.0, 9.0) == pytest.approx(0.8)
    assert aiq([1.0, 3.0], [0.4, 0.8], 0.5, 0.5) == 0.0


def test_aiq_single_point_and_all_at_one_cost() -> None:
    assert aiq([2.0], [0.6], 0.0, 4.0) == pytest.approx(0.6 * 2 / 4)
    assert aiq([2.0, 2.0, 2.0], [0.1, 0.6, 0.3], 2.0, 4.0) == pytest.approx(0.6)


def test_aiq_rejects_bad_ranges() -> None:
    with pytest.raises(ValueError, match="below cost_min"):
        aiq([1.0], [0.5], 2.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        aiq([1.0], [0.5], 0.0, math.nan)
    with pytest.raises(ValueError, match="equal length"):
        aiq([1.0, 2.0], [0.5], 0.0, 1.0)


def test_aiq_matches_routerbench_normalisation_with_cost_min_zero() -> None:
    # RouterBench: trapz over the hull plus (max_cost, last quality), divided by max_cost.
    hc, hq = upper_frontier(C4, Q4)
    xs, ys = np.r_[hc, 6.0], np.r_[hq, hq[-1]]
    reference = float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2)) / 6.0
    assert aiq(C4, Q4, 0.0, 6.0) == pytest.approx(reference)


# --------------------------------------------------------------------------- apgr / cpt


def test_apgr_of_the_diagonal_is_one_half() -> None:
    share = np.linspace(0, 1, 11)
    assert apgr(share, 0.5 + share * 0.4, 0.5, 0.9) == pytest.approx(0.5)
    # Also in unnormalised units and with shuffled points.
    rng = np.random.default_rng(0)
    perm = rng.permutation(11)
    assert apgr(share[perm], (60 + 20 * share)[perm], 60.0, 80.0) == pytest.approx(0.5)


def test_apgr_hand_computed_and_routellm_formula() -> None:
    share, qual = [0.0, 0.5, 1.0], [0.5, 0.8, 0.9]
    # PGR = 0, .75, 1 -> trapezoid = .5 * (0 + .75)/2 + .5 * (.75 + 1)/2 = .625
    assert apgr(share, qual, 0.5, 0.9) == pytest.approx(0.625)
    # RouteLLM's apgr_metric over percentages: (AUC - weak_auc) / (strong_auc - weak_auc).
    x = np.array(share)
    auc = float(np.sum(np.diff(x) * (np.add(qual[1:], qual[:-1])) / 2))
    weak_auc, strong_auc = 0.5 * (x[-1] - x[0]), 0.9 * (x[-1] - x[0])
    assert apgr(share, qual, 0.5, 0.9) == pytest.approx((auc - weak_auc) / (strong_auc - weak_auc))


def test_apgr_edge_cases() -> None:
    assert apgr([0.3], [0.7], 0.5, 0.9) == pytest.approx(0.5)  # one point: its PGR
    # Repeated shares are averaged: (0.5, .6) and (0.5, .8) act as (0.5, .7).
    assert apgr([0, 0.5, 0.5, 1], [0.5, 0.6, 0.8, 0.9], 0.5, 0.9) == pytest.approx(
        apgr([0, 0.5, 1], [0.5, 0.7, 0.9], 0.5, 0.9)
    )
    assert math.isnan(apgr([0, 1], [0.5, 0.5], 0.5, 0.5))  # no gap to recover
    with pytest.raises(ValueError, match="fraction"):
        apgr([0, 50, 100], [0.5, 0.7, 0.9], 0.5, 0.9)


def test_cpt_of_the_diagonal() -> None:
    share = np.linspace(0, 1, 11)
    qual = 0.5 + share * 0.4
    assert cpt(share, qual, 0.5, 0.9, 0.5) == pytest.approx(0.5)
    assert cpt(share, qual, 0.5, 0.9, 0.2) == pytest.approx(0.2)
    assert cpt(share, qual, 0.5, 0.9, 0.8) == pytest.approx(0.8)
    assert cpt(share, qual, 0.5, 0.9, 0.0) == pytest.approx(0.0)
    assert cpt(share, qual, 0.5, 0.9, 1.0) == pytest.approx(1.0)


def test_cpt_unreachable_target_is_none() -> None:
    share = np.linspace(0, 1, 11)
    assert cpt(share, 0.5 + share * 0.4, 0.5, 0.9, 1.1) is None
    assert cpt([0, 0.5, 1], [0.5, 0.6, 0.7], 0.5, 0.9, 0.8) is None  # tops out at PGR .5
    assert cpt([0, 1], [0.5, 0.5], 0.5, 0.5, 0.5) is None  # no gap


def test_cpt_takes_the_first_crossing_of_a_non_monotone_curve() -> None:
    share = [0.0, 0.25, 0.5, 0.75, 1.0]
    pgr = np.array([0.0, 0.6, 0.4, 0.9, 1.0])
    # PGR 0.5 is first reached inside [0, .25]; np.interp on the unsorted curve would not
    # be defined here.
    assert cpt(share, 0.5 + 0.4 * pgr, 0.5, 0.9, 0.5) == pytest.approx(0.25 * 0.5 / 0.6)
    assert cpt(share, 0.5 + 0.4 * pgr, 0.5, 0.9, 0.7) == pytest.approx(0.5 + 0.25 * 0.6)
    # A target already met at the first evaluated share returns that share.
    assert cpt([0.2, 0.6], [0.8, 0.9], 0.5, 0.9, 0.5) == pytest.approx(0.2)


# --------------------------------------------------------------------------- gap_closed


def test_gap_closed() -> None:
    assert gap_closed(0.7, 0.6, 0.8) == pytest.approx(0.5)
    assert gap_closed(0.8, 0.6, 0.8) == pytest.approx(1.0)
    assert gap_closed(0.6, 0.6, 0.8) == pytest.approx(0.0)
    assert gap_closed(0.5, 0.6, 0.8) == pytest.approx(-0.5)
    assert gap_closed(0.7, 0.6, 0.6) is None
    assert gap_closed(0.7, 0.6, 0.6 + 1e-13) is None
    with pytest.raises(ValueError, match="finite"):
        gap_closed(math.nan, 0.6, 0.8)


# --------------------------------------------------------------------------- properties


def _random_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    costs = rng.uniform(0.0, 10.0, n)
    if rng.random() < 0.3:  # sometimes ties in cost
        costs = np.round(costs)
    return costs, rng.uniform(0.0, 1.0, n)


def test_property_superset_aiq_is_at_least_subset_aiq() -> None:
    rng = np.random.default_rng(20240318)
    for _ in range(300):
        n = int(rng.integers(1, 15))
        costs, quals = _random_points(rng, n)
        subset = rng.random(n) < 0.5
        if not subset.any():
            subset[int(rng.integers(n))] = True
        lo = float(costs.min()) - float(rng.uniform(0.0, 2.0))
        hi = float(costs.max()) + float(rng.uniform(0.0, 2.0))
        full = aiq(costs, quals, lo, hi)
        part = aiq(costs[subset], quals[subset], lo, hi)
        assert full >= part - 1e-12
        assert 0.0 <= full <= float(quals.max()) + 1e-12


def test_property_frontier_matches_brute_force_envelope() -> None:
    rng = np.random.default_rng(7)
    for _ in range(150):
        n = int(rng.integers(1, 12))
        costs, quals = _random_points(rng, n)
        hc, hq = upper_frontier(costs, quals)
        assert np.all(np.diff(hc) > 0) and np.all(np.diff(hq) > 0)
        if hc.size >= 3:  # concave: slopes decrease
            slopes = np.diff(hq) / np.diff(hc)
            assert np.all(np.diff(slopes) < 1e-12)
        grid = np.unique(np.r_[costs, np.linspace(-1.0, 11.0, 61)])
        ours = np.array([quality_at_cost(costs, quals, float(x)) for x in grid])
        np.testing.assert_allclose(ours, _brute_frontier(costs, quals, grid), atol=1e-12)
        # No point lies above the frontier.
        assert all(
            quality_at_cost(hc, hq, float(c)) >= q - 1e-12
            for c, q in zip(costs, quals, strict=True)
        )


def test_property_cost_to_reach_inverts_quality_at_cost() -> None:
    rng = np.random.default_rng(11)
    for _ in range(100):
        costs, quals = _random_points(rng, int(rng.integers(2, 12)))
        _, hq = upper_frontier(costs, quals)
        target = float(rng.uniform(hq[0], hq[-1]))
        c = cost_to_reach(costs, quals, target)
        assert c is not None
        assert quality_at_cost(costs, quals, c) == pytest.approx(target)
        assert cost_to_reach(costs, quals, float(hq[-1]) + 0.01) is None


def test_property_apgr_of_any_two_point_line_and_cpt_consistency() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        weak, strong = sorted(rng.uniform(0, 1, 2))
        share = np.sort(np.r_[0.0, rng.uniform(0, 1, 8), 1.0])
        qual = weak + share * (strong - weak)
        assert apgr(share, qual, weak, strong) == pytest.approx(0.5)
        x = float(rng.uniform(0, 1))
        assert cpt(share, qual, weak, strong, x) == pytest.approx(x)
