"""Cancel a coroutine at each of its await points in turn, with the real ``Task.cancel``.

``CancelAt(coro, n)`` runs ``coro`` and, when it suspends for the ``n``-th time, cancels the
task running it, exactly as a caller's ``task.cancel()`` (or a server noticing that its
client left) would at that moment: the future the coroutine waits on is cancelled and
``CancelledError`` is raised inside it, where it waits. Sweeping ``n`` from 1 until a run
ends before its ``n``-th suspension covers every await point the run went through, the
ones inside litellm, httpx and the Redis client included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class CancelAt:
    """Await ``coro``, cancelling the current task at its ``n``-th suspension."""

    def __init__(self, coro: Coroutine[Any, Any, T], n: int) -> None:
        self.coro = coro
        self.n = n
        self.points = 0
        self.cancelled_at: int | None = None

    def __await__(self) -> Generator[Any, Any, Any]:
        it = self.coro.__await__()
        send: Any = None
        throw: BaseException | None = None
        while True:
            try:
                yielded = it.throw(throw) if throw is not None else it.send(send)
            except StopIteration as stop:
                return stop.value
            send, throw = None, None
            self.points += 1
            if self.points == self.n:
                task = asyncio.current_task()
                assert task is not None
                task.cancel()  # as a caller would: the task cancels what it waits on
                self.cancelled_at = self.n
            try:
                send = yield yielded
            except BaseException as exc:  # passed into the coroutine, as a task would
                throw = exc


@dataclass(frozen=True)
class Run:
    """One run of a sweep: cancelled at ``point`` (``None``: it ran to its end, with
    ``points`` suspensions), and what the check after it measured."""

    point: int | None
    points: int
    measured: Any
    cancelled: bool = False
    """Whether the run ended cancelled (a cancellation may also be swallowed on the way:
    Python 3.11's ``asyncio.wait_for`` returns a result that arrived with the cancel)."""


async def sweep(
    scenario: Callable[[], Coroutine[Any, Any, Any]],
    measure: Callable[[], Awaitable[Any]],
    limit: int = 5000,
    *,
    strict: bool = True,
) -> list[Run]:
    """Run ``scenario`` cancelled at its 1st, 2nd, ... await point, each in a task of its
    own, calling ``measure`` after each run; the last run is the one that ended before
    being cancelled. ``strict``: every cancellation must end its run cancelled."""
    runs: list[Run] = []
    for n in range(1, limit + 1):
        runner = CancelAt(scenario(), n)

        async def run(r: CancelAt = runner) -> Any:
            return await r

        task = asyncio.get_running_loop().create_task(run())
        await asyncio.wait([task])
        if not task.cancelled():
            task.result()  # an error other than the cancellation fails the test here
        measured = await measure()
        runs.append(Run(runner.cancelled_at, runner.points, measured, task.cancelled()))
        if runner.cancelled_at is None:
            return runs
        assert task.cancelled() or not strict, f"cancelled at point {n}, the run ended"
    raise AssertionError(f"the scenario had more than {limit} await points")
