"""What ponder costs Redis: round trips per request, and what one Redis shard sustains.

    python bench/bench_redis.py [--seconds 3] [--concurrency 64]

1. **Round trips per request**, counted where the store sends each command (every Redis
   operation goes through ``RedisStore._call``: one command or script, one round trip) for a
   router with a global budget, a per-key budget, the cache, escalation memory and feedback
   on, against a fake upstream: a routed request (cache miss), a cache hit, and a
   pass-through request.
2. **Shard throughput**: one redis-server on loopback, driven by ``RedisStore`` itself at
   ``--concurrency`` requests in flight, each doing what a routed request does to Redis
   (cache read, memory read, hold and settle on two budgets, cache write, feedback append);
   the same load on one shared global budget (the hot key) and on per-tenant budgets only;
   and, as the baseline run side by side, plain ``GET``s through the same client. Figures are
   requests/s and the ratio to the baseline's operations/s.

A figure, not a test: it prints and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder.feedback import FeedbackEvent
from tests.fakes.redis_server import RedisServer
from tests.fakes.upstream import FakeUpstream

SECRET = "bench-digest-secret-of-32-chars!"


def round_trips(url: str, up: FakeUpstream) -> dict[str, float]:
    import os

    from ponder.router import Router, Settings

    os.environ["BENCH_UP_KEY"] = "sk-bench"
    arm = {
        "model": "openai/small",
        "input_price": 1,
        "output_price": 2,
        "api_base": up.base_url,
        "api_key_env": "BENCH_UP_KEY",
    }
    s = Settings(
        menu={"arms": [arm]},
        redis_url=url,
        digest_secret=SECRET,
        budget=100.0,
        cache_ttl=600,
        feedback=True,
        num_retries=0,
        passthrough=("openai/small",),
    )
    router = Router(s)
    sent = [0]
    call = router.store._call

    async def counted(op: str, fn: Any) -> Any:
        sent[0] += 1
        return await call(op, fn)

    router.store._call = counted
    kwargs: dict[str, Any] = {"tenant": "t", "budget_key": "k", "budget_limit": 50.0}
    out: dict[str, float] = {}

    def count(kind: str, request: Any, n: int = 20) -> None:
        before = sent[0]
        for i in range(n):
            request(i)
        out[kind] = (sent[0] - before) / n

    router.complete("warm up the scripts", **kwargs)
    count("routed (cache miss)", lambda i: router.complete(f"What is {i} times 7?", **kwargs))
    count("cache hit", lambda i: router.complete(f"What is {i} times 7?", **kwargs))

    async def forward(i: int) -> None:
        await router.aforward("openai/small", f"Pass {i} through", **kwargs)

    count("pass-through", lambda i: router._sync.run(forward(i)))
    router.close()
    return out


async def shard(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    from ponder.router import RedisStore

    event = FeedbackEvent(
        id="x", ts=0.0, tenant="t", query="", chosen_arm="small", answered_by="small",
        attempts=(), cost=1e-5, p_success={},
    )  # fmt: skip
    results: dict[str, float] = {}
    async with RedisStore(url, max_connections=concurrency) as store:
        counter = 0

        async def request(i: int, hot: bool) -> None:
            tenant = f"t{i % 97}"
            budgets = (["ponder:budget:{global}"] if hot else []) + [
                f"ponder:budget:{{key:{tenant}}}"
            ]
            cache = f"ponder:cache:{{{tenant}}}:{i}"
            await store.get(cache)
            await store.get(f"ponder:memory:{{{tenant}}}:{i}")
            hold = f"h{i}"
            for b in budgets:
                await store.hold(b, hold, 1e-4, 1e6, 150)
            for b in budgets:
                await store.settle(b, hold, 5e-5)
            await store.set(cache, b"x" * 800, 600)
            await store.publish(event)

        async def get(i: int, hot: bool) -> None:
            await store.get(f"ponder:cache:{{t}}:{i}")

        admin = redis.Redis.from_url(url)

        def cpu() -> float:
            info = admin.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        async def run(kind: str, op: Any, hot: bool) -> float:
            nonlocal counter
            done = 0
            used = cpu()
            stop = time.monotonic() + seconds

            async def worker() -> None:
                nonlocal done, counter
                while time.monotonic() < stop:
                    counter += 1
                    await op(counter, hot)
                    done += 1

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            rate = done / (time.monotonic() - started)
            results[kind] = rate
            # What the server itself spent: the shard's ceiling is 1 s of CPU per second.
            results[f"{kind}: server capacity"] = done / max(cpu() - used, 1e-6)
            return rate

        await run("baseline: plain GET ops/s", get, False)
        await run("requests/s, global + per-key budget", request, True)
        await run("requests/s, per-key budgets only", request, False)
        await run("baseline again: plain GET ops/s", get, False)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--concurrency", type=int, default=64)
    a = p.parse_args()
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with RedisServer() as server, FakeUpstream() as up:
        up.script("small", ["It is 42"])
        print("Redis round trips per request (global + per-key budget, cache, memory, feedback):")
        for kind, n in round_trips(server.url, up).items():
            print(f"  {kind:24s} {n:5.1f}")
        redis.Redis.from_url(server.url).flushall()
        figures = asyncio.run(shard(server.url, a.seconds, a.concurrency))
    base = (figures["baseline: plain GET ops/s"] + figures["baseline again: plain GET ops/s"]) / 2
    print(f"One redis-server on loopback, {a.concurrency} in flight, {a.seconds:g} s each:")
    print("  (measured: what the client drove; capacity: done per second of the server's CPU)")
    for kind, rate in figures.items():
        if kind.endswith("capacity"):
            continue
        capacity = figures[f"{kind}: server capacity"]
        print(
            f"  {kind:38s} measured {rate:7.0f}/s ({rate / base:.3f} x GET)"
            f"   capacity {capacity:8.0f}/s"
        )


if __name__ == "__main__":
    main()
