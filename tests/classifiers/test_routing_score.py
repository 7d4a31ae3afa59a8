from __future__ import annotations

import numpy as np
import pytest

from ponder.classifiers._routing_score import routing_gain


def _table(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two arms that each win on half the queries; the second costs ten times more."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 2)) < np.where(rng.random(n) < 0.5, 0.2, 0.9)[:, None]).astype(float)
    y[: n // 2, 1] = 1.0 - y[: n // 2, 0]  # arm 1 right where arm 0 is wrong, on half
    cost = np.broadcast_to([0.001, 0.01], y.shape).copy()
    return y, cost


def test_the_oracle_earns_everything_and_a_constant_nothing() -> None:
    y, cost = _table()
    assert routing_gain(y, y, cost) == pytest.approx(1.0)
    assert abs(routing_gain(np.full(y.shape, 0.5), y, cost)) < 1e-9  # always the cheap arm
    constant = np.broadcast_to([0.4, 0.6], y.shape).copy()  # one arm per lam, never per query
    assert routing_gain(constant, y, cost) <= 1e-9


def test_better_predictions_route_better() -> None:
    y, cost = _table()
    rng = np.random.default_rng(1)
    noisy = 0.7 * y + 0.3 * rng.random(y.shape)
    worse = 0.3 * y + 0.7 * rng.random(y.shape)
    assert 1.0 > routing_gain(noisy, y, cost) > routing_gain(worse, y, cost) > 0.0


def test_rows_with_holes_are_judged_over_the_arms_they_have() -> None:
    y, cost = _table()
    holes = y.copy()
    holes[::3, 1] = np.nan  # every third query never tried the dear arm
    assert routing_gain(np.nan_to_num(holes, nan=1.0), holes, cost) == pytest.approx(1.0)
    assert np.isfinite(routing_gain(np.full(y.shape, 0.5), holes, None))
