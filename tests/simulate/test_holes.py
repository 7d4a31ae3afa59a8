"""The simulator on tables with holes: each query replayed over the arms measured on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ponder.outcomes import OutcomeTable
from ponder.simulate._report import Report
from ponder.simulate._simulate import simulate
from tests.simulate.tables import outcome_table

PRICES = np.array([1e-4, 1e-3, 1e-2])  # m0 cheap, m1 mid, m2 dear


_table = outcome_table


def _holey(
    n: int = 1000, seed: int = 0, tasks: list[str] | None = None
) -> tuple[OutcomeTable, np.ndarray, np.ndarray]:
    """Like reasoning-gym: no query has every arm. The first half lacks m2 (the dear arm),
    the second half lacks m0; a few queries lack two. Returns table, true P, mask."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(size=n)
    prob = 1.0 / (1.0 + np.exp(-(np.array([-1.0, 0.0, 1.5])[None, :] - difficulty[:, None]) * 2))
    scores = (rng.random((n, 3)) < prob).astype(float)
    costs = PRICES[None, :] * rng.uniform(0.8, 1.2, (n, 3))
    mask = np.ones((n, 3), dtype=bool)
    mask[: n // 2, 2] = False
    mask[n // 2 :, 0] = False
    mask[:10, 1] = False  # rows 0..9 have m0 only
    scores[~mask] = np.nan
    costs[~mask] = np.nan  # unmeasured cells may lack a cost too
    labels = [tasks[i % len(tasks)] for i in range(n)] if tasks else None
    return _table(scores, costs, labels), prob, mask


def _best_quality(report: Report, policy: str) -> float:
    return max(pt.quality for pt in report.policies[policy].points)


def test_a_table_without_complete_rows_is_replayed_whole() -> None:
    table, prob, _ = _holey()
    report = simulate(table, prob, PRICES)
    assert report.n_queries == table.n_queries and report.dropped_incomplete == 0
    holes = report.holes
    assert holes is not None and holes.rows_with_holes == table.n_queries
    assert [(p.missing, p.n_queries) for p in holes.patterns] == [
        (("m0",), 500),
        (("m2",), 490),
        (("m1", "m2"), 10),
    ]
    assert {a: c.measured for a, c in holes.arms.items()} == {"m0": 500, "m1": 990, "m2": 500}
    # each arm's own numbers are on its measured rows only
    assert holes.arms["m2"].quality == pytest.approx(np.nanmean(table.scores[:, 2]))
    assert holes.arms["m0"].cost_per_query == pytest.approx(np.nanmean(table.costs[:, 0]))
    # complete_only leaves nothing
    with pytest.raises(ValueError, match="every arm measured"):
        simulate(table, prob, PRICES, complete_only=True)


def test_policies_choose_only_measured_arms() -> None:
    table, _, mask = _holey(seed=1)
    s, c = table.scores, table.costs
    rows = np.arange(table.n_queries)
    # ponder is told the dear arm always succeeds and costs nothing: at lam = 0 it must still
    # answer with a measured arm (the better predicted of the rest, ties to the cheaper).
    p = np.where(np.arange(3) == 2, 1.0, 0.5)[None, :].repeat(table.n_queries, axis=0)
    report = simulate(table, p, np.array([1e-4, 1e-3, 0.0]), lambdas=[0.0])
    want = np.where(mask[:, 2], 2, np.where(mask[:, 0], 0, 1))
    (pt,) = report.policies["ponder"].points
    assert pt.quality == pytest.approx(s[rows, want].mean())
    assert pt.cost_per_query == pytest.approx(c[rows, want].mean())
    # the oracle's best is the best measured arm of each row
    assert _best_quality(report, "oracle") == pytest.approx(np.nanmax(s, axis=1).mean())


def test_cascade_skips_unmeasured_arms() -> None:
    table, prob, mask = _holey(seed=2)
    s, c = np.nan_to_num(table.scores), np.nan_to_num(table.costs)
    rows = np.arange(table.n_queries)
    report = simulate(table, prob, PRICES, cascade_thresholds=[0.0, 2.0])
    first, every = report.policies["cascade"].points
    # threshold 0: the cheapest measured arm answers and is the only one paid
    cheapest = mask.argmax(axis=1)
    assert first.quality == pytest.approx(s[rows, cheapest].mean())
    assert first.cost_per_query == pytest.approx(c[rows, cheapest].mean())
    # a threshold nobody meets calls every measured arm; the dearest measured one answers
    last = 2 - mask[:, ::-1].argmax(axis=1)
    assert every.quality == pytest.approx(s[rows, last].mean())
    assert every.cost_per_query == pytest.approx(c.sum(axis=1).mean())


def test_single_arms_take_the_nearest_priced_measured_arm() -> None:
    table, prob, mask = _holey(seed=3)
    s = table.scores
    report = simulate(table, prob, PRICES)
    # m2 is missing on the first half: m1 (nearer in price than m0) stands in, or m0 where
    # m1 is missing too
    stand = np.where(mask[:, 2], 2, np.where(mask[:, 1], 1, 0))
    (pt,) = report.policies["arm:m2"].points
    assert pt.quality == pytest.approx(s[np.arange(table.n_queries), stand].mean())
    assert report.arms["m2"].quality == pytest.approx(pt.quality)
    assert report.holes is not None
    assert report.holes.arms["m2"].stand_ins == {"m1": 490, "m0": 10}
    assert report.holes.arms["m0"].stand_ins == {"m1": 500}
    assert report.holes.arms["m1"].stand_ins == {"m0": 10}
    # random mixing is the hull of those filled-in arms, so the oracle still bounds it
    assert report.summary.aiq["oracle"] >= report.summary.aiq["random"]
    assert report.policies["random"].gap_closed == 0.0
    # informed predictions beat uninformed ones on the same holes
    flat = simulate(table, np.full(prob.shape, 0.5), PRICES)
    assert report.summary.aiq["ponder"] > flat.summary.aiq["ponder"]


def test_holes_by_task_and_an_arm_never_measured(tmp_path: Path) -> None:
    table, prob, mask = _holey(n=600, seed=4, tasks=["a", "b", "c"])
    extra = np.full((table.n_queries, 1), np.nan)
    wider = OutcomeTable(
        ids=table.ids,
        prompts=table.prompts,
        tasks=table.tasks,
        arms=(*table.arms, "ghost"),
        scores=np.hstack([table.scores, extra]),
        costs=np.hstack([table.costs, extra]),
        input_tokens=np.full((table.n_queries, 4), np.nan),
        output_tokens=np.full((table.n_queries, 4), np.nan),
    )
    p = np.hstack([prob, np.ones((table.n_queries, 1))])
    report = simulate(wider, p, np.r_[PRICES, 0.0])
    assert report.holes is not None and report.holes.never_measured == ("ghost",)
    assert set(report.arms) == {"m0", "m1", "m2"} and "arm:ghost" not in report.policies
    base = simulate(table, prob, PRICES)
    assert report.summary.aiq == base.summary.aiq  # the unmeasured arm changes nothing
    by_task = report.holes.by_task
    assert set(by_task) == {"a", "b", "c"}
    labels = np.array(table.tasks)
    for task, missing in by_task.items():
        for j, arm in enumerate(table.arms):
            assert missing.get(arm, 0) == int((~mask[labels == task, j]).sum())
    assert set(report.by_task) == {"a", "b", "c"}
    path = report.to_json(tmp_path / "r.json")
    assert Report.from_json(path) == report
    assert "NaN" not in path.read_text()


def test_two_arm_shares_count_forced_queries() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    difficulty = rng.normal(size=n)
    prob = 1.0 / (1.0 + np.exp(-(np.array([-0.5, 1.0])[None, :] - difficulty[:, None]) * 2))
    scores = (rng.random((n, 2)) < prob).astype(float)
    scores[:100, 1] = np.nan  # weak only
    scores[100:300, 0] = np.nan  # strong only
    table = _table(scores, np.tile([1e-4, 1e-2], (n, 1)))
    report = simulate(table, prob, [1e-4, 1e-2])
    pol = report.policies
    assert (report.summary.strong_arm, report.summary.weak_arm) == ("m1", "m0")
    shares = [pt.strong_share for pt in pol["ponder"].share_points or ()]
    assert shares[0] == pytest.approx(200 / n) and shares[-1] == pytest.approx(1900 / n)
    assert pol["random"].apgr == pytest.approx(0.5)
    assert pol["oracle"].apgr is not None and pol["ponder"].apgr is not None
    assert pol["oracle"].apgr > pol["ponder"].apgr > 0.5
    cascade = [pt.strong_share for pt in pol["cascade"].share_points or ()]
    assert min(cascade) >= 200 / n - 1e-12 and max(cascade) <= 1900 / n + 1e-12


def test_one_hole_leaves_the_other_rows_as_they_were() -> None:
    """The rows without holes are replayed exactly as before; only the holey rows differ."""
    table, prob, _ = _holey(n=400, seed=6)
    full = _table(np.nan_to_num(table.scores), np.nan_to_num(table.costs, nan=1.0))
    scores, costs = full.scores.copy(), full.costs.copy()
    scores[0, 1], costs[0, 1] = np.nan, np.nan
    lams = [0.0, 0.5, 2.0, 50.0]
    one = simulate(_table(scores, costs), prob, PRICES, lambdas=lams, by_task=False)
    ref = simulate(full, prob, PRICES, lambdas=lams, by_task=False)
    rest = simulate(full.take(range(1, 400)), prob[1:], PRICES, lambdas=lams, by_task=False)
    for a, b, r in zip(
        one.policies["ponder"].points,
        ref.policies["ponder"].points,
        rest.policies["ponder"].points,
        strict=True,
    ):
        # row 0 differs at most by its own score (1 of 400)
        assert abs(a.quality - b.quality) <= 1 / 400 + 1e-12
        assert abs(a.quality * 400 - r.quality * 399) <= 1 + 1e-9
    assert one.holes is not None and one.holes.rows_with_holes == 1
    assert ref.holes is None


def test_predictions_for_unmeasured_arms_do_not_matter() -> None:
    """Whatever p and expected cost say about an unmeasured cell (NaN, huge, zero), the
    replay is the same: the arm cannot be chosen there, and arm means skip those cells."""
    table, prob, mask = _holey(n=600, seed=7)
    ec = PRICES[None, :] * np.random.default_rng(1).uniform(0.9, 1.1, prob.shape)
    ref = simulate(table, prob, ec)
    for p_fill, c_fill in ((np.nan, np.nan), (5.0, 0.0), (-3.0, 1e6)):
        p = np.where(mask, prob, p_fill)
        c = np.where(mask, ec, c_fill)
        assert simulate(table, p, c).model_dump() == ref.model_dump()


def test_cascade_order_follows_the_prices_of_measured_calls() -> None:
    """An expensive arm measured on few queries is still tried last, not ranked by a mean
    diluted by the queries where it was never called."""
    table, prob, _ = _holey(n=600, seed=8)
    scores, costs = table.scores.copy(), table.costs.copy()
    scores[:, 2] = np.nan
    costs[:, 2] = np.nan
    scores[:20, 2], costs[:20, 2] = 1.0, 1e-2  # m2 measured on 20 queries only
    sparse = _table(scores, costs)
    mask = sparse.measured
    ec = np.where(mask, np.broadcast_to(PRICES, prob.shape), np.nan)
    report = simulate(sparse, prob, ec, cascade_thresholds=[2.0])
    (every,) = report.policies["cascade"].points
    last = 2 - mask[:, ::-1].argmax(axis=1)  # the dearest measured arm answers
    rows = np.arange(sparse.n_queries)
    assert every.quality == pytest.approx(scores[rows, last].mean())
