"""The client side of ``bench_proxy.py``: one async load generator, the targets it sends to,
and what each batch of requests recorded. Kept apart from the report so that the figures are
computed from nothing but these tallies."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import aiohttp
import httpx
from _proxy_servers import ANSWER, PROMPT, Server, Upstream, cpu_seconds


class Reply(NamedTuple):
    status: int
    cache: str | None  # the x-ponder-cache header
    body: bytes


class Client(Protocol):
    name: str

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Reply: ...

    async def aclose(self) -> None: ...


class AiohttpClient:
    """aiohttp: one session, keep-alive, no connection limit (the semaphore is the limit)."""

    name = "aiohttp"

    def __init__(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
            timeout=aiohttp.ClientTimeout(total=60),
            trust_env=False,
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Reply:
        async with self.session.post(url, data=body, headers=headers) as r:
            return Reply(r.status, r.headers.get("x-ponder-cache"), await r.read())

    async def aclose(self) -> None:
        await self.session.close()


class HttpxClient:
    """httpx: one AsyncClient, keep-alive, no connection limit."""

    name = "httpx"

    def __init__(self) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        self.client = httpx.AsyncClient(limits=limits, timeout=60.0, trust_env=False)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Reply:
        r = await self.client.post(url, content=body, headers=headers)
        return Reply(r.status_code, r.headers.get("x-ponder-cache"), r.content)

    async def aclose(self) -> None:
        await self.client.aclose()


CLIENTS: dict[str, Callable[[], Client]] = {"aiohttp": AiohttpClient, "httpx": HttpxClient}
Check = Callable[[Reply], str | None]


def answer_check(cache_header: bool = False) -> Check:
    """A 200 whose first choice is the scripted answer (and, for ponder's cache rows,
    ``x-ponder-cache: hit``); otherwise a short description of what came back."""

    def check(r: Reply) -> str | None:
        text = r.body[:200].decode(errors="replace")
        if r.status != 200:
            return f"HTTP {r.status}: {text}"
        try:
            content = json.loads(r.body)["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError):
            return f"unexpected body: {text}"
        if content != ANSWER:
            return f"unexpected answer: {content!r}"
        if cache_header and r.cache != "hit":
            return f"not a cache hit (x-ponder-cache: {r.cache})"
        return None

    return check


@dataclass
class Target:
    name: str
    base_url: str  # ends in /v1
    model: str
    key: str
    check: Check
    server: Server | None = None  # whose CPU time is counted (None: the upstream's)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        payload = {
            "model": self.model,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 32,
        }
        self.body = json.dumps(payload).encode()
        self.headers = {"authorization": f"Bearer {self.key}", "content-type": "application/json"}

    @property
    def url(self) -> str:
        return self.base_url + "/chat/completions"


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    wall: float = 0.0
    upstream_calls: int = 0
    cpu: float = 0.0  # seconds of the target's server processes over the measured batches
    first_error: str | None = None

    def cpu_ms(self) -> float:
        """Server CPU per request (ms): every process of the server, workers included."""
        return 1000.0 * self.cpu / self.requests if self.requests else float("nan")


async def run_batch(
    client: Client, t: Target, concurrency: int, n: int, tally: Tally | None
) -> None:
    """``n`` requests, at most ``concurrency`` in flight; recorded in ``tally`` if given."""
    sem = asyncio.Semaphore(concurrency)

    async def one() -> tuple[float | None, str | None]:
        async with sem:
            start = time.perf_counter()
            try:
                r = await client.post(t.url, t.body, t.headers)
            except (aiohttp.ClientError, httpx.HTTPError, OSError, TimeoutError) as exc:
                return None, f"{exc!r} (cause: {exc.__cause__ or exc.__context__!r})"
            elapsed = time.perf_counter() - start
        return elapsed, t.check(r)

    start = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(n)))
    wall = time.perf_counter() - start
    if tally is None:
        return
    tally.wall += wall
    tally.requests += n
    for elapsed, problem in results:
        if problem is not None:
            tally.errors += 1
            tally.first_error = tally.first_error or problem
        elif elapsed is not None:
            tally.latencies.append(elapsed)


async def measure(
    targets: list[Target],
    upstream: Upstream,
    client_kind: str,
    levels: list[int],
    n_at: dict[int, int],
    rounds: int,
    warmup: int,
) -> dict[tuple[str, int], Tally]:
    tallies = {(t.name, c): Tally() for t in targets for c in levels}
    client = CLIENTS[client_kind]()
    try:
        for r in range(rounds):
            for c in levels:
                k = r % len(targets)
                order = targets[k:] + targets[:k]  # rotate, so no target is always first
                for t in order:
                    share = n_at[c] // rounds + (1 if r < n_at[c] % rounds else 0)
                    await run_batch(client, t, c, max(warmup, c), None)
                    before = upstream.calls()
                    tally = tallies[(t.name, c)]
                    pid = upstream.proc.pid if t.server is None else t.server.pid
                    cpu = cpu_seconds(pid)
                    await run_batch(client, t, c, share, tally)
                    tally.cpu += cpu_seconds(pid) - cpu
                    tally.upstream_calls += upstream.calls() - before
                    print(
                        f"  round {r + 1}/{rounds}  c={c:<3} {t.name:<34} "
                        f"{tally.requests} requests in {tally.wall:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        await client.aclose()
    return tallies
