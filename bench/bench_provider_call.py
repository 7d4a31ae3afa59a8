"""What one provider call costs in CPU through each layer ponder could use, side by side.

The proxy-overhead goal (issue 13: at most 2 ms added at concurrency 1) meets litellm, which
ponder keeps as its one path to providers (it maps thinking parameters, providers and
prices). This script times, in one process and one event loop, sequential calls to the
fake upstream (its own process, ``bench/_fake_upstream.py``) made by:

* ``httpx`` posting the JSON body itself (the floor: an HTTP round trip on loopback);
* the official ``openai`` SDK (``AsyncOpenAI``), which litellm calls under the hood;
* ``litellm.acompletion`` with the keyword arguments ponder sends (``_llm._kwargs``);
* ponder's own call (``_llm.call``: litellm plus retries, deadline and cost).

Each layer runs in interleaved rounds; the figure is the per-call wall time (p50) and the
process CPU per call, and what each layer adds over the one below it.

    python3 bench/bench_provider_call.py [--n 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._proxy_servers import MODEL, Upstream

MESSAGES = [{"role": "user", "content": "What is six times seven? Reply in one short sentence."}]


async def timed(call: Callable[[], Awaitable[object]], n: int) -> tuple[list[float], float]:
    walls: list[float] = []
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        walls.append(time.perf_counter() - t0)
    return walls, (time.process_time() - cpu0) / n


async def main_async(n: int, rounds: int) -> None:
    import httpx
    import openai

    from ponder import Arm
    from ponder.router._llm import call as ponder_call
    from ponder.router._llm import litellm

    up = Upstream()
    try:
        base = up.base_url.rstrip("/")
        lm = litellm()
        arm = Arm(model=f"openai/{MODEL}", input_price=1.0, output_price=2.0, api_base=base)
        from ponder.router._llm import _kwargs

        kwargs = _kwargs(arm, MESSAGES, {}, "sk-bench", 60.0)
        body = {"model": MODEL, "messages": MESSAGES}
        async with httpx.AsyncClient(base_url=base, timeout=60) as hx:
            sdk = openai.AsyncOpenAI(base_url=base, api_key="sk-bench", max_retries=0)

            async def raw() -> object:
                r = await hx.post("/chat/completions", json=body)
                return r.json()

            async def via_sdk() -> object:
                return await sdk.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]

            async def via_litellm() -> object:
                return await lm.acompletion(**kwargs)

            async def via_ponder() -> object:
                return await ponder_call(
                    arm, MESSAGES, {}, api_key="sk-bench", timeout=60.0, num_retries=0
                )

            layers = {
                "httpx (JSON by hand)": raw,
                "openai SDK": via_sdk,
                "litellm.acompletion": via_litellm,
                "ponder _llm.call": via_ponder,
            }
            for fn in layers.values():  # warm every path (imports, pools, caches)
                for _ in range(20):
                    await fn()
            walls: dict[str, list[float]] = {k: [] for k in layers}
            cpus: dict[str, list[float]] = {k: [] for k in layers}
            for r in range(rounds):
                for name, fn in layers.items():
                    w, c = await timed(fn, n)
                    walls[name].extend(w)
                    cpus[name].append(c)
                print(f"  round {r + 1}/{rounds} done", file=sys.stderr)
            await sdk.close()
    finally:
        up.close()
    print("| layer | p50 ms | CPU ms/call | adds over the layer above (CPU ms) |")
    print("|---|---:|---:|---:|")
    prev: float | None = None
    for name in walls:
        p50 = statistics.median(walls[name]) * 1e3
        cpu = statistics.median(cpus[name]) * 1e3
        added = "—" if prev is None else f"{cpu - prev:+.2f}"
        print(f"| {name} | {p50:.2f} | {cpu:.2f} | {added} |")
        prev = cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="calls per layer per round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    args = ap.parse_args()
    asyncio.run(main_async(args.n, args.rounds))


if __name__ == "__main__":
    main()
