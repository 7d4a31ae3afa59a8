"""Rendered `--help`: flags show no type (they take no value), options that take one do."""

from __future__ import annotations

import typer.main
from typer.testing import CliRunner

from ponder.cli import app

runner = CliRunner()


def _help(*args: str) -> str:
    res = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert res.exit_code == 0, res.output
    return res.output


def _flags_and_valued(command: object) -> tuple[list[str], list[str]]:
    flags, valued = [], []
    for p in getattr(command, "params", []):
        if p.param_type_name != "option" or p.hidden:
            continue
        (flags if p.is_flag else valued).append(max(p.opts, key=len))
    return [*flags, "--help"], valued


def test_no_command_shows_bool_after_a_flag() -> None:
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert {"train", "simulate", "route", "calibrate", "ask", "serve", "import"} <= set(commands)
    assert "dev-upstream" in commands
    seen_flags = 0
    for name, command in [("", group), *commands.items()]:
        text = _help(*([name] if name else []))
        assert "<bool>" not in text, name
        flags, valued = _flags_and_valued(command)
        for line in text.splitlines():
            cells = line.strip("│ ").split()
            if not cells:
                continue
            rest = [c for c in cells[1:] if not c.startswith("-")]  # past short and --no- forms
            if cells[0] in flags:
                seen_flags += 1
                assert not rest or not rest[0].startswith("<"), line  # help text, no type
            if cells[0] in valued:
                assert rest[0].startswith("<"), line  # options with values keep their type
    assert seen_flags >= 10  # --help of every command, --json, --quiet, --list, ...


def test_flag_pairs_and_valued_options_render_as_before() -> None:
    serve = _help("serve")
    assert "--start-degraded" in serve and "--no-start-degraded" in serve
    assert "--port" in serve and "<int range>" in serve
    ask = _help("ask")
    assert "--config" in ask and "<path>" in ask and "<float>" in ask
    top = _help()
    assert "--version" in top and "Print the version and exit." in top
