from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from tests.fakes.upstream import FakeUpstream

runner = CliRunner()


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


def write_config(path: Path, up: FakeUpstream) -> Path:
    path.write_text(
        f"""
num_retries: 0
menu:
  max_cost: 0.01
  arms:
    - model: openai/small
      name: small-x3
      samples: 3
      aggregation: majority
      input_price: 1
      output_price: 2
      api_base: {up.base_url}
      api_key_env: PONDER_TEST_KEY
"""
    )
    return path


def test_ask_answers_and_shows_the_trace(
    up: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PONDER_TEST_KEY", "sk-test")
    up.script("small", ["The answer is 42"])
    cfg = write_config(tmp_path / "ponder.yaml", up)
    res = runner.invoke(app, ["ask", "What is 6 times 7?", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "The answer is 42" in res.output
    assert "small-x3" in res.output and "3/3" in res.output
    assert up.calls("small") == 3
    res = runner.invoke(app, ["ask", "What is 6 times 7?", "--config", str(cfg), "--json"])
    body = json.loads(res.output)
    assert body["object"] == "chat.completion"
    assert body["ponder"]["samples_used"] == 3


def test_ask_errors_are_one_line(
    up: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path / "ponder.yaml", up)
    monkeypatch.delenv("PONDER_TEST_KEY", raising=False)
    res = runner.invoke(app, ["ask", "hi", "--config", str(cfg)])
    assert res.exit_code == 2
    assert "PONDER_TEST_KEY is not set" in res.output
    monkeypatch.setenv("PONDER_TEST_KEY", "sk-test")
    up.script("small", ["x"])
    up.fail("small", status=503, times=10)
    res = runner.invoke(app, ["ask", "hi", "--config", str(cfg)])
    assert res.exit_code == 2
    assert "failed at the provider" in res.output
    assert "sk-test" not in res.output
    res = runner.invoke(app, ["ask", "hi", "--config", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "not found" in res.output
