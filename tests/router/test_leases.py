"""Budget holds are leases (issue 22, item 2): they expire, settle once whatever the
retries, and a settlement that comes late or finds its hold lost still counts what was
billed. The same rules for the in-process ledger and for Redis (one server and a cluster)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ponder.router import MemoryLedger, RedisStore
from ponder.router._budgets import Budgets, budget_key
from tests.fakes.redis_server import RedisServer

KEY = budget_key("global")


@pytest.fixture(params=["memory", "redis", "cluster"])
def ledger_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "memory":
        yield None
    elif request.param == "redis":
        yield request.getfixturevalue("redis_server").url
    else:
        yield request.getfixturevalue("redis_cluster").url


def with_ledger(url: str | None, steps: Any) -> Any:
    async def main() -> Any:
        if url is None:
            return await steps(MemoryLedger())
        async with RedisStore(url) as store:
            return await steps(store)

    return asyncio.run(main())


def test_a_hold_settles_once_however_often_it_is_asked(ledger_url: str | None) -> None:
    async def steps(ledger: Any) -> list[float | None]:
        return [
            await ledger.hold(KEY, "h1", 5.0, 10.0, 60),
            await ledger.hold(KEY, "h2", 5.0, 10.0, 60),
            await ledger.hold(KEY, "h3", 0.5, 10.0, 60),  # over the limit: refused
            await ledger.settle(KEY, "h1", 1.0),
            await ledger.settle(KEY, "h1", 1.0),  # a retry of an applied settlement
            await ledger.release(KEY, "h2"),
            await ledger.release(KEY, "h2"),  # and of a release
            await ledger.settle(KEY, "h2", 2.0),  # released, then billed after all: counted
            await ledger.current(KEY),
        ]

    assert with_ledger(ledger_url, steps) == [5.0, 10.0, None, 6.0, 6.0, 1.0, 1.0, 3.0, 3.0]


def test_an_expired_hold_is_given_back_and_a_late_settlement_still_counts(
    ledger_url: str | None,
) -> None:
    async def steps(ledger: Any) -> list[float | None]:
        out = [await ledger.hold(KEY, "h1", 8.0, 10.0, 0.3)]
        out.append(await ledger.hold(KEY, "h2", 8.0, 10.0, 60))  # no room while h1 is held
        await asyncio.sleep(0.5)
        out.append(await ledger.current(KEY))  # h1 expired: given back
        out.append(await ledger.hold(KEY, "h2", 8.0, 10.0, 60))  # so h2 fits now
        out.append(await ledger.settle(KEY, "h1", 1.5))  # late: charged whole, once
        out.append(await ledger.settle(KEY, "h1", 1.5))
        out.append(await ledger.release(KEY, "h1"))  # nothing to give back any more
        return out

    assert with_ledger(ledger_url, steps) == [8.0, None, 0.0, 8.0, 9.5, 9.5, 9.5]


def test_a_settlement_whose_hold_was_lost_charges_the_cost(ledger_url: str | None) -> None:
    """A Redis restarted without persistence forgets holds: what was billed still counts."""

    async def steps(ledger: Any) -> list[float]:
        return [await ledger.settle(KEY, "never-seen", 0.25), await ledger.current(KEY)]

    assert with_ledger(ledger_url, steps) == [0.25, 0.25]


def test_a_hold_that_arrives_after_its_release_is_refused(ledger_url: str | None) -> None:
    """A hold delayed in a hung server, released by its request meanwhile, must not leak."""

    async def steps(ledger: Any) -> list[float | None]:
        return [
            await ledger.release(KEY, "h1"),
            await ledger.hold(KEY, "h1", 1.0, None, 60),
            await ledger.current(KEY),
        ]

    assert with_ledger(ledger_url, steps) == [0.0, None, 0.0]


def test_holds_are_atomic_against_the_limit_across_two_stores(ledger_url: str | None) -> None:
    if ledger_url is None:
        pytest.skip("two stores share only a server")

    async def main() -> tuple[int, float]:
        async with RedisStore(ledger_url) as a, RedisStore(ledger_url) as b:
            got = await asyncio.gather(
                *((a if i % 2 else b).hold(KEY, f"h{i}", 1.0, 50.0, 60) for i in range(200))
            )
            return sum(g is not None for g in got), await a.current(KEY)

    assert asyncio.run(main()) == (50, 50.0)


# --- Budgets over the leases ---------------------------------------------------------------


def test_a_hold_never_settled_frees_its_budget_when_its_lease_ends() -> None:
    """A crash between hold and settle: the budget is whole again after the lease."""

    async def main() -> list[float]:
        budgets = Budgets(MemoryLedger(), lease=0.3)
        await budgets.hold(0.9, [("global", 1.0)])  # and the process "dies"
        with pytest.raises(Exception, match="budget"):
            await budgets.hold(0.9, [("global", 1.0)])
        await asyncio.sleep(0.4)
        hold = await budgets.hold(0.9, [("global", 1.0)])
        await budgets.settle(hold, 0.1)
        return [await budgets.spent("global")]

    assert asyncio.run(main()) == pytest.approx([0.1])


@pytest.mark.parametrize("outage", ["freeze", "restart"])
def test_a_settlement_cut_off_by_an_outage_reaches_the_ledger_later(
    redis_server: RedisServer, outage: str
) -> None:
    """Frozen: the hold is still there and is replaced by the cost. Restarted empty: the
    hold is gone and the cost is charged whole. Either way the ledger ends at the cost."""

    async def main() -> tuple[int, float]:
        async with RedisStore(redis_server.url, socket_timeout=0.3) as store:
            budgets = Budgets(store, lease=60)
            hold = await budgets.hold(0.5, [("global", 1.0), ("key:k", None)])
            if outage == "freeze":
                redis_server.freeze()
            else:
                redis_server.stop()
            await budgets.settle(hold, 0.125)
            pending = budgets.pending
            if outage == "freeze":
                redis_server.thaw()
            else:
                redis_server.start()
            deadline = time.monotonic() + 10
            while budgets.pending and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return pending, await budgets.spent("global") + await budgets.spent("key:k")

    pending, total = asyncio.run(main())
    assert pending == 2
    assert total == pytest.approx(0.25)


def test_an_arms_overrun_scales_its_later_holds_after_a_lone_first_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first request to an arm runs alone (others wait, up to PROBE_WAIT); once it
    settles at 20 times its hold, the arm's holds are 20 times as large, and other arms'
    are not."""
    from ponder.router import _budgets

    monkeypatch.setattr(_budgets, "PROBE_WAIT", 0.3)

    async def main() -> list[float]:
        budgets = Budgets(MemoryLedger(), lease=60)
        limits = [("global", 1.0)]
        first = await budgets.hold(0.01, limits, arm="liar")
        started = time.monotonic()
        waited = await budgets.hold(0.01, limits, arm="liar")  # the probe is still out
        wait = time.monotonic() - started
        await budgets.settle(waited, 0.01)
        await budgets.settle(first, 0.2)  # billed 20 times its hold
        scaled = await budgets.hold(0.01, limits, arm="liar")
        other = await budgets.hold(0.01, limits, arm="honest")
        await budgets.release(scaled)
        await budgets.release(other)
        return [wait, first.held[0][1], scaled.held[0][1], other.held[0][1]]

    wait, first, scaled, other = asyncio.run(main())
    assert 0.3 <= wait < 1.0
    assert (first, other) == (0.01, 0.01)
    assert scaled == pytest.approx(0.2)
