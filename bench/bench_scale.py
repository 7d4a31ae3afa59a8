"""Does the absolute scale predict a published score it was not fitted on?

Leave one benchmark out: refit the scale (``ponder.classifiers._scale``) without any
published row of benchmark B, then predict each arm's accuracy on B as its mean P(success)
over B's items (offset 0: the harness is unknown) and compare with the published figure.
AIME 2025 I (MathArena's rows on half of AIME 2025's problems) is held out with AIME 2025:
left in, it would tell every method the answer for the arms it covers.

Beside the scale, on the same rows (each baseline only where it can predict), with the
paired difference baseline - scale:

- **arm mean**: the arm's mean published score over its other benchmarks;
- **price prior**: ``logit(acc) = a_B + b * log10(price) + c * thinks`` fitted on the other
  benchmarks' rows of the priced arms, predicted for B at the mean of the fitted ``a_B``
  (it knows nothing of B's items, so it cannot know B's level); arms litellm cannot price
  are left out of it (the script says which);
- **rank-2**: a rank-2 completion of the arms x benchmarks table of logit accuracies. With
  B's column removed it could not predict B at all, so it hides B's cells of half the arms
  at a time (two folds, five random splits) and completes them from the rest: it sees the
  other half's scores on B, which the scale never does, and no items. A reference, not a
  like-for-like baseline (see ``_scale_baselines.rank2_lobo``);
- **scale+level**: the scale's prediction shifted by one logit for B, fitted on the same
  halves as rank-2 (the visible half's published minus predicted logits): like for like
  with rank-2, it says how much of the scale's error is B's level alone.

Prints the mean absolute error per benchmark, per domain and overall, with 90% bootstrap
intervals over rows.

    python bench/bench_scale.py [--shared PATH] [--iter N] [--benchmarks "MATH-500,IFEval"]
                                [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _scale_baselines import (
    CellTable,
    Held,
    PricePrior,
    arm_price,
    level_lobo,
    rank2_lobo,
    report,
)

from ponder.classifiers import build_featurizer, default_featurizer_spec
from ponder.classifiers._scale import AbsoluteScale
from ponder.classifiers._scale_data import DOMAIN, fit_on, load_scale_data

TIED = {"AIME 2025": ("AIME 2025 I",)}
"""Benchmarks held out with another: their items are a part of its items."""


def data_options(args: argparse.Namespace) -> dict[str, Any]:
    """What ``load_scale_data`` reads; ``--quick`` takes fewer items and queries."""
    return {
        "items_per_benchmark": 100 if args.quick else 300,
        "mmlu_pro_queries": 500 if args.quick else 2000,
        "gym_queries": 500 if args.quick else 2000,
        "anchor_weight": args.anchor_weight,
        "llmrouter_queries": args.llmrouter,
    }


def add_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--shared", default=os.environ.get("PONDER_SHARED", "../shared/data"))
    ap.add_argument("--iter", type=int, default=None, help="L-BFGS iterations per fit (400)")
    ap.add_argument("--l2-need", type=float, default=300.0, help="ridge on the need head")
    ap.add_argument(
        "--l2-load", type=float, default=None, help="ridge on the loading (default: the need's)"
    )
    ap.add_argument("--llmrouter", type=int, default=0, help="LLMRouter queries as an anchor")
    ap.add_argument("--anchor-weight", type=float, default=4.0, help="weight of chat anchors")
    ap.add_argument("--quick", action="store_true", help="fewer items, queries and iterations")


def fresh_scale(args: argparse.Namespace) -> AbsoluteScale:
    """An unfitted scale with the command line's iterations and ridges."""
    iterations = int(args.iter) if args.iter is not None else (150 if args.quick else 400)
    return AbsoluteScale(max_iter=iterations, l2_need=args.l2_need, l2_load=args.l2_load)


def shared_dir(args: argparse.Namespace) -> Path:
    """The data folder, or exit saying where the published scores were looked for."""
    shared = Path(args.shared)
    if not (shared / "published" / "scores.csv").is_file():
        sys.exit(f"no published scores under {shared}: pass --shared PATH")
    return shared


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_options(ap)
    ap.add_argument("--benchmarks", default="", help="comma-separated subset to leave out")
    args = ap.parse_args()
    shared = shared_dir(args)
    featurizer = build_featurizer(default_featurizer_spec())
    benches = [b for b in DOMAIN if b != "AIME 2025 I"]
    if args.benchmarks:
        benches = [b.strip() for b in args.benchmarks.split(",")]
    kw = data_options(args)
    full = load_scale_data(shared, **kw)
    X_full = featurizer.transform(full.texts).astype(np.float64)
    table = CellTable.of(full.rows)
    rows_by_key: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for r in full.rows:
        rows_by_key[r.key].append((r.benchmark, r.score))
    held: list[Held] = []
    unpriced: set[str] = set()
    splits = 2 if args.quick else 5
    for bench in benches:
        t0 = time.perf_counter()
        hidden = {bench, *TIED.get(bench, ())}
        data = load_scale_data(shared, exclude=hidden, **kw)
        X = X_full
        if data.texts != full.texts:
            X = featurizer.transform(data.texts).astype(np.float64)
        scale = fit_on(fresh_scale(args), data, X)
        prior = PricePrior.fit(r for r in full.rows if r.benchmark not in hidden)
        completed = rank2_lobo(table, bench, hidden, splits=splits)
        items = data.item_index[bench]
        # Each arm's logits on B's items (offset 0: B's harness is unknown).
        z = {
            k: scale.logits(X[items], [scale.arms_[k]])[:, 0]
            for k in {r.key for r in full.rows if r.benchmark == bench} & scale.arms_.keys()
        }
        leveled = level_lobo(table, bench, z, splits=splits)
        n_rows = 0
        for r in full.rows:
            if r.benchmark != bench or r.key not in scale.arms_:
                continue
            others = [s for b, s in rows_by_key[r.key] if b not in hidden]
            if not others:
                continue
            preds = {
                "scale": float(np.mean(1.0 / (1.0 + np.exp(-z[r.key])))),
                "arm mean": float(np.mean(others)),
                "price prior": prior.predict(r.key),
                "rank-2": completed.get(r.key),
                "scale+level": leveled.get(r.key),
            }
            if arm_price(r.key) is None:
                unpriced.add(r.key)
            held.append(Held((bench, f"[{DOMAIN[bench]}]", "[all]"), r.score, preds))
            n_rows += 1
        took = time.perf_counter() - t0
        print(
            f"  left out {bench}: {n_rows} rows, fit {took:.0f} s; price prior slope "
            f"{prior.slope:+.2f}/decade, thinking {prior.lift:+.2f} logits",
            flush=True,
        )
    report(held, ["arm mean", "price prior", "rank-2", "scale+level"])
    n_unpriced = sum(1 for h in held if h.preds["price prior"] is None)
    print(
        f"\nprice prior: {n_unpriced} of {len(held)} rows left out, {len(unpriced)} arms "
        f"litellm has no price for: {', '.join(sorted(unpriced)) or 'none'}"
    )
    print(
        "rank-2: completes B's cells of half the arms from the other half's scores on B "
        f"(2 folds x {splits} splits); it sees no items but more of B than the scale: a reference, "
        "not a like-for-like baseline; scale+level is the scale with B's level (one logit "
        "shift) fitted on those same halves: like for like with rank-2"
    )


if __name__ == "__main__":
    main()
