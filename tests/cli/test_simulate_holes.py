"""``ponder simulate`` on an outcome table with holes, end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from ponder.cli import app
from ponder.outcomes import OutcomeTable
from tests.conftest import synthetic_table, write_table_jsonl

runner = CliRunner()


def _holey_table(n: int = 200, seed: int = 7) -> OutcomeTable:
    """No query has every arm: ``strong`` is missing on short queries, ``weak`` on long."""
    table, _ = synthetic_table(n=n, seed=seed)
    scores = table.scores.copy()
    long = np.array([t == "long" for t in table.tasks])
    scores[~long, 2] = np.nan
    scores[long, 0] = np.nan
    return dataclasses.replace(table, scores=scores)


def test_simulate_replays_a_table_without_complete_rows(tmp_path: Path) -> None:
    table = _holey_table()
    data = write_table_jsonl(table, tmp_path / "holey.jsonl")
    report = tmp_path / "r.json"
    args = ["simulate", str(data), "--cv", "2", "--backend", "logistic"]
    res = runner.invoke(app, [*args, "--report", str(report)])
    assert res.exit_code == 0, res.output
    r = json.loads(report.read_text())
    assert r["n_queries"] == table.n_queries and r["dropped_incomplete"] == 0
    holes = r["holes"]
    assert holes["rows_with_holes"] == table.n_queries
    n_long = sum(t == "long" for t in table.tasks)
    assert {tuple(p["missing"]): p["n_queries"] for p in holes["patterns"]} == {
        ("weak",): n_long,
        ("strong",): table.n_queries - n_long,
    }
    assert holes["arms"]["strong"]["measured"] == n_long
    assert holes["arms"]["strong"]["stand_ins"] == {"mid": table.n_queries - n_long}
    assert holes["by_task"] == {
        "long": {"weak": n_long},
        "short": {"strong": table.n_queries - n_long},
    }
    assert "holes:" in res.stdout and "missing weak" in res.stdout
    assert "arm:" in res.stdout and " *" in res.stdout  # the best arm is marked as filled in
    assert r["summary"]["aiq"]["oracle"] >= max(r["summary"]["aiq"].values()) - 1e-12
    # the old behaviour, asked for explicitly, has nothing left to replay (and says so
    # before spending minutes on training)
    res = runner.invoke(app, [*args, "--complete-only"])
    assert res.exit_code == 2 and "no query has every arm measured" in res.stderr
