"""Graceful shutdown (issue 22, item 4): on SIGTERM ``ponder serve`` stops accepting, lets
requests finish for the grace period, ends the streams still open with an error event,
settles their budget holds, and exits within the grace plus a moment; with one process and
with ``--workers 2`` (where uvicorn's supervisor signals each worker). Real processes, real
redis-server, the fake upstream dripping its answers, the official client."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis
from openai import AsyncOpenAI

from tests.fakes.redis_server import RedisServer, free_port
from tests.fakes.upstream import FakeUpstream
from tests.proxy.serving import serve, wait_up, write_config

PROXY_KEY = "sk-proxy-key-for-shutdown"
LONG = " ".join(["word"] * 300)
GRACE = 3.0
STREAMS = 20


async def _stream(c: AsyncOpenAI, question: str, opened: asyncio.Event) -> str:
    """How the stream ended: ``done`` (the whole answer), or the error it raised."""
    stream = await c.chat.completions.create(
        model="ponder/auto", messages=[{"role": "user", "content": question}], stream=True
    )
    try:
        async for _ in stream:
            opened.set()
    except openai.APIError as exc:
        return f"error: {exc.message}"
    return "done"


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_open_streams_within_the_grace_and_settles_every_hold(
    up: FakeUpstream, redis_server: RedisServer, tmp_path: Path, workers: int
) -> None:
    up.script("small", lambda body: "It is 42" if "short" in str(body["messages"]) else LONG)
    up.drip("small", 0.003)  # a short answer in about a second, a long one in minutes
    port = free_port()
    cfg = write_config(
        tmp_path,
        up,
        redis_url=redis_server.url,
        digest_secret="a-secret-every-replica-shares",
        budget=10.0,
        max_cost=0.01,
        api_keys=[{"key_env": "PONDER_TEST_PROXY_KEY", "tenant": "a", "budget": 5.0}],
    )
    args = ["--shutdown-grace", str(GRACE), "--workers", str(workers)]
    proc = serve(cfg, port, PROXY_KEY, *args)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(proc, url)

        async def main() -> tuple[list[str], float, bool]:
            c = AsyncOpenAI(base_url=f"{url}/v1", api_key=PROXY_KEY, max_retries=0, timeout=60)
            opened = [asyncio.Event() for _ in range(STREAMS + 1)]
            questions = [f"long question {i}" for i in range(STREAMS)] + ["short question"]
            pairs = zip(questions, opened, strict=True)
            tasks = [asyncio.create_task(_stream(c, q, e)) for q, e in pairs]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), 30)
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            # The supervisor of workers looks for signals twice a second, then signals them.
            await asyncio.sleep(0.5 if workers == 1 else 1.0)
            try:  # no longer accepting
                async with httpx.AsyncClient() as h:
                    await h.get(f"{url}/health", timeout=1)
                accepting = True
            except httpx.HTTPError:
                accepting = False
            ends = await asyncio.gather(*tasks)
            await asyncio.to_thread(proc.wait, 30)
            await c.close()
            return list(ends), time.monotonic() - signalled, accepting

        ends, took, accepting = asyncio.run(main())
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate()
    # uvicorn re-raises the signal once shut down: the exit status says SIGTERM, as a
    # supervisor expects of a process it stopped.
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert not accepting
    assert took < GRACE + 2, took
    assert ends[-1] == "done"  # the short answer finished within the grace
    assert all("shutting down" in e for e in ends[:-1]), ends  # the rest heard why they end
    r = redis.Redis.from_url(redis_server.url)
    leases = r.scan_iter("ponder:lease:*", _type="zset")
    held: dict[str, Any] = {k.decode(): r.zcard(k) for k in leases}
    assert held == {}, held  # no hold left to expire (an empty set is no key)
    totals = [float(r.get(k) or 0) for k in r.scan_iter("ponder:budget:*")]
    settled = [k for k in r.scan_iter("ponder:lease:*:done:*") if r.get(k) == b"settled"]
    assert len(settled) == 2 * (STREAMS + 1)  # each hold settled on both budgets
    # Two budgets (global, the key's), each charged what was streamed: a few tokens per
    # stream, far from 21 ceilings of $0.01 held.
    assert len(totals) == 2 and all(0 < t < 0.01 for t in totals), totals
