"""The Redis store on a Redis Cluster and behind Sentinel (issue 22, item 1): chosen by
the URL, every operation on keys of any slot, the start-up write check through any node,
and service again within seconds after a master is killed and its replica promoted."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from ponder.errors import ConfigError, StoreUnavailable
from ponder.router import RedisStore, redact_url
from ponder.router._redis import REPLICA_RETRY
from ponder.router._redis_clients import parse_target
from tests.fakes.redis_server import RedisCluster, RedisSentinels, wait_replicated
from tests.router.test_redis import event

GLOBAL = "ponder:budget:{global}"
PROBE = "ponder:probe:{health}"


def test_the_url_says_which_redis() -> None:
    t = parse_target("rediss+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2")
    assert (t.kind, t.hosts, t.username, t.password, t.tls) == (
        "cluster", (("10.0.0.1", 7000), ("10.0.0.2", 6379)), "u", "p@ss", True
    )
    s = parse_target("redis+sentinel://:pw@s1:26380,s2/my-service/2")
    assert (s.kind, s.hosts, s.password, s.service, s.db, s.tls) == (
        "sentinel", (("s1", 26380), ("s2", 26379)), "pw", "my-service", 2, False
    )
    assert parse_target("redis://localhost:6379/0").kind == "single"
    assert RedisStore("redis+cluster://127.0.0.1:1").kind == "cluster"  # no connection yet
    assert RedisStore("redis+sentinel://127.0.0.1:1/m").kind == "sentinel"
    assert redact_url("redis+sentinel://:pw@s1:1,s2:2/m") == "redis+sentinel://:***@s1:1,s2:2/m"
    # Settlements wait for a replica where there is one to wait for.
    assert RedisStore("redis+cluster://127.0.0.1:1", settle_wait=0.2).settle_wait == 0.2
    assert RedisStore("redis+sentinel://127.0.0.1:1/m").settle_wait == 0.1
    assert RedisStore("redis://127.0.0.1:1/0", settle_wait=0.2).settle_wait == 0
    with pytest.raises(ConfigError, match="shorter than the socket timeout"):
        RedisStore("redis+cluster://127.0.0.1:1", settle_wait=0.4)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://:hunter2@127.0.0.1:26379", "names no service"),
        ("redis+sentinel://127.0.0.1:26379/m/x", "must be a number"),
        ("redis+cluster://127.0.0.1:7000/3", "only database 0"),
        ("redis+cluster://:hunter2@", "names no host"),
        ("redis+cluster://127.0.0.1:port", "invalid host"),
    ],
)
def test_a_url_that_cannot_name_a_cluster_or_sentinels_is_a_config_error(
    url: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        RedisStore(url)
    assert "hunter2" not in str(info.value)


async def _every_operation(store: RedisStore) -> None:
    """Budgets, cache and feedback on keys spread over every master's slots."""
    for i in range(12):
        key = f"ponder:budget:{{key:{i}}}"
        assert await store.hold(key, "h", 2.0, 3.0, 60) == 2.0
        assert await store.settle(key, "h", 0.5) == 0.5
        assert await store.adjust(key, 1.0, 3.0) == 1.5
        cache = f"ponder:cache:{{tenant{i}}}:" + "ab" * 32
        await store.set(cache, f"answer {i}".encode(), 60)
        assert await store.get(cache) == f"answer {i}".encode()
    await store.publish(event(1))
    assert await store.read_feedback() == [event(1)]


def test_every_operation_works_on_a_cluster_through_any_node(redis_cluster: RedisCluster) -> None:
    """Through a node that does not own the health probe's slot, the write check follows
    the redirect (a plain client reported the MOVED reply as an outage)."""
    owner = redis_cluster.master_of(PROBE)
    other = next(n for n in redis_cluster.nodes if n is not owner)
    plain = RedisStore(f"redis://127.0.0.1:{other.port}/0")
    with pytest.raises(StoreUnavailable, match=r"redis\+cluster://"):
        asyncio.run(plain.check())

    async def main() -> None:
        async with RedisStore(f"redis+cluster://127.0.0.1:{other.port}") as store:
            await store.check()
            assert await store.ping() is True
            await _every_operation(store)

    asyncio.run(main())


def test_every_operation_works_behind_sentinel(redis_sentinels: RedisSentinels) -> None:
    async def main() -> None:
        async with RedisStore(redis_sentinels.url) as store:
            await store.check()
            await _every_operation(store)

    asyncio.run(main())


async def _until_served(store: RedisStore, limit: float) -> tuple[float, int]:
    """Seconds until a budget hold is taken again, and how many were refused meanwhile."""
    started, refused = time.monotonic(), 0
    while time.monotonic() - started < limit:
        try:
            await store.hold(GLOBAL, f"after-{refused}", 0.001, 100.0, 60)
            return time.monotonic() - started, refused
        except StoreUnavailable:
            refused += 1
            await asyncio.sleep(0.1)
    return math_inf(), refused


def math_inf() -> float:
    return float("inf")


def _failover(store_url: str, synced: Any, kill: Any) -> tuple[float, float, float]:
    async def main() -> tuple[float, float, float]:
        async with RedisStore(store_url) as store:
            for i in range(20):  # acknowledged before the kill; replicated since
                await store.hold(GLOBAL, f"h{i}", 0.01, 100.0, 60)
                await store.settle(GLOBAL, f"h{i}", 0.005)
            before = await store.current(GLOBAL)
            synced()  # a kill before the replica has every write may lose some
            kill()
            took, _ = await _until_served(store, 15.0)
            return before, took, await store.current(GLOBAL)

    return asyncio.run(main())


def test_a_cluster_serves_budgets_again_within_seconds_of_losing_a_master(
    redis_cluster: RedisCluster,
) -> None:
    before, took, after = _failover(
        redis_cluster.url,
        lambda: wait_replicated(redis_cluster.master_of(GLOBAL).port),
        lambda: redis_cluster.kill_master_of(GLOBAL),
    )
    assert took < 10.0
    assert after == pytest.approx(before + 0.001)  # the replica had every acknowledged write


def test_sentinel_serves_budgets_again_within_seconds_of_losing_the_master(
    redis_sentinels: RedisSentinels,
) -> None:
    before, took, after = _failover(
        redis_sentinels.url,
        lambda: wait_replicated(redis_sentinels.master.port),
        redis_sentinels.kill_master,
    )
    assert took < 10.0
    assert after == pytest.approx(before + 0.001)


def _replicated(request: pytest.FixtureRequest, kind: str) -> tuple[str, Any, Any, Any]:
    """The store URL, and how to find the replica of the global ledger's master, kill that
    master and wait for the failover, on a cluster or behind Sentinel; once the replica is
    in sync (a fresh one may still be loading its first copy, and not acknowledge yet)."""
    if kind == "cluster":
        c: RedisCluster = request.getfixturevalue("redis_cluster")
        wait_replicated(c.master_of(GLOBAL).port)
        return (
            c.url,
            lambda: c.replica_of(GLOBAL),
            lambda: c.kill_master_of(GLOBAL),
            lambda: c.wait_for_failover(GLOBAL),
        )
    s: RedisSentinels = request.getfixturevalue("redis_sentinels")
    wait_replicated(s.master.port)
    return s.url, lambda: s.replica, s.kill_master, s.wait_for_failover


async def _until_acknowledged(store: RedisStore) -> None:
    """Settle free holds until a replica acknowledges one, then let the back-off pass: a
    replica on a loaded machine may miss the first waits, and a test of what follows must
    start from a replica known to answer."""
    deadline = time.monotonic() + 20
    for warm in itertools.count():
        before = store.unreplicated
        await store.hold(GLOBAL, f"warm{warm}", 0.01, 100.0, 60)
        await store.settle(GLOBAL, f"warm{warm}", 0.0)
        if store.unreplicated == before:
            return
        assert time.monotonic() < deadline, "the replica never acknowledged a settlement"
        await asyncio.sleep(REPLICA_RETRY)


@pytest.mark.parametrize("kind", ["cluster", "sentinel"])
def test_a_settlement_returns_once_a_replica_has_it_and_survives_the_master(
    request: pytest.FixtureRequest, kind: str
) -> None:
    """With the replica hung, a settlement waits (WAIT) rather than return with the charge
    on the master alone; once it returns, the master killed at once loses nothing."""
    url, replica, kill, failover = _replicated(request, kind)

    async def main() -> tuple[bool, float, int]:
        async with RedisStore(url, settle_wait=0.3) as store:
            await _until_acknowledged(store)
            base = store.unreplicated
            await store.hold(GLOBAL, "a", 0.01, 100.0, 60)
            await store.settle(GLOBAL, "a", 0.002)
            assert store.unreplicated == base
            await store.hold(GLOBAL, "b", 0.01, 100.0, 60)
            node = replica()
            node.freeze()
            try:
                settling = asyncio.create_task(store.settle(GLOBAL, "b", 0.003))
                await asyncio.sleep(0.2)
                waiting = not settling.done()
            finally:
                node.thaw()
            await settling
            kill()  # no time for the replica to catch up after the settlement returned
            failover()
            await _until_served(store, 15.0)  # holds $0.001
            # The promoted master has no replica: a settlement waits settle_wait, then goes
            # ahead, counted (and the script, which that node never ran, is loaded on it).
            await store.hold(GLOBAL, "c", 0.01, 100.0, 60)
            await store.settle(GLOBAL, "c", 0.004)
            return waiting, await store.current(GLOBAL), store.unreplicated - base

    waiting, total, unreplicated = asyncio.run(main())
    assert waiting
    assert total == pytest.approx(0.002 + 0.003 + 0.001 + 0.004)
    assert unreplicated == 1


@pytest.mark.parametrize("kind", ["cluster", "sentinel"])
def test_a_replica_that_does_not_acknowledge_is_waited_for_once_a_second(
    request: pytest.FixtureRequest, kind: str
) -> None:
    """A settlement the replica does not acknowledge in time goes ahead (counted); the
    next ones on that master do not wait until REPLICA_RETRY has passed."""
    url, replica, _, _ = _replicated(request, kind)

    async def main() -> tuple[list[float], list[int], float]:
        async with RedisStore(url, settle_wait=0.2) as store:
            took: list[float] = []
            counts: list[int] = []
            for i in range(4):
                await store.hold(GLOBAL, f"h{i}", 0.01, 100.0, 60)
            await _until_acknowledged(store)
            await store.settle(GLOBAL, "h0", 0.001)  # acknowledged
            counts.append(store.unreplicated)
            node = replica()
            node.freeze()
            try:
                for i in (1, 2):
                    started = time.monotonic()
                    await store.settle(GLOBAL, f"h{i}", 0.001)
                    took.append(time.monotonic() - started)
                    counts.append(store.unreplicated)
            finally:
                node.thaw()
            await asyncio.sleep(REPLICA_RETRY)
            await store.settle(GLOBAL, "h3", 0.001)  # waited for, and acknowledged
            counts.append(store.unreplicated)
            return took, counts, await store.current(GLOBAL)

    took, counts, total = asyncio.run(main())
    assert [c - counts[0] for c in counts] == [0, 1, 2, 2]
    assert took[0] >= 0.2 and took[1] < 0.1, took
    assert total == pytest.approx(0.004)
