"""Budgets, cache and feedback in Redis, shared by every proxy replica that points at it.

Every key a router writes holds its own hash tag (``ponder:budget:{global}``), and each
operation or script touches the keys of one hash tag, so the store works on a Redis
Cluster (``redis+cluster://``) and behind Sentinel (``redis+sentinel://``) as on one
server (see :mod:`ponder.router._redis_clients`).

Failures of the server become :class:`~ponder.errors.StoreUnavailable` and nothing else:
not only a refused or timed-out connection but any error Redis answers with (out of memory
under ``maxmemory`` with ``noeviction``, a read-only replica, a wrong password), since to a
request each means the same thing, a store it cannot rely on. The router decides what an
absent store means (bypass the cache, refuse unchecked budgets); this module only promises
to say so quickly. For that the client is built with no retries:
redis-py retries ten times with backoff by default, which turns "Redis is down" into
seconds of latency per request, and a retried ledger write after a timeout could be applied
twice.

On a cluster or behind Sentinel, a settlement is made durable before it returns: the
script and a ``WAIT 1 <settle_wait>`` go down one connection to the master owning the
budget's slot, so the request's answer leaves only once a replica has the charge (or the
wait ran out: then the settlement goes ahead, counted in ``unreplicated`` and logged, and
that master is not waited on again for :data:`REPLICA_RETRY` seconds, so a master left
without a replica costs one wait a second, not one per request). ``WAIT`` is not
consensus: a failover may still promote a replica that had not acknowledged, which is what
the count says could be lost.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from ponder.errors import ConfigError, StoreUnavailable
from ponder.feedback import FeedbackEvent
from ponder.router import _leases
from ponder.router._redis_clients import Target, cluster_client, parse_target, sentinel_client

T = TypeVar("T")

log = logging.getLogger("ponder")

WAIT_SLACK = 0.2
"""Seconds a ``WAIT`` may answer after its timeout: Redis notices the timeout on its next
tick (10 a second by default), and the answer must come before the socket times out."""

REPLICA_RETRY = 1.0
"""Seconds a master whose replica did not acknowledge a settlement in time is not waited
on (its settlements go ahead at once, counted as unreplicated)."""

# KEYS[1]: the total; ARGV[1]: delta; ARGV[2]: limit, or "" for none. Returns the new total
# (a string, as INCRBYFLOAT gives it) or nil when a positive delta would pass the limit.
# A zero delta is a read, and must not create the key.
_ADJUST = (
    _leases.READ_TOTAL
    + """
local delta = tonumber(ARGV[1])
if delta == 0 then
  return raw or '0'
end
if delta > 0 and ARGV[2] ~= '' and total + delta > tonumber(ARGV[2]) then
  return false
end
return redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
"""
)

_READ_BATCH = 1000
_PROBE = "ponder:probe:{health}"  # what check() writes: one small key, expiring


class RedisStore:
    """A :class:`Ledger`, :class:`Cache` and :class:`Feedback` in one Redis connection pool.

    Constructing it does not connect (redis-py connects on first use), so a router can be
    built while Redis is still starting. The pool belongs to one event loop at a time: used
    from another loop (``Router.complete`` runs each call in a fresh ``asyncio.run``), the
    store starts a new pool rather than touch sockets of a loop that may be closed.
    """

    def __init__(
        self,
        url: str,
        *,
        socket_timeout: float = 0.5,
        max_connections: int = 64,
        feedback_stream: str = "ponder:feedback",
        feedback_maxlen: int = 100_000,
        retention: float = 600.0,
        settle_wait: float = 0.1,
    ) -> None:
        if not socket_timeout > 0:
            raise ConfigError(f"socket_timeout must be > 0 seconds, got {socket_timeout}")
        if feedback_maxlen < 1:
            raise ConfigError(f"feedback_maxlen must be >= 1, got {feedback_maxlen}")
        import redis.exceptions
        from redis.commands.core import AsyncScript

        self.socket_timeout = socket_timeout
        if max_connections < 1:
            raise ConfigError(f"max_connections must be >= 1, got {max_connections}")
        self.max_connections = max_connections
        self.feedback_stream = feedback_stream
        self.feedback_maxlen = feedback_maxlen
        if not retention > 0:
            raise ConfigError(f"retention must be > 0 seconds, got {retention}")
        self.retention = retention
        self._url = url
        try:
            self._target = parse_target(url)
        except ConfigError as exc:
            message = _scrub_text(str(exc), _secrets(url))
            raise ConfigError(f"invalid Redis URL: {message}") from None
        self._where = self._target.where if self._target.kind != "single" else _where(url)
        # WAIT where there are replicas to wait for: a single server has none ponder knows of.
        self.settle_wait = settle_wait if self._target.kind != "single" else 0.0
        if not 0 <= self.settle_wait <= socket_timeout - WAIT_SLACK + 1e-9:
            raise ConfigError(
                f"settle_wait must be >= 0 and at least {WAIT_SLACK:g} s shorter than the "
                f"socket timeout ({socket_timeout:g} s), got {settle_wait}"
            )
        self.unreplicated = 0
        """Settlements no replica acknowledged within ``settle_wait`` (a master killed
        before it replicates them loses them)."""
        self._unwaited: dict[str, float] = {}  # master -> monotonic time to wait again
        self._secrets = _secrets(url)
        self._unavailable: tuple[type[BaseException], ...] = (
            redis.exceptions.RedisError,  # connection, timeout, auth, OOM, READONLY, ...
            redis.exceptions.RedisClusterException,  # a slot no live master covers
            TimeoutError,
            asyncio.TimeoutError,  # distinct from TimeoutError before Python 3.11
            OSError,
        )
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sentinel: Any = None
        self._client: Any = self._new_client()  # validates the URL now, connects later
        # At most max_connections commands in flight per event loop: the cluster client
        # refuses, rather than waits, when a node's pool is full.
        self._slots = asyncio.Semaphore(max_connections)
        self._adjust = AsyncScript(self._client, _ADJUST)
        self._hold = AsyncScript(self._client, _leases.HOLD)
        self._settle = AsyncScript(self._client, _leases.SETTLE)
        self._release = AsyncScript(self._client, _leases.RELEASE)
        self._total = AsyncScript(self._client, _leases.TOTAL)
        self._overrun = AsyncScript(self._client, _leases.OVERRUN)

    @property
    def kind(self) -> str:
        """``single``, ``cluster`` or ``sentinel``: what the URL names."""
        return self._target.kind

    def _new_client(self) -> Any:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        target = self._target
        if target.kind != "single":
            common: dict[str, Any] = {
                "socket_timeout": self.socket_timeout,
                "socket_connect_timeout": max(2.0, self.socket_timeout),
                "retry": Retry(NoBackoff(), 0),
                "max_connections": self.max_connections,
                "protocol": 2,
            }
            return self._clustered(target, common)
        try:
            # A bounded pool that makes callers wait for a free connection: a burst of
            # requests then shares a few dozen connections instead of opening one each
            # (hundreds of simultaneous connects time out under load and would read as
            # "Redis is away").
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self._url,
                max_connections=self.max_connections,
                timeout=max(2.0, 4 * self.socket_timeout),
                socket_timeout=self.socket_timeout,
                # Connecting gets longer than a command: a burst opens many connections at
                # once on a busy machine, and a refused connection fails at once anyway.
                socket_connect_timeout=max(2.0, self.socket_timeout),
                retry=Retry(NoBackoff(), 0),
                # RESP2, as every server and proxy speaks it; redis-py 8 asks for RESP3.
                protocol=2,
            )
            return redis.asyncio.Redis(connection_pool=pool)
        except ValueError as exc:
            raise ConfigError(f"invalid Redis URL for {self._where}: {self._scrub(exc)}") from None

    def _clustered(self, target: Target, common: dict[str, Any]) -> Any:
        if target.kind == "cluster":
            return cluster_client(target, common)
        client, self._sentinel = sentinel_client(target, common)
        return client

    def _redis(self) -> tuple[Any, asyncio.Semaphore]:
        """The client for the running event loop, and the bound on its commands in flight."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is None:
                self._loop = loop
            elif self._loop is not loop:
                # The old pool's sockets belong to the other loop; they close when collected.
                self._client, self._loop = self._new_client(), loop
                self._slots = asyncio.Semaphore(self.max_connections)
            return self._client, self._slots

    async def _call(self, op: str, fn: Callable[[Any], Awaitable[T]]) -> T:
        try:
            client, slots = self._redis()
            async with slots:
                return await fn(client)
        except self._unavailable as exc:
            raise StoreUnavailable(
                f"Redis at {self._where} is unavailable ({op}): {self._scrub(exc)}{self._hint(exc)}"
            ) from exc

    def _hint(self, exc: BaseException) -> str:
        """What to change when a plain URL names a node of a cluster (a redirect)."""
        import redis.exceptions

        if self._target.kind == "single" and isinstance(
            exc, (redis.exceptions.AskError, redis.exceptions.ClusterDownError)
        ):
            return " (a Redis Cluster node: name it as redis+cluster://host:port)"
        return ""

    def _scrub(self, exc: BaseException) -> str:
        """The driver's message on one line, with the password masked should it ever echo it."""
        return _scrub_text(" ".join(str(exc).split()) or type(exc).__name__, self._secrets)

    async def adjust(self, key: str, delta: float, limit: float | None) -> float | None:
        if not math.isfinite(delta):
            raise ValueError(f"ledger delta must be finite, got {delta}")
        if limit is not None and math.isnan(limit):
            raise ValueError("ledger limit must be a number or None, got nan")
        bound = "" if limit is None or limit == math.inf else repr(float(limit))
        args = [repr(float(delta)), bound]
        raw = await self._call(
            "ledger adjust", lambda r: self._adjust(keys=[key], args=args, client=r)
        )
        return None if raw is None else float(raw)

    # -- leases (see ponder.router._leases) -----------------------------------------------

    async def hold(
        self, key: str, hold_id: str, amount: float, limit: float | None, ttl: float
    ) -> float | None:
        """Reserve ``amount`` on ``key`` under ``hold_id`` for ``ttl`` seconds unless that
        would pass ``limit``; the new total, or ``None`` when refused."""
        if not math.isfinite(amount) or amount < 0:
            raise ValueError(f"a hold must be a finite amount >= 0, got {amount}")
        bound = "" if limit is None or limit == math.inf else repr(float(limit))
        args = [hold_id, self._retention_ms(ttl), repr(float(amount)), bound, _ms(ttl)]
        raw = await self._call("ledger hold", lambda r: self._run(self._hold, r, key, args))
        return None if raw is None else float(raw)

    async def settle(self, key: str, hold_id: str, cost: float) -> float:
        """Replace the hold ``hold_id`` by ``cost`` (once, however often it is asked)."""
        if not math.isfinite(cost):
            raise ValueError(f"a cost must be finite, got {cost}")
        args = [hold_id, self._retention_ms(), repr(float(cost))]
        if not self.settle_wait:
            return float(
                await self._call("ledger settle", lambda r: self._run(self._settle, r, key, args))
            )
        return float(await self._call("ledger settle", lambda r: self._durably(r, key, args)))

    async def _durably(self, r: Any, key: str, args: list[str]) -> Any:
        """Settle, then ``WAIT`` on the same connection (WAIT counts the replicas that have
        the connection's own writes), to the master of ``key``'s slot; the new total."""
        from redis.exceptions import NoScriptError

        cluster = self._target.kind == "cluster"
        if cluster:
            await r.initialize()  # the slot map (at once, unless a redirect asked for a refresh)
        node = r.get_node_from_key(key) if cluster else None
        master = node.name if node is not None else self._where
        keys = _leases.lease_keys(key)
        wait = self._unwaited.get(master, 0.0) <= time.monotonic()
        for loaded in (False, True):
            pipe = r.pipeline(transaction=False)
            pipe.evalsha(self._settle.sha, len(keys), *keys, *args)
            if wait:
                ms = _ms(self.settle_wait)
                if cluster:
                    pipe.execute_command("WAIT", 1, ms, target_nodes=node)
                else:
                    pipe.wait(1, ms)
            replies = await pipe.execute(raise_on_error=False)
            if not isinstance(replies[0], NoScriptError) or loaded:
                break
            # A master that never ran the script (a promoted replica): load it, settle again
            # (the first did not run).
            if cluster:
                await r.execute_command("SCRIPT", "LOAD", _leases.SETTLE, target_nodes=node)
            else:
                await r.script_load(_leases.SETTLE)
        total = replies[0]
        if isinstance(total, Exception):
            raise total
        acked = replies[1] if wait else 0
        self._count(master, wait, isinstance(acked, int) and acked >= 1)
        return total

    def _count(self, master: str, waited: bool, acked: bool) -> None:
        if acked:
            if self._unwaited.pop(master, None) is not None:
                log.info("Redis %s: a replica acknowledges settlements again", master)
            return
        self.unreplicated += 1
        if waited:
            if master not in self._unwaited:
                log.warning(
                    "Redis %s: no replica acknowledged a settlement within %g ms; it would be "
                    "lost if this master failed now (settlements go ahead unreplicated, and "
                    "are counted, until one does)",
                    master, self.settle_wait * 1000,
                )  # fmt: skip
            self._unwaited[master] = time.monotonic() + REPLICA_RETRY

    async def release(self, key: str, hold_id: str) -> float:
        """Give back the hold ``hold_id`` (once; a release before its hold refuses the hold)."""
        args = [hold_id, self._retention_ms()]
        return float(
            await self._call("ledger release", lambda r: self._run(self._release, r, key, args))
        )

    async def current(self, key: str) -> float:
        """``key``'s total once expired holds are given back."""
        args = ["", self._retention_ms()]
        return float(
            await self._call("ledger read", lambda r: self._run(self._total, r, key, args))
        )

    async def overrun(self, arm: str, ratio: float | None = None) -> float | None:
        """The worst ratio of billed cost to hold ``arm`` has shown, ``ratio`` merged in
        first when given; ``None`` when nothing is recorded."""
        args = ["" if ratio is None else repr(float(ratio))]
        keys = [_leases.overrun_key(arm)]
        raw = await self._call(
            "overrun", lambda r: self._overrun(keys=keys, args=args, client=r)
        )
        return None if raw is None else float(raw)

    def _retention_ms(self, ttl: float = 0.0) -> str:
        return _ms(max(self.retention, 2 * ttl))

    @staticmethod
    async def _run(script: Any, client: Any, key: str, args: list[str]) -> Any:
        return await script(keys=_leases.lease_keys(key), args=args, client=client)

    async def get(self, key: str) -> bytes | None:
        value = await self._call("cache get", lambda r: r.get(key))
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if not ttl > 0:  # also skips nan
            return
        px = None if ttl == math.inf else max(1, round(ttl * 1000))
        await self._call("cache set", lambda r: r.set(key, value, px=px))

    async def publish(self, event: FeedbackEvent) -> None:
        fields = {"event": event.model_dump_json()}
        await self._call(
            "feedback publish",
            lambda r: r.xadd(
                self.feedback_stream, fields, maxlen=self.feedback_maxlen, approximate=True
            ),
        )

    async def read_feedback(self, count: int | None = None) -> list[FeedbackEvent]:
        """The stream's events, oldest first; with ``count``, only the newest ``count``."""
        if count is not None and count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if count == 0:
            return []
        entries = await self._call("feedback read", lambda r: self._entries(r, count))
        return [FeedbackEvent.model_validate_json(fields[b"event"]) for _, fields in entries]

    async def _entries(self, r: Any, count: int | None) -> list[tuple[bytes, dict[bytes, bytes]]]:
        stream = self.feedback_stream
        if count is not None:
            return list(reversed(await r.xrevrange(stream, "+", "-", count=count)))
        # In pages, so a full stream does not arrive as one reply of 100k entries.
        out: list[tuple[bytes, dict[bytes, bytes]]] = []
        start = "-"
        while True:
            page = await r.xrange(stream, start, "+", count=_READ_BATCH)
            out.extend(page)
            if len(page) < _READ_BATCH:
                return out
            ms, seq = page[-1][0].decode().split("-")
            start = f"{ms}-{int(seq) + 1}"  # exclusive ranges need Redis 6.2; this does not

    async def check(self) -> None:
        """Raise :class:`StoreUnavailable` (one line, password masked) unless Redis takes a
        write now. A write rather than ``PING``: a server out of memory under ``noeviction``
        still answers ``PING`` while refusing every ledger update."""
        await self._call("write check", lambda r: r.set(_PROBE, b"1", px=60_000))

    async def ping(self) -> bool:
        """Whether Redis takes a write now (:meth:`check`). Never raises: it is what a
        health check asks."""
        try:
            await self.check()
        except Exception:
            return False
        return True

    async def aclose(self) -> None:
        """Close the pool; the store reconnects if used again."""
        with self._lock:
            client, loop, sentinel = self._client, self._loop, self._sentinel
        if loop is None or loop is asyncio.get_running_loop():
            if self._target.kind == "cluster":
                await client.aclose()
            else:
                await client.aclose(close_connection_pool=True)  # the pool is ours
            for s in getattr(sentinel, "sentinels", ()):
                await s.aclose()

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisStore({self._where!r}, feedback_stream={self.feedback_stream!r})"


async def read_feedback(
    url: str, count: int | None = None, stream: str = "ponder:feedback"
) -> list[FeedbackEvent]:
    """The feedback events recorded in ``stream``, oldest first (the newest ``count`` when
    given), for the CLI to export or inspect. Raises ``StoreUnavailable`` like the store."""
    async with RedisStore(url, feedback_stream=stream) as store:
        return await store.read_feedback(count)


def _where(url: str) -> str:
    """The server a URL points at, without its credentials, for messages."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return parts.path or "unix socket"
        host = parts.hostname or "localhost"
        return f"{host}:{parts.port or 6379}"
    except ValueError:  # a malformed port
        return "an unparsable URL"


def _ms(seconds: float) -> str:
    return str(max(1, math.ceil(seconds * 1000)))


def _scrub_text(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _secrets(url: str) -> tuple[str, ...]:
    """The URL's password as written and as decoded (redis-py unquotes it)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return ()
    return tuple({password, unquote(password)}) if password else ()


def redact_url(url: str) -> str:
    """The URL without its password, fit for a manifest or a message (where
    :func:`_where` keeps only the server)."""
    parts = urlsplit(url)
    creds, at, hosts = parts.netloc.rpartition("@")
    user, colon, _ = creds.partition(":")
    if not at or not colon:
        return url
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))
