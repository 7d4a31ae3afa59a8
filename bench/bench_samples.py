"""Replay sampled arms: majority@N, adaptive sampling, and a GPT-3.5 -> GPT-4 cascade.

Reads ``qwen-math-sampled`` and ``mot-cascade`` from ``../shared/data`` beside the repo
(``PONDER_SHARED`` overrides) and prints Markdown. No model is called: every number is a
replay of recorded samples (``ponder.simulate._samples``).

    python3 bench/bench_samples.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ponder.importers import import_rows
from ponder.outcomes import OutcomeTable, rows_to_table
from ponder.simulate._samples import (
    EscalationResult,
    VoteResult,
    adaptive,
    escalation,
    majority_curve,
)

CONFIDENCES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
WITHIN = 0.005  # adaptive must reach majority@max accuracy minus 0.5 points
PRICE_CHEAP, PRICE_STRONG = 1.0, 20.0  # assumed GPT-3.5 : GPT-4 per-sample price ratio
CHEAP_ARM, STRONG_ARM = "gpt-3.5-turbo-cot1", "gpt-4-cot1"
CASCADE_KS = (3, 5, 10)


def shared_data() -> Path:
    env = os.environ.get("PONDER_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def majority_section(arms: list[tuple[str, OutcomeTable, str]]) -> None:
    curves = {label: majority_curve(t, arm) for label, t, arm in arms}
    top = max(len(c) for c in curves.values())
    labels = list(curves)
    print("### Majority@N accuracy (%)\n")
    print("| N | " + " | ".join(labels) + " |")
    print("|---:|" + "---:|" * len(labels))
    for n in range(1, top + 1):
        cells = [pct(c[n - 1].accuracy) if n <= len(c) else "" for c in curves.values()]
        print(f"| {n} | " + " | ".join(cells) + " |")
    print()
    print("### Adaptive sampling: cheapest confidence within 0.5 points of majority@max\n")
    print(
        f"Confidence swept over {', '.join(map(str, CONFIDENCES))}; batch = 1; the stopping "
        "rule needs at least 2 samples, and at confidence <= 0.875 it always stops at 2 when "
        "they agree (and at 0.5 even when they don't).\n"
    )
    print(
        "| arm | queries | maj@1 | maj@max (N) | adaptive conf. | adaptive acc. "
        "| mean samples | saving vs max | at conf. 0.95: acc. / samples |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, t, arm in arms:
        curve = curves[label]
        full = curve[-1]
        max_n = len(curve)
        best: tuple[float, VoteResult] | None = None
        ref = adaptive(t, arm, max_n, 0.95)
        at95 = f"{pct(ref.accuracy)} / {ref.mean_samples:.2f}"
        for conf in CONFIDENCES:
            r = adaptive(t, arm, max_n, conf)
            ok = r.accuracy >= full.accuracy - WITHIN - 1e-12
            if ok and (best is None or r.mean_samples < best[1].mean_samples):
                best = (conf, r)
        if best is None:
            print(
                f"| {label} | {full.n_queries} | {pct(curve[0].accuracy)} | "
                f"{pct(full.accuracy)} ({max_n}) | none | | | |"
            )
            continue
        conf, r = best
        print(
            f"| {label} | {full.n_queries} | {pct(curve[0].accuracy)} | "
            f"{pct(full.accuracy)} ({max_n}) | {conf} | {pct(r.accuracy)} | "
            f"{r.mean_samples:.2f} | {1 - r.mean_samples / full.mean_samples:.0%} | {at95} |"
        )
    print()


def pareto(points: list[tuple[str, EscalationResult]]) -> list[tuple[str, EscalationResult]]:
    """Points not beaten on both accuracy and cost by another, sorted by cost."""
    pts = sorted(points, key=lambda p: (p[1].mean_cost, -p[1].accuracy))
    out: list[tuple[str, EscalationResult]] = []
    for p in pts:
        if not out or p[1].accuracy > out[-1][1].accuracy:
            out.append(p)
    return out


def cascade_section(date: OutcomeTable) -> None:
    print(f"### Cascade on mot-cascade `date`: `{CHEAP_ARM}` vote of k -> `{STRONG_ARM}`\n")
    print(
        f"Assumed per-sample prices GPT-3.5 : GPT-4 = {PRICE_CHEAP:g} : {PRICE_STRONG:g} "
        "(assumed; roughly the 2023 list-price ratio of gpt-3.5-turbo vs gpt-4 per token; "
        "the tables have no costs). Escalate when the cheap vote's agreement < threshold; the "
        "escalated answer is GPT-4's first sample. Cost relative to always-GPT-4 (1 sample).\n"
    )
    always4 = escalation(date, CHEAP_ARM, STRONG_ARM, 1, 2.0, 0.0, PRICE_STRONG)
    base = always4.mean_cost
    rows: list[tuple[str, EscalationResult]] = []
    for k in CASCADE_KS:
        thresholds = sorted({j / k for j in range(1, k + 1)} | {0.0})
        for th in thresholds:
            r = escalation(date, CHEAP_ARM, STRONG_ARM, k, th, PRICE_CHEAP, PRICE_STRONG)
            rows.append((f"k={k}, agreement < {th:.2f}", r))
    refs: list[tuple[str, EscalationResult]] = [("always GPT-4 (1 sample)", always4)]
    maj4 = escalation(date, CHEAP_ARM, STRONG_ARM, 1, 2.0, 0.0, PRICE_STRONG, n_strong=3)
    refs.append(("always GPT-4, majority of 3", maj4))
    for k in (1, *CASCADE_KS):
        r = escalation(date, CHEAP_ARM, STRONG_ARM, k, 0.0, PRICE_CHEAP, PRICE_STRONG)
        refs.append((f"always GPT-3.5, majority of {k}", r))

    def line(name: str, r: EscalationResult) -> str:
        return (
            f"| {name} | {pct(r.accuracy)} | {r.mean_cost:.2f} | {r.mean_cost / base:.2f} "
            f"| {r.share_escalated:.0%} |"
        )

    header = "| policy | accuracy (%) | mean cost (units) | cost vs GPT-4 | escalated |"
    sep = "|---|---:|---:|---:|---:|"
    print(header)
    print(sep)
    for name, r in refs:
        print(line(name, r))
    print()
    front = pareto(rows)
    print(
        f"Cascade operating points on the accuracy/cost frontier ({len(front)} of "
        f"{len(rows)} swept; k in {CASCADE_KS}, threshold over the agreement levels j/k):\n"
    )
    print(header)
    print(sep)
    for name, r in front:
        print(line(name, r))
    best = [p for p in rows if p[1].accuracy >= always4.accuracy]
    if best:
        name, r = min(best, key=lambda p: p[1].mean_cost)
        print(
            f"\nCheapest cascade at least as accurate as always-GPT-4: {name}: "
            f"{pct(r.accuracy)} % at {r.mean_cost / base:.2f}x its cost."
        )
    else:
        print("\nNo swept cascade point reaches always-GPT-4's accuracy.")
    print(f"\n{always4.n_queries} queries, {always4.skipped} skipped.\n")


def main() -> int:
    start = time.perf_counter()
    data = shared_data()
    qwen_dir, mot_dir = data / "qwen-math-sampled", data / "mot-cascade"
    if not (qwen_dir.is_dir() and mot_dir.is_dir()):
        print(f"Shared data not found under {data} (set PONDER_SHARED); nothing to benchmark.")
        return 0
    qwen = rows_to_table(import_rows("qwen-math-sampled", qwen_dir))
    gsm8k = rows_to_table(import_rows("mot-cascade", mot_dir, split="gsm8k"))
    date = rows_to_table(import_rows("mot-cascade", mot_dir, split="date"))
    print("## Sampled arms replayed (no model calls)\n")
    majority_section(
        [
            ("qwen-math MATH (8)", qwen, "qwen-math-cot"),
            ("gsm8k gpt-4-cot1 (3)", gsm8k, "gpt-4-cot1"),
            ("date gpt-4-cot1 (3)", date, "gpt-4-cot1"),
            ("date gpt-3.5-cot1 (20)", date, "gpt-3.5-turbo-cot1"),
            ("date gpt-3.5-cot1-n40 (40)", date, "gpt-3.5-turbo-cot1-n40"),
        ]
    )
    cascade_section(date)
    print(f"Runtime: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
