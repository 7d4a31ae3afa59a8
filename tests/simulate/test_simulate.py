"""The simulator on small synthetic outcome tables built directly with numpy."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from ponder.outcomes import OutcomeTable
from ponder.simulate._plot import plot_frontier
from ponder.simulate._report import Report
from ponder.simulate._simulate import NO_TASK, simulate
from tests.simulate.tables import outcome_table

_table = outcome_table


def _synthetic(
    n: int = 3000, k: int = 4, seed: int = 0, tasks: list[str] | None = None
) -> tuple[OutcomeTable, np.ndarray]:
    """Arms of rising skill and price; per-query difficulty; returns the true P(success)."""
    rng = np.random.default_rng(seed)
    skill = np.linspace(-1.0, 1.5, k)
    difficulty = rng.normal(size=n)
    prob = 1.0 / (1.0 + np.exp(-(skill[None, :] - difficulty[:, None]) * 2.0))
    scores = (rng.random((n, k)) < prob).astype(float)
    costs = np.geomspace(1e-4, 1e-2, k)[None, :] * rng.uniform(0.8, 1.2, (n, k))
    labels = [tasks[i % len(tasks)] for i in range(n)] if tasks else None
    return _table(scores, costs, labels), prob


def _max_quality(report: Report, policy: str) -> float:
    return max(pt.quality for pt in report.policies[policy].points)


def test_true_scores_as_predictions_reach_the_oracle() -> None:
    table, _ = _synthetic()
    report = simulate(table, table.scores, table.costs)
    assert _max_quality(report, "ponder") == pytest.approx(_max_quality(report, "oracle"))
    assert report.policies["ponder"].gap_closed == pytest.approx(1.0, abs=1e-6)
    # With only mean costs known, ponder still reaches the oracle's quality.
    report = simulate(table, table.scores, table.costs.mean(axis=0))
    assert _max_quality(report, "ponder") == pytest.approx(_max_quality(report, "oracle"))
    assert report.policies["ponder"].gap_closed > 0.9


def test_noise_predictions_are_no_better_than_random_mixing() -> None:
    # A calibrated classifier that knows nothing about the query: each arm's mean success,
    # plus noise. Routing on it can only mix arms, which is what random mixing does.
    table, _ = _synthetic(n=20000, seed=1)
    rng = np.random.default_rng(5)
    noise = table.scores.mean(axis=0) + rng.uniform(-0.05, 0.05, table.scores.shape)
    report = simulate(table, noise, table.costs.mean(axis=0))
    pol = report.policies
    assert pol["ponder"].aiq == pytest.approx(pol["random"].aiq, abs=0.01)
    assert pol["ponder"].gap_closed is not None and abs(pol["ponder"].gap_closed) < 0.1
    # Uncalibrated noise is worse still: it never commits to the best arm.
    uniform = simulate(table, rng.random(table.scores.shape), table.costs.mean(axis=0))
    assert uniform.policies["ponder"].aiq < pol["random"].aiq
    informed = simulate(table, _synthetic(n=20000, seed=1)[1], table.costs.mean(axis=0))
    assert informed.policies["ponder"].aiq > pol["ponder"].aiq + 0.01


def test_oracle_dominates_and_random_sits_between_arms() -> None:
    table, prob = _synthetic(seed=2)
    report = simulate(table, prob, table.costs.mean(axis=0))
    aiqs = report.summary.aiq
    assert aiqs["oracle"] >= max(v for k, v in aiqs.items() if k != "oracle")
    assert report.policies["random"].gap_closed == 0.0
    assert report.policies["oracle"].gap_closed == 1.0
    best = report.summary.best_single_arm
    assert report.arms[best].quality == max(a.quality for a in report.arms.values())
    assert report.summary.cost_share_to_match_best_single["random"] == pytest.approx(1.0)
    assert report.summary.cost_share_to_match_best_single[f"arm:{best}"] == pytest.approx(1.0)
    assert report.summary.cost_share_to_match_best_single["oracle"] < 1.0
    lo, hi = report.summary.aiq_cost_range
    assert lo == pytest.approx(min(a.cost_per_query for a in report.arms.values()))
    assert hi == pytest.approx(
        max(pt.cost_per_query for pol in report.policies.values() for pt in pol.points)
    )


def test_single_arm_and_cascade_points_match_the_table() -> None:
    table, prob = _synthetic(n=500, k=3, seed=3)
    report = simulate(table, prob, table.costs.mean(axis=0), cascade_thresholds=[0.0, 2.0])
    for j, name in enumerate(table.arms):
        (pt,) = report.policies[f"arm:{name}"].points
        assert pt.quality == pytest.approx(table.scores[:, j].mean())
        assert pt.cost_per_query == pytest.approx(table.costs[:, j].mean())
    cheap, dear = report.policies["cascade"].points
    assert cheap.param == 0.0 and dear.param == 2.0
    assert cheap.cost_per_query == pytest.approx(table.costs[:, 0].mean())
    # A threshold nobody meets runs every arm: the cost is the sum, the last arm answers.
    assert dear.cost_per_query == pytest.approx(table.costs.sum(axis=1).mean())
    assert dear.quality == pytest.approx(table.scores[:, 2].mean())


def test_quality_at_share_and_best_single_tie_to_cheaper() -> None:
    scores = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    costs = np.tile([0.2, 0.1, 0.01], (4, 1))
    report = simulate(_table(scores, costs), scores, costs)
    assert report.summary.best_single_arm == "m1"  # m0 ties on quality but costs more
    qs = report.policies["oracle"].quality_at_share
    assert set(qs) == {"0.1", "0.25", "0.5"}
    assert qs["0.1"] == pytest.approx(0.25)  # 0.01: the cheapest arm alone
    assert report.policies["arm:m0"].quality_at_share["0.5"] is None  # cannot operate there


def test_complete_only_drops_and_counts_incomplete_rows() -> None:
    table, prob = _synthetic(n=400, k=3, seed=4)
    scores = table.scores.copy()
    scores[:7, 1] = np.nan
    costs = table.costs.copy()
    costs[:7, 1] = np.nan  # unmeasured cells may lack a cost too
    holey = _table(scores, costs)
    report = simulate(holey, prob, table.costs.mean(axis=0), complete_only=True)
    assert report.n_queries == 393 and report.dropped_incomplete == 7
    assert report.holes is None
    ref = simulate(_table(table.scores[7:], table.costs[7:]), prob[7:], table.costs.mean(0))
    assert report.summary.aiq == ref.summary.aiq


def test_report_json_has_the_required_keys_and_round_trips(tmp_path: Path) -> None:
    table, prob = _synthetic(n=600, k=3, seed=5, tasks=["math", "code"])
    report = simulate(table, prob, table.costs.mean(axis=0))
    path = report.to_json(tmp_path / "out" / "report.json")
    data = json.loads(path.read_text())
    for key in ("arms", "policies", "summary", "n_queries", "dropped_incomplete", "by_task"):
        assert key in data
    assert set(data["arms"]["m0"]) == {"quality", "cost_per_query"}
    expected = {"ponder", "random", "oracle", "cascade", "arm:m0", "arm:m1", "arm:m2"}
    assert set(data["policies"]) == expected
    for pol in data["policies"].values():
        assert {"points", "aiq", "gap_closed", "quality_at_share"} <= set(pol)
        assert {"cost_per_query", "quality"} <= set(pol["points"][0])
    assert {"best_single_arm", "cost_share_to_match_best_single"} <= set(data["summary"])
    assert set(data["summary"]["cost_share_to_match_best_single"]) == expected
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()
    assert Report.from_json(path) == report


def test_two_arm_reports_carry_apgr_and_cpt() -> None:
    table, prob = _synthetic(n=5000, k=2, seed=6)
    report = simulate(table, prob, table.costs.mean(axis=0))
    s = report.summary
    assert (s.strong_arm, s.weak_arm) == ("m1", "m0")
    assert s.apgr is not None and set(s.apgr) == {"ponder", "oracle", "random", "cascade"}
    pol = report.policies
    assert pol["random"].apgr == pytest.approx(0.5)
    assert pol["random"].cpt_50 == pytest.approx(0.5)
    assert pol["oracle"].apgr > pol["ponder"].apgr > 0.5
    assert pol["ponder"].cpt_80 is not None and pol["ponder"].cpt_50 < pol["ponder"].cpt_80
    shares = [pt.strong_share for pt in pol["ponder"].share_points or ()]
    assert shares[0] == 0.0 and shares[-1] == 1.0 and len(shares) > 100
    assert pol["arm:m0"].apgr is None
    wider = simulate(*_synthetic(n=500, k=3, seed=6)[:1], np.full((500, 3), 0.5), [1, 2, 3])
    assert wider.summary.apgr is None and wider.policies["ponder"].apgr is None


def test_per_task_breakdown() -> None:
    labels = ["a"] * 300 + ["b"] * 200 + [""] * 100
    table, prob = _synthetic(n=600, k=3, seed=8)
    table = _table(table.scores, table.costs, labels)
    report = simulate(table, prob, table.costs.mean(axis=0))
    assert set(report.by_task) == {"a", "b", NO_TASK}
    a = report.by_task["a"]
    assert a.n_queries == 300
    assert a.arms["m1"].quality == pytest.approx(table.scores[:300, 1].mean())
    assert {"ponder", "random", "oracle", "arm:m0"} <= set(a.policies)
    assert a.policies["oracle"].gap_closed == 1.0
    ref = simulate(
        table.take(range(300)),
        prob[:300],
        table.costs.mean(axis=0),
        lambdas=[pt.param or 0.0 for pt in report.policies["ponder"].points],
        by_task=False,
    )
    assert [p.quality for p in ref.policies["ponder"].points] == pytest.approx(
        [p.quality for p in a.policies["ponder"].points]
    )
    assert simulate(table, prob, table.costs.mean(axis=0), by_task=False).by_task == {}
    assert simulate(_synthetic(n=50)[0], np.zeros((50, 4)), [1, 2, 3, 4]).by_task == {}


def test_simulate_refuses_bad_input() -> None:
    table, prob = _synthetic(n=50, k=3)
    with pytest.raises(ValueError, match=r"p has shape \(50, 2\).*50 queries x 3 arms"):
        simulate(table, prob[:, :2], table.costs)
    with pytest.raises(ValueError, match="expected_cost has shape"):
        simulate(table, prob, table.costs[:10])
    with pytest.raises(ValueError, match="NaN"):
        simulate(table, np.full((50, 3), np.nan), table.costs)
    costs = table.costs.copy()
    costs[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"true costs are missing for arms \['m2'\]"):
        simulate(_table(table.scores, costs), prob, table.costs)
    with pytest.raises(ValueError, match="no query has any arm measured"):
        simulate(_table(np.full((50, 3), np.nan), table.costs), prob, table.costs)
    with pytest.raises(ValueError, match="every arm measured"):
        holey = table.scores.copy()
        holey[:, 0][::2], holey[:, 1][1::2] = np.nan, np.nan
        simulate(_table(holey, table.costs), prob, table.costs, complete_only=True)
    with pytest.raises(ValueError, match="lambdas"):
        simulate(table, prob, table.costs, lambdas=[-1.0, 0.0])


def test_plot_writes_an_image(tmp_path: Path) -> None:
    table, prob = _synthetic(n=300, k=3, seed=9)
    report = simulate(table, prob, table.costs.mean(axis=0))
    out = plot_frontier(report, tmp_path / "frontier.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _with_samples(seed: int = 4) -> OutcomeTable:
    """Two priced arms; ``cheap`` records 5 samples per query (right answer "a", wrong ones
    scattered over "b".."d"), ``strong`` none; query 0 has ``strong`` unmeasured."""
    from ponder.outcomes import Sample

    rng = np.random.default_rng(seed)
    n = 60
    rate = rng.beta(0.6, 0.4, size=n)
    right = rng.random((n, 5)) < rate[:, None]
    wrong = rng.choice(["b", "c", "d"], size=(n, 5))
    samples = tuple(
        tuple(
            Sample(answer="a" if r else str(w), score=float(r))
            for r, w in zip(right[i], wrong[i], strict=True)
        )
        for i in range(n)
    )
    scores = np.stack([right[:, 0].astype(float), np.ones(n)], axis=1)
    scores[0, 1] = np.nan
    costs = np.tile([0.001, 0.02], (n, 1))
    table = _table(scores, costs)
    return OutcomeTable(
        ids=table.ids,
        prompts=table.prompts,
        tasks=table.tasks,
        arms=("cheap", "strong"),
        scores=scores,
        costs=costs,
        input_tokens=table.input_tokens,
        output_tokens=table.output_tokens,
        samples={"cheap": samples},
    )


def test_sampled_arms_report_votes_and_adaptive_sampling(tmp_path: Path) -> None:
    from ponder.simulate._samples import adaptive, vote_at_n

    table = _with_samples()
    report = simulate(table, np.nan_to_num(table.scores), table.costs.mean(axis=0))
    assert set(report.samples) == {"cheap"}  # strong records no samples
    sampled = report.samples["cheap"]
    replayed = table  # query 0 lacks the strong arm: replayed over the cheap one
    assert (sampled.n_queries, sampled.skipped, sampled.max_samples) == (60, 0, 5)
    assert sampled.cost_per_sample == pytest.approx(0.001)
    votes = [f"vote@{n}" for n in range(1, 6)]
    assert list(sampled.policies) == [*votes, "adaptive@0.8", "adaptive@0.9", "adaptive@0.95"]
    for n in range(1, 6):
        pol = sampled.policies[f"vote@{n}"]
        assert pol.quality == pytest.approx(vote_at_n(replayed, "cheap", n).accuracy)
        assert pol.mean_samples == n and pol.n == n and pol.confidence is None
        assert pol.cost_per_query == pytest.approx(n * 0.001)
    # the first vote is the single-arm quality the main report shows for the same queries
    assert sampled.policies["vote@1"].quality == pytest.approx(report.arms["cheap"].quality)
    for conf in (0.8, 0.9, 0.95):
        pol = sampled.policies[f"adaptive@{conf}"]
        want = adaptive(replayed, "cheap", 5, conf)
        assert (pol.quality, pol.mean_samples) == (want.accuracy, want.mean_samples)
        assert 2 <= pol.mean_samples < 5 and pol.confidence == conf
        assert pol.cost_per_query == pytest.approx(pol.mean_samples * 0.001)
    # existing sections are untouched by the samples
    plain = dataclasses.replace(table, samples={})
    bare = simulate(plain, np.nan_to_num(table.scores), table.costs.mean(axis=0))
    assert bare.samples == {}
    assert bare.model_dump(exclude={"samples"}) == report.model_dump(exclude={"samples"})
    path = report.to_json(tmp_path / "r.json")
    assert Report.from_json(path) == report
    raw = json.loads(path.read_text())
    assert raw["samples"]["cheap"]["policies"]["adaptive@0.9"].keys() >= {
        "quality",
        "mean_samples",
        "cost_per_query",
    }


def test_adaptive_confidences_can_be_chosen() -> None:
    table = _with_samples()
    report = simulate(
        table, np.nan_to_num(table.scores), table.costs.mean(axis=0), adaptive_confidences=[0.99]
    )
    names = list(report.samples["cheap"].policies)
    assert names[-1] == "adaptive@0.99" and sum(n.startswith("adaptive") for n in names) == 1
    with pytest.raises(ValueError, match="confidence"):
        simulate(
            table, np.nan_to_num(table.scores), table.costs.mean(axis=0), adaptive_confidences=[1]
        )
