"""What the shared store does when clients and Redis misbehave (issue 10, items 4, 5, 10):
streams dropped by their clients settle their budget holds, any Redis error (out of memory
included) reads as the store being away, and cache and memory keys are tenant-keyed HMACs.
Real proxy on loopback, real redis-server, real fake upstream, the official client."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import redis
from openai import OpenAI
from pydantic import SecretStr, ValidationError

from ponder.classifiers import DifficultyClassifier
from ponder.errors import ConfigError
from ponder.proxy import create_app
from ponder.proxy._auth import Authenticator
from ponder.router import Router, Settings
from tests.fakes.proxy_server import ProxyServer
from tests.fakes.redis_server import RedisServer
from tests.fakes.upstream import FakeUpstream
from tests.proxy.conftest import KEY_A, KEY_B, ProxyFactory, settings

QUESTION = "What is 6 times 7?"
ASK = [{"role": "user", "content": QUESTION}]
CEILING = 0.01
LONG_ANSWER = " ".join(["word"] * 200)  # far more than three events
DRIP = 0.001
"""Seconds between the bytes of a streamed answer: three events in about half a second,
the whole answer in over 30, so a client that leaves after three leaves mid-stream."""


def client(base_url: str, key: str = KEY_A) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)


def spent(router: Router, server: RedisServer | None, key: str | None = None) -> float:
    """A ledger's total as the store holds it (read directly from Redis when there)."""
    if server is None:
        return asyncio.run(router.spent(key))
    name = "global" if key is None else f"key:{key}"
    raw = redis.Redis.from_url(server.url).get(f"ponder:budget:{{{name}}}")
    return float(raw or 0.0)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[RedisServer | None]:
    if request.param == "memory":
        yield None
        return
    yield request.getfixturevalue("redis_server")


# --- item 4: dropped streams --------------------------------------------------------------


def test_streams_dropped_by_their_clients_settle_their_holds(
    up: FakeUpstream, clf: DifficultyClassifier, store: RedisServer | None
) -> None:
    up.script("small", [LONG_ANSWER])
    up.drip("small", DRIP)
    url = None if store is None else store.url
    # A global budget and the key's own, as a tenant would have: both holds must settle.
    keys = [{"key": KEY_A, "tenant": "a", "budget": 5 * CEILING}]
    s = settings(up, redis_url=url, max_cost=CEILING, budget=50 * CEILING, api_keys=keys)
    key_id = Authenticator(s).authenticate(f"Bearer {KEY_A}").key_id
    router = Router(s, classifier=clf)
    with ProxyServer(create_app(router=router)) as p:
        c = client(p.base_url)
        for i in range(5):
            stream = c.chat.completions.create(
                model="ponder/auto",
                messages=[{"role": "user", "content": f"{QUESTION} ({i})"}],
                stream=True,
            )
            for n, _ in enumerate(stream, 1):
                if n == 3:
                    break
            stream.close()  # the client goes away mid-answer
        # Settlement runs as the server notices each disconnect; give it a moment.
        deadline = time.monotonic() + 10
        while spent(router, store, key_id) >= CEILING and time.monotonic() < deadline:
            time.sleep(0.1)
        totals = [spent(router, store), spent(router, store, key_id)]
        # Five partial answers (a few tokens each), not five ceilings of $0.01 held.
        assert all(0 < t < CEILING for t in totals), totals
        # So the budget has room for the next request, which a held $0.05 would refuse.
        up.script("small", ["It is 42"])
        up.drip("small", 0)
        r = c.chat.completions.create(model="ponder/auto", messages=ASK)
        assert r.choices[0].message.content == "It is 42"


def test_a_stream_closed_before_its_first_event_settles_too(
    up: FakeUpstream, clf: DifficultyClassifier, redis_server: RedisServer
) -> None:
    """The library face: a live stream that is closed, read or not, gives back its hold.
    Never read, its generator never starts, so no cleanup inside it could do this."""
    up.script("small", [LONG_ANSWER])
    s = settings(up, redis_url=redis_server.url, max_cost=CEILING)
    router = Router(s, classifier=clf)

    async def main() -> list[float]:
        seen = []
        for read in (0, 2):
            rs = await router.astream(f"{QUESTION} ({read})")
            assert rs.live
            for _ in range(read):
                await anext(rs.events)
            await rs.aclose()
            await rs.aclose()  # twice is harmless
            seen.append(await router.spent())
        await router.aclose()
        return seen

    after_unread, after_read = asyncio.run(main())
    assert 0 < after_unread < after_read < CEILING  # what the provider sent, not ceilings


# --- item 5: any Redis error is the store being away ----------------------------------------


def test_redis_out_of_memory_is_503_for_budgets_service_for_others_and_degraded_health(
    up: FakeUpstream, proxy: ProxyFactory, redis_server: RedisServer
) -> None:
    up.script("small", ["It is 42"])
    common: dict[str, Any] = {"redis_url": redis_server.url, "cache_ttl": 60, "feedback": True}
    free = proxy(settings(up, **common))
    capped = proxy(settings(up, budget=100.0, **common))
    client(free.base_url).chat.completions.create(model="ponder/auto", messages=ASK)
    admin = redis.Redis.from_url(redis_server.url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)  # below what Redis already uses: every write is OOM
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        admin.set("probe", "1")
    try:
        # No budget to protect: served (the cache still reads; writes are skipped).
        for question in (QUESTION, "And 7 times 8?"):
            r = client(free.base_url).chat.completions.with_raw_response.create(
                model="ponder/auto", messages=[{"role": "user", "content": question}]
            )
            assert r.parse().choices[0].message.content == "It is 42"
        for stream in (False, True):
            # A budget it cannot update is the documented 503, not a 500. (A question not
            # cached: a cache hit costs nothing, and reads still work.)
            with pytest.raises(openai.APIStatusError) as info:
                client(capped.base_url).chat.completions.create(
                    model="ponder/auto",
                    messages=[{"role": "user", "content": f"What is 8 times 9? ({stream})"}],
                    stream=stream,
                )
            assert info.value.status_code == 503, info.value.response.text
            error = info.value.response.json()["error"]
            assert error["code"] == "store_unavailable" and error["type"] == "service_unavailable"
        for p in (free, capped):
            health = httpx.get(f"{p.url}/health").json()
            assert health["status"] == "degraded" and health["redis"] is False
    finally:
        admin.config_set("maxmemory", 0)
    # Memory back: budgets and health recover without a restart.
    client(capped.base_url).chat.completions.create(model="ponder/auto", messages=ASK)
    assert httpx.get(f"{capped.url}/health").json()["status"] == "ok"


# --- item 10: tenant-keyed HMAC digests -----------------------------------------------------


def _digests(server: RedisServer, kind: str) -> dict[str, set[str]]:
    """The digests of ``kind`` (cache, memory) keys in Redis, by tenant."""
    out: dict[str, set[str]] = {}
    for key in redis.Redis.from_url(server.url).scan_iter(f"ponder:{kind}:*"):
        found = re.fullmatch(rf"ponder:{kind}:\{{(.+)\}}:([0-9a-f]{{64}})", key.decode())
        assert found, key
        out.setdefault(found.group(1), set()).add(found.group(2))
    return out


def test_cache_and_memory_keys_are_hmacs_per_tenant_not_prompt_hashes(
    up: FakeUpstream, proxy: ProxyFactory, redis_server: RedisServer
) -> None:
    up.script("small", ["It is 1", "It is 2", "It is 3"])
    up.script("big", ["It is 42"])
    s = settings(up, samples=3, redis_url=redis_server.url, cache_ttl=60)
    p = proxy(s)
    for key in (KEY_A, KEY_B):  # the same prompt from two tenants, both escalated
        r = client(p.base_url, key).chat.completions.with_raw_response.create(
            model="ponder/auto", messages=ASK
        )
        assert r.headers["x-ponder-arm"] == "big"
    cache, memory = _digests(redis_server, "cache"), _digests(redis_server, "memory")
    assert set(cache) == set(memory) == {"a", "b"}
    # One prompt, two tenants: nothing in common, so no tenant can tell the other asked it.
    assert not cache["a"] & cache["b"] and not memory["a"] & memory["b"]
    # And a guessed prompt cannot be confirmed by hashing it: the digest needs the secret.
    guess = hashlib.sha256(QUESTION.lower().encode()).hexdigest()
    assert guess not in memory["a"] | memory["b"]
    # A replica with the same secret shares them; one with another secret shares nothing.
    same = proxy(s)
    r = client(same.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ASK
    )
    assert r.headers["x-ponder-cache"] == "hit"
    other = proxy(s.model_copy(update={"digest_secret": SecretStr("another-secret-32-chars")}))
    r = client(other.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ASK
    )
    assert r.headers["x-ponder-cache"] == "miss" and r.headers["x-ponder-chosen"] == "small"


def test_a_shared_redis_needs_a_digest_secret(
    up: FakeUpstream, clf: DifficultyClassifier, redis_server: RedisServer
) -> None:
    s = settings(up, redis_url=redis_server.url).model_copy(update={"digest_secret": None})
    with pytest.raises(ConfigError, match="digest_secret"):
        Router(s, classifier=clf)
    with pytest.raises(ValidationError, match="digest_secret"):
        Settings(digest_secret="short")
    # In-process stores need none: a secret drawn for the process keys them.
    up.script("small", ["It is 42"])
    memory = settings(up, cache_ttl=60).model_copy(update={"digest_secret": None})
    router = Router(memory, classifier=clf)
    for _ in range(2):
        c = router.complete(ASK)
    assert c.ponder.cache_hit and up.calls("small") == 1
