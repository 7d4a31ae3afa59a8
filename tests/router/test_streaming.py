"""Streamed answers from the library: live when one sample decides, escalated before any
text when the provider fails, replayed when a vote decides; the hold settled however the
stream ends."""

from __future__ import annotations

import asyncio

import pytest

from ponder.classifiers import DifficultyClassifier
from ponder.router import Completion, RoutedStream, Router
from tests.fakes.upstream import FakeUpstream
from tests.router.menus import BIG, QUESTION, SMALL, arm, make_router

LONG = "The answer is 42, and here is why it is forty-two and not anything else at all. " * 3


async def read(rs: RoutedStream) -> tuple[list[str], Completion]:
    pieces: list[str] = []
    last: Completion | None = None
    async for event in rs.events:
        if isinstance(event, Completion):
            last = event
        else:
            pieces.append(event)
    assert last is not None
    return pieces, last


def two_arms(up: FakeUpstream, clf: DifficultyClassifier, **settings: object) -> Router:
    arms = [arm(up, "small", ability=-1.0, **SMALL), arm(up, "big", ability=3.0, **BIG)]
    return make_router(clf, arms, lam=5.0, **settings)


def test_a_one_sample_arm_streams_live_and_charges_its_cost(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.script("small", [LONG])
    router = two_arms(up, clf, budget=1.0)

    async def go() -> tuple[RoutedStream, list[str], Completion, float]:
        rs = await router.astream(QUESTION)
        pieces, c = await read(rs)
        return rs, pieces, c, await router.spent()

    rs, pieces, c, spent = asyncio.run(go())
    assert rs.live and not rs.cache_hit and rs.chosen_arm == "small"
    assert len(pieces) > 1 and "".join(pieces) == LONG == c.content
    assert c.ponder.attempts[0].outcome == "accepted"
    assert spent == pytest.approx(c.ponder.cost) and spent > 0


def test_a_provider_failing_before_any_text_escalates_and_is_replayed(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.fail("small", 500)
    up.script("big", ["It is 42"])
    router = two_arms(up, clf)

    async def go() -> tuple[RoutedStream, Completion]:
        rs = await router.astream(QUESTION)
        return rs, (await read(rs))[1]

    rs, c = asyncio.run(go())
    assert not rs.live and c.content == "It is 42"
    t = c.ponder
    assert t.chosen_arm == "small" and t.answered_by == "big" and t.escalations == 1
    assert [a.outcome for a in t.attempts] == ["provider_error", "accepted"]
    assert t.cost == pytest.approx(t.attempts[1].cost)


def test_a_stream_closed_unread_gives_back_its_ceiling(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.script("small", [LONG])
    router = two_arms(up, clf, max_cost=0.05)

    async def go() -> tuple[float, float]:
        rs = await router.astream(QUESTION)
        held = await router.spent()
        await rs.aclose()
        return held, await router.spent()

    held, after = asyncio.run(go())
    assert held == pytest.approx(0.05)
    assert 0 < after < 0.001  # what the provider sent before the close, not the ceiling


def test_a_vote_is_computed_then_replayed(clf: DifficultyClassifier, up: FakeUpstream) -> None:
    up.script("small", ["It is 42", "It is 41", "It is 42"])
    router = make_router(
        clf, [arm(up, "small", samples=3, aggregation="majority", ability=0.0, **SMALL)]
    )

    async def go() -> tuple[RoutedStream, Completion]:
        rs = await router.astream(QUESTION)
        return rs, (await read(rs))[1]

    rs, c = asyncio.run(go())
    assert not rs.live and up.calls("small") == 3
    assert c.content == "It is 42" and c.ponder.attempts[0].agreement == pytest.approx(2 / 3)
