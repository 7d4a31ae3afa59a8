"""The samples each way of sampling needs to stay within 0.5 points of vote@max: the exact
rule against the votes it reproduces, the calibrated allocation replayed by the same code
that calibrated it, and the report and CLI that show them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.outcomes import OutcomeTable
from ponder.policies import SampleBudget, SamplingPolicy, calibrate_sampling, recorded_samples
from ponder.simulate import Report, simulate
from ponder.simulate._samples import (
    allocated,
    exact,
    majority_curve,
    needed_samples,
    vote_at_n,
)
from tests.simulate.test_simulate import _with_samples


@pytest.fixture(scope="module")
def table() -> OutcomeTable:
    return _with_samples()


def _p(table: OutcomeTable) -> np.ndarray:
    """A prediction that knows something: the share of right samples, blurred."""
    rows = table.samples["cheap"]
    share = np.array([np.mean([s.score for s in r]) for r in rows])
    return np.clip(0.5 * share + 0.25 + np.random.default_rng(0).normal(0, 0.05, share.size), 0, 1)


def test_the_exact_rule_scores_as_the_vote_over_its_budget(table: OutcomeTable) -> None:
    for n in range(1, 6):
        r, v = exact(table, "cheap", n), vote_at_n(table, "cheap", n)
        assert r.accuracy == v.accuracy
        assert r.mean_samples <= v.mean_samples
    assert exact(table, "cheap", 5).mean_samples < 5


def test_the_calibration_and_the_replay_agree(table: OutcomeTable) -> None:
    p = _p(table)
    rows = recorded_samples(table, "cheap", p)
    policy = calibrate_sampling(rows, np.zeros(len(rows), dtype=np.int64))
    cal = policy.calibration
    assert cal is not None
    r = allocated(table, "cheap", policy, p)
    assert (r.accuracy, r.mean_samples) == pytest.approx((cal.accuracy, cal.mean_samples))
    assert r.declined / r.n_queries == pytest.approx(cal.skipped)


def test_declined_queries_draw_nothing_and_count_wrong(table: OutcomeTable) -> None:
    never = SamplingPolicy(SampleBudget(kappa=1.0, floor=1.0))
    r = allocated(table, "cheap", never, None)
    assert (r.accuracy, r.mean_samples, r.declined) == (0.0, 0.0, r.n_queries)
    with pytest.raises(ValueError, match="p has shape"):
        allocated(table, "cheap", never, np.zeros(3))


def test_needed_samples_stay_within_half_a_point(table: OutcomeTable) -> None:
    p = _p(table)
    calibrated = calibrate_sampling(
        recorded_samples(table, "cheap", p), np.arange(table.n_queries) % 3
    )
    need = needed_samples(table, "cheap", p, calibrated)
    top = majority_curve(table, "cheap")[-1]
    assert set(need) == {"vote", "adaptive", "exact", "allocation", "calibrated"}
    for family in ("vote", "adaptive", "exact", "allocation"):
        assert need[family].quality >= top.accuracy - 0.005
    assert need["exact"].mean_samples <= need["vote"].mean_samples
    assert need["allocation"].mean_samples <= exact(table, "cheap", 5).mean_samples
    assert need["calibrated"].mean_samples == allocated(table, "cheap", calibrated, p).mean_samples


def test_the_report_carries_them(table: OutcomeTable, tmp_path: Path) -> None:
    p = np.nan_to_num(table.scores)
    report = simulate(table, p, table.costs.mean(axis=0))
    need = report.samples["cheap"].needed
    assert {"vote", "exact", "allocation"} <= set(need)
    assert Report.from_json(report.to_json(tmp_path / "r.json")) == report


def test_ponder_train_calibrates_and_simulate_prints_the_samples_needed(tmp_path: Path) -> None:
    from tests.conftest import write_sampled_jsonl

    data = write_sampled_jsonl(tmp_path / "sampled.jsonl", n=240, seed=3, extra=5, scatter=3)
    model = tmp_path / "m"
    res = CliRunner().invoke(app, ["train", str(data), "-o", str(model), "--folds", "3", "-q"])
    assert res.exit_code == 0, res.output
    assert "sampling of weak:" in res.output and "out of fold" in res.output
    res = CliRunner().invoke(app, ["simulate", str(data), "--model", str(model), "-q"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "weak: samples to stay within 0.5 points of vote@6" in out
    for way in ("vote of N", "can't be overtaken", "Beta rule", "budget + Dirichlet"):
        assert way in out
    assert "model's calibration" in out  # the saved model's policy, replayed as it is
