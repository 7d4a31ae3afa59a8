from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ponder.errors import OutcomeFormatError
from ponder.outcomes import OutcomeRow, load_many, load_outcomes, write_jsonl


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


ROW_A = {
    "id": "q1",
    "prompt": "What is 2+2?",
    "task": "math",
    "arms": {"small": {"score": 1.0, "cost": 0.001}, "big": {"score": 1.0, "cost": 0.01}},
}
ROW_B = {
    "id": "q2",
    "prompt": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Hi"}],
    "arms": {
        "small": {
            "score": 0.0,
            "samples": [{"answer": "1", "score": 0.0}, {"answer": "2", "score": 1.0}],
        }
    },
}


def test_jsonl_round_trip_keeps_missing_arms_as_nan(tmp_path: Path) -> None:
    res = load_outcomes(_write(tmp_path / "t.jsonl", [ROW_A, "", ROW_B]))
    t = res.table
    assert t.arms == ("small", "big")
    assert t.ids == ("q1", "q2")
    assert math.isnan(t.scores[1, 1])  # not measured is not 0
    assert t.scores[1, 0] == 0.0
    assert t.prompts[1] == "be brief\nHi"
    assert t.tasks == ("math", "")
    assert t.samples["small"][1] is not None and len(t.samples["small"][1] or ()) == 2
    assert res.report.skipped == [(2, "blank line")]

    rows = [OutcomeRow.model_validate(r) for r in (ROW_A, ROW_B)]
    out = tmp_path / "again.jsonl"
    write_jsonl(rows, out)
    t2 = load_outcomes(out).table
    np.testing.assert_array_equal(t2.scores, t.scores)
    assert t2.fingerprint() == t.fingerprint()


@pytest.mark.parametrize(
    ("line", "field", "needle"),
    [
        ('{"id": "x", "prompt": "p", "arms": {"a": {"score": 1.5}}}', "arms.a.score", "less"),
        ('{"id": "x", "arms": {"a": {"score": 1}}}', "prompt", "required"),
        ('{"id": "x", "prompt": "p", "arms": {}}', "arms", "at least 1"),
        ('{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "cost": -1}}}', "cost", ""),
    ],
)
def test_bad_rows_name_file_line_and_field(
    tmp_path: Path, line: str, field: str, needle: str
) -> None:
    path = _write(tmp_path / "bad.jsonl", [ROW_A, line])
    with pytest.raises(OutcomeFormatError) as exc:
        load_outcomes(path)
    assert exc.value.line == 2
    assert exc.value.field is not None and field in exc.value.field
    assert str(path) in str(exc.value)
    assert needle in str(exc.value)


def test_malformed_json_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(OutcomeFormatError, match=r"bad\.jsonl:2: malformed JSON"):
        load_outcomes(_write(tmp_path / "bad.jsonl", [ROW_A, "{not json"]))
    with pytest.raises(OutcomeFormatError, match="duplicate id 'q1'"):
        load_outcomes(_write(tmp_path / "dup.jsonl", [ROW_A, ROW_A]))
    with pytest.raises(OutcomeFormatError, match="unknown format"):
        load_outcomes(_write(tmp_path / "t.parquet", [ROW_A]))
    with pytest.raises(OutcomeFormatError, match="file not found"):
        load_outcomes(tmp_path / "missing.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(OutcomeFormatError, match="invalid UTF-8"):
        load_outcomes(tmp_path / "bin.jsonl")


def test_wide_csv_routerbench_layout(tmp_path: Path) -> None:
    path = tmp_path / "rb.csv"
    path.write_text(
        ",sample_id,prompt,eval_name,m1,m2,m1|total_cost,m2|total_cost,m1|model_response,"
        "oracle_model_to_route_to\n"
        "0,s.1,\"['Write a function']\",mbpp,1.0,0.0,0.001,0.01,\"['ok']\",m1\n"
        "1,s.2,plain prompt,mbpp,,1.0,,0.02,x,m2\n"
        "2,s.3,nothing measured,mbpp,,,,,x,m2\n"
    )
    res = load_outcomes(path)
    t = res.table
    assert t.arms == ("m1", "m2")
    assert t.prompts[0] == "Write a function"
    assert t.ids == ("s.1", "s.2")
    assert math.isnan(t.scores[1, 0]) and t.costs[1, 1] == pytest.approx(0.02)
    assert res.report.cells_not_measured == 3
    assert res.report.skipped == [(4, "no measured arm")]
    assert "skipped 1 (no measured arm)" in res.report.summary()


def test_wide_csv_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,m1\nhello,2.0\n")
    with pytest.raises(OutcomeFormatError, match=r"bad\.csv:2: field 'm1' score 2.0"):
        load_outcomes(bad)
    nop = tmp_path / "noprompt.csv"
    nop.write_text("question,m1\nhello,1\n")
    with pytest.raises(OutcomeFormatError, match="no 'prompt' column"):
        load_outcomes(nop)


def test_load_many_merges_arm_sets_and_rejects_shared_ids(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", [ROW_A])
    b = _write(tmp_path / "b.jsonl", [{**ROW_B, "arms": {"other": {"score": 1.0}}}])
    table, reports = load_many([a, b])
    assert table.arms == ("small", "big", "other")
    assert np.isnan(table.scores[0, 2]) and table.scores[1, 2] == 1.0
    assert len(reports) == 2
    with pytest.raises(OutcomeFormatError, match="duplicate id"):
        load_many([a, a])


def test_wide_csv_merges_a_query_split_over_two_lines(tmp_path: Path) -> None:
    path = tmp_path / "split.csv"
    path.write_text(
        "sample_id,prompt,m1,m2\na,first text,1.0,\nb,other,0.0,1.0\na,first text again,,0.0\n"
    )
    res = load_outcomes(path)
    assert res.table.ids == ("a", "b")
    np.testing.assert_array_equal(res.table.scores[0], [1.0, 0.0])
    assert res.report.skipped == [(4, "merged into an earlier line with its id")]
    path.write_text("sample_id,prompt,m1\na,x,1\na,x,0\n")
    with pytest.raises(OutcomeFormatError, match="duplicate id 'a' measures m1 again"):
        load_outcomes(path)
