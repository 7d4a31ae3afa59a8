"""Issue 21: a proxy request whose client goes away keeps no budget hold.

Two ways a request ends early on the server: the client disconnects (through a real
uvicorn, while the provider is slow to its first chunk, or mid-answer), and the server
cancels the request's task, which may land at any of its await points. The second is
driven in-process: the ASGI app is called as uvicorn calls it and its task is cancelled at
each await point in turn (:mod:`tests.cancel_points`). After each, the global and the
key's ledgers hold nothing: what is charged is at most what the provider sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from ponder.classifiers import DifficultyClassifier
from ponder.proxy import create_app
from ponder.proxy._auth import Authenticator
from ponder.router import Router, Settings
from tests.cancel_points import Run, sweep
from tests.fakes.proxy_server import ProxyServer
from tests.fakes.redis_server import RedisServer
from tests.fakes.upstream import FakeUpstream
from tests.proxy.conftest import KEY_A, settings

CEILING = 0.05
QUESTION = "What is 6 times 7?"
ANSWER = "The answer is 42, because six sevens are forty-two. " * 4


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[RedisServer | None]:
    if request.param == "memory":
        yield None
        return
    yield request.getfixturevalue("redis_server")


def proxy_settings(up: FakeUpstream, store: RedisServer | None) -> Settings:
    keys = [{"key": KEY_A, "tenant": "a", "budget": 100 * CEILING}]
    url = None if store is None else store.url
    return settings(up, redis_url=url, max_cost=CEILING, budget=200 * CEILING, api_keys=keys)


def ledger(router: Router, store: RedisServer | None, key: str | None = None) -> float:
    """A ledger's total as the store holds it (read directly from Redis, not through the
    router's client, which belongs to the server's event loop)."""
    if store is None:
        return asyncio.run(router.spent(key))
    name = "global" if key is None else f"key:{key}"
    raw = redis.Redis.from_url(store.url).get(f"ponder:budget:{{{name}}}")
    return float(raw or 0.0)


def body(stream: bool) -> bytes:
    return json.dumps(
        {
            "model": "ponder/auto",
            "stream": stream,
            "messages": [{"role": "user", "content": QUESTION}],
            "ponder": {"cache": False},
        }
    ).encode()


async def call_app(app: Any, payload: bytes) -> list[dict[str, Any]]:
    """One request through the ASGI app, as uvicorn makes it; the messages it sent."""
    sent: list[dict[str, Any]] = []
    given = False
    stay = asyncio.Event()  # the client never leaves on its own here

    async def receive() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await stay.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"authorization", f"Bearer {KEY_A}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
def test_a_request_cancelled_at_every_await_point_keeps_no_hold(
    up: FakeUpstream, clf: DifficultyClassifier, store: RedisServer | None, stream: bool
) -> None:
    up.script("small", [ANSWER])
    s = proxy_settings(up, store)
    key_id = Authenticator(s).authenticate(f"Bearer {KEY_A}").key_id
    router = Router(s, classifier=clf)
    app = create_app(router=router, own_router=True)
    last = [(0.0, 0.0)]
    finished: list[list[dict[str, Any]]] = []

    async def scenario() -> None:
        finished.append(await call_app(app, body(stream)))

    async def measure() -> tuple[float, float]:
        await router.budgets.drain()
        now = await router.spent(), await router.spent(key_id)
        before, last[0] = last[0], now
        return now[0] - before[0], now[1] - before[1]

    async def go() -> list[Run]:
        async with app.router.lifespan_context(app):
            # Starlette's body reading goes through 3.11's wait_for, which may swallow a
            # cancellation (the run then ends normally, and is checked all the same).
            return await sweep(scenario, measure, strict=False)

    runs = asyncio.run(go())
    print(f"{len(runs) - 1} await points, {sum(r.cancelled for r in runs)} cancelled")
    # The run left alone answered 200 with the whole answer, charged at its cost.
    sent = finished[-1]
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    text = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    assert ("[DONE]" in text) if stream else ("forty-two" in text)
    full = runs[-1].measured[0]
    assert full > 0 and runs[-1].point is None
    assert sum(r.cancelled for r in runs) >= 3
    for r in runs:
        spent, by_key = r.measured
        assert spent == pytest.approx(by_key, abs=1e-12), r
        # Nothing held: at most the partial answer, priced as the ceiling prices tokens.
        assert -1e-12 <= spent < 0.001, r
    assert any(r.measured[0] == pytest.approx(0, abs=1e-12) for r in runs)


def wait_for_ledgers(
    router: Router, store: RedisServer | None, key_id: str, below: float
) -> tuple[float, float]:
    """The ledgers once the server has finished with the dropped request (it may run on
    until the provider answers)."""
    deadline = time.monotonic() + 15
    while True:
        totals = ledger(router, store), ledger(router, store, key_id)
        if max(totals) < below or time.monotonic() > deadline:
            return totals
        time.sleep(0.05)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
def test_a_client_gone_while_the_provider_is_slow_leaves_no_hold(
    up: FakeUpstream, clf: DifficultyClassifier, store: RedisServer | None, stream: bool
) -> None:
    """The client gives up while the provider is still on its way to the first chunk."""
    up.script("small", [ANSWER])
    up.faults("small", rate=1.0, kinds=["timeout"], delay=1.0)
    s = proxy_settings(up, store)
    key_id = Authenticator(s).authenticate(f"Bearer {KEY_A}").key_id
    router = Router(s, classifier=clf)
    with ProxyServer(create_app(router=router)) as p:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{p.base_url}/chat/completions",
                content=body(stream),
                headers={"authorization": f"Bearer {KEY_A}", "content-type": "application/json"},
                timeout=httpx.Timeout(10, read=0.3),
            )
        held = wait_for_ledgers(router, store, key_id, CEILING / 10)
    assert all(0 <= t < 0.001 for t in held), held
    assert held[0] == pytest.approx(held[1])
    assert up.calls("small") == 1 and up.calls("big") == 0
