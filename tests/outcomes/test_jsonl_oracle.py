"""The one-pass JSONL reader must load what validating every row with the pydantic model
loaded, and fail where it failed, with the same message. ``_reference_load`` is the loader
it replaced (frozen)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from ponder.errors import OutcomeFormatError
from ponder.outcomes import (
    OutcomeRow,
    OutcomeTable,
    load_outcomes,
    prompt_text,
    rows_to_table,
)

# --- the loader replaced, frozen ------------------------------------------------------------


def _reference_load(path: Path) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    skipped: list[tuple[int, str]] = []
    rows: list[OutcomeRow] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise OutcomeFormatError(
                    str(path), lineno, None, f"invalid UTF-8 ({exc.reason})"
                ) from None
            if not text.strip():
                skipped.append((lineno, "blank line"))
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise OutcomeFormatError(
                    str(path), lineno, None, f"malformed JSON ({exc.msg} at column {exc.colno})"
                ) from None
            if not isinstance(obj, dict):
                raise OutcomeFormatError(str(path), lineno, None, "expected a JSON object")
            try:
                rows.append(OutcomeRow.model_validate(obj))
            except ValidationError as err:
                e = err.errors()[0]
                loc = ".".join(str(x) for x in e["loc"])
                msg = "is required" if e["type"] == "missing" else e["msg"]
                raise OutcomeFormatError(str(path), lineno, loc or None, msg) from None
    if not rows:
        raise OutcomeFormatError(str(path), None, None, "no queries in file")
    seen: set[str] = set()
    values = _reference_rows_to_table(rows)
    for i in values["ids"]:
        if i in seen:
            raise OutcomeFormatError(str(path), None, "id", f"duplicate id '{i}'")
        seen.add(i)
    return values, skipped


def _reference_rows_to_table(rows: list[OutcomeRow]) -> dict[str, Any]:
    """rows_to_table as it was, as plain values."""
    arms: dict[str, int] = {}
    for r in rows:
        for a in r.arms:
            arms.setdefault(a, len(arms))
    n, k = len(rows), len(arms)
    mats = {m: np.full((n, k), np.nan) for m in ("score", "cost", "input_tokens", "output_tokens")}
    samples: dict[str, list[Any]] = {}
    for i, r in enumerate(rows):
        for a, o in r.arms.items():
            for m, arr in mats.items():
                v = getattr(o, m)
                if v is not None:
                    arr[i, arms[a]] = v
            if o.samples:
                samples.setdefault(a, [None] * n)[i] = tuple(o.samples)
    return {
        "ids": tuple(r.id for r in rows),
        "prompts": tuple(prompt_text(r.prompt) for r in rows),
        "tasks": tuple(r.task or "" for r in rows),
        "arms": tuple(arms),
        **mats,
        "samples": {a: tuple(s) for a, s in samples.items()},
    }


def _values(t: OutcomeTable) -> dict[str, Any]:
    return {
        "ids": t.ids,
        "prompts": t.prompts,
        "tasks": t.tasks,
        "arms": t.arms,
        "score": t.scores,
        "cost": t.costs,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "samples": t.samples,
    }


def _assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        else:
            assert a[key] == b[key], key


# --- tables ------------------------------------------------------------------------------------

_GOOD = [
    {"id": "q1", "prompt": "What is 2+2?", "task": "math",
     "arms": {"small": {"score": 1.0, "cost": 0.001}, "big": {"score": 1, "cost": 0}}},
    {"id": 7, "prompt": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": [{"type": "text", "text": "Hi"}, 3]},
                         {"role": "assistant", "content": None, "name": "x"}],
     "arms": {"small": {"score": 0, "samples": [{"answer": "1", "score": 0.0},
                                                 {"score": 1, "cost": 0.5, "extra": 1}]},
              "third": {"score": 0.25, "input_tokens": 10, "output_tokens": 3.5,
                        "latency_s": 0.2, "note": "kept"}}},
    {"id": "q3", "prompt": "", "task": None, "extra": {"any": "thing"},
     "arms": {"big": {"score": 0.5, "cost": None, "samples": []}}},
    {"id": "q4", "prompt": "odd but valid", "task": "",
     "arms": {"small": {"score": "0.5", "cost": "1e-3"}, "big": {"score": True},
              "third": {"score": 0.0, "input_tokens": 1e308, "output_tokens": "12"}}},
    {"id": "q5", "prompt": "infinite tokens are numbers too",
     "arms": {"big": {"score": 1.0, "input_tokens": float("inf")}}},
    {"id": "q6", "prompt": [], "arms": {"small": {"score": 1.0, "cost": 2**60}}},
]  # fmt: skip

_BAD = [
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1.5}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": -0.0001}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1.0000001}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 2}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": NaN}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": Infinity}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": null}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": "high"}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": [1]}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": 1}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "cost": -1}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "cost": Infinity}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "cost": NaN}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "cost": "cheap"}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "input_tokens": -5}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "output_tokens": NaN}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "latency_s": -1}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "samples": "many"}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "samples": [{"score": 2}]}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "samples": [{"answer": 1}]}}}',
    '{"id": "x", "prompt": "p", "arms": {"a": {"score": 1, "samples": [{"answer": [], "score": 1}]}}}',  # noqa: E501
    '{"id": "x", "prompt": "p", "arms": {}}',
    '{"id": "x", "prompt": "p", "arms": []}',
    '{"id": "x", "prompt": "p"}',
    '{"id": "x", "arms": {"a": {"score": 1}}}',
    '{"prompt": "p", "arms": {"a": {"score": 1}}}',
    '{"id": "", "prompt": "p", "arms": {"a": {"score": 1}}}',
    '{"id": 1.5, "prompt": "p", "arms": {"a": {"score": 1}}}',
    '{"id": true, "prompt": "p", "arms": {"a": {"score": 1}}}',
    '{"id": null, "prompt": "p", "arms": {"a": {"score": 1}}}',
    '{"id": "x", "prompt": 5, "arms": {"a": {"score": 1}}}',
    '{"id": "x", "prompt": null, "arms": {"a": {"score": 1}}}',
    '{"id": "x", "prompt": [{"content": "no role"}], "arms": {"a": {"score": 1}}}',
    '{"id": "x", "prompt": [{"role": 1, "content": "x"}], "arms": {"a": {"score": 1}}}',
    '{"id": "x", "prompt": [{"role": "user", "content": 5}], "arms": {"a": {"score": 1}}}',
    '{"id": "x", "prompt": ["just text"], "arms": {"a": {"score": 1}}}',
    '{"id": "x", "prompt": "p", "task": 3, "arms": {"a": {"score": 1}}}',
    "[1, 2]",
    '"text"',
    "{not json",
]


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


def _outcome(fn: Any, path: Path) -> tuple[str, Any]:
    """The error a load raises, as (message, line, field); ("ok", None) if it loads."""
    try:
        fn(path)
    except OutcomeFormatError as exc:
        return "error", (str(exc), exc.line, exc.field)
    return "ok", None


def test_plain_and_odd_rows_load_as_before(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.jsonl", [_GOOD[0], "", "  ", *_GOOD[1:]])
    ref, ref_skipped = _reference_load(path)
    got = load_outcomes(path)
    _assert_same(_values(got.table), ref)
    assert got.report.skipped == ref_skipped == [(2, "blank line"), (3, "blank line")]
    assert got.table.scores[3].tolist()[:2] == [0.5, 1.0]  # "0.5" and true, as pydantic reads
    rows = [OutcomeRow.model_validate(r) for r in _GOOD]
    _assert_same(_values(rows_to_table(rows)), _reference_rows_to_table(rows))


@pytest.mark.parametrize("line", _BAD)
def test_bad_rows_fail_as_before(tmp_path: Path, line: str) -> None:
    path = _write(tmp_path / "bad.jsonl", [_GOOD[0], line])
    want = _outcome(_reference_load, path)
    got = _outcome(lambda p: load_outcomes(p).table, path)
    assert want[0] == "error", want
    assert got == want


def test_duplicates_empty_and_encoding_fail_as_before(tmp_path: Path) -> None:
    cases = {
        "dup.jsonl": [_GOOD[0], _GOOD[0]],
        "dup-int.jsonl": [{**_GOOD[0], "id": 5}, {**_GOOD[2], "id": "5"}],
        "empty.jsonl": ["", " "],
    }
    for name, lines in cases.items():
        path = _write(tmp_path / name, lines)
        assert _outcome(lambda p: load_outcomes(p).table, path) == _outcome(_reference_load, path)
    raw = tmp_path / "bin.jsonl"
    raw.write_bytes(json.dumps(_GOOD[0]).encode() + b'\n{"id": "\xff"}\n')
    assert _outcome(lambda p: load_outcomes(p).table, raw) == _outcome(_reference_load, raw)


def _shared_tables() -> list[Any]:
    root = Path(os.environ.get("PONDER_SHARED", Path(__file__).resolve().parents[3] / "shared"))
    path = root / "data" / "reasoning-gym" / "outcomes.jsonl"
    if path.is_file():
        return [path]
    # Skipped with its reason, not pytest's "got empty parameter set".
    return [pytest.param(path, marks=pytest.mark.skip(reason=f"shared data not found: {path}"))]


@pytest.mark.parametrize("path", _shared_tables(), ids=lambda p: p.parent.name)
def test_a_real_table_loads_as_before(path: Path) -> None:
    ref, _ = _reference_load(path)
    got = load_outcomes(path).table
    _assert_same(_values(got), ref)


def test_synthetic_table_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arms = [f"arm-{j}" for j in range(6)]
    lines = []
    for i in range(300):
        measured = [a for a in arms if rng.random() < 0.8] or arms[:1]
        lines.append(
            {
                "id": f"q{i}" if i % 3 else i,
                "prompt": f"question {i} " * int(rng.integers(1, 20)),
                "task": f"t{i % 4}" if i % 5 else None,
                "arms": {
                    a: {"score": float(rng.integers(0, 2)), "cost": float(rng.random() / 100)}
                    if i % 7
                    else {"score": float(rng.random()), "input_tokens": int(rng.integers(1, 99))}
                    for a in measured
                },
            }
        )
    path = _write(tmp_path / "syn.jsonl", lines)
    ref, _ = _reference_load(path)
    got = load_outcomes(path).table
    _assert_same(_values(got), ref)
    assert (~got.measured).any() and np.isnan(got.costs).any()  # holes, and unpriced cells


def test_the_cycle_collector_is_left_as_it_was(tmp_path: Path) -> None:
    import gc

    good = _write(tmp_path / "good.jsonl", _GOOD)
    bad = _write(tmp_path / "bad.jsonl", [_GOOD[0], _BAD[0]])
    assert gc.isenabled()
    load_outcomes(good)
    with pytest.raises(OutcomeFormatError):
        load_outcomes(bad)
    assert gc.isenabled()
    gc.disable()
    try:
        load_outcomes(good)
        assert not gc.isenabled()
    finally:
        gc.enable()
