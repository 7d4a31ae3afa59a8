"""How long `ponder simulate --model` takes on 100k queries x 10 arms, stage by stage, against
the implementation it replaced; and how long the replay alone takes against bare numpy.

1. A 100k-query x 10-arm JSON Lines table is written to a temporary folder (real prompts from
   ../shared: GSM8K and the maths benchmarks; arms the packaged model does not know, priced by
   its prior, or with --arms trained, arms it was trained on, which adds its arm-aware trees).
2. Each path runs in its own process (so peak RSS is its own), stage by stage: load the table,
   featurize + predict with the packaged model, replay through every policy.
   "before" is the implementation replaced: every line validated as an ``OutcomeRow`` pydantic
   model and the rows copied into arrays, the pure-Python text statistics and the Rust
   tokenizer (the same features), one prediction call for all queries, LightGBM imported with
   scikit-learn. "now" is ponder's code as `ponder simulate` runs it.
3. `ponder simulate TABLE --model <packaged> --quiet` end to end (wall time and peak RSS).
4. The replay alone against its floor: one ``argmax`` over the [n, k] matrix per knob value of
   a sweep, the least any vectorised replay must do (tie-breaking, true-score lookups, per-task
   means, the oracle and cascade sweeps and the metrics are what the simulator adds).

Times on a shared machine are noisy; before / now ratios, measured in the same run, are the
figures to compare across machines.

    python3 bench/bench_simulate.py [--n 100000] [--k 10] [--arms prior|trained]
                                    [--points 60] [--repeat 3] [--skip-before]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


# --- the table ---------------------------------------------------------------------------------


def prompt_pool() -> list[str]:
    root = Path(os.environ.get("PONDER_SHARED", REPO.parent / "shared"))
    pool: list[str] = []
    for split in ("train", "test"):
        path = root / "data" / "gsm8k-openai" / f"{split}.jsonl"
        if path.is_file():
            pool += [json.loads(line)["question"] for line in path.read_text().splitlines()]
    for path in sorted((root / "data" / "math-benchmarks").glob("*/test.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            q = row.get("problem") or row.get("question")
            if isinstance(q, str):
                pool.append(q)
    if not pool:  # no ../shared: made-up prompts of similar sizes
        rng = random.Random(0)
        words = ["the", "of", "how", "many", "what", "if", "find", "prove", "compute", "3", "x"]
        pool = [" ".join(rng.choices(words, k=rng.randint(8, 80))) + "?" for _ in range(5000)]
    return pool


def write_table(path: Path, n: int, k: int, arms_kind: str) -> list[str]:
    from ponder.classifiers import load_default_classifier

    if arms_kind == "trained":
        arms = list(load_default_classifier().arm_names[:k])
    else:
        arms = [f"arm-{j}" for j in range(k)]
    rng = random.Random(0)
    pool = prompt_pool()
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            row = {
                "id": f"q{i}",
                "prompt": pool[i % len(pool)],
                "task": f"task{i % 8}",
                "arms": {
                    a: {
                        "score": float(rng.random() < 0.3 + 0.6 * j / max(k - 1, 1)),
                        "cost": round(1e-5 * (j + 1) ** 2 * rng.uniform(0.5, 1.5), 10),
                    }
                    for j, a in enumerate(arms)
                },
            }
            fh.write(json.dumps(row) + "\n")
    return arms


# --- one path, in its own process -------------------------------------------------------------


def load_before(path: Path) -> Any:
    """The loader replaced: each line validated as an OutcomeRow, then copied into arrays."""
    from ponder.outcomes import OutcomeRow, rows_to_table

    with path.open("rb") as fh:
        rows = [OutcomeRow.model_validate(json.loads(line)) for line in fh if line.strip()]
    return rows_to_table(rows)


def run_path(which: str, table_path: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    if which == "now":
        from ponder.cli._common import import_lightgbm_alone

        import_lightgbm_alone()  # as `ponder simulate --model` does
        from ponder.outcomes import load_outcomes

        table = load_outcomes(table_path).table
    else:
        table = load_before(table_path)
    t1 = time.perf_counter()
    from ponder.classifiers import Concat, load_default_classifier
    from ponder.simulate._evaluate import expected_costs, predict_saved
    from ponder.simulate._simulate import simulate

    clf = load_default_classifier()
    t2 = time.perf_counter()
    if which == "before":
        sys.path.insert(0, str(HERE))
        from bench_route_latency import BeforeStatic, BeforeStats

        static = clf.featurizer_.parts[1]  # type: ignore[attr-defined]
        clf.featurizer_ = Concat([BeforeStats(), BeforeStatic(static)])
        p = predict_saved(clf, table, batch=max(table.n_queries, 1))  # all at once, as before
    else:
        p = predict_saved(clf, table)
    t3 = time.perf_counter()
    simulate(table, p, expected_costs(table, table))
    t4 = time.perf_counter()
    return {
        "load": t1 - t0,
        "model": t2 - t1,
        "predict": t3 - t2,
        "replay": t4 - t3,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def end_to_end(table_path: Path) -> dict[str, float]:
    """`ponder simulate TABLE --model <packaged> --quiet`, in this process (run as a child)."""
    import runpy

    from ponder.classifiers._default import default_model_path

    sys.argv = ["ponder", "simulate", str(table_path), "--model", str(default_model_path()), "-q"]
    t0 = time.perf_counter()
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (the report; only the figures matter)
    try:
        runpy.run_module("ponder", run_name="__main__")
    except SystemExit as exc:
        if exc.code:
            raise
    finally:
        sys.stdout = sys.__stdout__
    return {
        "wall": time.perf_counter() - t0,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# --- the replay alone against bare numpy ------------------------------------------------------


def replay_table(n: int, k: int, seed: int = 0) -> tuple[Any, np.ndarray]:
    from ponder.outcomes import OutcomeTable

    rng = np.random.default_rng(seed)
    skill = np.linspace(-1.0, 1.5, k)
    prob = 1.0 / (1.0 + np.exp(-(skill[None, :] - rng.normal(size=(n, 1))) * 2.0))
    scores = (rng.random((n, k)) < prob).astype(float)
    costs = np.geomspace(1e-4, 1e-1, k)[None, :] * rng.uniform(0.5, 1.5, (n, k))
    table = OutcomeTable(
        ids=tuple(str(i) for i in range(n)),
        prompts=("",) * n,
        tasks=tuple(f"task{i % 8}" for i in range(n)),
        arms=tuple(f"arm{j}" for j in range(k)),
        scores=scores,
        costs=costs,
        input_tokens=np.full((n, k), np.nan),
        output_tokens=np.full((n, k), np.nan),
    )
    p = np.clip(prob + rng.normal(scale=0.1, size=(n, k)), 0.0, 1.0)
    return table, p


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def replay_alone(n: int, k: int, points: int, repeat: int) -> None:
    from ponder.simulate._simulate import simulate

    table, p = replay_table(n, k)
    cost = table.costs.mean(axis=0)
    scaled = np.broadcast_to(cost / cost.max(), p.shape)
    lams = np.linspace(0.0, 5.0, points)

    def baseline() -> None:
        for lam in lams:
            (p - lam * scaled).argmax(axis=1)

    report = simulate(table, p, cost, n_points=points)
    n_params = sum(len(report.policies[x].points) for x in ("ponder", "oracle", "cascade"))
    base = best_of(repeat, baseline)
    sim_tasks = best_of(repeat, lambda: simulate(table, p, cost, n_points=points))
    sim_flat = best_of(repeat, lambda: simulate(table, p, cost, n_points=points, by_task=False))
    print(f"replay alone, {n} x {k}: {n_params} knob values (ponder + oracle + cascade)")
    print(f"  bare argmax baseline ({points} passes): {base:7.3f} s")
    print(f"  simulate, by_task=False:               {sim_flat:7.3f} s ({sim_flat / base:.1f}x)")
    print(f"  simulate, 8 tasks:                     {sim_tasks:7.3f} s ({sim_tasks / base:.1f}x)")


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--arms", choices=("prior", "trained"), default="prior")
    ap.add_argument("--points", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-before", action="store_true", help="time only today's path")
    ap.add_argument("--child", choices=("before", "now", "cli"), help=argparse.SUPPRESS)
    ap.add_argument("--table", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        result = end_to_end(args.table) if args.child == "cli" else run_path(args.child, args.table)
        print(json.dumps(result))
        return

    tmp = Path(tempfile.mkdtemp(prefix="ponder-bench-simulate-"))
    try:
        path = tmp / "table.jsonl"
        arms = write_table(path, args.n, args.k, args.arms)
        size = path.stat().st_size / 1e6
        print(
            f"{args.n} queries x {len(arms)} arms ({args.arms}: {', '.join(arms[:2])}, ...), "
            f"{size:.0f} MB of JSON Lines; the packaged model; one thread"
        )
        print()
        paths = ["now"] if args.skip_before else ["before", "now"]
        runs = {w: child(["--child", w, "--table", str(path)]) for w in paths}
        cli = child(["--child", "cli", "--table", str(path)])
        print("| stage | before | now | before / now |")
        print("|---|---:|---:|---:|")
        for key, name in (
            ("load", "load the JSON Lines table"),
            ("predict", "featurize + predict"),
            ("replay", "replay every policy"),
        ):
            now = runs["now"][key]
            if "before" in runs:
                old = runs["before"][key]
                print(f"| {name} | {old:.2f} s | {now:.2f} s | {old / now:.1f}x |")
            else:
                print(f"| {name} | | {now:.2f} s | |")
        now_rss = runs["now"]["rss_mb"]
        if "before" in runs:
            old_rss = runs["before"]["rss_mb"]
            ratio = old_rss / now_rss
            print(f"| peak RSS | {old_rss:,.0f} MB | {now_rss:,.0f} MB | {ratio:.1f}x |")
        print()
        print(
            f"`ponder simulate TABLE --model <packaged> -q`, end to end: {cli['wall']:.1f} s, "
            f"peak RSS {cli['rss_mb']:,.0f} MB"
        )
        print()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    replay_alone(args.n, args.k, args.points, args.repeat)


if __name__ == "__main__":
    main()
