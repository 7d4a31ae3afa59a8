"""Provider faults through the proxy: what a client gets when a share of provider calls fail.

One fake OpenAI-compatible upstream (``tests.fakes.upstream.FakeUpstream``) serves two arms,
``small`` (cheap, chosen first) and ``big``; its seeded injector
(``tests/fakes/upstream_faults.py``) gives a share of each arm's calls a fault, drawn
uniformly from: a timeout (the call sleeps
past the router's timeout), 429 with ``Retry-After``, 500, 503, a truncated answer (a stream
cut after about half its text with no ``[DONE]``, or a plain answer cut mid-body) and a 200
whose body is not JSON. ``ponder``'s proxy (uvicorn, in this process, like the upstream) routes
``ponder/auto`` over the two arms; one aiohttp client sends N requests at a fixed concurrency,
one in four streamed, each with its own prompt (so no cache or escalation memory helps).

Every response is classified from its raw bytes:

- **answered**: a 200 whose completion (or, streamed, whose text, final ``finish_reason`` and
  ``[DONE]``) is exactly the scripted answer; split by the trace into *first arm* (the arm
  chosen first answered, possibly after retries) and *after fallback*;
- **502** / **504**: that status with an OpenAI error body (``{"error": {"message", "type"}}``);
- **stream error events**: a stream that broke after text had gone out and said so with an
  ``error`` event (the OpenAI SDKs raise it): the only honest outcome once text is out;
- **other errors**: any other status with an OpenAI error body;
- **lost**: no response (connection dropped, client timeout), or a body that is not the
  OpenAI shape it claims to be;
- **silent stream cuts**: a stream that ended short, or without ``[DONE]``, with no error event.

Rows compare retries off (each failure goes straight to the next arm) with ponder's default
of two retries (backoff with jitter, ``Retry-After`` honoured up to ``retry_max_wait``).
Latency is client side, request sent to last byte read, over every request.

    python bench/bench_faults.py                      # 2,000 requests, c=20, fault rate 0.2
    python bench/bench_faults.py --n 200 --rate 0.3   # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import aiohttp
import numpy as np

from ponder.classifiers import load_default_classifier
from ponder.proxy import create_app
from ponder.router import Router, Settings
from tests.fakes.proxy_server import ProxyServer
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream_faults import FAULT_KINDS

KEY = "sk-bench-faults-0123456789"
KEY_ENV = "PONDER_BENCH_FAULTS_KEY"
ANSWERS = {
    "small": "Small says: six times seven is 42, checked twice.",
    "big": "Big says: six times seven is 42, checked three times.",
}
PROMPT = "What is six times seven? Reply in one short sentence."
KIND_NAMES = {
    "timeout": "timeout",
    "429": "429",
    "500": "500",
    "503": "503",
    "truncated_stream": "truncated",
    "invalid_json": "invalid JSON",
}


@dataclass
class Tally:
    """What the client saw, per request."""

    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, outcome: str, seconds: float, detail: str = "") -> None:
        self.outcomes[outcome] += 1
        self.seconds.append(seconds)
        if detail and outcome not in self.examples:
            self.examples[outcome] = detail[:300]


def _openai_error(body: bytes) -> bool:
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    error = payload.get("error") if isinstance(payload, dict) else None
    return isinstance(error, dict) and bool(error.get("message")) and bool(error.get("type"))


def _answered(trace: Any) -> str:
    first = isinstance(trace, dict) and trace.get("answered_by") == trace.get("chosen_arm")
    return "first_arm" if first else "fallback"


def classify_json(status: int, body: bytes) -> tuple[str, str]:
    if status != 200:
        if not _openai_error(body):
            return "lost", f"{status} {body[:200]!r}"
        return (str(status) if status in (502, 504) else "other"), f"{status} {body[:200]!r}"
    try:
        c = json.loads(body)
        text = c["choices"][0]["message"]["content"]
        trace = c["ponder"]
    except (ValueError, KeyError, IndexError, TypeError):
        return "lost", f"200 {body[:200]!r}"
    if text not in ANSWERS.values():
        return "lost", f"200 with text {text!r}"
    return _answered(trace), ""


def classify_stream(status: int, body: bytes) -> tuple[str, str]:
    if status != 200:
        return classify_json(status, body)
    events = [e.strip() for e in body.decode(errors="replace").split("\n\n") if e.strip()]
    parts: list[str] = []
    finish, trace, done = None, None, False
    for event in events:
        data = event.removeprefix("data: ")
        if data == "[DONE]":
            done = True
            continue
        try:
            payload = json.loads(data)
        except ValueError:
            return "lost", f"non-JSON event {data[:100]!r}"
        if "error" in payload:
            ok = isinstance(payload["error"], dict) and payload["error"].get("message")
            return ("stream_error" if ok else "lost"), json.dumps(payload)[:200]
        for choice in payload.get("choices") or []:
            parts.append(choice.get("delta", {}).get("content") or "")
            finish = choice.get("finish_reason") or finish
        trace = payload.get("ponder", trace)
    text = "".join(parts)
    if done and finish == "stop" and text in ANSWERS.values():
        return _answered(trace), ""
    return "silent_cut", f"done={done} finish={finish} text={text!r}"


async def one(session: aiohttp.ClientSession, url: str, i: int, stream: bool, tally: Tally) -> None:
    body = {
        "model": "ponder/auto",
        "messages": [{"role": "user", "content": f"{PROMPT} (#{i})"}],
        "stream": stream,
    }
    start = time.perf_counter()
    try:
        async with session.post(url, json=body) as r:
            raw = await r.read()
            status = r.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        tally.add("lost", time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
        return
    outcome, detail = (classify_stream if stream else classify_json)(status, raw)
    tally.add(outcome, time.perf_counter() - start, detail)


async def drive(base_url: str, n: int, concurrency: int, client_timeout: float) -> Tally:
    tally = Tally()
    gate = asyncio.Semaphore(concurrency)
    url = f"{base_url}/chat/completions"
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=client_timeout),
        headers={"authorization": f"Bearer {KEY}"},
    ) as session:

        async def limited(i: int) -> None:
            async with gate:
                await one(session, url, i, i % 4 == 0, tally)

        await asyncio.gather(*(limited(i) for i in range(n)))
    return tally


def settings(up: FakeUpstream, args: argparse.Namespace, retries: int) -> Settings:
    def arm(name: str, ability: float, price: float) -> dict[str, Any]:
        return {
            "model": f"openai/{name}",
            "name": name,
            "ability": ability,
            "api_base": up.base_url,
            "api_key_env": KEY_ENV,
            "input_price": price,
            "output_price": 4 * price,
        }

    return Settings(
        menu={"arms": [arm("small", -1.0, 1.0), arm("big", 3.0, 10.0)], "lam": 5.0},
        api_keys=[{"key": KEY, "tenant": "bench"}],
        timeout=args.timeout,
        num_retries=retries,
        retry_backoff=args.backoff,
        retry_max_wait=args.max_wait,
        memory_ttl=0,
    )


def run(args: argparse.Namespace, retries: int, clf: Any) -> dict[str, Any]:
    with FakeUpstream() as up:
        for seed, (name, answer) in enumerate(ANSWERS.items()):
            up.script(name, [answer])
            up.faults(
                name,
                rate=args.rate,
                seed=args.seed + seed,
                delay=args.timeout * 2,
                retry_after=args.retry_after,
            )
        router = Router(settings(up, args, retries), classifier=clf)
        with ProxyServer(create_app(router=router)) as proxy:
            asyncio.run(drive(proxy.base_url, 20, 5, args.client_timeout))  # warm-up
            calls_before = {m: up.calls(m) for m in ANSWERS}
            faults_before = up.fault_counts()
            start = time.perf_counter()
            tally = asyncio.run(
                drive(proxy.base_url, args.n, args.concurrency, args.client_timeout)
            )
            wall = time.perf_counter() - start
            calls = sum(up.calls(m) - calls_before[m] for m in ANSWERS)
            faults = up.fault_counts() - faults_before
            for name in ANSWERS:
                up.faults(name, rate=0.0)
            after = asyncio.run(drive(proxy.base_url, 1, 1, args.client_timeout)).outcomes
            spent = asyncio.run(router.spent())
    return {
        "retries": retries,
        "tally": tally,
        "wall": wall,
        "calls": calls,
        "faults": faults,
        "after": "answered" if after["first_arm"] == 1 else dict(after),
        "spent": spent,
    }


def table(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    kinds = " | ".join(KIND_NAMES[k] for k in FAULT_KINDS)
    head = (
        f"| retries | requests | upstream calls | faults | {kinds} | answered: first arm "
        "| after fallback | 502 | 504 | stream error events | other errors | lost "
        "| silent stream cuts | p50 | p99 |"
    )
    lines = [head, "|" + "---:|" * (head.count("|") - 1)]
    for res in results:
        o: Counter[str] = res["tally"].outcomes
        secs = np.array(res["tally"].seconds) * 1000
        faults = " | ".join(str(res["faults"].get(k, 0)) for k in FAULT_KINDS)
        total = sum(res["faults"].values())
        lines.append(
            f"| {res['retries']} | {args.n:,} | {res['calls']:,} | {total} | {faults} "
            f"| {o['first_arm']:,} | {o['fallback']:,} | {o['502']} | {o['504']} "
            f"| {o['stream_error']} | {o['other']} | {o['lost']} | {o['silent_cut']} "
            f"| {np.percentile(secs, 50):.0f} ms | {np.percentile(secs, 99):.0f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="requests per row")
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--rate", type=float, default=0.2, help="share of upstream calls faulted")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=1.0, help="router's per-call timeout (s)")
    p.add_argument("--retry-after", type=float, default=0.2, help="429s' Retry-After (s)")
    p.add_argument("--backoff", type=float, default=0.1, help="first retry's backoff (s)")
    p.add_argument("--max-wait", type=float, default=5.0, help="longest retry wait (s)")
    p.add_argument("--client-timeout", type=float, default=60.0, help="a hang, in seconds")
    p.add_argument("--retries", type=int, nargs="+", default=[0, 2], help="one row each")
    args = p.parse_args()
    os.environ[KEY_ENV] = "sk-bench-upstream"
    clf = load_default_classifier()
    results = []
    for retries in args.retries:
        res = run(args, retries, clf)
        results.append(res)
        t: Tally = res["tally"]
        print(
            f"retries={retries}: {args.n} requests in {res['wall']:.1f} s; "
            f"request after the run (faults off): {res['after']}; "
            f"ledger ${res['spent']:.6f}",
            file=sys.stderr,
        )
        for outcome, example in t.examples.items():
            print(f"  e.g. {outcome}: {example}", file=sys.stderr)
    print(
        f"\n{args.n:,} requests per row (one in four streamed), concurrency "
        f"{args.concurrency}, fault rate {args.rate} per upstream call over "
        f"{len(FAULT_KINDS)} kinds, two arms, router timeout {args.timeout:g} s, "
        f"Retry-After {args.retry_after:g} s, seed {args.seed}:\n"
    )
    print(table(args, results))


if __name__ == "__main__":
    main()
