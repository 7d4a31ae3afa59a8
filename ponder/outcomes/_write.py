"""Write outcome tables back to canonical JSONL (what the importers produce)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ponder.outcomes._schema import OutcomeRow


def write_jsonl(rows: Iterable[OutcomeRow], path: str | Path) -> int:
    """Write validated rows, one JSON object a line; returns how many were written."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with p.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row.model_dump(mode="json", exclude_none=True), ensure_ascii=False))
            fh.write("\n")
            n += 1
    return n
