"""Does the absolute scale predict a published score it was not fitted on?

Leave one benchmark out: refit the scale (``ponder.classifiers._scale``) without any
published row of benchmark B, then predict each arm's accuracy on B as its mean P(success)
over B's items (offset 0: the harness is unknown) and compare with the published figure.
Baseline: the arm's mean published score over its other benchmarks. Prints the mean absolute
error per benchmark, per domain and overall, with 90% bootstrap intervals over rows.

    python bench/bench_scale.py [--shared PATH] [--iter N] [--benchmarks "MATH-500,IFEval"]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder.classifiers import build_featurizer, default_featurizer_spec
from ponder.classifiers._scale import AbsoluteScale
from ponder.classifiers._scale_data import DOMAIN, fit_on, load_scale_data


def _interval(errors: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    if len(errors) < 2:
        return float("nan"), float("nan")
    boot = rng.choice(errors, (2000, len(errors)), replace=True).mean(axis=1)
    return float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=os.environ.get("PONDER_SHARED", "../shared/data"))
    ap.add_argument("--iter", type=int, default=400, help="L-BFGS iterations per fit")
    ap.add_argument("--benchmarks", default="", help="comma-separated subset to leave out")
    ap.add_argument("--l2-need", type=float, default=300.0, help="ridge on the need head")
    ap.add_argument("--llmrouter", type=int, default=0, help="LLMRouter queries as an anchor")
    ap.add_argument("--anchor-weight", type=float, default=4.0, help="weight of chat anchors")
    args = ap.parse_args()
    shared = Path(args.shared)
    if not (shared / "published" / "scores.csv").is_file():
        sys.exit(f"no published scores under {shared}: pass --shared PATH")
    featurizer = build_featurizer(default_featurizer_spec())
    benches = [b for b in DOMAIN if b != "AIME 2025 I"]
    if args.benchmarks:
        benches = [b.strip() for b in args.benchmarks.split(",")]
    kw = {
        "items_per_benchmark": 300,
        "mmlu_pro_queries": 2000,
        "gym_queries": 2000,
        "anchor_weight": args.anchor_weight,
        "llmrouter_queries": args.llmrouter,
    }
    full = load_scale_data(shared, **kw)  # type: ignore[arg-type]
    rows_by_key: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for r in full.rows:
        rows_by_key[r.key].append((r.benchmark, r.score))
    results: list[tuple[str, float, float]] = []  # (benchmark, |scale err|, |baseline err|)
    for bench in benches:
        t0 = time.perf_counter()
        data = load_scale_data(shared, exclude=[bench], **kw)  # type: ignore[arg-type]
        X = featurizer.transform(data.texts).astype(np.float64)
        scale = fit_on(AbsoluteScale(max_iter=args.iter, l2_need=args.l2_need), data, X)
        items = data.item_index[bench]
        n_rows = 0
        for r in full.rows:
            if r.benchmark != bench or r.key not in scale.arms_:
                continue
            others = [s for b, s in rows_by_key[r.key] if b != bench]
            if not others:
                continue
            arm = scale.arms_[r.key]
            p = 1.0 / (1.0 + np.exp(-scale.logits(X[items], [arm])[:, 0]))
            results.append((bench, abs(float(p.mean()) - r.score), abs(np.mean(others) - r.score)))
            n_rows += 1
        took = time.perf_counter() - t0
        print(f"  left out {bench}: {n_rows} rows, fit {took:.0f} s", flush=True)

    rng = np.random.default_rng(0)
    print(f"\n{'held out':16s} {'rows':>5s} {'scale MAE (90% CI)':>24s} {'arm mean MAE':>13s}")
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for bench, e, b in results:
        groups[bench].append((e, b))
        groups[f"[{DOMAIN[bench]}]"].append((e, b))
        groups["[all]"].append((e, b))
    for name, pairs in groups.items():
        e = np.array([p[0] for p in pairs])
        b = np.array([p[1] for p in pairs])
        lo, hi = _interval(e, rng)
        print(f"{name:16s} {len(e):5d} {e.mean():8.3f} ({lo:.3f}-{hi:.3f})      {b.mean():8.3f}")


if __name__ == "__main__":
    main()
