"""Clients that try to spend past the cost ceiling and the budgets: what they got, what it cost.

Two ``ponder serve`` replicas share one Redis (append-only, fsynced), a per-request ceiling
(``max_cost``) and four API keys with a small budget each; a ``ponder/cheap`` profile has a
lower ceiling. Two arms on the fake upstream: ``small`` (1 / 2 USD per Mtok, which the
operator's ``lam`` prefers) and ``large`` (4 / 8 USD, which a client asking for ``lam: 0``
and a higher ceiling would get). The upstream runs with ``--fill``: every answer is as long
as the request's ``max_tokens`` lets it be (up to 100,000 tokens), so what it bills is the
worst case, and a ``max_tokens`` that reached it unbounded would show.

``--n`` requests (default 280) at concurrency ``--concurrency`` (default 16), cycling over
the keys and seven kinds: a 900 KB system prompt under a short question; a system prompt
that fits; ``max_tokens: 2147483647``, plain and streamed; ``x-ponder-max-cost: 1000`` with
``x-ponder-lam: 0``; ``ponder/cheap`` with ``extra_body.ponder`` = ``{max_cost: 1000, lam: 0}``;
and streams the client drops after three events. Then, on a fresh key with a budget of two
ceilings, ten dropped streams one after another and a normal request: holds left at the
ceiling by the dropped streams would turn it into a 429.

Reported per kind: statuses, what the upstream billed (the largest single request against
its ceiling) and, per key, the Redis ledger against the budget. The promise: no request
above its ceiling, no key above its budget plus one ceiling. Dropped streams are settled at
what ponder read; the fake upstream writes the whole answer at once, so its bill for them is
an upper bound (a real provider stops generating when ponder closes the call).

    python bench/bench_adversarial.py [--n 280] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _proxy_servers import UPSTREAM_KEY_ENV, Server, Upstream, ponder_server, start_all
from bench_load import Redis

CEILING = 0.005  # USD per request (server max_cost)
CHEAP_CEILING = 0.001  # the ponder/cheap profile's
KEY_BUDGET = 0.1  # USD per key: 20 ceilings
KEYS = [f"sk-adversary-{k}-0123456789" for k in range(4)]
DROP_KEY = "sk-adversary-drops-0123456789"
PRICES = {"bench": (1.0, 2.0), "bench-large": (4.0, 8.0)}  # USD per Mtok, in / out
INT32 = 2**31 - 1
QUESTION = "What is six times seven? Reply in one short sentence."
KINDS = [
    "900 KB system prompt",
    "2 KB system prompt",
    "max_tokens 2^31-1",
    "max_tokens 2^31-1, streamed",
    "x-ponder-max-cost 1000, lam 0",
    "ponder/cheap + extra_body max_cost 1000, lam 0",
    "stream dropped after 3 events",
]


def ledger_key(key: str) -> str:
    return "ponder:budget:{key:" + hashlib.sha256(key.encode()).hexdigest()[:12] + "}"


def request(i: int, kind: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The body and extra headers of request ``i`` of ``kind``; the first word of the user
    message tags it, so the upstream's bill can be matched to it."""
    user = {"role": "user", "content": f"r{i} {QUESTION}"}
    body: dict[str, Any] = {"model": "ponder/auto", "messages": [user], "max_tokens": INT32}
    headers: dict[str, str] = {}
    if kind in (0, 1):  # one-character words: as many billed tokens as ponder may estimate
        system = "a " * (450_000 if kind == 0 else 1_000)
        body["messages"] = [{"role": "system", "content": system}, user]
    if kind in (3, 6):
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if kind == 4:
        headers = {"x-ponder-max-cost": "1000", "x-ponder-lam": "0"}
    if kind == 5:
        body["model"] = "ponder/cheap"
        body["ponder"] = {"max_cost": 1000.0, "lam": 0.0}
    return body, headers


async def send(
    session: aiohttp.ClientSession, url: str, key: str, body: dict[str, Any],
    headers: dict[str, str], drop_after: int | None,
) -> str:  # fmt: skip
    """One request; returns how it ended: a status (``200``, ``429 <code>``...), ``200 error
    event``, ``200 dropped`` or ``lost`` (no answer, or not the OpenAI shape)."""
    hdrs = {"authorization": f"Bearer {key}", "content-type": "application/json", **headers}
    try:
        async with session.post(url, data=json.dumps(body), headers=hdrs) as r:
            if r.status == 200 and body.get("stream"):
                events = 0
                async for line in r.content:
                    if not line.startswith(b"data:"):
                        continue
                    events += 1
                    if drop_after is not None and events >= drop_after:
                        r.close()  # the client goes away mid-stream
                        return "200 dropped"
                    if line.strip() == b"data: [DONE]":
                        return "200"
                    if "error" in json.loads(line[5:]):  # an error event, not a chunk
                        return "200 error event"
                return "lost"  # ended without [DONE] or an error event
            payload = await r.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError):
        return "lost"
    if r.status == 200 and payload.get("object") == "chat.completion":
        return "200"
    if r.status != 200 and isinstance(payload.get("error"), dict):
        return f"{r.status} {payload['error'].get('code') or ''}".strip()
    return "lost"


async def attack(urls: list[str], n: int, concurrency: int) -> dict[str, Counter[str]]:
    sem = asyncio.Semaphore(concurrency)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=0)
    ) as session:

        async def one(i: int) -> None:
            kind = i % len(KINDS)
            body, headers = request(i, kind)
            async with sem:
                url = urls[i % len(urls)] + "/v1/chat/completions"
                how = await send(
                    session, url, KEYS[i % len(KEYS)], body, headers, 3 if kind == 6 else None
                )
            by_kind[KINDS[kind]][how] += 1

        await asyncio.gather(*(one(i) for i in range(n)))

        # Ten dropped streams in a row on a budget of two ceilings, then a normal request.
        drops: Counter[str] = Counter()
        for j in range(10):
            body, _ = request(n + j, 6)
            drops[await send(session, urls[j % len(urls)] + "/v1/chat/completions",
                             DROP_KEY, body, {}, 3)] += 1  # fmt: skip
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)
        body, _ = request(n + 10, 2)
        body["max_tokens"] = 50
        after = await send(session, urls[0] + "/v1/chat/completions", DROP_KEY, body, {}, None)
        by_kind["drops"] = drops
        by_kind["after drops"] = Counter([after])
    return by_kind


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=280)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")

    def arm(name: str, model: str, ability: float) -> dict[str, Any]:
        p_in, p_out = PRICES[model]
        return {"model": f"openai/{model}", "name": name, "ability": ability, "input_price": p_in,
                "output_price": p_out, "api_key_env": UPSTREAM_KEY_ENV}  # fmt: skip

    keys = [{"key": k, "tenant": f"t{i}", "budget": KEY_BUDGET} for i, k in enumerate(KEYS)]
    keys.append({"key": DROP_KEY, "tenant": "drops", "budget": 2 * CEILING})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        upstream = Upstream(models=tuple(PRICES), fill=True)
        arms = [arm("small", "bench", -1.0), arm("large", "bench-large", 3.0)]
        for a in arms:
            a["api_base"] = upstream.base_url
        extra = {
            "menu": {"arms": arms, "lam": 5.0},
            "api_keys": keys,
            "max_cost": CEILING,
            "profiles": {"cheap": {"max_cost": CHEAP_CEILING}},
        }
        redis = Redis(work)
        servers: list[Server] = []
        try:
            redis.start()
            servers = [
                ponder_server(f"adversary {k}", sys.executable, work, upstream.base_url,
                              cache_ttl=0, redis=redis.url, extra=extra)
                for k in (1, 2)
            ]  # fmt: skip
            start_all(servers)
            t0 = time.perf_counter()
            by_kind = asyncio.run(attack([s.url for s in servers], args.n, args.concurrency))
            wall = time.perf_counter() - t0
            time.sleep(1.0)  # detached settlements
            ledgers = {k: redis.get_float(ledger_key(k)) for k in [*KEYS, DROP_KEY]}
            bills = upstream.usage()
        finally:
            for s in servers:
                s.stop()
            with contextlib.suppress(Exception):
                redis.stop()
            upstream.close()

    # What the upstream billed, per request (by tag), per key and per kind; dropped
    # streams apart, since the fake upstream bills them whole (see the docstring).
    billed: dict[str, float] = defaultdict(float)  # per key, dropped streams excluded
    dropped: dict[str, float] = defaultdict(float)  # per key, dropped streams only
    billed_kind: dict[str, float] = defaultdict(float)
    worst, worst_ceiling, large = 0.0, CEILING, 0
    for tag, model, prompt, completion in bills:
        p_in, p_out = PRICES[model]
        cost = (prompt * p_in + completion * p_out) / 1e6
        i = int(tag[1:])
        kind = i % len(KINDS) if i < args.n else 6 if i < args.n + 10 else 2
        key = KEYS[i % len(KEYS)] if i < args.n else DROP_KEY
        (dropped if kind == 6 else billed)[key] += cost
        billed_kind[KINDS[kind] if i < args.n else "drops" if kind == 6 else "after drops"] += cost
        large += model == "bench-large"
        ceiling = CHEAP_CEILING if kind == 5 else CEILING
        if cost / ceiling > worst / worst_ceiling:
            worst, worst_ceiling = cost, ceiling

    print(f"{args.n} requests + 11 on the drop key in {wall:.1f} s; upstream calls "
          f"{len(bills)}, on the large arm {large}\n")  # fmt: skip
    print("| kind | requests | outcomes | upstream billed |\n|---|---:|---|---:|")
    for name in [*KINDS, "drops", "after drops"]:
        c = by_kind[name]
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))
        print(f"| {name} | {sum(c.values())} | {outcomes} | ${billed_kind.get(name, 0):.6f} |")
    print("\n| key | budget | ledger | billed (no dropped streams) | billed for dropped streams |")
    print("|---|---:|---:|---:|---:|")
    over = False
    for k in [*KEYS, DROP_KEY]:
        budget = 2 * CEILING if k == DROP_KEY else KEY_BUDGET
        over |= max(ledgers[k], billed[k]) > budget + CEILING + 1e-12
        print(f"| {k[:16]}... | ${budget:g} | ${ledgers[k]:.6f} | ${billed[k]:.6f} | "
              f"${dropped[k]:.6f} |")  # fmt: skip

    total: Counter[str] = Counter()
    for name, c in by_kind.items():
        if name in KINDS:
            total.update(c)
    refused = ", ".join(f"{v} x {k}" for k, v in sorted(total.items()) if k[0] in "3456")
    spend = sum(ledgers[k] for k in KEYS)
    whole = max(billed[k] + dropped[k] for k in KEYS)  # dropped streams billed whole
    print("\n| what | command | figures |\n|---|---|---|")
    print(
        f"| adversarial clients: 900 KB system prompts, `max_tokens` 2^31-1 (plain and "
        f"streamed), `x-ponder-max-cost: 1000` / `extra_body` ceilings and lower `lam`, "
        f"streams dropped after 3 events; 2 replicas, one Redis, {len(KEYS)} keys with "
        f"${KEY_BUDGET:g} each, ceiling ${CEILING:g} | `python bench/bench_adversarial.py` | "
        f"{args.n} requests: {total['200']} answered, {total['200 dropped']} streams dropped "
        f"by the client, {total['200 error event']} stream error events, {refused}, "
        f"{total['lost']} lost, {large} on the dear arm; largest request billed "
        f"${worst:.6f} against its ${worst_ceiling:g} ceiling; keys' ledgers ${spend:.4f} of "
        f"${KEY_BUDGET * len(KEYS):g} (upstream billed ${sum(billed.values()):.4f} + "
        f"${sum(dropped.values()):.4f} for dropped streams); ledger or bill above budget + "
        f"one ceiling: {'YES' if over else 'never'} (with dropped streams billed whole, the "
        f"dearest key ${whole:.4f}); 10 dropped streams on a 2-ceiling "
        f"budget, then {next(iter(by_kind['after drops']))} |"
    )


if __name__ == "__main__":
    main()
