"""Aggregators: answer extraction and equivalence, voting, and adaptive early stopping.

Extraction is also checked against the extracted answers recorded alongside real sampled
MATH responses in ``../shared/data`` (skipped when it is absent)."""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from ponder.aggregators import (
    Aggregate,
    Aggregator,
    AnswerExtractor,
    BestOfN,
    FirstAnswer,
    MajorityVote,
    StoppingRule,
    _adaptive,
    _extract,
    adaptive_vote,
    answers_equal,
    extract_answer,
    normalize_answer,
)


def _math_rows() -> list[dict[str, Any]]:
    env = os.environ.get("PONDER_SHARED")
    shared = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    path = shared / "data" / "qwen-math-sampled" / "math_cot_100.jsonl"
    if not path.is_file():
        pytest.skip(f"shared data not available: {path} (set PONDER_SHARED)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows or "response" not in rows[0] or "pred" not in rows[0]:
        pytest.skip("math_cot_100.jsonl has no response/pred fields")
    return rows


# --- extraction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("First \\boxed{3}, then fixed: \\(\\boxed{\\frac{1}{2}}\\).", "\\frac{1}{2}"),
        ("\\boxed{\\left( 1, \\sqrt{2} \\right)}", "(1,\\sqrt{2})"),
        ("\\boxed{\\dfrac{3}{8}}.", "\\frac{3}{8}"),
        ("She pays 3 * 400 = $1,200.\n#### 1,200", "1200"),
        ("So 5 + 3 = 8 apples.\nThe answer is 8.", "8"),
        ("Adding them up gives 2.5 in total. Answer: $3.5$", "3.5"),
        ("Options A and C are wrong. The answer is (B).", "B"),
        ("Let me compare 3 and 7 among the choices.\n(C)\n", "C"),
        ("Checking each option...\nD.", "D"),
        ("So in total we get 1,000 and then 17 apples remain", "17"),
        ("no digits here\n\nbanana split\n", "bananasplit"),
    ],
)
def test_extract_answer(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


def test_extract_answer_on_empty_text_and_unbalanced_box() -> None:
    assert extract_answer("") is None
    assert extract_answer("   \n ") is None
    assert extract_answer("the result is \\boxed{12") == "12"  # falls back to the last number


def test_default_extractor_fits_the_protocol() -> None:
    assert isinstance(extract_answer, AnswerExtractor)


def test_extraction_matches_recorded_preds_on_real_math_outputs() -> None:
    rows = _math_rows()
    pairs = [
        (extract_answer(response), pred)
        for row in rows
        for response, pred in zip(row["response"], row["pred"], strict=True)
    ]
    exact = sum(e is not None and normalize_answer(e) == normalize_answer(p) for e, p in pairs)
    assert exact / len(pairs) >= 0.98


def test_real_outputs_equal_recorded_preds_with_math_verify() -> None:
    pytest.importorskip("math_verify")
    rows = _math_rows()[:20]
    for row in rows:
        for response, pred in zip(row["response"], row["pred"], strict=True):
            extracted = extract_answer(response)
            assert extracted is not None and answers_equal(extracted, pred), (extracted, pred)


# --- equivalence ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("1/2", "0.5", True),
        ("\\frac{1}{2}", "0.50", True),
        ("-\\frac{3}{4}", "-0.75", True),
        ("1,000", "1000", True),
        ("$1000.$", "1000", True),
        ("3", "3.0", True),
        ("0.1", "0.1000000000001", True),
        ("3", "4", False),
        ("1/3", "0.33", False),
        ("(B)", "B", True),
        ("A", "B", False),
    ],
)
def test_answers_equal_cheap_checks(a: str, b: str, equal: bool) -> None:
    assert answers_equal(a, b) is equal
    assert answers_equal(b, a) is equal


def test_answers_equal_without_math_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_extract, "_math_verify", lambda: None)
    assert answers_equal("1/2", "0.5")
    assert not answers_equal("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}")


def test_answers_equal_latex_with_math_verify() -> None:
    pytest.importorskip("math_verify")
    assert answers_equal("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}")
    assert answers_equal("4:30\\text{p.m.}", "4:30")
    assert not answers_equal("\\sqrt{2}", "\\sqrt{3}")
    assert not answers_equal("\\frac{", "}{")  # malformed input is unequal, not an error


def test_answers_equal_latex_off_the_main_thread() -> None:
    """math_verify's signal-based timeouts must not break a router's worker threads."""
    pytest.importorskip("math_verify")
    result: list[bool] = []
    worker = threading.Thread(
        target=lambda: result.append(answers_equal("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"))
    )
    worker.start()
    worker.join()
    assert result == [True]


# --- voting -----------------------------------------------------------------------------


def test_majority_groups_equivalent_forms() -> None:
    agg = MajorityVote().aggregate(["0.5", "3", "1/2", "3", "\\frac{1}{2}"])
    assert agg == Aggregate(answer="0.5", index=0, agreement=0.6, n=5)


def test_majority_tie_goes_to_the_earliest_sample() -> None:
    assert MajorityVote().aggregate(["3", "4", "4", "3"]).answer == "3"
    assert MajorityVote().aggregate(["4", "3", "3", "4"]).answer == "4"
    assert MajorityVote().aggregate(["9", "4", "3", "3", "4"]).index == 1


def test_majority_none_never_wins_unless_all_none() -> None:
    agg = MajorityVote().aggregate([None, None, "7", None])
    assert (agg.answer, agg.index, agg.agreement, agg.n) == ("7", 2, 0.25, 4)
    assert MajorityVote().aggregate([None, None]) == Aggregate(None, 0, 1.0, 2)
    assert MajorityVote().aggregate([]) == Aggregate(None, None, 0.0, 0)


def test_majority_uses_the_given_equality() -> None:
    def case_insensitive(a: str, b: str) -> bool:
        return a.lower() == b.lower()

    agg = MajorityVote(equal=case_insensitive).aggregate(["Paris", "london", "PARIS"])
    assert (agg.answer, agg.agreement) == ("Paris", pytest.approx(2 / 3))


def test_first_answer_keeps_a_missing_first_answer() -> None:
    assert FirstAnswer().aggregate([None, "3", "3"]) == Aggregate(None, 0, pytest.approx(1 / 3), 3)
    assert FirstAnswer().aggregate(["1/2", "0.5", "2"]).agreement == pytest.approx(2 / 3)


def test_best_of_n_picks_the_top_score() -> None:
    answers = ["3", "5", None, "5.0", "7"]
    scores = [0.2, 0.9, 5.0, 0.1, math.nan]
    agg = BestOfN(lambda i, _a: scores[i]).aggregate(answers)
    assert (agg.answer, agg.index, agg.n) == ("5", 1, 5)
    assert agg.agreement == pytest.approx(2 / 5)  # "5" and "5.0"
    assert BestOfN(lambda i, _a: 1.0).aggregate(["a", "b"]).index == 0  # tie: earliest
    assert BestOfN(lambda i, _a: 1.0).aggregate([None]) == Aggregate(None, 0, 1.0, 1)


def test_aggregators_fit_the_protocol() -> None:
    for agg in (FirstAnswer(), MajorityVote(), BestOfN(lambda i, a: 0.0)):
        assert isinstance(agg, Aggregator)


# --- adaptive stopping ------------------------------------------------------------------


def test_stopping_rule_thresholds() -> None:
    rule = StoppingRule(confidence=0.95)
    assert rule.should_stop([5, 0])
    assert rule.should_stop([0, 5])
    assert not rule.should_stop([2, 1])
    assert rule.majority_probability([5]) == pytest.approx(1 - 0.5**6)
    assert rule.majority_probability([1, 2]) == pytest.approx(1 - 5 / 16)
    assert not rule.should_stop([])
    assert not StoppingRule(confidence=0.5, min_samples=3).should_stop([2])
    with pytest.raises(ValueError):
        StoppingRule(confidence=1.0)


def test_beta_cdf_fallback_matches_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("scipy")
    cases = [(1, 1), (6, 1), (3, 2), (9, 4), (30, 25)]
    with_scipy = [_adaptive._beta_cdf_half(a, b) for a, b in cases]
    monkeypatch.setitem(sys.modules, "scipy.special", None)  # import now raises ImportError
    exact = [_adaptive._beta_cdf_half(a, b) for a, b in cases]
    assert exact == pytest.approx(with_scipy, rel=1e-9)


def test_adaptive_vote_stops_early_when_answers_agree() -> None:
    agg, used = adaptive_vote(["7"] * 16, max_samples=16)
    assert used == 4  # [3] gives 0.9375 < 0.95, [4] gives 0.969
    assert (agg.answer, agg.agreement, agg.n) == ("7", 1.0, 4)
    assert adaptive_vote(["7"] * 16, max_samples=16, batch=3)[1] == 6


def test_adaptive_vote_uses_everything_when_answers_alternate() -> None:
    answers = ["1", "2"] * 8
    agg, used = adaptive_vote(answers, max_samples=16)
    assert used == 16
    assert agg == MajorityVote().aggregate(answers)
    assert adaptive_vote(answers, max_samples=5)[1] == 5


def test_adaptive_vote_matches_majority_on_the_used_prefix() -> None:
    answers = ["4", None, "1/2", "0.5", "0.5", "\\frac{1}{2}", "0.5", "0.5", "4", "4", "4", "4"]
    agg, used = adaptive_vote(answers, max_samples=12, batch=2)
    assert used == 8  # [4, 1] after 6 gives 0.89; [6, 1] after 8 gives 0.965
    assert agg == MajorityVote().aggregate(answers[:used])
    assert agg.answer == "1/2"


def test_adaptive_vote_all_none_spends_the_budget() -> None:
    assert adaptive_vote([None] * 6, max_samples=6) == (Aggregate(None, 0, 1.0, 6), 6)
    with pytest.raises(ValueError):
        adaptive_vote(["1"], max_samples=0)
    with pytest.raises(ValueError):
        adaptive_vote(["1"], max_samples=1, batch=0)


def test_adaptive_vote_saves_samples_on_real_math_preds() -> None:
    rows = _math_rows()
    used_total, same = 0, 0
    for row in rows:
        agg, used = adaptive_vote(row["pred"], max_samples=8)
        used_total += used
        same += answers_equal(agg.answer or "", MajorityVote().aggregate(row["pred"]).answer or "")
    assert used_total / len(rows) < 6.0
    assert same / len(rows) >= 0.95
