"""Latency the ponder proxy adds over calling the upstream directly, next to LiteLLM's proxy.

One fake OpenAI-compatible upstream (``tests.fakes.upstream.FakeUpstream``, in a process of its own,
answering a fixed short sentence at once, with ``TCP_NODELAY``: see ``bench/_fake_upstream.py``)
sits behind every target:

- **direct**: the benchmark's client calls the upstream itself: the baseline;
- **ponder routed** / **pass-through**: ``ponder serve`` (a subprocess) with a one-arm menu
  ``openai/bench`` on the upstream, auth on, no retries, cache off; the client asks for
  ``ponder/auto`` (classify, decide, call) or ``openai/bench`` (call as it is);
- **ponder cache hit**: a second ``ponder serve`` with ``cache_ttl: 3600``, sent the same
  request again and again (the warm-up fills the cache);
- the same three **with Redis** (``--redis-url``) when ``redis-server`` is on PATH;
- **litellm proxy** (``litellm --config``, a subprocess; master key set, no cache) and
  **litellm cache hit** (its in-memory cache, ``cache: true``; with Redis, its Redis cache too),
  when LiteLLM's proxy extra is importable by ``--litellm-python``.
- **the lever ladder** (issue 13; ``--no-levers`` skips it): ``ponder serve`` with the
  overhead levers undone one by one (``bench/_ponder_levers.py``), routed: none of them, then
  lever 1 (litellm given the arm's price per call), then levers 1-2 (litellm's logging and
  callbacks off on ponder's calls); the **ponder routed** row adds lever 4 (uvloop and
  httptools, when the interpreter has ``uvicorn[standard]``), and with Redis a
  ``--workers 2`` server (``--workers``) adds lever 5 to **ponder+Redis routed**. Lever 3
  (one pooled HTTP client per provider) has no row: litellm already keeps one.

One async client (keep-alive, an ``asyncio.Semaphore`` for the concurrency) sends N requests
to each target at concurrency 1 and at concurrency 50, after ~50 warm-up requests;
targets run back to back, in rounds whose order rotates, so drifting machine noise hits all of
them. Every answer must be a 200 carrying the scripted text (and, for ponder's cache rows,
``x-ponder-cache: hit``); anything else counts as an error. ``upstream calls`` counts what
reached the upstream during the measured requests: N for the proxies, 0 for cache hits.

Reported per target and concurrency: p50 and p99 latency (ms, client side, request sent to
body read), requests/s, the p50 added over direct at the same concurrency (ms and ratio), and
the server's CPU time per request (every process of the server, workers included, from
``/proc``, over the measured batches: less sensitive to a busy machine than latency). Then
the table of docs/results.md, what each lever gained over the rung before it, and issue 13's goals
(added p50 <= 2 ms at concurrency 1; >= 2x LiteLLM's requests/s at concurrency 50).
Client, upstream and proxy share this machine's CPUs: at concurrency 50 the figures are a
comparison on equal terms, not the proxies' capacity on dedicated hardware.

The client is aiohttp by default. ``--client httpx`` uses one ``httpx.AsyncClient`` instead,
but httpx's connection pool is itself the bottleneck at concurrency 50 (encode/httpx#3215):
against a trivial FastAPI app on this kind of machine it tops out near 180 requests/s, with a
p99 over a second, where aiohttp does 3,000, so every row at c=50 would measure the client.

    python bench/bench_proxy.py                # 400 requests at c=1, 2000 at c=50, per target
    python bench/bench_proxy.py --quick        # a smoke run, about two minutes (mostly startup)
    python bench/bench_proxy.py --n 1000 --rounds 3 --litellm-python /path/to/venv/bin/python

LiteLLM's proxy needs ``pip install 'litellm[proxy]'``, which pins versions (rich, uvloop,
...) a development environment may not want; install it in a venv made with
``--system-site-packages`` and pass that venv's python as ``--litellm-python`` (or set
``PONDER_BENCH_LITELLM_PYTHON``). ``--ponder-python`` likewise picks the interpreter that runs
``ponder serve``: uvicorn serves on uvloop when the interpreter has it, and LiteLLM's proxy
always asks for uvloop, so the event loop each server ran on is printed with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proxy_load import CLIENTS, Check, Target, answer_check, measure
from _proxy_report import (
    LITELLM,
    REDIS_ROUTED,
    ROUTED,
    Step,
    goals,
    lever_gains,
    machine_facts,
    summary,
    table,
)
from _proxy_servers import (
    ANSWER,
    LITELLM_KEY,
    MODEL,
    PONDER_KEY,
    PROMPT,
    ROOT,
    UPSTREAM_KEY,
    Upstream,
    _tail,
    litellm_server,
    ponder_server,
    wait_ready,
)

CACHE_TTL = 3600
"""Seconds the cache rows' entries live: longer than a run, so that no entry expires in the
middle of a measured batch (an entry is not renewed by hits: with 60 s, a run of several
minutes saw a miss among the hits)."""

# --- the lever ladder --------------------------------------------------------------------

LADDER: list[tuple[str, str, tuple[str, ...]]] = [
    # server name, target name, levers undone (bench/_ponder_levers.py)
    ("levers0", "ponder routed, no levers", ("price", "unlogged", "uvloop")),
    ("levers1", "ponder routed, lever 1", ("unlogged", "uvloop")),
    ("levers2", "ponder routed, levers 1-2", ("uvloop",)),
]
STEPS = [
    "1. litellm given the arm's price per call (no price-table search)",
    "2. litellm's logging and callbacks off on ponder's calls",
]
UVLOOP_STEP = "4. `uvicorn[standard]` (uvloop + httptools)"
POOL_NOTE = (
    "3. one pooled HTTP client per provider: no row. litellm already keeps one AsyncOpenAI "
    "client (on an aiohttp pool) per provider, key, base URL, timeout and event loop; "
    "ponder's timeout is fixed, so every call of an arm the proxy makes reuses it. A client "
    "of ponder's own (httpx's pool) was measured slower per call, so ponder passes none."
)


# --- main --------------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def closing_all() -> Iterator[contextlib.ExitStack]:
    """An exit stack that also runs on SIGTERM (Ctrl-C is a KeyboardInterrupt already)."""
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        with contextlib.ExitStack() as stack:
            yield stack
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=None, help="requests per target at concurrency 1 "
                    "(default 400; higher concurrencies get 5x; --quick: 100)")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="a smoke run: fewer requests, one round")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 2)")
    ap.add_argument("--warmup", type=int, default=50, help="warm-up requests before each batch")
    ap.add_argument("--ponder-python", default=sys.executable, help="interpreter for ponder serve")
    ap.add_argument(
        "--litellm-python",
        default=os.environ.get("PONDER_BENCH_LITELLM_PYTHON", sys.executable),
        help="interpreter with litellm[proxy] installed (env PONDER_BENCH_LITELLM_PYTHON)",
    )
    ap.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="aiohttp",
        help="load generator (httpx's pool is itself the bottleneck at high concurrency)",
    )
    ap.add_argument("--no-litellm", action="store_true", help="skip LiteLLM's proxy")
    ap.add_argument("--no-redis", action="store_true", help="skip the Redis rows")
    ap.add_argument(
        "--no-levers", action="store_true", help="skip the ladder of what each lever gained"
    )
    ap.add_argument(
        "--workers", type=int, default=2, help="worker processes of the --workers row (Redis)"
    )
    ap.add_argument(
        "--upstream-nagle",
        action="store_true",
        help="leave Nagle on in the fake upstream, as the tests' FakeUpstream does "
        "(adds ~40 ms of delayed-ACK stall to every upstream call)",
    )
    args = ap.parse_args(argv)
    if args.n is None:
        args.n = 100 if args.quick else 400
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if args.quick:
        args.warmup = min(args.warmup, 20)
    if args.n < 1 or args.rounds < 1 or min(args.concurrency) < 1:
        ap.error("--n, --rounds and --concurrency must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    levels = sorted(set(args.concurrency))
    n_at = {c: args.n if c == 1 else 5 * args.n for c in levels}
    notes: list[str] = []
    with closing_all() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ponder-bench-")))
        upstream = Upstream(nagle=args.upstream_nagle)
        stack.callback(upstream.close)
        up = upstream.base_url

        redis_url: str | None = None
        redis_port: int | None = None
        if args.no_redis:
            notes.append("Redis rows: skipped (--no-redis).")
        elif shutil.which("redis-server") is None:
            notes.append("Redis rows: skipped (redis-server is not on PATH).")
        else:
            sys.path.insert(0, str(ROOT))
            from tests.fakes.redis_server import RedisServer

            redis = RedisServer().start()
            stack.callback(redis.close)
            redis_url, redis_port = redis.url, redis.port

        py = args.ponder_python
        servers = [
            ponder_server("ponder", py, workdir, up, cache_ttl=0, redis=None),
            ponder_server("ponder cache", py, workdir, up, cache_ttl=CACHE_TTL, redis=None),
        ]
        if not args.no_levers:
            servers += [
                ponder_server(f"ponder {n}", py, workdir, up, cache_ttl=0, redis=None,
                              levers_off=off)
                for n, _, off in LADDER
            ]  # fmt: skip
        if redis_url is not None:
            servers += [
                ponder_server("ponder+redis", py, workdir, up, cache_ttl=0, redis=redis_url),
                ponder_server(
                    "ponder+redis cache", py, workdir, up, cache_ttl=CACHE_TTL, redis=redis_url
                ),
            ]
            if args.workers > 1:
                servers.append(
                    ponder_server("ponder+redis workers", py, workdir, up, cache_ttl=0,
                                  redis=redis_url, workers=args.workers)
                )  # fmt: skip
        lpy = None if args.no_litellm else args.litellm_python
        if lpy is not None:
            servers += [
                litellm_server("litellm", lpy, workdir, up, cache=None),
                litellm_server("litellm cache", lpy, workdir, up, cache={"type": "local"}),
            ]
            if redis_port is not None:
                redis_cache = {"type": "redis", "host": "127.0.0.1", "port": redis_port}
                servers.append(
                    litellm_server("litellm redis cache", lpy, workdir, up, cache=redis_cache)
                )
        else:
            notes.append("litellm proxy: skipped (--no-litellm).")
        for s in servers:
            s.start()
            stack.callback(s.stop)
        print(f"starting {len(servers)} proxies on {up} ...", file=sys.stderr, flush=True)
        wait_ready(servers)
        by_name = {s.name: s for s in servers}
        failed: dict[str, list[str]] = {}
        for s in servers:
            if s.failure is None:
                continue
            if s.name.startswith("ponder"):
                raise SystemExit(f"{s.name} {s.failure}; its log ends:\n{_tail(s.log)}")
            print(f"{s.name} {s.failure}; its log ends:\n{_tail(s.log)}", file=sys.stderr)
            failed.setdefault(f"{s.failure} ({_tail(s.log, 1)})", []).append(s.name)
        for why, names in failed.items():
            notes.append(
                f"**LiteLLM proxy NOT MEASURED** ({', '.join(names)}): it {why}. Install "
                "`litellm[proxy]` for the interpreter given as --litellm-python "
                f"({args.litellm_python})."
            )

        def ok(name: str) -> bool:
            return name in by_name and by_name[name].failure is None

        v1 = "/v1"
        auto, passthrough = "ponder/auto", f"openai/{MODEL}"
        plain, hit = answer_check(), answer_check(cache_header=True)

        def at(server: str, name: str, model: str, check: Check, key: str = PONDER_KEY) -> Target:
            s = by_name[server]
            return Target(name, s.url + v1, model, key, check, server=s)

        targets = [Target("direct upstream", up, MODEL, UPSTREAM_KEY, plain)]
        steps: list[Step] = []
        if not args.no_levers:
            targets += [at(f"ponder {n}", label, auto, plain) for n, label, _ in LADDER]
            pairs = zip(STEPS, LADDER[:-1], LADDER[1:], strict=True)
            steps = [Step(lever, b[1], a[1]) for lever, b, a in pairs]
            steps.append(Step(UVLOOP_STEP, LADDER[-1][1], ROUTED))
        targets += [
            at("ponder", ROUTED, auto, plain),
            at("ponder", "ponder pass-through", passthrough, plain),
            at("ponder cache", "ponder cache hit (routed)", auto, hit),
            at("ponder cache", "ponder cache hit (pass-through)", passthrough, hit),
        ]
        if redis_url is not None:
            targets += [
                at("ponder+redis", REDIS_ROUTED, auto, plain),
                at("ponder+redis", "ponder+Redis pass-through", passthrough, plain),
                at("ponder+redis cache", "ponder+Redis cache hit (routed)", auto, hit),
            ]
            if ok("ponder+redis workers"):
                name = f"ponder+Redis routed, --workers {args.workers}"
                targets.append(at("ponder+redis workers", name, auto, plain))
                steps.append(Step(f"5. `--workers {args.workers}` (Redis)", REDIS_ROUTED, name))
        if ok("litellm"):
            targets.append(at("litellm", LITELLM, MODEL, plain, LITELLM_KEY))
        if ok("litellm cache"):
            targets.append(at("litellm cache", "litellm cache hit (memory)", MODEL, plain,
                              LITELLM_KEY))  # fmt: skip
        if ok("litellm redis cache"):
            targets.append(at("litellm redis cache", "litellm cache hit (Redis)", MODEL, plain,
                              LITELLM_KEY))  # fmt: skip

        print("measuring ...", file=sys.stderr, flush=True)
        load_before = os.getloadavg()
        tallies = asyncio.run(
            measure(targets, upstream, args.client, levels, n_at, args.rounds, args.warmup)
        )

        print("## ponder proxy vs direct upstream vs LiteLLM proxy\n")
        print("\n".join(machine_facts(args.ponder_python, lpy, args.client)))
        load = ", ".join(f"{x:.2f}" for x in load_before)
        print(f"- load average (1, 5, 15 min) when measuring began: {load}; when it ended: "
              f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on the machine "
              "shows here: the benchmark's own processes add about 1 to 2)")  # fmt: skip
        each = ", ".join(f"{n_at[c]} at concurrency {c}" for c in levels)
        print(
            f"- requests per target: {each}, in {args.rounds} interleaved round(s), "
            f"each batch after {args.warmup} warm-up requests"
        )
        nodelay = "Nagle left on (--upstream-nagle)" if args.upstream_nagle else "TCP_NODELAY"
        print(
            f"- prompt {PROMPT!r}; upstream answer {ANSWER!r} "
            f"(FakeUpstream in its own process, {nodelay})\n"
        )
        print(table(targets, levels, tallies))
        print()
        low, high = min(levels), max(levels)
        if low != high:
            print("### Summary (the table of docs/results.md)\n")
            print(summary(targets, tallies, low, high))
            print()
            if steps:
                print("### What each lever gained (each row against the one before it)\n")
                print(lever_gains(steps, {t.name: t for t in targets}, tallies, low, high))
                print(f"\n- {POOL_NOTE}")
                print()
            print("### Goals (issue 13)\n")
            print("\n".join(goals({t.name: t for t in targets}, tallies, low, high)))
            print()
        for (name, c), tally in tallies.items():
            if tally.first_error is not None:
                notes.append(f"{name} at c={c}: {tally.errors} errors, first: {tally.first_error}")
            if "cache hit" in name and tally.upstream_calls:
                notes.append(f"{name} at c={c}: {tally.upstream_calls} requests reached the "
                             "upstream during the measurement (expected 0)")  # fmt: skip
        if ok("litellm") and not ok("litellm cache"):
            notes.append("litellm cache hit: no row, its cached proxy did not start (see above).")
        for note in notes:
            print(f"- {note}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers are stopped by now
        print("interrupted", file=sys.stderr)
        sys.exit(130)
