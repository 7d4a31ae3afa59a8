"""How wide a margin sampling calibration needs, measured on arms the sampling bench does
not report.

``calibrate_sampling`` keeps the cheapest setting whose out-of-fold accuracy stays within
0.5 points of the full vote plus ``caution`` standard errors of the difference. The right
margin depends on how optimistic picking the cheapest of many settings is, which only
held-out queries show, so it is chosen here, on development arms (mot-cascade's other
GPT-3.5 prompts on Date, other GPT-4 prompts on GSM8K and Date), never on the arms
``bench/bench_samples.py`` reports. Outer folds as there: a classifier fitted on the
training folds (its out-of-fold predictions the prior), calibration on the training folds,
replay on the held-out one.

    python3 bench/bench_caution.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ponder.classifiers import DifficultyClassifier
from ponder.importers import import_rows
from ponder.outcomes import OutcomeTable, rows_to_table
from ponder.policies import calibrate_sampling, recorded_samples
from ponder.simulate import predict_saved
from ponder.simulate._samples import allocated, vote_at_n

CAUTIONS = (0.0, 0.5, 1.0, 1.5, 2.0)
DEV = {
    "date": ("gpt-3.5-turbo-cot2", "gpt-3.5-turbo-pot1", "gpt-4-cot2", "gpt-4-pot1"),
    "gsm8k": ("gpt-4-cot2", "gpt-4-pot1"),
}


def shared_data() -> Path:
    import os

    env = os.environ.get("PONDER_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def study(table: OutcomeTable, arms: tuple[str, ...], folds: int, seed: int) -> None:
    order = np.random.default_rng(seed).permutation(table.n_queries)
    fold_of = np.empty(table.n_queries, dtype=np.int64)
    fold_of[order] = np.arange(table.n_queries) % folds
    right = {(a, c): 0.0 for a in arms for c in CAUTIONS}
    drawn = dict.fromkeys(right, 0.0)
    vote = dict.fromkeys(arms, 0.0)
    for f in range(folds):
        train = table.take(np.flatnonzero(fold_of != f))
        test = table.take(np.flatnonzero(fold_of == f))
        clf = DifficultyClassifier(seed=seed, sampling=False).fit(train)
        p_test = predict_saved(clf, test)
        inner = np.random.default_rng(seed + 1 + f).permutation(train.n_queries) % folds
        for arm in arms:
            j = train.arm_index(arm)
            rows = recorded_samples(train, arm, clf.oof_p_[:, j])
            top = vote_at_n(test, arm, 64)
            vote[arm] += top.accuracy * top.n_queries
            for c in CAUTIONS:
                policy = calibrate_sampling(rows, inner, caution=c)
                r = allocated(test, arm, policy, p_test[:, test.arm_index(arm)])
                right[arm, c] += r.accuracy * r.n_queries
                drawn[arm, c] += r.mean_samples * r.n_queries
        print(f"  fold {f + 1}/{folds}", file=sys.stderr)
    n = table.n_queries
    for arm in arms:
        cells = []
        for c in CAUTIONS:
            drop = 100 * (vote[arm] - right[arm, c]) / n
            mark = "" if drop <= 0.5 + 1e-9 else " ✗"
            cells.append(f"{drawn[arm, c] / n:.2f} ({drop:+.1f}{mark})")
        print(f"| {arm} | {n} | {100 * vote[arm] / n:.1f} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    mot = shared_data() / "mot-cascade"
    if not mot.is_dir():
        print(f"Shared data not found at {mot} (set PONDER_SHARED); nothing to measure.")
        return 0
    print(
        "| development arm | queries | vote@max (%) | "
        + " | ".join(f"caution {c:g}: samples (drop, points)" for c in CAUTIONS)
        + " |"
    )
    print("|---|---:|---:|" + "---:|" * len(CAUTIONS))
    for split, arms in DEV.items():
        table = rows_to_table(import_rows("mot-cascade", mot, split=split)).select_arms(list(arms))
        study(table, arms, args.folds, args.seed)
    print(
        "\nCells: mean samples of the calibrated allocation on held-out folds, and how far its "
        "accuracy fell below the full vote's (✗: more than 0.5 points)."
    )
    print(f"\nRuntime: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
