"""Replay of sampled arms: voting, adaptive sampling and escalation on hand-made tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ponder.outcomes import ArmOutcome, OutcomeRow, OutcomeTable, Sample, rows_to_table
from ponder.simulate._samples import adaptive, escalation, majority_curve, vote_at_n

# gold answer is "a" everywhere; score 1 iff answer == "a"


def _arm(answers: list[str | None]) -> ArmOutcome:
    samples = [Sample(answer=a, score=float(a == "a")) for a in answers]
    return ArmOutcome(score=samples[0].score, samples=samples)


def _table(arms_per_row: list[dict[str, list[str | None] | None]]) -> OutcomeTable:
    rows = []
    for i, arms in enumerate(arms_per_row):
        # an arm given as None is measured without samples
        built = {
            name: _arm(ans) if ans is not None else ArmOutcome(score=0.0)
            for name, ans in arms.items()
        }
        rows.append(OutcomeRow(id=f"q{i}", prompt=f"question {i}", arms=built))
    return rows_to_table(rows)


CHEAP = [
    ["a", "a", "a", "a", "a"],  # unanimous right
    ["b", "a", "a", "c", "a"],  # first wrong, majority right
    ["a", "b", "b", "b", "a"],  # first right, majority@3..5 wrong
    ["b", "a", "c", "d", "e"],  # all disagree: tie -> first sample (wrong)
]
STRONG = [["a"], ["a"], ["a"], ["b"]]


@pytest.fixture
def table() -> OutcomeTable:
    return _table([{"cheap": c, "strong": s} for c, s in zip(CHEAP, STRONG, strict=True)])


def test_vote_at_1_is_first_sample_accuracy(table: OutcomeTable) -> None:
    r = vote_at_n(table, "cheap", 1)
    assert r.accuracy == pytest.approx(sum(c[0] == "a" for c in CHEAP) / len(CHEAP))
    assert r.mean_samples == 1.0
    assert (r.n_queries, r.skipped) == (4, 0)


def test_vote_at_n_hand_made(table: OutcomeTable) -> None:
    # n=2: row1 tie b/a -> b (earliest); row2 tie a/b -> a; row3 tie -> b
    assert vote_at_n(table, "cheap", 2).accuracy == pytest.approx(2 / 4)
    # n=3: row1 a wins (2 of 3); row2 b wins
    assert vote_at_n(table, "cheap", 3).accuracy == pytest.approx(2 / 4)
    # n=5: row0 a, row1 a (3), row2 b (3), row3 tie of five -> b
    r5 = vote_at_n(table, "cheap", 5)
    assert r5.accuracy == pytest.approx(2 / 4)
    assert r5.mean_samples == 5.0
    # more than recorded: votes over what there is
    assert vote_at_n(table, "cheap", 9) == r5
    assert [r.accuracy for r in majority_curve(table, "cheap")] == [
        vote_at_n(table, "cheap", n).accuracy for n in range(1, 6)
    ]


def test_missing_answers_abstain() -> None:
    t = _table([{"x": [None, None, "a"]}, {"x": [None, "b", "a", "a"]}, {"x": [None, None]}])
    r = vote_at_n(t, "x", 4)
    assert r.accuracy == pytest.approx(2 / 3)  # failures cast no vote; all-failed is wrong
    assert r.mean_samples == pytest.approx(9 / 3)  # but they are paid for
    e = escalation(t, "x", "x", 3, 0.5)
    assert e.share_escalated == 1.0  # agreement 1/3, 1/3 and 0: failures count against it


def test_skipped_queries_are_counted() -> None:
    t = _table([{"x": ["a", "a"], "y": ["b"]}, {"x": None, "y": ["a"]}, {"y": ["a"]}])
    r = vote_at_n(t, "x", 2)
    assert (r.accuracy, r.n_queries, r.skipped) == (1.0, 1, 2)
    e = escalation(t, "x", "y", 2, 2.0)
    assert (e.n_queries, e.skipped, e.accuracy) == (1, 2, 0.0)


def test_unknown_or_sampleless_arm_raises(table: OutcomeTable) -> None:
    with pytest.raises(KeyError):
        vote_at_n(table, "nope", 1)
    t = _table([{"x": None}])
    with pytest.raises(ValueError, match="no recorded samples"):
        vote_at_n(t, "x", 1)
    with pytest.raises(ValueError):
        vote_at_n(table, "cheap", 0)


def test_adaptive_stops_early_when_samples_agree() -> None:
    pytest.importorskip("ponder.aggregators")
    t = _table([{"x": ["a"] * 10} for _ in range(5)])
    r = adaptive(t, "x", 10, 0.95)
    assert r.accuracy == 1.0
    assert r.mean_samples < 10
    mixed = _table([{"x": ["a", "b"] * 5} for _ in range(5)])
    assert adaptive(mixed, "x", 10, 0.95).mean_samples > r.mean_samples


def test_adaptive_at_high_confidence_equals_vote_at_max(table: OutcomeTable) -> None:
    pytest.importorskip("ponder.aggregators")
    r = adaptive(table, "cheap", 5, 0.999999)
    full = vote_at_n(table, "cheap", 5)
    assert r.accuracy == full.accuracy
    assert r.mean_samples == full.mean_samples


def test_escalation_threshold_zero_never_escalates(table: OutcomeTable) -> None:
    r = escalation(table, "cheap", "strong", 3, 0.0, cost_cheap=1.0, cost_strong=20.0)
    assert r.share_escalated == 0.0
    assert r.accuracy == vote_at_n(table, "cheap", 3).accuracy
    assert r.mean_cost == 3.0


def test_escalation_threshold_above_one_always_escalates(table: OutcomeTable) -> None:
    r = escalation(table, "cheap", "strong", 3, 1.01, cost_cheap=1.0, cost_strong=20.0)
    assert r.share_escalated == 1.0
    assert r.accuracy == vote_at_n(table, "strong", 1).accuracy == 0.75
    assert r.mean_cost == 23.0


def test_escalation_by_agreement(table: OutcomeTable) -> None:
    # k=3 agreements: row0 1.0, row1 2/3, row2 2/3, row3 1/3; threshold 0.5 escalates row3
    r = escalation(table, "cheap", "strong", 3, 0.5, cost_cheap=1.0, cost_strong=20.0)
    assert r.share_escalated == 0.25
    assert r.accuracy == 0.5  # row0 a, row1 a, row2 b, row3 -> strong "b"
    assert r.mean_cost == pytest.approx(3 + 20 / 4)


def _shared() -> Path:
    env = os.environ.get("PONDER_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def test_qwen_math_published_figures() -> None:
    folder = _shared() / "qwen-math-sampled"
    if not folder.is_dir():
        pytest.skip(f"shared data not found at {folder}")
    from ponder.importers import import_rows

    t = rows_to_table(import_rows("qwen-math-sampled", folder))
    assert vote_at_n(t, "qwen-math-cot", 1).accuracy == pytest.approx(0.90)
    maj8 = vote_at_n(t, "qwen-math-cot", 8)
    assert maj8.accuracy == pytest.approx(0.93)
    assert (maj8.n_queries, maj8.skipped, maj8.mean_samples) == (100, 0, 8.0)


def test_sampled_arm_reports_without_costs_or_samples(table: OutcomeTable) -> None:
    from ponder.simulate._samples import sampled_arm_reports

    reports = sampled_arm_reports(table, confidences=(0.9,))
    assert set(reports) == {"cheap", "strong"}
    cheap = reports["cheap"]
    assert cheap.cost_per_sample is None  # the table records no cost: none is invented
    assert all(p.cost_per_query is None for p in cheap.policies.values())
    assert list(cheap.policies) == [f"vote@{n}" for n in range(1, 6)] + ["adaptive@0.9"]
    assert cheap.policies["vote@3"].quality == vote_at_n(table, "cheap", 3).accuracy
    assert reports["strong"].max_samples == 1
    assert list(reports["strong"].policies) == ["vote@1", "adaptive@0.9"]
    partly = _table([{"x": ["a", "b", "a"], "y": ["a"]}, {"x": None, "y": ["b"]}])
    x = sampled_arm_reports(partly)["x"]
    assert (x.n_queries, x.skipped, x.max_samples) == (1, 1, 3)
    assert sampled_arm_reports(_table([{"x": None}])) == {}
