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

3. **What waiting for a replica costs** (``--wait``): on a Redis Cluster on loopback (3
   masters, 1 replica each), a settlement waits for a replica (``WAIT``) before it returns.
   Two stores side by side, ``settle_wait`` 0.1 s and 0 (no WAIT), take turns: the latency
   of one request's ledger work (hold and settle on the global budget), one at a time and
   at ``--concurrency`` in flight, and of a whole routed request (``Router.acomplete`` with
   a global budget, fake upstream), as the ratio with WAIT to without.

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
from tests.fakes.redis_server import RedisCluster, RedisServer, wait_replicated
from tests.fakes.upstream import FakeUpstream

SECRET = "bench-digest-secret-of-32-chars!"


def _arm(up: FakeUpstream) -> dict[str, Any]:
    """The one arm both measurements route to: the fake upstream, with a key set for it."""
    import os

    os.environ["BENCH_UP_KEY"] = "sk-bench"
    return {
        "model": "openai/small",
        "input_price": 1,
        "output_price": 2,
        "api_base": up.base_url,
        "api_key_env": "BENCH_UP_KEY",
    }


def round_trips(url: str, up: FakeUpstream) -> dict[str, float]:
    from ponder.router import Router, Settings

    arm = _arm(up)
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


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2]


async def ledger_latency(url: str, rounds: int, concurrency: int) -> dict[str, float]:
    """Median seconds of a hold and a settle on the global budget, with WAIT and without,
    the two stores taking turns round by round (so drift hits both alike)."""
    from ponder.router import RedisStore

    key = "ponder:budget:{global}"
    times: dict[str, list[float]] = {"wait": [], "none": []}
    pool = max(64, concurrency)
    async with RedisStore(url, settle_wait=0.1, max_connections=pool) as waiting, RedisStore(
        url, settle_wait=0.0, max_connections=pool
    ) as plain:
        stores = {"wait": waiting, "none": plain}
        counter = 0

        async def one(store: RedisStore, kind: str) -> None:
            nonlocal counter
            counter += 1
            hold = f"{kind}-{counter}"
            started = time.perf_counter()
            await store.hold(key, hold, 1e-4, 1e9, 150)
            await store.settle(key, hold, 5e-5)
            times[kind].append(time.perf_counter() - started)

        for kind, store in stores.items():  # load the scripts, open the pools
            for _ in range(20):
                await one(store, kind)
            times[kind].clear()
        for _ in range(rounds):
            for kind, store in stores.items():
                await asyncio.gather(*(one(store, kind) for _ in range(concurrency)))
        unreplicated = waiting.unreplicated
    return {
        "with WAIT": _median(times["wait"]),
        "without": _median(times["none"]),
        "unreplicated": float(unreplicated),
    }


def routed_latency(url: str, up: FakeUpstream, rounds: int) -> dict[str, float]:
    """Median seconds of a routed request with a global budget (cache off), through a
    router whose settlements WAIT and one whose do not, taking turns."""
    from ponder.router import Router, Settings

    arm = _arm(up)
    common: dict[str, Any] = {
        "menu": {"arms": [arm]}, "redis_url": url, "digest_secret": SECRET,
        "budget": 1e6, "num_retries": 0,
    }  # fmt: skip
    routers = {
        "wait": Router(Settings(**common, settle_wait=0.1)),
        "none": Router(Settings(**common, settle_wait=0.0)),
    }
    times: dict[str, list[float]] = {"wait": [], "none": []}

    async def run() -> None:
        # One event loop for all (Router.complete would start a loop, and with it a new
        # Redis pool, per call: connecting would be most of what is measured).
        for kind, router in routers.items():
            for i in range(10):
                await router.acomplete(f"warm up {kind} {i}")
        for i in range(rounds):
            for kind, router in routers.items():
                started = time.perf_counter()
                await router.acomplete(f"What is {i} times 7? ({kind})")
                times[kind].append(time.perf_counter() - started)
        for router in routers.values():
            await router.aclose()

    asyncio.run(run())
    return {"with WAIT": _median(times["wait"]), "without": _median(times["none"])}


def wait_cost(rounds: int, concurrency: int) -> None:
    with RedisCluster() as cluster, FakeUpstream() as up:
        up.script("small", ["It is 42"])
        wait_replicated(cluster.master_of("ponder:budget:{global}").port)
        print(
            "Waiting for a replica (WAIT, settle_wait 0.1 s) on a 3-master cluster with one "
            f"replica each, medians of {rounds} turns:"
        )
        for label, conc in (("one at a time", 1), (f"{concurrency} in flight", concurrency)):
            f = asyncio.run(ledger_latency(cluster.url, rounds, conc))
            print(
                f"  hold + settle, {label:14s} with WAIT {f['with WAIT'] * 1e3:7.3f} ms  "
                f"without {f['without'] * 1e3:7.3f} ms  ratio {f['with WAIT'] / f['without']:.2f}"
                f"  (unacknowledged: {f['unreplicated']:.0f})"
            )
        f = routed_latency(cluster.url, up, rounds)
        print(
            f"  routed request, one at a time  with WAIT {f['with WAIT'] * 1e3:7.3f} ms  "
            f"without {f['without'] * 1e3:7.3f} ms  ratio {f['with WAIT'] / f['without']:.2f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--wait", action="store_true", help="only the cost of WAIT, on a cluster")
    p.add_argument("--rounds", type=int, default=300, help="turns per figure with --wait")
    a = p.parse_args()
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if a.wait:
        wait_cost(a.rounds, a.concurrency)
        return
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
