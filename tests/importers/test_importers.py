"""Importers: registry and error paths on synthetic files, plus data-driven checks against
the real public data in ``../shared/data`` (skipped when it is absent)."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from ponder.errors import PonderError
from ponder.importers import IMPORTERS, ImporterError, import_rows
from ponder.importers.mot_cascade import answers_equal, normalise_answer, parse_file
from ponder.outcomes import (
    OutcomeRow,
    OutcomeTable,
    Sample,
    load_outcomes,
    rows_to_table,
    write_jsonl,
)


def _shared() -> Path:
    env = os.environ.get("PONDER_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"


def _data(folder: str) -> Path:
    path = _shared() / "data" / folder
    if not path.is_dir():
        pytest.skip(f"shared data not available: {path} (set PONDER_SHARED)")
    return path


@cache
def _rows(name: str, split: str | None = None) -> tuple[OutcomeRow, ...]:
    return tuple(import_rows(name, _data(IMPORTERS[name].folder), split))


@cache
def _table(name: str, split: str | None = None) -> OutcomeTable:
    return rows_to_table(_rows(name, split))


def _acc(table: OutcomeTable, arm: str) -> float:
    return float(np.nanmean(table.scores[:, table.arm_index(arm)]))


# ---- registry and errors (no shared data needed) ---------------------------------------------


def test_registry_names_and_licences() -> None:
    assert set(IMPORTERS) == {
        "llmrouter",
        "routellm-gsm8k",
        "routellm-mmlu",
        "routerarena",
        "gsm8k-openai",
        "qwen-math-sampled",
        "mot-cascade",
    }
    assert IMPORTERS["mot-cascade"].licence == "none (research data)"
    assert IMPORTERS["routerarena"].licence == "Apache-2.0"
    assert IMPORTERS["llmrouter"].licence == "MIT"
    for imp in IMPORTERS.values():
        assert imp.description and imp.folder
        assert imp.default_split is None or imp.default_split in imp.splits


def test_unknown_importer_and_split_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PonderError, match=r"unknown importer 'nope'.*llmrouter"):
        import_rows("nope", tmp_path)
    with pytest.raises(ImporterError, match=r"unknown split 'dev'.*train, test, test-all"):
        import_rows("llmrouter", tmp_path, "dev")
    with pytest.raises(ImporterError, match="has no splits"):
        import_rows("routerarena", tmp_path, "test")
    with pytest.raises(ImporterError, match=r"source folder .*missing.* not found"):
        import_rows("routellm-gsm8k", tmp_path / "missing")


def test_missing_file_is_a_clear_ponder_error(tmp_path: Path) -> None:
    (tmp_path / "routellm" / "evals" / "gsm8k").mkdir(parents=True)
    with pytest.raises(PonderError, match=r"gsm8k_responses\.csv: file not found"):
        list(import_rows("routellm-gsm8k", tmp_path))
    with pytest.raises(ImporterError, match=r"example_model_solutions\.jsonl: file not found"):
        list(import_rows("gsm8k-openai", tmp_path))


def test_routellm_gsm8k_on_synthetic_csv(tmp_path: Path) -> None:
    folder = tmp_path / "routellm" / "evals" / "gsm8k"
    folder.mkdir(parents=True)
    mix, gpt = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
    (folder / "gsm8k_responses.csv").write_text(
        f"prompt,{mix},{gpt},{mix}_response,{gpt}_response\n"
        "clean question,True,False,abcdefgh,abcd\n"
        "leaked question,False,True,x,y\n"
    )
    (folder / "contaminated_prompts.jsonl").write_text(
        json.dumps({"eval_prompt": "leaked question"})
    )
    rows = list(import_rows("routellm-gsm8k", tmp_path))
    assert [r.id for r in rows] == ["routellm-gsm8k-0000"]
    arms = rows[0].arms
    assert arms["mixtral-8x7b-instruct-v0.1"].score == 1.0
    assert arms["gpt-4-1106-preview"].score == 0.0
    # ceil(14 / 4) = 4 input tokens; responses of 8 and 4 chars -> 2 and 1 output tokens
    assert arms["gpt-4-1106-preview"].cost == pytest.approx((4 * 10 + 1 * 30) / 1e6)
    assert arms["mixtral-8x7b-instruct-v0.1"].cost == pytest.approx((4 + 2) * 0.6 / 1e6)
    (folder / "gsm8k_responses.csv").write_text(f"prompt,{gpt}\nq,maybe\n")
    with pytest.raises(ImporterError, match="expected columns"):
        list(import_rows("routellm-gsm8k", tmp_path))


def test_mot_cascade_merges_repeated_questions_by_occurrence(tmp_path: Path) -> None:
    gpt4, gpt3 = tmp_path / "GPT4_result", tmp_path / "GPT3_result"
    gpt4.mkdir()
    gpt3.mkdir()

    def write(path: Path, rows: list[dict[str, object]]) -> None:
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    q = "What's the likelihood that hands is covered"
    write(
        gpt4 / "crepe_cot1.compact.jsonl",
        [
            {"question": q, "answer": "more likely", "results": ["More likely.", None]},
            {"question": q, "answer": "less likely", "results": ["less likely"] * 3},
        ],
    )
    write(
        gpt4 / "crepe_greedy_pot1.compact.jsonl",
        [
            {"question": q, "answer": "more likely", "results": ["less likely", "x", "y"]},
            {"question": q, "answer": "less likely", "results": []},
        ],
    )
    rows = list(import_rows("mot-cascade", tmp_path, "crepe"))
    assert [r.id for r in rows] == ["mot-crepe-0000", "mot-crepe-0001"]
    first = rows[0].arms["gpt-4-cot1"]
    assert first.score == 1.0
    assert [(s.answer, s.score) for s in first.samples or []] == [
        ("more likely", 1.0),
        (None, 0.0),
        (None, 0.0),  # padded to the nominal 3 samples
    ]
    greedy = rows[1].arms["gpt-4-pot1-greedy"]
    assert greedy.score == 0.0 and len(greedy.samples or []) == 1
    assert len(rows[0].arms["gpt-4-pot1-greedy"].samples or []) == 1
    # a file whose gold disagrees for the same query is an error, not a silent merge
    write(
        gpt3 / "crepe_cot1.compact.jsonl",
        [{"question": q, "answer": "equally likely", "results": ["x"] * 20}],
    )
    with pytest.raises(ImporterError, match="gold"):
        list(import_rows("mot-cascade", tmp_path, "crepe"))


def test_answer_normaliser() -> None:
    assert normalise_answer(18.0) == normalise_answer(18) == normalise_answer("18") == "18"
    assert normalise_answer("1,234.50") == "1234.5"
    assert normalise_answer(" More  likely. ") == "more likely"
    assert normalise_answer(True) == "yes"
    assert normalise_answer(None) is None
    assert answers_equal(18.0, 18) and answers_equal("$18", 18)
    assert answers_equal(0.3333, 0.33)  # compared at the lower precision, as the repo does
    assert not answers_equal(81.0, 84.0)
    assert not answers_equal("3 minutes", 3.0)
    assert not answers_equal(None, "no")


# ---- real data ---------------------------------------------------------------------------------

JOBS = [
    ("llmrouter", "train", 5608),
    ("llmrouter", "test", 500 - 119),
    ("llmrouter", "test-all", 500),
    ("routellm-gsm8k", None, 1319 - 12),
    ("routellm-mmlu", None, 14042 - 5),
    ("routerarena", None, 809),
    ("gsm8k-openai", None, 1319),
    ("qwen-math-sampled", None, 100),
    ("mot-cascade", "gsm8k", 1319),
    ("mot-cascade", "asdiv", 2096),
    ("mot-cascade", "crepe", 695),
    ("mot-cascade", "date", 369),
    ("mot-cascade", "navigate", 1000),
    ("mot-cascade", "tabmwp", 1000),
]


@pytest.mark.parametrize(("name", "split", "count"), JOBS)
def test_counts_ids_tasks_and_round_trip(
    name: str, split: str | None, count: int, tmp_path: Path
) -> None:
    rows = _rows(name, split)
    assert len(rows) == count
    ids = [r.id for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(r.task for r in rows)
    path = tmp_path / "out.jsonl"
    assert write_jsonl(rows, path) == count
    back = load_outcomes(path).table
    orig = _table(name, split)
    assert back.ids == orig.ids and back.tasks == orig.tasks and back.arms == orig.arms
    for m in ("scores", "costs", "input_tokens", "output_tokens"):
        np.testing.assert_allclose(getattr(back, m), getattr(orig, m), equal_nan=True)
    assert set(back.samples) == set(orig.samples)
    for arm, per_row in orig.samples.items():
        assert [len(s or ()) for s in back.samples[arm]] == [len(s or ()) for s in per_row]


def test_llmrouter_costs_tasks_and_dedupe() -> None:
    train, test, full = (
        _rows("llmrouter", "train"),
        _rows("llmrouter", "test"),
        _rows("llmrouter", "test-all"),
    )
    texts = {r.prompt for r in train}
    assert sum(r.prompt in texts for r in full) == 119
    assert not any(r.prompt in texts for r in test)
    assert {r.id for r in test} < {r.id for r in full}
    assert len({r.task for r in train}) == 14
    cards = json.loads(
        (_data("llmrouter") / "data/example_data/llm_candidates/default_llm.json").read_text()
    )
    for r in train[:200] + test[:100]:
        assert len(r.arms) == 9
        for arm, o in r.arms.items():
            p = cards[arm]
            expected = (
                o.input_tokens * p["input_price"] + o.output_tokens * p["output_price"]
            ) / 1e6
            assert o.cost is not None and o.cost > 0
            assert o.cost == pytest.approx(expected)
            assert o.input_tokens == math.ceil(len(str(r.prompt)) / 4)


def test_routellm_gsm8k_accuracies_match_source() -> None:
    t = _table("routellm-gsm8k")
    assert _acc(t, "mixtral-8x7b-instruct-v0.1") == pytest.approx(0.638, abs=0.005)
    assert _acc(t, "gpt-4-1106-preview") == pytest.approx(0.857, abs=0.005)
    assert np.all(t.costs > 0) and np.all(t.output_tokens > 0)
    # GPT-4 is priced ~17x Mixtral on input and 50x on output
    assert np.nanmean(t.costs[:, t.arm_index("gpt-4-1106-preview")]) > 10 * np.nanmean(
        t.costs[:, t.arm_index("mixtral-8x7b-instruct-v0.1")]
    )


def test_routellm_mmlu_matches_gold_join_and_subjects() -> None:
    t = _table("routellm-mmlu")
    assert len(set(t.tasks)) == 57
    assert np.all(t.output_tokens == 1) and np.all(t.costs > 0)
    joined = [
        json.loads(line)
        for line in (_data("routellm") / "mmlu_joined_with_gold.jsonl").read_text().splitlines()
    ]
    assert len(joined) == 14042
    leaked = {
        json.loads(line)["eval_prompt"]
        for line in (_data("routellm") / "routellm/evals/mmlu/contaminated_prompts.jsonl")
        .read_text()
        .splitlines()
    }
    kept = [j for j in joined if j["prompt"] not in leaked]
    mix = np.mean([j["mixtral_8x7b_correct"] for j in kept])
    gpt4 = np.mean([j["gpt4_1106_correct"] for j in kept])
    assert _acc(t, "mixtral-8x7b-instruct-v0.1") == pytest.approx(mix, abs=1e-9)
    assert _acc(t, "gpt-4-1106-preview") == pytest.approx(gpt4, abs=1e-9)


def test_routerarena_scores_costs_and_tokens() -> None:
    t = _table("routerarena")
    assert _acc(t, "claude-3-haiku-20240307") == pytest.approx(0.523, abs=0.005)
    assert _acc(t, "gemini-2.0-flash-001") == pytest.approx(0.690, abs=0.005)
    assert np.all(t.scores >= 0) and np.all(t.scores <= 1)
    assert np.all(t.costs > 0) and np.all(t.input_tokens > 0) and np.all(t.output_tokens > 0)
    prices = json.loads((_data("routerarena") / "model_cost/cost.json").read_text())
    for j, arm in enumerate(t.arms):
        p = prices[arm]
        recomputed = (
            t.input_tokens[:, j] * p["input_token_price_per_million"]
            + t.output_tokens[:, j] * p["output_token_price_per_million"]
        ) / 1e6
        np.testing.assert_allclose(t.costs[:, j], recomputed, rtol=1e-9)
    assert "MMLUPro_law" in t.tasks and len(set(t.tasks)) > 50


def test_gsm8k_openai_accuracies_match_source() -> None:
    t = _table("gsm8k-openai")
    expected = {"gpt3-6b": 0.217, "gpt3-6b-verifier": 0.390, "gpt3-175b": 0.347}
    expected["gpt3-175b-verifier"] = 0.563
    for arm, acc in expected.items():
        assert _acc(t, arm) == pytest.approx(acc, abs=0.001)
    assert np.all(np.isnan(t.costs))


def test_qwen_math_first_sample_majority_and_best_of_n() -> None:
    rows = _rows("qwen-math-sampled")
    samples = [r.arms["qwen-math-cot"].samples or [] for r in rows]
    assert all(len(s) == 8 for s in samples)
    assert {r.task for r in rows} == {f"math-level{i}" for i in range(1, 6)}
    first = np.mean([r.arms["qwen-math-cot"].score for r in rows])
    mean_sample = np.mean([x.score for s in samples for x in s])
    maj = np.mean([next(x.score for x in s if x.answer == _majority(s)) for s in samples])
    best_rm = np.mean([max(s, key=lambda x: getattr(x, "rm_score", -1e9)).score for s in samples])
    pass_at_8 = np.mean([max(x.score for x in s) for s in samples])
    assert (first, mean_sample, maj, best_rm, pass_at_8) == pytest.approx(
        (0.90, 0.91, 0.93, 0.94, 0.96), abs=0.005
    )


def _majority(samples: list[Sample]) -> str | None:
    votes = Counter(s.answer for s in samples if s.answer is not None)
    return votes.most_common(1)[0][0] if votes else None


def test_mot_cascade_arms_merge_and_majority_matches_repo() -> None:
    date = _table("mot-cascade", "date")
    assert len(date.arms) == 13 + 8  # GPT-3.5 files + GPT-4 files share the same 369 queries
    assert not np.isnan(date.scores).any()
    n = {a: {len(s or ()) for s in date.samples[a]} for a in date.arms}
    assert n["gpt-3.5-turbo-cot1"] == {20} and n["gpt-3.5-turbo-cot1-n40"] == {40}
    assert n["gpt-4-cot1"] == {3} and n["gpt-4-pot1-greedy"] == {1}
    # the majority of our normalised samples is the repo's own majority ``prediction``
    root = _data("mot-cascade")
    agree = total = 0
    for path in sorted(root.glob("*/*.compact.jsonl")):
        arm = parse_file(path)
        if arm is None or arm.greedy:
            continue
        for line in path.read_text().splitlines():
            r = json.loads(line)
            votes = Counter(normalise_answer(x) for x in r["results"] if x is not None)
            mine = votes.most_common(1)[0][0] if votes else None
            agree += mine == normalise_answer(r["prediction"])
            total += 1
    assert agree / total > 0.999
