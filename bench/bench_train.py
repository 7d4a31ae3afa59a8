"""Training speed: ``DifficultyClassifier.fit`` on the reasoning-gym table and on a large
synthetic table, against featurizing the same prompts (the part no model choice can avoid),
side by side in one process.

    python bench/bench_train.py [--shared PATH] [--synthetic-queries N]

Prints seconds per stage and the fit / featurize ratio. Without ``../shared/data`` only the
synthetic table runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder._menu import Menu
from ponder.classifiers import DifficultyClassifier, build_featurizer, default_featurizer_spec
from ponder.outcomes import OutcomeTable, load_outcomes
from ponder.simulate._evaluate import price_table


def synthetic(n: int, arms: int = 10, seed: int = 0) -> OutcomeTable:
    """``n`` queries of templated text, ``arms`` arms whose success depends on a hidden
    difficulty and on which template the query came from."""
    rng = np.random.default_rng(seed)
    words = np.array(
        ["alpha", "beta", "gamma", "delta", "prove", "compute", "list", "sort", "prime", "sum"]
    )
    template = rng.integers(0, 20, size=n)
    prompts = tuple(
        f"task {t}: " + " ".join(rng.choice(words, size=12)) + f" {rng.integers(1000)}"
        for t in template
    )
    d = rng.normal(size=n) + template / 10
    skill = rng.normal(size=(20, arms))
    logit = np.linspace(-1, 1, arms)[None, :] - d[:, None] + 0.5 * skill[template]
    scores = (rng.random((n, arms)) < 1 / (1 + np.exp(-logit))).astype(float)
    cost = np.broadcast_to(np.geomspace(1e-4, 1e-2, arms), (n, arms)).copy()
    return OutcomeTable(
        ids=tuple(f"s{i}" for i in range(n)),
        prompts=prompts,
        tasks=("",) * n,
        arms=tuple(f"arm{j}" for j in range(arms)),
        scores=scores,
        costs=cost,
        input_tokens=np.full((n, arms), np.nan),
        output_tokens=np.full((n, arms), np.nan),
    )


def measure(name: str, table: OutcomeTable) -> None:
    featurizer = build_featurizer(default_featurizer_spec())
    t0 = time.perf_counter()
    featurizer.transform(list(table.prompts))
    feat = time.perf_counter() - t0
    stages: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    clf = DifficultyClassifier(seed=0).fit(
        table, progress=lambda m: stages.append((time.perf_counter() - t0, m))
    )
    fit = time.perf_counter() - t0
    n_obs = int((~np.isnan(table.scores)).sum())
    print(
        f"| {name} | {table.n_queries:,} | {n_obs:,} | {feat:.1f} s | {fit:.1f} s "
        f"| {fit / feat:.1f}x | {clf.params_['arm_model']} |",
        flush=True,
    )
    marks = [(t, m.split(":")[0]) for t, m in stages]
    firsts: dict[str, float] = {}
    for t, m in marks:
        firsts.setdefault(m, t)
    print(
        "  stages (s from start): " + ", ".join(f"{m} {t:.0f}" for m, t in firsts.items()),
        file=sys.stderr,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--shared", type=Path, default=None)
    ap.add_argument("--synthetic-queries", type=int, default=10_000)
    args = ap.parse_args()
    env = os.environ.get("PONDER_SHARED")
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    shared = args.shared or (Path(env) if env else default)
    print("| table | queries | outcomes | featurize | fit | fit / featurize | arm model |")
    print("|---|---:|---:|---:|---:|---:|---|")
    rg = shared / "reasoning-gym"
    if (rg / "outcomes.jsonl").is_file():
        loaded = load_outcomes(rg / "outcomes.jsonl").table
        measure("reasoning-gym", price_table(loaded, Menu.load(rg / "menu.yaml")))
    else:
        print(f"skipping reasoning-gym: {rg} not found", file=sys.stderr)
    measure(f"synthetic {args.synthetic_queries:,} x 10", synthetic(args.synthetic_queries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
