"""Issue 21: a request cancelled anywhere gives its budget hold back.

A caller's ``task.cancel()`` (a timeout around the call, a server whose client left) may
land at any await point: while the cache is read, the prompt counted, the hold taken on a
Redis ledger, the provider's first chunk awaited, mid-stream, or while the hold is settled.
Each test cancels a real request at every one of its await points in turn (see
:mod:`tests.cancel_points`) and reads the global and the key's ledgers after each: nothing
stays held, and what is charged is at most what the provider was paid for.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from ponder.classifiers import DifficultyClassifier
from ponder.router import Completion, Router
from ponder.router._ceiling import prompt_tokens, text_tokens
from tests.cancel_points import Run, sweep
from tests.fakes.redis_server import RedisServer
from tests.fakes.upstream import FakeUpstream
from tests.router.menus import BIG, QUESTION, SMALL, arm, make_router

CEILING = 0.05
ANSWER = "The answer is 42, because six sevens are forty-two. " * 4
KEY = "team"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Settings for the ledger: in-process, or a real redis-server."""
    if request.param == "memory":
        yield {}
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    yield {"redis_url": server.url, "digest_secret": "a-test-digest-secret-of-some-length"}


def router_for(clf: DifficultyClassifier, up: FakeUpstream, **settings: Any) -> Router:
    arms = [arm(up, "small", ability=-1.0, **SMALL), arm(up, "big", ability=3.0, **BIG)]
    return make_router(clf, arms, lam=5.0, max_cost=CEILING, budget=10.0, **settings)


async def ledgers(router: Router) -> tuple[float, float]:
    """The global and the key's ledgers, once every detached settlement has landed."""
    await router.budgets.drain()
    return await router.spent(), await router.spent(KEY)


def request_args() -> dict[str, Any]:
    return {"budget_key": KEY, "budget_limit": 5.0, "cache": False}


def check(runs: list[Run], at_most: float, points: int) -> None:
    """After every run both ledgers moved together, by at least nothing and at most
    ``at_most`` (never the ceiling a leaked hold leaves); the request had at least
    ``points`` await points, and was cancelled at each."""
    print(f"{len(runs) - 1} await points")
    assert runs[-1].point is None and len(runs) - 1 >= points
    cancelled = [r for r in runs if r.point is not None]
    assert [r.point for r in cancelled] == list(range(1, len(runs)))
    for r in runs:
        spent, by_key = r.measured
        assert spent == pytest.approx(by_key, abs=1e-12), r
        assert -1e-12 <= spent <= at_most + 1e-12, r
    assert any(r.measured[0] == pytest.approx(0, abs=1e-12) for r in cancelled)


def deltas(router: Router) -> Callable[[], Awaitable[tuple[float, float]]]:
    """What each run added to the global and the key's ledgers."""
    last = [(0.0, 0.0)]

    async def measure() -> tuple[float, float]:
        now = await ledgers(router)
        before, last[0] = last[0], now
        return now[0] - before[0], now[1] - before[1]

    return measure


def test_astream_cancelled_at_every_await_point_keeps_no_hold(
    clf: DifficultyClassifier, up: FakeUpstream, store: dict[str, Any]
) -> None:
    up.script("small", [ANSWER])
    router = router_for(clf, up, **store)
    completions: list[Completion] = []

    async def scenario() -> None:
        rs = await router.astream(QUESTION, **request_args())
        try:
            async for event in rs.events:
                if isinstance(event, Completion):
                    completions.append(event)
        finally:
            await rs.aclose()

    async def go() -> list[Run]:
        try:
            return await sweep(scenario, deltas(router))
        finally:
            await router.aclose()

    runs = asyncio.run(go())
    # The uncancelled run streamed live and was charged its cost; a cancelled one at most
    # what the provider had sent, priced as the ceiling prices tokens (bytes / 2 here).
    assert len(completions) == 1 and completions[0].ponder.attempts[0].outcome == "accepted"
    cost = completions[0].ponder.cost
    assert runs[-1].measured[0] == pytest.approx(cost)
    check(runs, 0.001, 5)
    assert up.calls("big") == 0


def test_acomplete_cancelled_at_every_await_point_keeps_no_hold(
    clf: DifficultyClassifier, up: FakeUpstream, store: dict[str, Any]
) -> None:
    up.script("small", [ANSWER])
    router = router_for(clf, up, **store)

    async def scenario() -> Completion:
        return await router.acomplete(QUESTION, **request_args())

    async def go() -> tuple[list[Run], Completion]:
        try:
            runs = await sweep(scenario, deltas(router))
            return runs, await router.acomplete(QUESTION, **request_args())
        finally:
            await router.aclose()

    runs, c = asyncio.run(go())
    cost = c.ponder.cost
    assert cost > 0 and runs[-1].measured[0] == pytest.approx(cost)
    check(runs, cost, 2)
    # A cancelled request is charged nothing or, cancelled after its answer came, its cost.
    for r in runs:
        assert r.measured[0] == pytest.approx(0, abs=1e-12) or r.measured[0] == pytest.approx(cost)


def test_a_stream_cancelled_while_the_provider_is_slow_gives_back_its_hold(
    clf: DifficultyClassifier, up: FakeUpstream, store: dict[str, Any]
) -> None:
    """The issue's case: the provider takes 3 s to its first chunk, and the caller gives
    up after 0.3 s. The hold used to stay at the whole ceiling on both ledgers for good."""
    up.script("small", [ANSWER])
    up.faults("small", rate=1.0, kinds=["timeout"], delay=3.0)
    router = router_for(clf, up, **store)

    async def go() -> tuple[float, float, float, float]:
        task = asyncio.create_task(router.astream(QUESTION, **request_args()))
        await asyncio.sleep(0.3)
        held = await router.spent(), await router.spent(KEY)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        after = await ledgers(router)
        await router.aclose()
        return *held, *after

    held, held_key, after, after_key = asyncio.run(go())
    assert held == pytest.approx(CEILING) and held_key == pytest.approx(CEILING)
    assert after == 0 and after_key == 0
    assert up.calls("small") == 1


def test_a_dropped_stream_is_priced_by_the_ceilings_token_counts(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    """One estimator: a stream dropped after two pieces is charged its prompt as the
    ceiling counted it (two bytes of JSON a token for a model litellm does not know) and
    the text sent by the same rule, not four characters a token of the contents."""
    up.script("small", [ANSWER])
    router = router_for(clf, up)
    small = next(e for e in router.route(QUESTION).arms if e.arm == "small")
    assert small.prompt_tokens == prompt_tokens(
        "openai/small", [{"role": "user", "content": QUESTION}]
    )

    async def go() -> tuple[str, float]:
        rs = await router.astream(QUESTION, **request_args())
        read = [await anext(rs.events), await anext(rs.events)]
        await rs.aclose()
        spent = await router.spent()
        await router.aclose()
        return "".join(str(p) for p in read), spent

    sent, spent = asyncio.run(go())
    answer = text_tokens("openai/small", sent)
    assert answer == math.ceil(len(sent.encode()) / 2)
    price = SMALL["input_price"] * small.prompt_tokens + SMALL["output_price"] * answer
    assert spent == pytest.approx(price / 1e6)
