"""Issue 23, "a CLI that respects its reader": each friction point a newcomer met, as a test.

The route table in 80 columns with the tokens it assumed, warnings on one line, progress
when piped (tests/cli/test_progress.py), the URL `serve` listens on, `train --out` that will
not overwrite, YAML errors with their line, "not found", a missing provider key named before
any call, and provider errors without Python object reprs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ponder.cli import app
from tests.conftest import synthetic_table, write_table_jsonl
from tests.fakes.redis_server import free_port

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
PRIMES = "Prove that there are infinitely many primes."


def test_route_table_fits_80_columns_and_shows_the_tokens_it_assumed() -> None:
    res = runner.invoke(app, ["route", PRIMES, "--menu", str(ROOT / "examples" / "menu.yaml")])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, res.stdout
    header = next(line for line in lines if line.startswith("arm"))
    assert "thinking" in header and "output" in header
    rows = {line.split()[1] if line.startswith("→") else line.split()[0]: line for line in lines}
    # Per arm: the effort or budget it thinks with, and the answer tokens it was priced at.
    assert re.search(r"medium 2,500\s+400\b", rows["gpt-5"]), rows["gpt-5"]
    assert re.search(r"budget 4,096\s+400\b", rows["sonnet-thinking"])
    assert re.search(r"default 2,500\s+400\b", rows["gpt-5-mini"])  # reasons unasked
    assert re.search(r"—\s+400\b", rows["my-finetune"])
    assert any(line.startswith("chosen: ") for line in lines)


def test_the_default_menus_route_table_keeps_every_arm_name_whole() -> None:
    """Piped (80 columns), the packaged menu's longest names ("claude-haiku-4-5-thinking",
    "gpt-5-nano-minimal-vote") stay on their rows with their figures: a reader finds each
    arm by its name, as the menu and --json spell it."""
    from ponder._menu import Menu

    res = runner.invoke(app, ["route", "What is 2 + 2?"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, res.stdout
    rows = [line for line in lines if line.startswith(("  ", "→ "))]
    for arm in Menu.default().arms:
        row = next((r for r in rows if r[2:].split(" ", 1)[0] == arm.label), None)
        assert row is not None, f"{arm.label} is not whole on a row:\n{res.stdout}"
        assert re.search(r"\$[0-9.]+\s+-?[0-9.]+$", row), row  # its cost and utility too


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on arms that do not reason: it cannot tell thinking twins apart."""
    folder = tmp_path_factory.mktemp("reader")
    table, _ = synthetic_table(n=200, seed=5)
    data = write_table_jsonl(table, folder / "t.jsonl")
    res = runner.invoke(app, ["train", str(data), "--out", str(folder / "m"), "--folds", "3", "-q"])
    assert res.exit_code == 0, res.output
    return folder


def test_a_prior_warning_is_one_line_in_the_clis_style(trained: Path) -> None:
    menu = trained / "twins.yaml"
    menu.write_text(
        "arms:\n"
        "  - {model: newbie, input_price: 1.0, output_price: 1.0, reasoning: 0.0}\n"
        "  - {model: newbie, name: newbie-thinking, input_price: 1.0, output_price: 1.0,"
        " reasoning: 1.0}\n"
    )
    args = [sys.executable, "-m", "ponder", "route", PRIMES, "--model", str(trained / "m")]
    res = subprocess.run(
        [*args, "--menu", str(menu)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert res.returncode == 0, res.stderr
    warned = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(warned) == 1, res.stderr
    assert warned[0].startswith("warning: ") and "differ only in how much" in warned[0]
    assert ".py:" not in res.stderr and "PriorWarning" not in res.stderr


def test_train_out_refuses_to_overwrite_without_force(trained: Path) -> None:
    model = trained / "m"
    before = (model / "manifest.json").read_bytes()
    args = ["train", str(trained / "t.jsonl"), "--out", str(model), "--folds", "3", "-q"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"error: --out {model}: already holds files; pass --force to replace them"
    )
    assert (model / "manifest.json").read_bytes() == before
    res = runner.invoke(app, [*args, "--seed", "1", "--force"])
    assert res.exit_code == 0, res.output
    assert (model / "manifest.json").read_bytes() != before


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("arms:\n  - model: gpt-5\n   name: x\n", "line 3, column 4"),
        ("max_cost: 0.1\narms:\n  - {model: gpt-5, name: [oops}\n", "line 3, column 31"),
    ],
)
def test_malformed_menu_yaml_names_the_file_and_line(tmp_path: Path, text: str, where: str) -> None:
    menu = tmp_path / "menu.yaml"
    menu.write_text(text)
    res = runner.invoke(app, ["route", "hi", "--menu", str(menu)])
    assert res.exit_code == 2
    err = res.stderr.strip()
    assert err.startswith(f"error: {menu}: cannot parse: {where}: "), err
    assert len(err.splitlines()) == 1


def test_simulate_a_missing_file_says_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    for extra in ([], ["--cv", "3"]):
        res = runner.invoke(app, ["simulate", str(missing), *extra])
        assert res.exit_code == 2
        assert res.stderr.strip() == f"error: {missing}: file not found"
    good = write_table_jsonl(synthetic_table(n=30)[0], tmp_path / "good.jsonl")
    res = runner.invoke(app, ["simulate", str(good), "--test", str(missing)])
    assert res.stderr.strip() == f"error: {missing}: file not found"


def test_ask_without_a_provider_key_says_which_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ponder.yaml"
    config.write_text(
        "menu:\n  arms:\n    - {model: gpt-4o-mini}\n    - {model: claude-sonnet-4-5}\n"
    )
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    calls: list[object] = []
    monkeypatch.setattr("ponder.router.Router.complete", lambda *a, **k: calls.append(a))
    res = runner.invoke(app, ["ask", "hi", "--config", str(config)])
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "error: no key for openai (set OPENAI_API_KEY), which arm 'gpt-4o-mini' calls"
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    res = runner.invoke(app, ["ask", "hi", "--config", str(config)])
    assert "no key for anthropic (set ANTHROPIC_API_KEY)" in res.stderr
    assert calls == []  # nothing was called


def test_a_connection_error_reads_without_object_reprs() -> None:
    from ponder.router._llm import classify_failure

    class ClientConnectorError(Exception):
        pass

    exc = ClientConnectorError(
        "Cannot connect to host api.example.com:443 ssl:<ssl.SSLContext object at "
        "0x7f3a5c1d2e80> [Connection refused]"
    )
    failed = classify_failure(exc, None)
    assert str(failed) == (
        "ClientConnectorError: Cannot connect to host api.example.com:443 [Connection refused]"
    )
    assert failed.retryable


def test_a_provider_outage_through_the_router_names_no_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ponder import Menu, ProviderError, Router
    from ponder.router import Settings

    port = free_port()  # nothing listens there: connecting fails, over TLS
    monkeypatch.setenv("DOWN_KEY", "sk-down")
    menu = Menu.parse(
        {
            "arms": [
                {
                    "model": "openai/down",
                    "api_base": f"https://127.0.0.1:{port}/v1",
                    "api_key_env": "DOWN_KEY",
                    "input_price": 1.0,
                    "output_price": 1.0,
                }
            ]
        }
    )
    router = Router(Settings(menu=menu, num_retries=0, timeout=10))
    try:
        with pytest.raises(ProviderError) as info:
            router.complete("Is 97 prime?")
    finally:
        router.close()
    assert "object at 0x" not in str(info.value), info.value
    assert re.search(r"[Cc]onnect", str(info.value)), info.value


def test_serve_prints_the_url_it_listens_on_with_one_worker(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    config = tmp_path / "ponder.yaml"
    config.write_text("auth: false\nmenu:\n  arms:\n    - {model: gpt-4o-mini}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    args = ["serve", "--config", str(config), "--port", str(port), "--log-level", "warning"]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ponder", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 300  # a guard against a hang, not a timing assertion
        while "listening on" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        line = next(x for x in log.read_text().splitlines() if "listening on" in x)
        assert line == f"ponder serve: listening on http://127.0.0.1:{port}/v1"
        # What it prints is where it answers, at once.
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
