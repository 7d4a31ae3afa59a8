"""Budgets held and settled around a request.

A request holds its whole ceiling against every budget it draws on before anything runs,
and settles to its real cost after. Concurrent requests, on one process or on several
replicas sharing a Redis ledger, therefore never commit more than the budget; the only
overspend possible is a request whose real cost exceeds its own hold (a provider that
bills past the ``max_tokens`` it was sent). Each arm's worst ratio of billed cost to hold
is kept in the ledger's store and scales its later holds, and the first request to an arm
with no record runs alone (for up to :data:`PROBE_WAIT`); so spend passes a budget by at
most one request's overrun per arm, unless the arm's first request takes longer than that
or its overrun grows after it was first measured (then also by the overrun, or its growth,
of each request to it admitted meanwhile).

When the ledger is unreachable, a budget with a limit fails closed (the request is refused)
unless the deployment chose ``budget_fail_open``; a ledger kept only to count spend never
blocks a request.

Holds are leases (:mod:`ponder.router._leases`) when the ledger supports them (both
built-in ones do): a hold lasts the request's deadline plus a margin, so one whose
settlement never comes (a crash, an outage) is given back when it expires rather than
counted for good. A settlement cut off by an outage is retried in the background until
the ledger takes it (each is idempotent by the hold's id), so an outage delays spend
reaching the ledger but does not lose it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ponder.errors import BudgetExceededError, StoreUnavailable
from ponder.router._stores import Leases, Ledger, Overruns

log = logging.getLogger("ponder")

GLOBAL = "global"
"""The budget every request is held against (the settings' ``budget``, if any)."""


def budget_key(name: str) -> str:
    """Ledger key of a budget; the braces are a Redis Cluster hash tag."""
    return f"ponder:budget:{{{name}}}"


def _new_id() -> str:
    return secrets.token_hex(12)


@dataclass(frozen=True)
class Hold:
    """The reservations a request made: (budget name, amount) for each ledger that took it,
    under one ``id`` (what a lease ledger settles or releases them by)."""

    held: tuple[tuple[str, float], ...]
    id: str = field(default_factory=_new_id)
    arm: str | None = None
    """The arm the request starts at, when the caller said (its overruns are learned)."""
    base: float = 0.0
    """What the caller asked to hold, before scaling by the arm's overrun."""
    probe: bool = False
    """Whether this request is the first to an arm with no overrun record, run alone."""


LEASE_MARGIN = 30.0
"""Seconds a hold outlives its request's deadline by default: time for the settlement to
reach the ledger after the last byte."""

PROBE_POLL = 0.05
"""Seconds between looks, while the first request to an arm runs, for its overrun."""

PROBE_WAIT = 2.0
"""Seconds the requests to an arm with no overrun record wait for its first request to
settle; after that they go ahead, held at their ceiling (a slow first answer, a long
stream, must not hold every other request to the arm back)."""


def probe_key(arm: str) -> str:
    """The one-at-a-time lease of the request probing an arm with no overrun record."""
    return f"ponder:probe:{{arm:{arm}}}"


SETTLE_RETRY = 300.0
"""Seconds a settlement the ledger did not take is retried for (in the background)."""


class Budgets:
    """Holds and settles requests against named budgets in one ledger.

    ``lease``: seconds a hold lasts (the request's deadline plus a margin); ``None`` holds
    until settled. Used only with a ledger that supports leases (:class:`Leases`)."""

    def __init__(
        self, ledger: Ledger, *, fail_open: bool = False, lease: float | None = None
    ) -> None:
        self.ledger = ledger
        self.fail_open = fail_open
        self.lease = lease
        self._leases: Leases | None = (
            ledger if lease is not None and isinstance(ledger, Leases) else None
        )
        self._overruns: Overruns | None = (
            ledger if self._leases is not None and isinstance(ledger, Overruns) else None
        )
        self._settling: set[asyncio.Task[None]] = set()
        self._retrying: set[asyncio.Task[None]] = set()

    async def _take(self, name: str, hold_id: str, amount: float, limit: float | None) -> Any:
        if self._leases is not None and self.lease is not None:
            return await self._leases.hold(budget_key(name), hold_id, amount, limit, self.lease)
        return await self.ledger.adjust(budget_key(name), amount, limit)

    async def hold(
        self,
        amount: float,
        limits: Sequence[tuple[str, float | None]],
        arm: str | None = None,
    ) -> Hold:
        """Reserve ``amount`` on every ``(name, limit)``; all or nothing.

        With ``arm`` (the arm the request starts at), the hold is what the arm actually
        costs: ``amount`` times the worst ratio of billed cost to hold the arm has shown
        (a provider that ignores ``max_tokens``), and the first request to an arm with no
        record yet runs alone for up to :data:`PROBE_WAIT`, so that no crowd of requests
        overruns before the ratio is known."""
        hold_id = _new_id()
        scale, probe = 1.0, False
        if arm is not None and any(limit is not None for _, limit in limits):
            scale, probe = await self._scale(arm, hold_id)
        try:
            return await self._hold(amount * scale, limits, hold_id, arm, amount, probe)
        except BaseException:
            if probe and arm is not None:
                await self._end_probe(arm, hold_id)
            raise

    async def _scale(self, arm: str, hold_id: str) -> tuple[float, bool]:
        """How much to scale ``arm``'s holds by, and whether this request probes it."""
        overruns, leases = self._overruns, self._leases
        if overruns is None or leases is None or self.lease is None:
            return 1.0, False
        give_up = time.monotonic() + PROBE_WAIT
        try:
            while True:
                ratio = await overruns.overrun(arm)
                if ratio is not None:
                    return max(1.0, ratio), False
                if await leases.hold(probe_key(arm), hold_id, 1.0, 1.0, self.lease) is not None:
                    return 1.0, True
                if time.monotonic() > give_up:
                    return 1.0, False
                await asyncio.sleep(PROBE_POLL)
        except StoreUnavailable:  # the budgets' own holds will say what that means
            return 1.0, False

    async def _end_probe(self, arm: str, hold_id: str) -> None:
        if self._leases is not None:
            try:
                await self._leases.release(probe_key(arm), hold_id)
            except StoreUnavailable as exc:  # its lease ends it
                log.warning("probe of arm %s not ended: %s", arm, exc)

    async def _learn(self, hold: Hold, cost: float) -> None:
        """Record what the arm was billed against its hold, when it matters: for a probe
        (the arm's first record) or when the cost passed the hold."""
        arm = hold.arm
        if arm is None or self._overruns is None or hold.base <= 0:
            return
        held = max((a for _, a in hold.held), default=hold.base)
        try:
            if hold.probe or cost > held:
                ratio = cost / hold.base
                if cost > held:
                    log.warning(
                        "arm %s billed $%.6f on a hold of $%.6f: its later requests are "
                        "held at %.3g times their ceiling",
                        arm, cost, held, ratio,
                    )  # fmt: skip
                await self._overruns.overrun(arm, ratio)
        except StoreUnavailable as exc:
            log.warning("overrun of arm %s not recorded: %s", arm, exc)
        if hold.probe:
            await self._end_probe(arm, hold.id)

    async def _hold(
        self,
        amount: float,
        limits: Sequence[tuple[str, float | None]],
        hold_id: str,
        arm: str | None,
        base: float,
        probe: bool,
    ) -> Hold:
        made: list[tuple[str, float]] = []
        for name, limit in limits:
            try:
                total = await self._take(name, hold_id, amount, limit)
            except StoreUnavailable as exc:
                if limit is None or self.fail_open:
                    log.warning("budget ledger unavailable, %s not held: %s", name, exc)
                    continue
                # The failed hold may have been applied (a timeout): a lease ledger gives
                # it back by id (or refuses it, should it arrive late); the lease covers
                # the rest.
                ended = made + ([(name, amount)] if self._leases is not None else [])
                await self.release(Hold(tuple(ended), hold_id))
                raise StoreUnavailable(
                    f"the budget ledger is unavailable, so the {name} budget cannot be "
                    "checked (refusing: budgets fail closed)"
                ) from None
            if total is None:
                await self.release(Hold(tuple(made), hold_id))
                spent = await self.spent(name)
                raise BudgetExceededError(
                    f"the {name} budget of ${limit:g} has ${max((limit or 0) - spent, 0):.6f} "
                    f"left, less than this request may cost (${amount:.6f})",
                    budget=float(limit or 0),
                    spent=spent,
                )
            made.append((name, amount))
        return Hold(tuple(made), hold_id, arm, base, probe)

    async def hold_detached(
        self, amount: float, limits: Sequence[tuple[str, float | None]], arm: str | None = None
    ) -> Hold:
        """:meth:`hold` in a task of its own. A caller cancelled while its reservation is on
        the way to the ledger (a Redis round trip) holds nothing: the reservation, if it
        lands, is given back at once (:meth:`drain` waits for that too)."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(self.hold(amount, limits, arm=arm))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            back = loop.create_task(self._give_back(task))
            self._settling.add(back)
            back.add_done_callback(self._settling.discard)
            raise

    async def _give_back(self, task: asyncio.Task[Hold]) -> None:
        try:
            hold = await task
        except Exception:  # refused, or the ledger away: nothing was held
            return
        await self.release(hold)

    async def settle(self, hold: Hold, cost: float) -> None:
        """Replace each reservation by the real cost. If the ledger is away, the
        reservation stays counted (a ledger may over-count spend, never under-count it);
        with leases, the settlement is retried in the background until the ledger takes
        it, and the hold expires meanwhile."""
        for name, amount in hold.held:
            try:
                await self._settle_one(name, hold.id, amount, cost)
            except StoreUnavailable as exc:
                log.warning("budget ledger unavailable, %s not settled yet: %s", name, exc)
                if self._leases is not None:
                    self._retry(name, hold.id, amount, cost)
        await self._learn(hold, cost)

    async def _settle_one(self, name: str, hold_id: str, amount: float, cost: float) -> None:
        if self._leases is not None:
            await self._leases.settle(budget_key(name), hold_id, cost)
        else:
            await self.ledger.adjust(budget_key(name), cost - amount, None)

    def _retry(self, name: str, hold_id: str, amount: float, cost: float) -> None:
        task = asyncio.get_running_loop().create_task(
            self._keep_settling(name, hold_id, amount, cost)
        )
        self._retrying.add(task)
        task.add_done_callback(self._retrying.discard)

    async def _keep_settling(self, name: str, hold_id: str, amount: float, cost: float) -> None:
        give_up = time.monotonic() + SETTLE_RETRY
        wait = 0.2
        while True:
            await asyncio.sleep(wait)
            try:
                await self._settle_one(name, hold_id, amount, cost)
            except StoreUnavailable as exc:
                if time.monotonic() > give_up:
                    log.error("budget %s: settlement of $%.6f abandoned: %s", name, cost, exc)
                    return
                wait = min(2.0, wait * 2)
                continue
            log.info("budget %s: a delayed settlement of $%.6f reached the ledger", name, cost)
            return

    @property
    def pending(self) -> int:
        """Settlements waiting for the ledger to come back."""
        return len(self._retrying)

    async def settle_detached(
        self, hold: Hold, cost: float, then: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """:meth:`settle` (then ``then``) in a task of its own, which a cancellation of the
        caller cannot cut short.

        A client that goes away mid-stream cancels the task serving it, and the server
        (anyio) cancels every later await of that task too: a settlement awaited there
        would stop at its first round trip to Redis and leave the whole ceiling held. The
        in-process ledger never awaits, which is why only Redis showed it. The caller still
        waits for the settlement when it is not being cancelled; :meth:`drain` waits for
        any still running (at shutdown)."""
        task = asyncio.get_running_loop().create_task(self._settle_then(hold, cost, then))
        self._settling.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._settling.discard)
        await asyncio.shield(task)

    async def _settle_then(
        self, hold: Hold, cost: float, then: Callable[[], Awaitable[None]] | None
    ) -> None:
        await self.settle(hold, cost)
        if then is not None:
            try:
                await then()
            except Exception as exc:  # best effort: the budget is what mattered
                log.warning("after settling: %s", exc)

    async def drain(self, retries: float = 5.0) -> None:
        """Wait for this event loop's detached settlements still running (before the
        ledger is closed), and up to ``retries`` seconds for settlements being retried
        (those left are abandoned: their holds expire with their leases)."""
        loop = asyncio.get_running_loop()
        ours = [t for t in self._settling if t.get_loop() is loop]
        await asyncio.gather(*ours, return_exceptions=True)
        waiting = [t for t in self._retrying if t.get_loop() is loop]
        if waiting:
            _, left = await asyncio.wait(waiting, timeout=retries)
            for t in left:
                t.cancel()
            if left:
                log.error("%d budget settlements abandoned at shutdown", len(left))

    async def release(self, hold: Hold) -> None:
        """Give back reservations of a request that spent nothing it knows of."""
        for name, amount in hold.held:
            try:
                if self._leases is not None:
                    await self._leases.release(budget_key(name), hold.id)
                else:
                    await self.ledger.adjust(budget_key(name), -amount, None)
            except StoreUnavailable as exc:
                log.warning("budget ledger unavailable, %s not released: %s", name, exc)
        if hold.probe and hold.arm is not None:
            await self._end_probe(hold.arm, hold.id)

    async def spent(self, name: str) -> float:
        if self._leases is not None:
            return await self._leases.current(budget_key(name))
        return await self.ledger.adjust(budget_key(name), 0.0, None) or 0.0
