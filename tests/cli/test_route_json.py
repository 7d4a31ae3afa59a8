"""``ponder route --json`` names the chosen arm as the trace does (``chosen_arm``), and keeps
the older ``chosen`` key for scripts that read it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ponder.cli import app


def test_route_json_names_the_chosen_arm_as_the_trace_does() -> None:
    res = CliRunner().invoke(app, ["route", "What is the capital of France?", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["chosen_arm"] in {a["arm"] for a in d["arms"]}
    assert d["chosen"] == d["chosen_arm"]
