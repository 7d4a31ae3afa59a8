"""Read outcome tables: canonical JSONL and the RouterBench wide CSV.

Bad input is an error naming the file, line and field; nothing is dropped silently. What is
skipped on purpose (blank lines, rows with no measured arm, empty cells) is counted in a
:class:`LoadReport` the caller shows to the user.
"""

from __future__ import annotations

import ast
import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ponder.errors import OutcomeFormatError
from ponder.outcomes._jsonl import Columns, read_jsonl
from ponder.outcomes._schema import ArmOutcome, FormatName, OutcomeRow
from ponder.outcomes._table import OutcomeTable

_CSV_META = {"", "sample_id", "prompt", "eval_name", "oracle_model_to_route_to", "id", "task"}


@dataclass
class LoadReport:
    """What a load read and what it passed over, with reasons (line numbers are 1-based)."""

    path: str
    rows_read: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    cells_not_measured: int = 0

    def summary(self) -> str:
        msg = f"{self.path}: {self.rows_read} queries"
        if self.cells_not_measured:
            msg += f", {self.cells_not_measured} empty cells (not measured)"
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, why in self.skipped:
                reasons[why] = reasons.get(why, 0) + 1
            msg += ", skipped " + "; ".join(f"{n} ({why})" for why, n in reasons.items())
        return msg


@dataclass(frozen=True)
class LoadResult:
    table: OutcomeTable
    report: LoadReport


def detect_format(path: Path) -> FormatName:
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if suffix.endswith(".csv"):
        return "csv"
    raise OutcomeFormatError(
        str(path), None, None, "unknown format: expected .jsonl (canonical) or .csv (wide)"
    )


def load_outcomes(path: str | Path, format: FormatName = "auto") -> LoadResult:
    """Load one outcome table from ``path``; ``format`` is guessed from the suffix on ``auto``."""
    p = Path(path)
    if not p.exists():
        raise OutcomeFormatError(str(p), None, None, "file not found")
    if p.is_dir():
        raise OutcomeFormatError(str(p), None, None, "is a directory, expected a file")
    fmt = detect_format(p) if format == "auto" else format
    if fmt == "jsonl":
        return _load_jsonl(p)
    if fmt == "csv":
        return _load_wide_csv(p)
    raise OutcomeFormatError(str(p), None, None, f"unknown format '{fmt}'")


def load_many(paths: Iterable[str | Path]) -> tuple[OutcomeTable, list[LoadReport]]:
    results = [load_outcomes(p) for p in paths]
    if not results:
        raise ValueError("no outcome files given")
    table = OutcomeTable.concat([r.table for r in results])
    _check_unique_ids(table, ", ".join(r.report.path for r in results))
    return table, [r.report for r in results]


def rows_to_table(rows: Iterable[OutcomeRow]) -> OutcomeTable:
    """Build a dense table from validated rows (also used by the importers)."""
    columns = Columns()
    for row in rows:
        columns.add_row(row)
    return columns.table()


def _load_jsonl(path: Path) -> LoadResult:
    report = LoadReport(str(path))
    columns = read_jsonl(path, report.skipped)
    if not len(columns):
        raise OutcomeFormatError(str(path), None, None, "no queries in file")
    report.rows_read = len(columns)
    table = columns.table()
    _check_unique_ids(table, str(path))
    return LoadResult(table, report)


def _result(path: Path, rows: list[OutcomeRow], report: LoadReport) -> LoadResult:
    if not rows:
        raise OutcomeFormatError(str(path), None, None, "no queries in file")
    report.rows_read = len(rows)
    table = rows_to_table(rows)
    _check_unique_ids(table, str(path))
    return LoadResult(table, report)


def _check_unique_ids(table: OutcomeTable, where: str) -> None:
    seen: set[str] = set()
    for i in table.ids:
        if i in seen:
            raise OutcomeFormatError(where, None, "id", f"duplicate id '{i}'")
        seen.add(i)


def _csv_prompt(raw: str) -> str:
    """RouterBench stores prompts as a Python list literal of turns; read the text out."""
    s = raw.strip()
    if s.startswith("[") and s.endswith("]"):
        try:
            val = ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return raw
        if isinstance(val, list) and all(isinstance(x, str) for x in val):
            return "\n".join(val)
    return raw


def _csv_float(path: Path, line: int, col: str, cell: str) -> float | None:
    cell = cell.strip()
    if cell == "" or cell.lower() in {"nan", "none", "null"}:
        return None
    if cell.lower() in {"true", "false"}:
        return 1.0 if cell.lower() == "true" else 0.0
    try:
        v = float(cell)
    except ValueError:
        raise OutcomeFormatError(str(path), line, col, f"not a number: {cell[:40]!r}") from None
    if not math.isfinite(v):
        return None
    return v


def _load_wide_csv(path: Path) -> LoadResult:
    report = LoadReport(str(path))
    csv.field_size_limit(2**31 - 1)
    with path.open(newline="", encoding="utf-8", errors="strict") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise OutcomeFormatError(str(path), None, None, "empty file") from None
        except UnicodeDecodeError as exc:
            raise OutcomeFormatError(str(path), 1, None, f"invalid UTF-8 ({exc.reason})") from None
        if "prompt" not in header:
            raise OutcomeFormatError(str(path), 1, "prompt", "the header has no 'prompt' column")
        col = {name: i for i, name in enumerate(header)}
        models = [h for h in header if h not in _CSV_META and "|" not in h]
        if not models:
            raise OutcomeFormatError(str(path), 1, None, "the header names no model columns")
        rows: list[OutcomeRow] = []
        row_of: dict[str, int] = {}
        lineno = 1
        try:
            for lineno, cells in enumerate(reader, start=2):
                if not any(c.strip() for c in cells):
                    report.skipped.append((lineno, "blank line"))
                    continue
                if len(cells) != len(header):
                    raise OutcomeFormatError(
                        str(path), lineno, None, f"{len(cells)} cells, header has {len(header)}"
                    )
                prompt = _csv_prompt(cells[col["prompt"]])
                if not prompt.strip():
                    raise OutcomeFormatError(str(path), lineno, "prompt", "is empty")
                arms: dict[str, ArmOutcome] = {}
                for m in models:
                    score = _csv_float(path, lineno, m, cells[col[m]])
                    if score is None:
                        report.cells_not_measured += 1
                        continue
                    if not 0.0 <= score <= 1.0:
                        raise OutcomeFormatError(
                            str(path), lineno, m, f"score {score} is outside [0, 1]"
                        )
                    cost_col = col.get(f"{m}|total_cost")
                    cost = (
                        None
                        if cost_col is None
                        else _csv_float(path, lineno, f"{m}|total_cost", cells[cost_col])
                    )
                    if cost is not None and cost < 0:
                        raise OutcomeFormatError(
                            str(path), lineno, f"{m}|total_cost", "cost is negative"
                        )
                    arms[m] = ArmOutcome(score=score, cost=cost)
                if not arms:
                    report.skipped.append((lineno, "no measured arm"))
                    continue
                rid = cells[col["sample_id"]] if "sample_id" in col else ""
                rid = rid or (cells[col["id"]] if "id" in col else "") or f"{path.stem}-{lineno}"
                task = cells[col["eval_name"]] if "eval_name" in col else ""
                if rid in row_of:
                    # The RouterBench release splits a few queries over two lines with the
                    # same sample_id, each measuring different models: one query, merged.
                    first = rows[row_of[rid]]
                    shared = sorted(set(first.arms) & set(arms))
                    if shared:
                        raise OutcomeFormatError(
                            str(path),
                            lineno,
                            "sample_id",
                            f"duplicate id '{rid}' measures {shared[0]} again",
                        )
                    rows[row_of[rid]] = first.model_copy(update={"arms": {**first.arms, **arms}})
                    report.skipped.append((lineno, "merged into an earlier line with its id"))
                    continue
                row_of[rid] = len(rows)
                rows.append(OutcomeRow(id=rid, prompt=prompt, task=task or None, arms=arms))
        except UnicodeDecodeError as exc:
            raise OutcomeFormatError(
                str(path), lineno, None, f"invalid UTF-8 ({exc.reason})"
            ) from None
        except csv.Error as exc:
            raise OutcomeFormatError(str(path), lineno, None, f"malformed CSV ({exc})") from None
    return _result(path, rows, report)
