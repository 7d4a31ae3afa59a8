"""Budgets held and settled around a request.

A request holds its whole ceiling against every budget it draws on before anything runs,
and settles to its real cost after. Concurrent requests, on one process or on several
replicas sharing a Redis ledger, therefore never commit more than the budget; the only
overspend possible is a request whose real cost exceeds its own ceiling.

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
from typing import TYPE_CHECKING, Any

from ponder.errors import BudgetExceededError, StoreUnavailable
from ponder.router._stores import Leases, Ledger

if TYPE_CHECKING:
    from ponder.router._decide import Decision

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


LEASE_MARGIN = 30.0
"""Seconds a hold outlives its request's deadline by default: time for the settlement to
reach the ledger after the last byte."""

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
        self._settling: set[asyncio.Task[None]] = set()
        self._retrying: set[asyncio.Task[None]] = set()

    async def _take(self, name: str, hold_id: str, amount: float, limit: float | None) -> Any:
        if self._leases is not None and self.lease is not None:
            return await self._leases.hold(budget_key(name), hold_id, amount, limit, self.lease)
        return await self.ledger.adjust(budget_key(name), amount, limit)

    async def hold(self, amount: float, limits: Sequence[tuple[str, float | None]]) -> Hold:
        """Reserve ``amount`` on every ``(name, limit)``; all or nothing."""
        made: list[tuple[str, float]] = []
        hold_id = _new_id()
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
        return Hold(tuple(made), hold_id)

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

    async def spent(self, name: str) -> float:
        if self._leases is not None:
            return await self._leases.current(budget_key(name))
        return await self.ledger.adjust(budget_key(name), 0.0, None) or 0.0


def reservation(decision: Decision, max_escalations: int, start: str | None = None) -> float:
    """What to hold while a request runs: its ceiling, or without one, the worst case of the
    arm it starts at (``start``, else the chosen one) plus as many escalations at the
    dearest arm's worst case."""
    if decision.max_cost is not None:
        return decision.max_cost
    first = decision.chosen if start is None else start
    chosen = next(e for e in decision.arms if e.arm == first)
    dearest = max(e.worst_cost for e in decision.arms)
    return chosen.worst_cost + max_escalations * dearest
