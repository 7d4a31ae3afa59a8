"""Read a canonical JSON Lines outcome table in one pass, straight into its columns.

Validating each line as an :class:`~ponder.outcomes.OutcomeRow` (ten pydantic models a row
for ten arms) and then copying the models into arrays took most of the time and memory of
loading a large table. Here a row of plain values (a string id, a string or message-list
prompt, arm outcomes with numbers in range) is checked by hand and its values appended to
column lists; anything else (a missing field, a number out of range or of another type,
odd but valid input such as a numeric string) goes through the pydantic model as before,
which accepts it or names the line and field that is wrong. So what loads, and every
error, is what the model says; only the common case is faster. The cells of a table go into
one list per field, not an object per cell, and the cycle collector rests while reading.
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ponder.errors import OutcomeFormatError
from ponder.outcomes._schema import OutcomeRow, Sample, prompt_text
from ponder.outcomes._table import OutcomeTable

_INF = math.inf
_CELLS_AT_ONCE = 1 << 16


class _Odd(Exception):
    """A row the fast path does not vouch for: the pydantic model decides."""


def first_error(path: Path, line: int, err: ValidationError) -> OutcomeFormatError:
    e = err.errors()[0]
    loc = ".".join(str(x) for x in e["loc"])
    msg = e["msg"]
    if e["type"] == "missing":
        msg = "is required"
    return OutcomeFormatError(str(path), line, loc or None, msg)


class Columns:
    """An outcome table being read, one query at a time."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.prompts: list[str] = []
        self.tasks: list[str] = []
        self.row: list[int] = []  # the query of each cell, a measured (query, arm)
        self.cells: list[_Cell] = []  # the latest cells, until moved into the columns below
        self.columns: tuple[list[Any], ...] = ([], [], [], [], [], [])  # arm, score, ... samples

    def add(self, obj: dict[str, Any], path: Path, lineno: int) -> None:
        """Add the query ``obj`` (a parsed JSON object) read from line ``lineno``."""
        try:
            rid, prompt, task, cells = _plain(obj)
        except _Odd:
            try:
                row = OutcomeRow.model_validate(obj)
            except ValidationError as exc:
                raise first_error(path, lineno, exc) from None
            self.add_row(row)
            return
        self._append(rid, prompt, task, cells)

    def add_row(self, row: OutcomeRow) -> None:
        cells = [
            (
                name,
                o.score,
                o.cost,
                o.input_tokens,
                o.output_tokens,
                tuple(o.samples) if o.samples else None,
            )
            for name, o in row.arms.items()
        ]
        self._append(row.id, prompt_text(row.prompt), row.task or "", cells)

    def _append(self, rid: str, prompt: str, task: str, cells: list[_Cell]) -> None:
        self.row += [len(self.ids)] * len(cells)
        self.ids.append(rid)
        self.prompts.append(prompt)
        self.tasks.append(task)
        self.cells += cells
        if len(self.cells) >= _CELLS_AT_ONCE:
            self._flush()

    def _flush(self) -> None:
        """Move the cells into the columns (a tuple per cell costs ~100 bytes; a column
        entry, 8)."""
        if self.cells:
            for column, values in zip(self.columns, zip(*self.cells, strict=True), strict=True):
                column += values
            self.cells.clear()

    def __len__(self) -> int:
        return len(self.ids)

    def table(self) -> OutcomeTable:
        """The dense table: arms in the order first seen, NaN where not measured."""
        self._flush()
        n = len(self.ids)
        names, score, cost, input_tokens, output_tokens, samples = self.columns
        arms: dict[str, int] = {}
        cols = np.array([arms.setdefault(a, len(arms)) for a in names], dtype=np.int64)
        rows = np.array(self.row, dtype=np.int64)

        def matrix(values: list[float | None]) -> np.ndarray:
            out = np.full((n, len(arms)), np.nan)
            out[rows, cols] = np.array(values, dtype=np.float64)  # None becomes NaN
            return out

        by_arm: dict[str, dict[int, tuple[Sample, ...]]] = {}
        for c in np.flatnonzero([s is not None for s in samples]).tolist():
            by_arm.setdefault(names[c], {})[self.row[c]] = samples[c]
        return OutcomeTable(
            ids=tuple(self.ids),
            prompts=tuple(self.prompts),
            tasks=tuple(self.tasks),
            arms=tuple(arms),
            scores=matrix(score),
            costs=matrix(cost),
            input_tokens=matrix(input_tokens),
            output_tokens=matrix(output_tokens),
            samples={a: tuple(rows_.get(i) for i in range(n)) for a, rows_ in by_arm.items()},
        )


_Cell = tuple[str, float, float | None, float | None, float | None, tuple[Sample, ...] | None]
"""An arm's outcome on a query: arm, score, cost, input and output tokens, samples (None for
none). Numbers may be ints; the table makes them floats."""


def read_jsonl(path: Path, skipped: list[tuple[int, str]]) -> Columns:
    """Every query of the file at ``path``; blank lines are noted in ``skipped``."""
    columns = Columns()
    loads = json.loads
    with path.open("rb") as fh, _no_cycle_collection():
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
                obj = loads(text)
            except json.JSONDecodeError as exc:
                raise OutcomeFormatError(
                    str(path), lineno, None, f"malformed JSON ({exc.msg} at column {exc.colno})"
                ) from None
            except RecursionError:  # the parser recurses per level: a bomb, not a row
                raise OutcomeFormatError(
                    str(path), lineno, None, "JSON nested too deeply"
                ) from None
            if not isinstance(obj, dict):
                raise OutcomeFormatError(str(path), lineno, None, "expected a JSON object")
            columns.add(obj, path, lineno)
    return columns


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cycle collector: a load makes no cycles, but its millions of new objects
    set it off again and again, each time walking every object read so far (half the time
    of loading 100k queries)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plain(obj: dict[str, Any]) -> tuple[str, str, str, list[_Cell]]:
    """The row's id, prompt text, task and arm outcomes, if every value is plainly valid;
    raises :class:`_Odd` for anything the pydantic model should judge."""
    rid = obj.get("id")
    if type(rid) is int:
        rid = str(rid)  # as OutcomeRow does: integer ids are still identifiers
    elif type(rid) is not str or not rid:
        raise _Odd
    prompt = obj.get("prompt")
    if type(prompt) is not str:
        prompt = _messages_text(prompt)
    task = obj.get("task")
    if task is None:
        task = ""
    elif type(task) is not str:
        raise _Odd
    arms = obj.get("arms")
    if type(arms) is not dict or not arms:
        raise _Odd
    cells: list[_Cell] = []
    for name, o in arms.items():
        if type(o) is not dict:
            raise _Odd
        score = o.get("score")
        if (type(score) is not float and type(score) is not int) or not 0.0 <= score <= 1.0:
            raise _Odd
        cost = o.get("cost")
        if cost is not None and (
            (type(cost) is not float and type(cost) is not int) or not 0.0 <= cost < _INF
        ):
            raise _Odd
        if len(o) > 2 or (len(o) == 2 and cost is None):  # more than a score and a cost
            input_tokens = _non_negative(o.get("input_tokens"))
            output_tokens = _non_negative(o.get("output_tokens"))
            _non_negative(o.get("latency_s"))
            samples = _samples(o.get("samples"))
        else:
            input_tokens = output_tokens = samples = None
        cells.append((name, score, cost, input_tokens, output_tokens, samples))
    return rid, prompt, task, cells


def _non_negative(v: object) -> float | None:
    if v is not None and ((type(v) is not float and type(v) is not int) or not 0.0 <= v <= 1e300):
        raise _Odd
    return v


def _samples(v: object) -> tuple[Sample, ...] | None:
    if v is None:
        return None
    if type(v) is not list:
        raise _Odd
    try:
        return tuple(Sample.model_validate(s) for s in v) or None
    except ValidationError:
        raise _Odd from None


def _messages_text(prompt: object) -> str:
    """A message-list prompt's text (as :func:`prompt_text` reads it) if it is plainly
    valid: objects with a string role and string, list or null content."""
    if type(prompt) is not list:
        raise _Odd
    parts: list[str] = []
    for m in prompt:
        if type(m) is not dict or type(m.get("role")) is not str:
            raise _Odd
        content = m.get("content")
        if type(content) is str:
            parts.append(content)
        elif type(content) is list:
            for item in content:
                if isinstance(item, dict) and isinstance(item.get("text"), str):
                    parts.append(item["text"])
        elif content is not None:
            raise _Odd
    return "\n".join(parts)
