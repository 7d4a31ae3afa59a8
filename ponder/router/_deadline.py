"""The request's deadline: one wall-clock limit over everything a request does.

A provider's ``timeout`` is what httpx applies to each read, so an upstream that sends a
byte every half second never trips it, and retries, samples and the next arms each start
their own clock: with ``timeout: 2`` such an upstream held a request for 32 s. The deadline
is a point in time (``time.monotonic()``) fixed when the request is planned. Every provider
call is bounded by it (and a call's own ``timeout`` by the same means, since a slow drip
evades httpx's), no retry or next arm starts when it cannot start before it, and a request
that runs out of time without an answer ends as a timeout (a proxy's 504).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

PASSED = "the request's deadline passed"


def left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (zero or less once it has passed); ``None``: no deadline."""
    return None if deadline is None else deadline - time.monotonic()


def passed(deadline: float | None) -> bool:
    """Whether ``deadline`` has passed (never, without one)."""
    remaining = left(deadline)
    return remaining is not None and remaining <= 0


def starts_in_time(deadline: float | None, wait: float) -> bool:
    """Whether something that starts ``wait`` seconds from now starts before ``deadline``:
    a retry whose backoff outlasts the request is not made."""
    remaining = left(deadline)
    return remaining is None or wait < remaining


class DeadlinePassed(TimeoutError):
    """A step was cut short by the request's deadline (not by its own timeout)."""


async def bounded(aw: Awaitable[T], timeout: float | None, deadline: float | None) -> T:
    """``await aw`` for at most ``timeout`` seconds and never past ``deadline``.

    :class:`DeadlinePassed` when the deadline cut it short, :class:`TimeoutError` when the
    timeout did. The bound runs in the caller's task (``asyncio.timeout``), so an async
    generator's ``__anext__`` can be bounded without moving the generator to another task,
    which the HTTP client's cancel scopes do not allow; Python 3.10 has only ``wait_for``.
    """
    remaining = left(deadline)
    by_deadline = remaining is not None and (timeout is None or remaining <= timeout)
    limit = remaining if by_deadline else timeout
    if limit is None:
        return await aw
    if limit <= 0:  # out of time already: do not start it
        if inspect.iscoroutine(aw):
            aw.close()
        raise DeadlinePassed(PASSED) if by_deadline else TimeoutError()
    try:
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(limit):
                return await aw
        return await asyncio.wait_for(aw, limit)
    except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
        if by_deadline:
            raise DeadlinePassed(PASSED) from None
        raise TimeoutError(f"not done within {limit:g} s") from None
