from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from ponder import StoreUnavailable
from ponder.errors import ConfigError
from ponder.feedback import AttemptRecord, Feedback, FeedbackEvent
from ponder.router import (
    Cache,
    Ledger,
    MemoryLedger,
    RedisStore,
    read_feedback,
)
from ponder.router import _redis as redis_module
from tests.fakes.redis_server import RedisServer, free_port

BUDGET = "ponder:budget:{global}"


def event(i: int, tenant: str = "acme") -> FeedbackEvent:
    return FeedbackEvent(
        id=f"chatcmpl-{i}",
        ts=1_700_000_000.0 + i,
        tenant=tenant,
        query=f"what is {i} + {i}?",
        chosen_arm="small",
        answered_by="large" if i % 2 else "small",
        attempts=(
            AttemptRecord(
                arm="small", outcome="low_agreement", samples=3, agreement=0.34, cost=1e-5
            ),
            AttemptRecord(arm="large", outcome="accepted", samples=1, agreement=1.0, cost=2e-4),
        ),
        cost=2.1e-4,
        p_success={"small": 0.41, "large": 0.93},
    )


def run(coro_fn: Callable[[RedisStore], Awaitable[Any]], url: str, **kwargs: Any) -> Any:
    """Run ``coro_fn(store)`` on a fresh store in a fresh event loop, closing the store."""

    async def main() -> Any:
        async with RedisStore(url, **kwargs) as store:
            return await coro_fn(store)

    return asyncio.run(main())


def raw(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url)


# --- construction -------------------------------------------------------------------------


def test_constructing_does_not_connect_and_satisfies_the_protocols() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    assert isinstance(store, Ledger)
    assert isinstance(store, Cache)
    assert isinstance(store, Feedback)


def test_a_url_redis_cannot_use_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        RedisStore("http://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in str(info.value)


# --- ledger -------------------------------------------------------------------------------


def test_adjust_adds_refuses_over_the_limit_and_always_applies_refunds(
    redis_server: RedisServer,
) -> None:
    async def steps(store: RedisStore) -> list[float | None]:
        return [
            await store.adjust(BUDGET, 4.0, 10.0),
            await store.adjust(BUDGET, 6.0, 10.0),  # exactly at the limit: allowed
            await store.adjust(BUDGET, 0.5, 10.0),  # over: refused, total unchanged
            await store.adjust(BUDGET, 0.0, None),
            await store.adjust(BUDGET, -7.5, 1.0),  # refunds apply even over a limit
            await store.adjust(BUDGET, -5.0, None),  # and may go below zero
            await store.adjust(BUDGET, 100.0, None),  # no limit
        ]

    got = run(steps, redis_server.url)
    assert got == [4.0, 10.0, None, 10.0, 2.5, -2.5, 97.5]
    assert all(type(v) is float for v in got if v is not None)
    assert float(raw(redis_server).get(BUDGET) or 0) == 97.5


def test_adjust_matches_the_memory_ledger(redis_server: RedisServer) -> None:
    script = [(0.3, 1.0), (0.3, 1.0), (0.3, 1.0), (0.3, 1.0), (-0.25, 1.0), (0.2, 1.0),
              (1e-7, None), (0.1, float("inf")), (0.0, 0.0)]  # fmt: skip

    async def replay(ledger: Ledger) -> list[float | None]:
        return [await ledger.adjust("ponder:budget:{k}", d, lim) for d, lim in script]

    expected = asyncio.run(replay(MemoryLedger()))
    got = run(replay, redis_server.url)
    assert [v is None for v in got] == [v is None for v in expected]
    assert got == pytest.approx(expected, abs=1e-12)


def test_reading_a_total_does_not_create_the_key(redis_server: RedisServer) -> None:
    assert run(lambda s: s.adjust("ponder:budget:{nobody}", 0.0, None), redis_server.url) == 0.0
    assert raw(redis_server).exists("ponder:budget:{nobody}") == 0


def test_adjust_rejects_non_finite_deltas(redis_server: RedisServer) -> None:
    with pytest.raises(ValueError, match="finite"):
        run(lambda s: s.adjust(BUDGET, float("nan"), None), redis_server.url)


def test_adjust_is_atomic_across_two_replicas(redis_server: RedisServer) -> None:
    """200 concurrent reservations of 1.0 against a limit of 50 from two stores (two proxy
    replicas, two connection pools): a read-then-write ledger would let more through."""

    async def main() -> tuple[list[float | None], float | None]:
        async with RedisStore(redis_server.url) as a, RedisStore(redis_server.url) as b:
            results = await asyncio.gather(
                *((a if i % 2 else b).adjust(BUDGET, 1.0, 50.0) for i in range(200))
            )
            return list(results), await a.adjust(BUDGET, 0.0, None)

    results, total = asyncio.run(main())
    accepted = [r for r in results if r is not None]
    assert len(accepted) == 50
    assert sorted(accepted) == [float(n) for n in range(1, 51)]  # each saw a distinct total
    assert total == 50.0


# --- cache --------------------------------------------------------------------------------


def test_cache_set_get_and_expiry(redis_server: RedisServer) -> None:
    key = "ponder:cache:{acme}:" + "ab" * 32

    async def main(store: RedisStore) -> tuple[bytes | None, bytes | None, bytes | None]:
        missing = await store.get(key)
        await store.set(key, b"\x00answer\xff", 0.2)
        hit = await store.get(key)
        await asyncio.sleep(0.35)
        return missing, hit, await store.get(key)

    missing, hit, expired = run(main, redis_server.url)
    assert missing is None
    assert hit == b"\x00answer\xff"
    assert expired is None


def test_cache_sets_a_millisecond_ttl(redis_server: RedisServer) -> None:
    run(lambda s: s.set("ponder:cache:{t}:k", b"v", 30.0), redis_server.url)
    assert 29_000 < raw(redis_server).pttl("ponder:cache:{t}:k") <= 30_000


@pytest.mark.parametrize("ttl", [0.0, -1.0, float("nan")])
def test_cache_does_not_store_without_a_positive_ttl(redis_server: RedisServer, ttl: float) -> None:
    async def main(store: RedisStore) -> bytes | None:
        await store.set("ponder:cache:{t}:k", b"v", ttl)
        return await store.get("ponder:cache:{t}:k")

    assert run(main, redis_server.url) is None
    assert raw(redis_server).dbsize() == 0


def test_cache_keys_of_different_tenants_are_distinct(redis_server: RedisServer) -> None:
    digest = "cd" * 32

    async def main(store: RedisStore) -> tuple[bytes | None, bytes | None, bytes | None]:
        await store.set(f"ponder:cache:{{acme}}:{digest}", b"acme's", 60)
        await store.set(f"ponder:cache:{{globex}}:{digest}", b"globex's", 60)
        return (
            await store.get(f"ponder:cache:{{acme}}:{digest}"),
            await store.get(f"ponder:cache:{{globex}}:{digest}"),
            await store.get(f"ponder:cache:{{initech}}:{digest}"),
        )

    assert run(main, redis_server.url) == (b"acme's", b"globex's", None)


# --- feedback -----------------------------------------------------------------------------


def test_feedback_round_trips_in_order(redis_server: RedisServer) -> None:
    events = [event(i) for i in range(3)]

    async def main(store: RedisStore) -> None:
        for e in events:
            await store.publish(e)

    run(main, redis_server.url, feedback_stream="ponder:feedback:test")
    got = asyncio.run(read_feedback(redis_server.url, stream="ponder:feedback:test"))
    assert got == events
    newest = asyncio.run(read_feedback(redis_server.url, 2, stream="ponder:feedback:test"))
    assert newest == events[1:]
    assert asyncio.run(read_feedback(redis_server.url)) == []  # the default stream is empty


def test_feedback_reads_a_long_stream_in_pages(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_module, "_READ_BATCH", 2)
    events = [event(i) for i in range(7)]

    async def main(store: RedisStore) -> list[FeedbackEvent]:
        for e in events:
            await store.publish(e)
        return await store.read_feedback()

    assert run(main, redis_server.url) == events


def test_feedback_stream_is_trimmed_to_about_maxlen(redis_server: RedisServer) -> None:
    """Trimming is approximate (``MAXLEN ~``), as in production: Redis drops whole radix-tree
    nodes (100 entries by default), so the length stays between maxlen and maxlen plus a
    node. 250 events against maxlen 10 must therefore trim, and must keep the newest."""
    events = [event(i) for i in range(250)]

    async def main(store: RedisStore) -> list[FeedbackEvent]:
        for e in events:
            await store.publish(e)
        return await store.read_feedback()

    kept = run(main, redis_server.url, feedback_maxlen=10)
    assert 10 <= len(kept) <= 110
    assert kept == events[-len(kept) :]


# --- unavailability -----------------------------------------------------------------------


def _operations(store: RedisStore) -> dict[str, Callable[[], Awaitable[Any]]]:
    return {
        "ledger adjust": lambda: store.adjust(BUDGET, 1.0, 10.0),
        "cache get": lambda: store.get("ponder:cache:{t}:k"),
        "cache set": lambda: store.set("ponder:cache:{t}:k", b"v", 60),
        "feedback publish": lambda: store.publish(event(1)),
        "feedback read": lambda: store.read_feedback(),
    }


async def _all_unavailable(store: RedisStore) -> None:
    for op, call in _operations(store).items():
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=op):
            await call()
        assert time.monotonic() - started < 2.0, op
    started = time.monotonic()
    assert await store.ping() is False
    assert time.monotonic() - started < 2.0


def test_every_operation_fails_fast_when_redis_stops_and_recovers_when_it_returns(
    redis_server: RedisServer,
) -> None:
    async def main() -> None:
        async with RedisStore(redis_server.url, socket_timeout=0.5) as store:
            assert await store.adjust(BUDGET, 3.0, None) == 3.0  # a pooled connection now
            redis_server.stop()
            await _all_unavailable(store)
            redis_server.start()
            assert await store.ping() is True
            # persistence is off: the restarted server is empty, and the store works again
            assert await store.adjust(BUDGET, 1.0, 10.0) == 1.0
            await store.set("ponder:cache:{t}:k", b"v", 60)
            assert await store.get("ponder:cache:{t}:k") == b"v"
            await store.publish(event(1))
            assert await store.read_feedback() == [event(1)]

    asyncio.run(main())


def test_a_restart_between_requests_does_not_fail_the_next_one(
    redis_server: RedisServer,
) -> None:
    """The pool still holds a socket to the old server; the next call must not be the one
    that finds out (the store does not retry, so sending on that socket would fail it).
    redis-py drops pooled sockets whose end of stream the event loop has seen, so the loop
    runs for a moment while Redis is down, as a serving proxy's loop would."""

    async def main() -> float | None:
        async with RedisStore(redis_server.url) as store:
            await store.adjust(BUDGET, 3.0, None)
            redis_server.stop()
            await asyncio.sleep(0.1)
            redis_server.start()
            return await store.adjust(BUDGET, 1.0, None)

    assert asyncio.run(main()) == 1.0


def test_a_hung_redis_times_out_as_unavailable(redis_server: RedisServer) -> None:
    async def main() -> None:
        async with RedisStore(redis_server.url, socket_timeout=0.5) as store:
            assert await store.ping() is True
            redis_server.freeze()
            try:
                await _all_unavailable(store)
            finally:
                redis_server.thaw()
            assert await store.ping() is True

    asyncio.run(main())


def test_any_redis_error_is_unavailable_out_of_memory_included(
    redis_server: RedisServer,
) -> None:
    """A server out of memory under ``noeviction`` answers PING but refuses every write;
    the store must say "unavailable" (what the router handles), not let redis-py's
    ``OutOfMemoryError`` through to become a 500."""
    admin = raw(redis_server)
    admin.set("ponder:cache:{t}:k", b"v")
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)

    async def main() -> None:
        async with RedisStore(redis_server.url) as store:
            for op in ("ledger adjust", "cache set", "feedback publish"):
                with pytest.raises(StoreUnavailable, match=f"{op}.*maxmemory"):
                    await _operations(store)[op]()
            assert await store.get("ponder:cache:{t}:k") == b"v"  # reads still work
            assert await store.ping() is False  # so /health says degraded
            with pytest.raises(StoreUnavailable, match="write check"):
                await store.check()
            admin.config_set("maxmemory", 0)
            assert await store.ping() is True
            await store.check()

    asyncio.run(main())


def test_read_feedback_raises_store_unavailable(redis_server: RedisServer) -> None:
    redis_server.stop()
    with pytest.raises(StoreUnavailable, match="feedback read"):
        asyncio.run(read_feedback(redis_server.url))


def test_the_password_never_appears_in_the_error(redis_server: RedisServer) -> None:
    url = f"redis://:secretpw@127.0.0.1:{redis_server.port}/0"
    # against a server with no password set: AUTH fails
    with pytest.raises(StoreUnavailable) as refused:
        run(lambda s: s.get("k"), url)
    redis_server.stop()
    with pytest.raises(StoreUnavailable) as down:
        run(lambda s: s.adjust(BUDGET, 1.0, None), url)
    for info in (refused, down):
        assert "secretpw" not in str(info.value)
        assert "\n" not in str(info.value)
        assert f"127.0.0.1:{redis_server.port}" in str(info.value)


# --- event loops --------------------------------------------------------------------------


def test_one_store_serves_successive_event_loops(redis_server: RedisServer) -> None:
    """``Router.complete`` runs each call in a new ``asyncio.run``; a redis-py pool used from
    a second loop raises ``RuntimeError: Event loop is closed``."""
    store = RedisStore(redis_server.url)
    assert asyncio.run(store.adjust(BUDGET, 1.0, None)) == 1.0
    assert asyncio.run(store.adjust(BUDGET, 1.0, None)) == 2.0
    assert asyncio.run(store.ping()) is True
    asyncio.run(store.aclose())
