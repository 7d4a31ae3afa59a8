"""The replay on the shared reasoning-gym table, whose every query lacks some arm.

Easy configs were not run on grok-3-mini and hard configs not on claude-sonnet-4, and the
table records no cost (its menu prices the arms). A spread subset and per-task success rates
from the other folds as predictions keep this fast; the classifier is not what is tested.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from ponder._menu import Menu
from ponder.outcomes import OutcomeTable, load_outcomes
from ponder.simulate._evaluate import price_table
from ponder.simulate._simulate import simulate
from ponder.simulate._splits import grouped_kfold

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "reasoning-gym"


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> OutcomeTable:
    if not (SHARED / "outcomes.jsonl").is_file():
        pytest.skip("../shared/data/reasoning-gym is absent")
    lines = (SHARED / "outcomes.jsonl").read_text(encoding="utf-8").splitlines()
    subset = tmp_path_factory.mktemp("rg") / "rg.jsonl"
    subset.write_text("\n".join(lines[::10]) + "\n", encoding="utf-8")
    return price_table(load_outcomes(subset).table, Menu.load(SHARED / "menu.yaml"))


def _task_rates(table: OutcomeTable) -> np.ndarray:
    """Out-of-fold P(success): each arm's success rate on the query's task, other folds."""
    p = np.full(table.scores.shape, np.nan)
    tasks = np.array(table.tasks)
    for train, test in grouped_kfold(list(table.ids), 3):
        overall = np.nanmean(table.scores[train], axis=0)
        for task in np.unique(tasks[test]):
            rows = train[tasks[train] == task]
            with warnings.catch_warnings():  # an arm never measured on the task: NaN, filled
                warnings.simplefilter("ignore", RuntimeWarning)
                rate = np.nanmean(table.scores[rows], axis=0) if rows.size else overall
            p[test[tasks[test] == task]] = np.where(np.isnan(rate), overall, rate)
    return p


def test_every_query_is_replayed_over_its_measured_arms(table: OutcomeTable) -> None:
    mask = table.measured
    assert not mask.all(axis=1).any()  # what used to be "nothing to simulate"
    mean_cost = np.array([np.nanmean(table.costs[:, j]) for j in range(table.n_arms)])
    report = simulate(table, _task_rates(table), mean_cost)
    assert report.n_queries == table.n_queries and report.dropped_incomplete == 0
    holes = report.holes
    assert holes is not None and holes.rows_with_holes == table.n_queries
    for j, arm in enumerate(table.arms):
        cov = holes.arms[arm]
        assert cov.measured == int(mask[:, j].sum())
        assert sum(cov.stand_ins.values()) == int((~mask[:, j]).sum())
        assert cov.quality == pytest.approx(np.nanmean(table.scores[:, j]))
    # the two arms the benchmark skipped by config are the two largest gaps
    top = {p.missing for p in holes.patterns[:2]}
    assert top == {("anthropic/claude-sonnet-4",), ("x-ai/grok-3-mini-beta",)}
    # claude-sonnet-4 is stood in for by an arm priced like it
    sonnet = holes.arms["anthropic/claude-sonnet-4"]
    stand = max(sonnet.stand_ins, key=lambda a: sonnet.stand_ins[a])
    gap = {a: abs(np.log(c.cost_per_query / sonnet.cost_per_query)) for a, c in holes.arms.items()}
    assert gap[stand] <= sorted(gap.values())[1] + 1e-12  # the nearest other arm
    aiq = report.summary.aiq
    assert aiq["oracle"] >= max(aiq.values()) - 1e-12
    assert report.policies["oracle"].gap_closed == 1.0
    best_possible = np.nanmax(table.scores, axis=1).mean()
    assert max(pt.quality for pt in report.policies["oracle"].points) == pytest.approx(
        best_possible
    )
    # routing on the true outcomes (knowing only mean prices) nearly reaches the oracle: the
    # choice among each query's measured arms is made right
    knowing = simulate(table, np.nan_to_num(table.scores), mean_cost, by_task=False)
    closed = knowing.policies["ponder"].gap_closed
    assert closed is not None and closed > 0.95
    assert set(report.by_task) == set(table.tasks) and set(holes.by_task) <= set(table.tasks)
