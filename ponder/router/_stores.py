"""Where a router keeps state between requests: spend ledgers, the exact-answer cache (also
used for escalation memory) and the feedback stream.

Both are async protocols so that a Redis store (shared by several proxy replicas) and the
in-process default are interchangeable. The in-process store is what runs when no server
is configured; it holds the same invariants for one process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict


@runtime_checkable
class Ledger(Protocol):
    """Running totals of spend, adjusted atomically against a limit."""

    async def adjust(self, key: str, delta: float, limit: float | None) -> float | None:
        """Add ``delta`` to ``key``'s total unless that would take a positive delta over
        ``limit``; return the new total, or ``None`` when refused. Negative deltas (refunds
        of an unused reservation) always apply."""
        ...


@runtime_checkable
class Cache(Protocol):
    """Exact-match cache of serialised answers with a time to live."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...


class MemoryLedger:
    """Totals in a dict behind a lock: atomic within one process, whatever the event loop
    (nothing awaits inside the critical section, so a thread lock is enough)."""

    def __init__(self) -> None:
        self._totals: dict[str, float] = {}
        self._lock = threading.Lock()

    async def adjust(self, key: str, delta: float, limit: float | None) -> float | None:
        with self._lock:
            total = self._totals.get(key, 0.0) + delta
            if delta > 0 and limit is not None and total > limit:
                return None
            self._totals[key] = total
            return total

    def total(self, key: str) -> float:
        return self._totals.get(key, 0.0)


class MemoryCache:
    """A bounded dict with expiry; the oldest entries go first when it is full."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        hit = self._data.get(key)
        if hit is None:
            return None
        expires, value = hit
        if time.monotonic() >= expires:
            del self._data[key]
            return None
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return
        self._data[key] = (time.monotonic() + ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)


class AttemptRecord(BaseModel):
    """One attempt as the feedback stream keeps it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arm: str
    outcome: str
    samples: int
    agreement: float
    cost: float


class FeedbackEvent(BaseModel):
    """One routed request, as kept for retraining: which arm was predicted best, what ran,
    what it concluded. ``query`` is empty unless the deployment opts in to keeping text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    ts: float
    tenant: str
    query: str = ""
    chosen_arm: str
    answered_by: str
    attempts: tuple[AttemptRecord, ...]
    cost: float
    p_success: dict[str, float]


@runtime_checkable
class Feedback(Protocol):
    """Where routed requests are recorded (a Redis stream, or memory)."""

    async def publish(self, event: FeedbackEvent) -> None: ...


class MemoryFeedback:
    """The most recent events in a bounded deque."""

    def __init__(self, max_events: int = 10_000) -> None:
        self.events: deque[FeedbackEvent] = deque(maxlen=max_events)

    async def publish(self, event: FeedbackEvent) -> None:
        self.events.append(event)
