"""Arms the model never saw: how well the price prior stands in for an arm's own logs.

Leave one arm out. For every arm ``j`` of a multi-model table, ponder is trained on the
training split *without* arm ``j`` and then asked about ``j`` on the test split, priced from
the table (``ponder.simulate._evaluate.predict_saved``: what ``ponder route --menu`` and
``ponder simulate`` do for an arm the model was not trained on). Printed per set:

* the mean absolute error of arm ``j``'s mean predicted P(success) against its true mean on
  the test split, over all ``j`` (what the prior is for: is a new arm placed at the right
  level of quality); and against the mean the model trained *with* arm ``j`` predicts,
  which leaves out what the difficulty model gets wrong on the test split whoever answers
  (on the first reasoning-gym fold the held-out generators are harder than the training
  ones for every arm) and so isolates the prior;
* the routing gain (``ponder.classifiers._routing_score``) on the test split over every
  arm, with arm ``j``'s column from the model that never saw it, averaged over ``j``; and the
  same with the model trained with ``j`` (the ceiling) for comparison. 90% bootstrap
  intervals over the left-out arms.

To compare a change to the prior, run it before and after on the same folds (it is
deterministic, seed 0); ``bench/RESULTS_unseen_arms.md`` has the figures of the last study.

    python bench/bench_unseen_arms.py [--only NAME ...] [--folds N] [--shared PATH] [--json FILE]

Sets: LLMRouter (train -> test), reasoning-gym (the first ``--folds`` of bench_routing's five
folds grouped by generator; every left-out arm of every fold is a row), RouterBench
ARC-Challenge (train -> test; no licence, a benchmark only).

Data: ``../shared/data`` beside the repository (or ``$PONDER_SHARED``); without it the
script says so and exits 0. About 5-10 minutes a set (a fold) on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_routing import DATASETS, default_shared
from ponder.classifiers import DifficultyClassifier
from ponder.classifiers._routing_score import routing_gain
from ponder.simulate._evaluate import expected_costs, predict_saved

FloatArray = npt.NDArray[np.float64]
SEED = 0
SETS = ("llmrouter", "reasoning-gym", "routerbench-arc")
CV_SETS = {"reasoning-gym"}
_T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def run_set(name: str, shared: Path, fold: int) -> dict[str, Any]:
    ds = DATASETS[name]
    train, test = ds.load(shared / ds.folder)[fold]
    y = test.scores
    cost = expected_costs(train, test)
    say(f"{name} fold {fold + 1}: {train.n_queries} train, {test.n_queries} test queries")
    full = DifficultyClassifier(seed=SEED).fit(train)
    p_full = predict_saved(full, test)
    gain_full = routing_gain(p_full, y, cost)
    say(f"{name}: trained with every arm, routing gain {gain_full:.3f}")
    rows: list[dict[str, Any]] = []
    for j, arm in enumerate(test.arms):
        t0 = time.perf_counter()
        others = [a for a in train.arms if a != arm]
        clf = DifficultyClassifier(seed=SEED).fit(train.select_arms(others))
        p = p_full.copy()
        p[:, j] = predict_saved(clf, test)[:, j]
        row: dict[str, Any] = {
            "arm": arm,
            "true": float(np.nanmean(y[:, j])),
            "trained": float(np.mean(p_full[:, j])),
            "unseen": float(np.mean(p[:, j])),
            "gain_unseen": routing_gain(p, y, cost),
            "prior_slope": clf.prior_.slope,
        }
        rows.append(row)
        say(
            f"{name}: without {arm} ({time.perf_counter() - t0:.0f}s): true {row['true']:.3f}, "
            f"trained with it {row['trained']:.3f}, unseen {row['unseen']:.3f}; routing gain "
            f"{row['gain_unseen']:.3f} (prior slope {clf.prior_.slope:.2f})"
        )
    for row in rows:
        row["fold"] = fold
    return {"rows": rows, "gain_full": gain_full}


def _mean_ci(v: FloatArray, rng: np.random.Generator, n_boot: int = 2000) -> str:
    boots = [float(np.mean(v[rng.integers(0, len(v), len(v))])) for _ in range(n_boot)]
    lo, hi = np.quantile(boots, [0.05, 0.95])
    return f"{np.mean(v):.3f} [{lo:.3f}, {hi:.3f}]"


def markdown(results: dict[str, dict[str, Any]]) -> str:
    rng = np.random.default_rng(SEED)
    lines = [
        "| set | left-out arms | MAE vs true mean | MAE vs trained with the arm "
        "| routing gain, arm unseen | trained with the arm | flat priors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, res in results.items():
        r = res["rows"]
        unseen = np.array([x["unseen"] for x in r])
        cells = [name, str(len(r))]
        for ref in ("true", "trained"):
            cells.append(_mean_ci(np.abs(unseen - np.array([x[ref] for x in r])), rng))
        cells.append(_mean_ci(np.array([x["gain_unseen"] for x in r]), rng))
        cells.append(f"{res['gain_full']:.3f}")
        cells.append(f"{sum(x['prior_slope'] <= 0 for x in r)}/{len(r)}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "MAE: mean over left-out arms of |mean predicted P(success) - target| on the test "
        "split; routing gain: over every arm, the left-out one predicted unseen (the model "
        "trained with it, last but one column, for comparison); 90% bootstrap intervals over "
        "the left-out arms; flat priors: left-out fits whose price prior had slope 0.",
        "",
        "| set | fold | arm | true | trained with it | unseen (price prior) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name, res in results.items():
        for x in res["rows"]:
            lines.append(
                f"| {name} | {x['fold'] + 1} | {x['arm']} | {x['true']:.3f} | "
                f"{x['trained']:.3f} | {x['unseen']:.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", action="append", choices=SETS, metavar="NAME", help=", ".join(SETS))
    ap.add_argument(
        "--folds", type=int, default=1, help="folds of a CV set to run, from the first (default 1)"
    )
    ap.add_argument("--shared", type=Path, help="data folder (default ../shared/data)")
    ap.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = ap.parse_args(argv)
    shared: Path = args.shared or default_shared()
    results: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(args.only or SETS):
        if not (shared / DATASETS[name].folder).is_dir():
            say(f"skipping {name}: {shared / DATASETS[name].folder} not found")
            continue
        with threadpool_limits(1):
            runs = [run_set(name, shared, f) for f in range(args.folds if name in CV_SETS else 1)]
        results[name] = {
            "rows": [row for r in runs for row in r["rows"]],
            "gain_full": float(np.mean([r["gain_full"] for r in runs])),
            "folds": len(runs),
        }
    if not results:
        print(f"no shared data found under {shared}: nothing benchmarked", file=sys.stderr)
        return 0
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
