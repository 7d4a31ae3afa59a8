"""Behaviour of the routing policies that a subtle bug would break."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ponder.policies import (
    NO_ARM,
    Policy,
    UtilityPolicy,
    choose_by_utility,
    default_cost_scale,
    lambda_grid,
    top_lambda,
)
from ponder.simulate import Oracle, SingleArm


def _random(n: int = 2000, k: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random((n, k))
    cost = np.geomspace(1e-4, 1e-1, k)[None, :] * rng.uniform(0.5, 1.5, (n, k))
    return p, cost


def _mean_chosen(values: np.ndarray, choice: np.ndarray) -> float:
    return float(values[np.arange(len(choice)), choice].mean())


def test_lam_zero_picks_highest_p_and_huge_lam_the_cheapest() -> None:
    p, cost = _random()
    assert np.array_equal(UtilityPolicy(0.0).choose(p, cost), p.argmax(axis=1))
    assert np.array_equal(UtilityPolicy(1e9).choose(p, cost), cost.argmin(axis=1))


def test_lam_zero_ties_go_to_the_cheaper_arm() -> None:
    p = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    cost = np.array([0.3, 0.2, 0.1])
    assert UtilityPolicy().choose(p, cost).tolist() == [1, 2]


def test_lam_trades_probability_for_cost() -> None:
    # Arm 1 is 0.1 better and costs the whole scale more: worth it only while lam < 0.1.
    p = np.array([[0.5, 0.6]])
    cost = np.array([0.0, 1.0])
    assert UtilityPolicy(0.05, cost_scale=1.0).choose(p, cost).tolist() == [1]
    assert UtilityPolicy(0.2, cost_scale=1.0).choose(p, cost).tolist() == [0]


def test_default_cost_scale_makes_lam_unit_free() -> None:
    p, cost = _random()
    base = UtilityPolicy(0.3).choose(p, cost)
    assert np.array_equal(base, UtilityPolicy(0.3).choose(p, cost * 1000.0))
    assert default_cost_scale(cost) == pytest.approx(cost.mean(axis=0).max())
    assert default_cost_scale(np.zeros((3, 2))) == 1.0


def test_ceiling_excludes_arms_and_gives_minus_one_when_none_fit() -> None:
    p = np.array([[0.2, 0.9, 0.5], [0.9, 0.8, 0.7]])
    cost = np.array([[0.01, 0.10, 0.05], [0.20, 0.30, 0.40]])
    choice = UtilityPolicy(0.0, max_cost=0.06).choose(p, cost)
    assert choice.tolist() == [2, NO_ARM]
    assert UtilityPolicy(0.0, max_cost=1.0).choose(p, cost).tolist() == [1, 0]


def test_policies_satisfy_the_protocol_and_check_shapes() -> None:
    p, cost = _random(10, 3)
    for pol in (UtilityPolicy(), SingleArm(1), Oracle(p)):
        assert isinstance(pol, Policy)
        assert pol.choose(p, cost).shape == (10,)
    assert SingleArm(2).choose(p, cost).tolist() == [2] * 10
    with pytest.raises(ValueError, match="cost has shape"):
        UtilityPolicy().choose(p, cost[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        UtilityPolicy().choose(np.full((2, 3), np.nan), cost[:2])
    with pytest.raises(ValueError, match="out of range"):
        SingleArm(3).choose(p, cost)
    with pytest.raises(ValueError, match="lam"):
        UtilityPolicy(-1.0)


def test_mean_cost_is_non_increasing_in_lam() -> None:
    p, cost = _random(3000, 5, 4)
    scale = default_cost_scale(cost)
    means = [
        _mean_chosen(cost, choose_by_utility(p, cost, lam, scale))
        for lam in lambda_grid(p, cost, 80)
    ]
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(means))


def test_lambda_grid_spans_from_best_p_to_cheapest() -> None:
    p, cost = _random(1000, 4, 5)
    grid = lambda_grid(p, cost, 40)
    scale = default_cost_scale(cost)
    assert grid[0] == 0.0 and np.all(np.diff(grid) > 0) and 20 <= grid.size <= 45
    assert grid[-1] == pytest.approx(top_lambda(p, cost, scale))
    assert np.array_equal(choose_by_utility(p, cost, grid[-1], scale), cost.argmin(axis=1))
    # Just below the top, some query still prefers a dearer arm: the bound is tight.
    below = choose_by_utility(p, cost, grid[-1] * 0.999, scale)
    assert not np.array_equal(below, cost.argmin(axis=1))
