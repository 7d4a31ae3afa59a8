"""The simulator's reference policies: the oracle's ceiling, the random-mix floor, the
cascade's bill."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.simulate import Cascade, Oracle, RandomMix, random_mix_frontier


def test_oracle_at_lam_zero_reaches_max_quality_at_least_cost() -> None:
    rng = np.random.default_rng(7)
    scores = (rng.random((500, 4)) < 0.5).astype(float)
    cost = rng.uniform(0.01, 1.0, (500, 4))
    choice = Oracle(scores).choose(scores, cost)
    rows = np.arange(500)
    assert np.array_equal(scores[rows, choice], scores.max(axis=1))
    best_cost = np.where(scores == scores.max(axis=1, keepdims=True), cost, np.inf).min(axis=1)
    assert np.array_equal(cost[rows, choice], best_cost)
    # At a huge lam the oracle is the per-query cheapest arm.
    assert np.array_equal(Oracle(scores, lam=1e9).choose(scores, cost), cost.argmin(axis=1))


def test_random_mix_is_the_hull_of_single_arms() -> None:
    cost = [1.0, 2.0, 3.0, 4.0]
    quality = [0.2, 0.3, 0.7, 0.6]  # arm 1 is under the chord 0-2, arm 3 is dominated
    hc, hq = random_mix_frontier(cost, quality)
    assert hc.tolist() == [1.0, 3.0] and hq.tolist() == [0.2, 0.7]
    w = RandomMix(tuple(cost), tuple(quality)).weights(2.0)
    assert w.tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0])
    assert RandomMix(tuple(cost), tuple(quality)).weights(10.0).tolist() == [0, 0, 1, 0]
    with pytest.raises(ValueError, match="below the cheapest"):
        RandomMix(tuple(cost), tuple(quality)).weights(0.5)


def test_cascade_pays_for_every_arm_tried() -> None:
    # Order by mean cost: arm 2 (0.01), arm 0 (0.1), arm 1 (1.0).
    cost = np.array([[0.1, 1.0, 0.01]] * 3)
    p = np.array([[0.1, 0.9, 0.9], [0.8, 0.9, 0.2], [0.1, 0.1, 0.1]])
    scores = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    quality, spent = Cascade(0.5).run(p, cost, scores)
    assert spent.tolist() == pytest.approx([0.01, 0.11, 1.11])
    assert quality.tolist() == [1.0, 1.0, 1.0]
    q0, c0 = Cascade(0.0).run(p, cost, scores)  # the first arm always accepts
    assert c0.tolist() == pytest.approx([0.01] * 3) and q0.tolist() == [1.0, 0.0, 0.0]
    q2, c2 = Cascade(2.0).run(p, cost, scores)  # nothing accepts: every arm runs
    assert c2.tolist() == pytest.approx([1.11] * 3)
    assert q2.tolist() == scores[:, 1].tolist()
    _, c3 = Cascade(0.5, order=[1, 0]).run(p, cost, scores)
    assert c3.tolist() == pytest.approx([1.0, 1.0, 1.1])
    with pytest.raises(ValueError, match="order"):
        Cascade(0.5, order=[3]).run(p, cost, scores)
