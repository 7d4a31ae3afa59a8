"""Where a router keeps state between requests: spend ledgers and the exact-answer cache
(also used for escalation memory), and the keys it keeps answers and memories under.

Both stores are async protocols so that a Redis store (shared by several proxy replicas)
and the in-process default are interchangeable. The in-process store is what runs when no
server is configured; it holds the same invariants for one process.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import hmac
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ponder.errors import ConfigError
from ponder.router._settings import Settings


@runtime_checkable
class Ledger(Protocol):
    """Running totals of spend, adjusted atomically against a limit."""

    async def adjust(self, key: str, delta: float, limit: float | None) -> float | None:
        """Add ``delta`` to ``key``'s total unless that would take a positive delta over
        ``limit``; return the new total, or ``None`` when refused. Negative deltas (refunds
        of an unused reservation) always apply."""
        ...


@runtime_checkable
class Leases(Protocol):
    """A ledger whose holds are leases (see :mod:`ponder.router._leases`): each has an id
    and an expiry, and settling or releasing it twice changes nothing. Both built-in
    ledgers are; a :class:`Ledger` that is not gets holds made of plain adjustments."""

    async def hold(
        self, key: str, hold_id: str, amount: float, limit: float | None, ttl: float
    ) -> float | None:
        """Reserve ``amount`` for ``ttl`` seconds unless that would pass ``limit``: the new
        total, or ``None`` when refused."""
        ...

    async def settle(self, key: str, hold_id: str, cost: float) -> float:
        """Replace the hold by ``cost``; once expired (or lost), charge ``cost`` whole."""
        ...

    async def release(self, key: str, hold_id: str) -> float:
        """Give the hold back."""
        ...

    async def current(self, key: str) -> float:
        """The total, expired holds given back."""
        ...


@runtime_checkable
class Overruns(Protocol):
    """What each arm has been billed beyond its holds, shared by the replicas: the worst
    ratio of billed cost to hold seen (both built-in ledgers keep it)."""

    async def overrun(self, arm: str, ratio: float | None = None) -> float | None:
        """Merge ``ratio`` in (keeping the worst) when given; the worst ratio recorded, or
        ``None`` when the arm has none yet."""
        ...


@runtime_checkable
class Cache(Protocol):
    """Exact-match cache of serialised answers with a time to live."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...


class MemoryLedger:
    """Totals in a dict behind a lock: atomic within one process, whatever the event loop
    (nothing awaits inside the critical section, so a thread lock is enough). Its holds
    are leases with the same rules as Redis's (:mod:`ponder.router._leases`)."""

    def __init__(self, retention: float = 600.0) -> None:
        self.retention = retention
        self._totals: dict[str, float] = {}
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, str, str]] = []  # (expires, key, id), a heap
        self._done: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._overruns: dict[str, float] = {}

    async def overrun(self, arm: str, ratio: float | None = None) -> float | None:
        with self._lock:
            if ratio is not None:
                self._overruns[arm] = max(ratio, self._overruns.get(arm, ratio))
            return self._overruns.get(arm)

    def _reap(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, key, hold_id = heapq.heappop(self._expiry)
            amount = self._held.pop((key, hold_id), None)
            if amount is not None:
                self._totals[key] = self._totals.get(key, 0.0) - amount
                self._end((key, hold_id), "gone", now)
        while self._done and next(iter(self._done.values()))[1] <= now:
            self._done.popitem(last=False)

    def _end(self, ref: tuple[str, str], state: str, now: float) -> None:
        self._done.pop(ref, None)
        self._done[ref] = (state, now + self.retention)

    async def hold(
        self, key: str, hold_id: str, amount: float, limit: float | None, ttl: float
    ) -> float | None:
        with self._lock:
            now = time.monotonic()
            self._reap(now)
            ref = (key, hold_id)
            if ref in self._done or ref in self._held:
                return None
            total = self._totals.get(key, 0.0) + amount
            if amount > 0 and limit is not None and total > limit:
                return None
            self._totals[key] = total
            self._held[ref] = amount
            heapq.heappush(self._expiry, (now + ttl, key, hold_id))
            return total

    async def settle(self, key: str, hold_id: str, cost: float) -> float:
        with self._lock:
            now = time.monotonic()
            self._reap(now)
            ref = (key, hold_id)
            if self._done.get(ref, ("",))[0] != "settled":
                held = self._held.pop(ref, 0.0)  # its heap entry is skipped when it comes up
                self._totals[key] = self._totals.get(key, 0.0) + cost - held
                self._end(ref, "settled", now)
            return self._totals.get(key, 0.0)

    async def release(self, key: str, hold_id: str) -> float:
        with self._lock:
            now = time.monotonic()
            self._reap(now)
            ref = (key, hold_id)
            if ref not in self._done:
                self._end(ref, "gone", now)
                held = self._held.pop(ref, 0.0)
                self._totals[key] = self._totals.get(key, 0.0) - held
            return self._totals.get(key, 0.0)

    async def current(self, key: str) -> float:
        with self._lock:
            self._reap(time.monotonic())
            return self._totals.get(key, 0.0)

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


@functools.cache
def process_secret() -> bytes:
    """A random secret for this process, drawn on first use (not at import)."""
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class Digests:
    """Cache and memory keys: HMACs under one secret, with the tenant in the message.

    A plain hash of the prompt is the same for every tenant, and lets anyone who can read
    the store confirm a guessed prompt by hashing it. An HMAC under a secret the store never
    holds does neither, and the tenant in its message gives two tenants asking the same
    thing unrelated keys (the tenant also stays in the key's hash tag, for Redis Cluster).

    The secret is ``digest_secret`` (``PONDER_DIGEST_SECRET``). Replicas sharing a Redis
    must all use the same one, or their cache and memory would never match each other's
    (nor survive a restart), so a router whose cache or memory is in Redis refuses to start
    without it. In-process stores live and die with the process; for them a secret drawn
    at random once per process does.
    """

    secret: bytes = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, shared: bool) -> Digests:
        """The configured secret; without one, the process's, unless the keys go to a
        ``shared`` store (Redis), where replicas must agree: then it is an error."""
        configured = settings.digest_secret
        if configured is not None:
            return cls(configured.get_secret_value().encode())
        if shared:
            raise ConfigError(
                "digest_secret is not set: with redis_url, cache and escalation-memory keys "
                "are HMACs under it, and every replica sharing the Redis needs the same one; "
                "set PONDER_DIGEST_SECRET (e.g. to the output of `openssl rand -hex 32`)"
            )
        return cls(process_secret())

    def cache_key(
        self,
        tenant: str,
        msgs: list[dict[str, Any]],
        params: Mapping[str, Any],
        max_cost: float | None,
        lam: float,
        arms: list[str],
    ) -> str | None:
        """Everything that shapes the answer (the messages and parameters, the controls and
        the arms that may answer), none of it the prediction: a hit needs no classifier.
        ``None`` when it cannot be serialised."""
        try:
            blob = json.dumps(
                [msgs, dict(params), max_cost, lam, arms],
                sort_keys=True,
                separators=(",", ":"),
            )
        except (TypeError, ValueError):
            return None
        return f"ponder:cache:{{{tenant}}}:{self._mac('cache', tenant, blob)}"

    def memory_key(self, tenant: str, text: str) -> str:
        """The escalation memory of a query: case and spacing do not make it new."""
        normal = re.sub(r"\s+", " ", text.strip().lower())
        return f"ponder:memory:{{{tenant}}}:{self._mac('memory', tenant, normal)}"

    def _mac(self, kind: str, tenant: str, payload: str) -> str:
        # The tenant is length-prefixed so that no (tenant, payload) pair reads as another.
        head = f"ponder {kind}\0{len(tenant)}:{tenant}\0".encode()
        mac = hmac.new(self.secret, head, hashlib.sha256)
        mac.update(payload.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()
