"""Budgets held and settled around a request.

A request holds its whole ceiling against every budget it draws on before anything runs,
and settles to its real cost after. Concurrent requests, on one process or on several
replicas sharing a Redis ledger, therefore never commit more than the budget; the only
overspend possible is a request whose real cost exceeds its own ceiling.

When the ledger is unreachable, a budget with a limit fails closed (the request is refused)
unless the deployment chose ``budget_fail_open``; a ledger kept only to count spend never
blocks a request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ponder.errors import BudgetExceededError, StoreUnavailable
from ponder.router._stores import Ledger

if TYPE_CHECKING:
    from ponder.router._decide import Decision

log = logging.getLogger("ponder")

GLOBAL = "global"
"""The budget every request is held against (the settings' ``budget``, if any)."""


def budget_key(name: str) -> str:
    """Ledger key of a budget; the braces are a Redis Cluster hash tag."""
    return f"ponder:budget:{{{name}}}"


@dataclass(frozen=True)
class Hold:
    """The reservations a request made: (budget name, amount) for each ledger that took it."""

    held: tuple[tuple[str, float], ...]


class Budgets:
    """Holds and settles requests against named budgets in one ledger."""

    def __init__(self, ledger: Ledger, *, fail_open: bool = False) -> None:
        self.ledger = ledger
        self.fail_open = fail_open
        self._settling: set[asyncio.Task[None]] = set()

    async def hold(self, amount: float, limits: Sequence[tuple[str, float | None]]) -> Hold:
        """Reserve ``amount`` on every ``(name, limit)``; all or nothing."""
        made: list[tuple[str, float]] = []
        for name, limit in limits:
            try:
                total = await self.ledger.adjust(budget_key(name), amount, limit)
            except StoreUnavailable as exc:
                if limit is None or self.fail_open:
                    log.warning("budget ledger unavailable, %s not held: %s", name, exc)
                    continue
                await self.release(Hold(tuple(made)))
                raise StoreUnavailable(
                    f"the budget ledger is unavailable, so the {name} budget cannot be "
                    "checked (refusing: budgets fail closed)"
                ) from None
            if total is None:
                await self.release(Hold(tuple(made)))
                spent = await self.spent(name)
                raise BudgetExceededError(
                    f"the {name} budget of ${limit:g} has ${max((limit or 0) - spent, 0):.6f} "
                    f"left, less than this request may cost (${amount:.6f})",
                    budget=float(limit or 0),
                    spent=spent,
                )
            made.append((name, amount))
        return Hold(tuple(made))

    async def settle(self, hold: Hold, cost: float) -> None:
        """Replace each reservation by the real cost. If the ledger is away, the
        reservation stays counted: a ledger may over-count spend, never under-count it."""
        for name, amount in hold.held:
            try:
                await self.ledger.adjust(budget_key(name), cost - amount, None)
            except StoreUnavailable as exc:
                log.warning("budget ledger unavailable, %s not settled: %s", name, exc)

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

    async def drain(self) -> None:
        """Wait for this event loop's detached settlements still running (before the
        ledger is closed)."""
        loop = asyncio.get_running_loop()
        ours = [t for t in self._settling if t.get_loop() is loop]
        await asyncio.gather(*ours, return_exceptions=True)

    async def release(self, hold: Hold) -> None:
        """Give back reservations of a request that spent nothing it knows of."""
        for name, amount in hold.held:
            try:
                await self.ledger.adjust(budget_key(name), -amount, None)
            except StoreUnavailable as exc:
                log.warning("budget ledger unavailable, %s not released: %s", name, exc)

    async def spent(self, name: str) -> float:
        return await self.ledger.adjust(budget_key(name), 0.0, None) or 0.0


def reservation(decision: Decision, max_escalations: int, start: str | None = None) -> float:
    """What to hold while a request runs: its ceiling, or without one, the worst case of the
    arm it starts at (``start``, else the chosen one) plus as many escalations at the
    dearest arm's worst case."""
    if decision.max_cost is not None:
        return decision.max_cost
    first = decision.chosen_arm if start is None else start
    chosen = next(e for e in decision.arms if e.arm == first)
    dearest = max(e.worst_cost for e in decision.arms)
    return chosen.worst_cost + max_escalations * dearest
