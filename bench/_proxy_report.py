"""What ``bench_proxy.py`` prints from its tallies: the full table, docs/results.md's
summary, what each overhead lever gained, issue 13's goals, and the machine and package facts
that make figures from different runs comparable."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from _proxy_load import Tally, Target

ROUTED = "ponder routed"
REDIS_ROUTED = "ponder+Redis routed"
LITELLM = "litellm proxy"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000.0, q)) if values else float("nan")


def table(targets: list[Target], levels: list[int], tallies: dict[tuple[str, int], Tally]) -> str:
    head = (
        "| target | concurrency | p50 ms | p99 ms | req/s | added p50 ms vs direct "
        "| p50 / direct | server CPU ms/request | upstream calls | errors |"
    )
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in levels:
        base = pct(tallies[(targets[0].name, c)].latencies, 50)
        for t in targets:
            tally = tallies[(t.name, c)]
            p50, p99 = pct(tally.latencies, 50), pct(tally.latencies, 99)
            rps = tally.requests / tally.wall if tally.wall else float("nan")
            direct = t is targets[0]
            added = "—" if direct else f"{p50 - base:+.2f}"
            ratio = "—" if direct else f"{p50 / base:.1f}×"
            rows.append(
                f"| {t.name} | {c} | {p50:.2f} | {p99:.2f} | {rps:,.0f} | {added} | {ratio} "
                f"| {tally.cpu_ms():.2f} | {tally.upstream_calls} | {tally.errors} |"
            )
    return "\n".join(rows)


class Figures(NamedTuple):
    """One target's headline figures: added p50 at c=1 (ms), req/s at c=50, CPU ms/request
    at c=50 (NaN where that concurrency was not run)."""

    added: float
    rps: float
    cpu: float


def figures(
    t: Target, base: Target, tallies: dict[tuple[str, int], Tally], low: int, high: int
) -> Figures:
    one, many = tallies.get((t.name, low)), tallies.get((t.name, high))
    direct = tallies.get((base.name, low))
    nan = float("nan")
    added = pct(one.latencies, 50) - pct(direct.latencies, 50) if one and direct else nan
    rps = many.requests / many.wall if many and many.wall else nan
    return Figures(added, rps, many.cpu_ms() if many else nan)


def summary(
    targets: list[Target], tallies: dict[tuple[str, int], Tally], low: int, high: int
) -> str:
    """docs/results.md's table: per target, c=1 latency and what it adds, c=50 throughput, CPU."""
    rows = [
        f"| target | c={low} p50 | c={low} p99 | added p50 | c={high} req/s "
        f"| server CPU / request (c={high}) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in targets:
        one = tallies[(t.name, low)]
        f = figures(t, targets[0], tallies, low, high)
        errors = sum(tallies[(t.name, c)].errors for c in (low, high) if (t.name, c) in tallies)
        added = "—" if t is targets[0] else f"+{f.added:.2f} ms"
        rows.append(
            f"| {t.name} | {pct(one.latencies, 50):.2f} ms | {pct(one.latencies, 99):.2f} ms "
            f"| {added} | {f.rps:,.0f} | {f.cpu:.2f} ms | {errors} |"
        )
    return "\n".join(rows)


@dataclass(frozen=True)
class Step:
    """One rung of the lever ladder: the target after the lever, and the one before it."""

    lever: str
    before: str
    after: str


def lever_gains(
    steps: list[Step],
    by_name: dict[str, Target],
    tallies: dict[tuple[str, int], Tally],
    low: int,
    high: int,
) -> str:
    """What each lever gained over the rung before it, from the same run."""
    base = next(iter(by_name.values()))
    rows = [
        f"| lever | added p50 at c={low}: before → after | req/s at c={high}: before → after "
        f"| server CPU ms/request at c={high}: before → after |",
        "|---|---|---|---|",
    ]
    for s in steps:
        if s.before not in by_name or s.after not in by_name:
            continue
        b = figures(by_name[s.before], base, tallies, low, high)
        a = figures(by_name[s.after], base, tallies, low, high)
        rows.append(
            f"| {s.lever} | +{b.added:.2f} → +{a.added:.2f} ms ({a.added - b.added:+.2f}) "
            f"| {b.rps:,.0f} → {a.rps:,.0f} ({a.rps / b.rps - 1:+.0%}) "
            f"| {b.cpu:.2f} → {a.cpu:.2f} ({a.cpu / b.cpu - 1:+.0%}) |"
        )
    return "\n".join(rows)


PROBE = """
import importlib.metadata as m, importlib.util as u, json
v = {}
for p in ("ponder", "litellm", "fastapi", "starlette", "uvicorn", "httpx", "pydantic", "uvloop"):
    try:
        v[p] = m.version(p)
    except m.PackageNotFoundError:
        v[p] = None
v["httptools"] = u.find_spec("httptools") is not None
print(json.dumps(v))
"""


def probe(python: str) -> dict[str, Any]:
    """Package versions as the interpreter running a server sees them."""
    try:
        out = subprocess.run(
            [python, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
        )
        return dict(json.loads(out.stdout))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return {"error": str(exc)}


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_facts(ponder_python: str, litellm_python: str | None, client: str) -> list[str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"- machine: {cpu_model()}; {os.cpu_count()} CPUs ({usable} usable); "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}",
        "- client, fake upstream and proxies all run on these CPUs",
    ]
    here = {}
    for p in ("ponder", "litellm", "fastapi", "uvicorn", client):
        try:
            here[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            here[p] = "not installed"
    lines.append(
        f"- benchmark process (client: {client}): " + ", ".join(f"{k} {v}" for k, v in here.items())
    )
    servers = [("ponder serve", ponder_python)]
    if litellm_python is not None:
        servers.append(("litellm proxy", litellm_python))
    for label, python in servers:
        v = probe(python)
        if "error" in v:
            lines.append(f"- {label} ({python}): could not probe: {v['error']}")
            continue
        loop = "uvloop" if label == "litellm proxy" or v.get("uvloop") else "asyncio"
        names = ("ponder", "litellm", "fastapi", "uvicorn", "uvloop")
        pkgs = ", ".join(f"{k} {v[k]}" for k in names if v.get(k))
        http = "httptools" if v.get("httptools") else "h11"
        lines.append(f"- {label} ({python}): {pkgs}; event loop {loop}, HTTP parser {http}")
    return lines


def goals(
    by_name: dict[str, Target], tallies: dict[tuple[str, int], Tally], low: int, high: int
) -> list[str]:
    """Issue 13's two goals, as measured in this run."""
    base = next(iter(by_name.values()))
    lines = []
    if ROUTED in by_name:
        f = figures(by_name[ROUTED], base, tallies, low, high)
        met = "met" if f.added <= 2.0 else "NOT met"
        lines.append(f"- added p50 at c={low}, ponder routed: +{f.added:.2f} ms "
                     f"(goal <= 2 ms): {met}")  # fmt: skip
    if LITELLM not in by_name:
        lines.append("- requests/s against LiteLLM's proxy: not measured (no LiteLLM row)")
        return lines
    theirs = figures(by_name[LITELLM], base, tallies, low, high).rps
    for name in by_name:
        if name == ROUTED or name.startswith(REDIS_ROUTED):
            rps = figures(by_name[name], base, tallies, low, high).rps
            met = "met" if rps >= 2 * theirs else "NOT met"
            lines.append(f"- req/s at c={high}, {name}: {rps:,.0f} = {rps / theirs:.2f}x "
                         f"LiteLLM's {theirs:,.0f} (goal >= 2x): {met}")  # fmt: skip
    return lines
