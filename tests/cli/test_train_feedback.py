from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.feedback import AttemptRecord, FeedbackEvent, feedback_table
from ponder.router import RedisStore
from tests.conftest import synthetic_table, write_table_jsonl
from tests.fakes.redis_server import RedisServer

runner = CliRunner()


def event(i: int, query: str, outcomes: list[tuple[str, str]]) -> FeedbackEvent:
    return FeedbackEvent(
        id=f"fb{i}",
        ts=float(i),
        tenant="a",
        query=query,
        chosen_arm=outcomes[0][0],
        answered_by=outcomes[-1][0],
        attempts=tuple(
            AttemptRecord(arm=a, outcome=o, samples=1, agreement=1.0, cost=0.001)
            for a, o in outcomes
        ),
        cost=0.001 * len(outcomes),
        p_success={},
    )


def test_feedback_becomes_scores() -> None:
    events = [
        event(0, "easy one", [("weak", "accepted")]),
        event(1, "hard one", [("weak", "low_agreement"), ("strong", "accepted")]),
        event(2, "", [("weak", "accepted")]),  # recorded without text
        event(3, "down", [("weak", "provider_error")]),
    ]
    table, report = feedback_table(events)
    assert table.ids == ("fb0", "fb1")
    w, s = table.arm_index("weak"), table.arm_index("strong")
    assert table.scores[0, w] == 1.0 and table.scores[1, w] == 0.0 and table.scores[1, s] == 1.0
    assert report.skipped[0][1].startswith("no query text")
    assert len(report.skipped) == 2
    with pytest.raises(ValueError, match="no usable feedback"):
        feedback_table(events[2:])


def test_train_reads_the_feedback_stream(redis_server: RedisServer, tmp_path: Path) -> None:
    table, _ = synthetic_table(n=300, seed=3)
    data = write_table_jsonl(table, tmp_path / "train.jsonl")

    async def publish() -> None:
        store = RedisStore(redis_server.url)
        for i, prompt in enumerate(table.prompts[:60]):
            hard = len(prompt) > 200
            outcomes = (
                [("weak", "low_agreement"), ("strong", "accepted")]
                if hard
                else [("weak", "accepted")]
            )
            await store.publish(event(i, prompt, outcomes))
        await store.aclose()

    asyncio.run(publish())
    url = redis_server.url
    out = tmp_path / "model"
    res = runner.invoke(app, ["train", str(data), url, "--out", str(out), "--folds", "3"])
    assert res.exit_code == 0, res.output
    assert "trained on 360 queries" in res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["sources"] == ["train.jsonl", url]


def test_urls_are_redacted_in_manifests() -> None:
    from ponder.router import redact_url

    assert redact_url("redis://:s3cret@cache.local:6380/2") == "redis://:***@cache.local:6380/2"
    assert redact_url("redis://cache.local/0") == "redis://cache.local/0"
