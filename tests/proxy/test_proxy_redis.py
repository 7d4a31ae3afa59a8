"""The proxy with a real redis-server: cache, budgets and memory shared by two replicas, and
what happens when Redis goes away."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from ponder.router import read_feedback
from tests.fakes.redis_server import RedisServer
from tests.fakes.upstream import FakeUpstream, count_tokens
from tests.proxy.conftest import KEY_A, KEY_B, ProxyFactory, settings

QUESTION = "What is 6 times 7?"
ASK = [{"role": "user", "content": QUESTION}]


def client(base_url: str, key: str = KEY_A) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)


def test_cache_is_shared_by_replicas_and_scoped_by_tenant(
    up: FakeUpstream, proxy: ProxyFactory, redis_server: RedisServer
) -> None:
    up.script("small", ["It is 42"])
    s = settings(up, redis_url=redis_server.url, cache_ttl=60)
    a, b = proxy(s), proxy(s)
    first = client(a.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ASK
    )
    again = client(b.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ASK
    )
    assert first.headers["x-ponder-cache"] == "miss"
    assert again.headers["x-ponder-cache"] == "hit"  # served by the other replica
    assert again.parse().choices[0].message.content == "It is 42"
    assert up.calls("small") == 1
    other = client(a.base_url, KEY_B).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ASK
    )
    assert other.headers["x-ponder-cache"] == "miss"  # tenant b never sees tenant a's answers
    no_store = client(a.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ASK, extra_headers={"x-ponder-cache": "off"}
    )
    assert no_store.headers["x-ponder-cache"] == "miss"
    assert up.calls("small") == 3
    scrape = httpx.get(f"{b.url}/metrics", headers={"authorization": f"Bearer {KEY_A}"})
    hits = [line for line in scrape.text.splitlines()]
    assert "ponder_cache_hits_total 1.0" in hits


def test_budget_holds_under_concurrency_across_replicas(
    up: FakeUpstream, proxy: ProxyFactory, redis_server: RedisServer
) -> None:
    up.script("small", ["It is 42"])
    # One request: ~0.003 USD real, 0.005 held while it runs; key a may spend 0.03.
    price = {"input_price": 1.0, "output_price": 1000.0}
    s = settings(up, redis_url=redis_server.url, max_cost=0.005)
    menu = s.load_menu()
    small = menu.arms[0].model_copy(update={**price, "output_tokens": 1})
    menu = menu.model_copy(update={"arms": (small,)})
    keys = [{"key": KEY_A, "tenant": "a", "budget": 0.03}, {"key": KEY_B, "tenant": "b"}]
    s = s.model_copy(
        update={"menu": menu, "api_keys": s.model_validate({"api_keys": keys}).api_keys}
    )
    a, b = proxy(s), proxy(s)
    one = (count_tokens(QUESTION) * 1.0 + count_tokens("It is 42") * 1000.0) / 1e6

    async def burst() -> list[int]:
        clients = [
            AsyncOpenAI(base_url=p.base_url, api_key=KEY_A, max_retries=0, timeout=30)
            for p in (a, b)
        ]

        async def one_request(i: int) -> int:
            try:
                await clients[i % 2].chat.completions.create(
                    model="ponder/auto", messages=[{"role": "user", "content": f"{QUESTION} {i}"}]
                )
            except openai.RateLimitError as exc:
                assert exc.body is not None and "budget" in str(exc.body)
                return 429
            return 200

        codes = await asyncio.gather(*(one_request(i) for i in range(40)))
        for c in clients:
            await c.close()
        return list(codes)

    codes = asyncio.run(burst())
    ok = codes.count(200)
    # 0.03 buys ten requests at their real cost; holds of 0.005 make some of the 40 wait
    # their turn and be refused, but never let spend pass the budget.
    assert 5 <= ok <= 10 and codes.count(429) == 40 - ok
    spent = ok * one
    assert spent <= 0.03 + 1e-12  # never over budget (holds are released on settle)
    assert up.calls("small") == ok
    # Tenant b has no budget of its own and is unaffected.
    client(a.base_url, KEY_B).chat.completions.create(model="ponder/auto", messages=ASK)


def test_escalation_memory_and_feedback_across_replicas(
    up: FakeUpstream, proxy: ProxyFactory, redis_server: RedisServer
) -> None:
    up.script("small", ["It is 1", "It is 2", "It is 3"])
    up.script("big", ["It is 42"])
    s = settings(up, samples=3, redis_url=redis_server.url, feedback=True)
    a, b = proxy(s), proxy(s)
    first = client(a.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ASK
    )
    assert first.headers["x-ponder-chosen"] == "small"
    assert first.headers["x-ponder-arm"] == "big"
    second = client(b.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ASK
    )
    assert second.headers["x-ponder-chosen"] == "big"  # remembered, on the other replica
    assert up.calls("small") == 3 and up.calls("big") == 2
    events = asyncio.run(read_feedback(redis_server.url))
    assert [e.chosen_arm for e in events] == ["small", "big"]
    assert [x.outcome for x in events[0].attempts] == ["low_agreement", "accepted"]
    assert all(e.tenant == "a" and e.query == "" for e in events)


def test_redis_down_cache_bypassed_budgets_fail_closed(
    up: FakeUpstream, proxy: ProxyFactory, redis_server: RedisServer
) -> None:
    up.script("small", ["It is 42"])
    free = proxy(settings(up, redis_url=redis_server.url, cache_ttl=60))
    capped = proxy(settings(up, redis_url=redis_server.url, cache_ttl=60, budget=100.0))
    lenient = proxy(settings(up, redis_url=redis_server.url, budget=100.0, budget_fail_open=True))
    client(free.base_url).chat.completions.create(model="ponder/auto", messages=ASK)
    redis_server.stop()
    # No budget to protect: keeps serving, without the cache (the upstream is called again).
    r = client(free.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ASK
    )
    assert r.headers["x-ponder-cache"] == "miss" and up.calls("small") == 2
    assert httpx.get(f"{free.url}/health").json()["status"] == "degraded"
    # A budget that cannot be checked refuses, by default, with 503...
    with pytest.raises(openai.APIStatusError) as info:
        client(capped.base_url).chat.completions.create(model="ponder/auto", messages=ASK)
    assert info.value.status_code == 503
    assert info.value.body is not None and "store_unavailable" in str(info.value.body)
    # ...unless configured to fail open.
    client(lenient.base_url).chat.completions.create(model="ponder/auto", messages=ASK)
    redis_server.start()
    for _ in range(2):
        r = client(capped.base_url).chat.completions.with_raw_response.create(
            model="ponder/auto", messages=[{"role": "user", "content": "After the restart?"}]
        )
    assert r.headers["x-ponder-cache"] == "hit"  # Redis is back: the cache works again
    assert httpx.get(f"{capped.url}/health").json()["status"] == "ok"
