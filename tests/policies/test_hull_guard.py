from __future__ import annotations

import math

import numpy as np
import pytest

from ponder.outcomes import OutcomeTable
from ponder.policies import HullGuard, fit_hull_guard
from ponder.simulate import simulate
from ponder.simulate._metrics import aiq

ARMS = ("cheap", "mid", "dear")
QUALITY = np.array([0.3, 0.6, 0.8])
COST = np.array([1.0, 3.0, 10.0]) * 1e-4


def _table(y: np.ndarray) -> OutcomeTable:
    n = y.shape[0]
    return OutcomeTable(
        ids=tuple(f"q{i}" for i in range(n)),
        prompts=tuple(f"query {i}" for i in range(n)),
        tasks=("",) * n,
        arms=ARMS,
        scores=y,
        costs=np.broadcast_to(COST, y.shape).copy(),
        input_tokens=np.full(y.shape, np.nan),
        output_tokens=np.full(y.shape, np.nan),
    )


def _rows(n: int, seed: int, truth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and the model's predictions. Without ``truth`` the arms differ only on
    average and the predictions are noise around those means: the model believes it can
    tell queries apart and cannot. With it, outcomes follow ``truth`` and so do the
    predictions (a model that can)."""
    rng = np.random.default_rng(seed)
    p_true = np.broadcast_to(QUALITY, (n, 3)) if truth is None else truth
    y = (rng.random((n, 3)) < p_true).astype(float)
    noise = np.clip(QUALITY + rng.normal(0.0, 0.2, (n, 3)), 0.01, 0.99)
    return y, noise if truth is None else truth


def _aiq(table: OutcomeTable, p: np.ndarray, guard: HullGuard | None) -> tuple[float, float]:
    """Ponder's AIQ and random mixing's, on the single arms' cost range."""
    rep = simulate(table, p, np.broadcast_to(COST, p.shape), by_task=False, guard=guard)
    lo, hi = float(COST.min()), float(COST.max())

    def area(policy: str) -> float:
        pts = rep.policies[policy].points
        return aiq([x.cost_per_query for x in pts], [x.quality for x in pts], lo, hi)

    return area("ponder"), area("random")


def test_where_features_carry_no_signal_the_guard_keeps_ponder_on_the_hull() -> None:
    y, p_oof = _rows(3000, seed=0)
    folds = np.arange(3000) % 5
    guard = fit_hull_guard(p_oof, y, np.broadcast_to(COST, y.shape), folds, ARMS)
    assert guard.active
    y_test, p_test = _rows(3000, seed=1)  # held out: fresh outcomes, fresh noise
    test = _table(y_test)
    guarded, random = _aiq(test, p_test, guard)
    unguarded, _ = _aiq(test, p_test, None)
    assert unguarded < random - 0.01  # routing on noise falls below mixing single arms
    assert guarded >= random - 1e-9  # the guard's points are the hull's arms
    assert guard.arm_at(0.0) == "dear"  # quality first: the best single arm


def test_where_the_model_can_tell_queries_apart_the_guard_lets_it_route() -> None:
    rng = np.random.default_rng(2)
    kind = rng.random(4000) < 0.5  # half the queries only the dear arm gets right
    truth = np.where(kind[:, None], [0.05, 0.1, 0.9], [0.9, 0.9, 0.9])
    y, p = _rows(4000, seed=3, truth=truth)
    guard = fit_hull_guard(p, y, np.broadcast_to(COST, y.shape), np.arange(4000) % 5, ARMS)
    assert guard.gain == pytest.approx(guard.gain_unguarded, abs=0.02)
    y_test, _ = _rows(4000, seed=4, truth=truth)
    test = _table(y_test)
    guarded, random = _aiq(test, truth, guard)
    unguarded, _ = _aiq(test, truth, None)
    assert guarded > random + 0.05
    assert guarded >= unguarded - 0.005


def test_a_lam_takes_the_decision_at_or_below_it() -> None:
    guard = HullGuard(lams=(0.0, 0.5, 2.0), fallback=("dear", None, "cheap"))
    assert [guard.arm_at(x) for x in (0.0, 0.3, 0.5, 1.9, 2.0, 50.0)] == [
        "dear",
        "dear",
        None,
        None,
        "cheap",
        "cheap",
    ]
    routed = np.array([0, 1, 2])
    index = {a: j for j, a in enumerate(ARMS)}
    assert guard.apply(1.0, routed, index).tolist() == [0, 1, 2]  # routes
    assert guard.apply(0.1, routed, index).tolist() == [2, 2, 2]
    usable = np.array([[True, True, True], [True, True, False], [True, True, True]])
    assert guard.apply(0.1, routed, index, usable).tolist() == [2, 1, 2]  # not where unusable
    assert guard.apply(0.1, routed, {"cheap": 0}).tolist() == [0, 1, 2]  # unknown arm: routes


def test_state_round_trips_and_bad_guards_are_refused() -> None:
    guard = HullGuard(lams=(0.0, 1.0), fallback=(None, "mid"), margin=0.5, gain=0.2)
    back = HullGuard.from_state(guard.to_state())
    assert back.lams == guard.lams and back.fallback == guard.fallback
    assert back.margin == 0.5 and back.gain == 0.2 and math.isnan(back.gain_unguarded)
    with pytest.raises(ValueError, match="one fallback per lam"):
        HullGuard(lams=(0.0, 1.0), fallback=(None,))
    with pytest.raises(ValueError, match="sorted"):
        HullGuard(lams=(1.0, 0.0), fallback=(None, None))
    assert not HullGuard(lams=(0.0,), fallback=(None,)).active


def test_simulate_applies_each_rows_own_guard() -> None:
    # Two fold models: the first's guard takes the cheap arm everywhere, the second's
    # routes; their rows are replayed together, as bench_routing replays its folds.
    y, p = _rows(400, seed=5)
    table = _table(y)
    cheap = HullGuard(lams=(0.0,), fallback=("cheap",))
    guards = [cheap if i < 200 else None for i in range(400)]
    rep = simulate(table, p, np.broadcast_to(COST, p.shape), by_task=False, guard=guards)
    routed = p.argmax(axis=1)  # lam = 0: the highest predicted success
    first = next(x for x in rep.policies["ponder"].points if x.param == 0.0)
    taken = np.r_[np.zeros(200, dtype=int), routed[200:]]
    assert first.quality == pytest.approx(y[np.arange(400), taken].mean())
    assert first.cost_per_query == pytest.approx(COST[taken].mean())
