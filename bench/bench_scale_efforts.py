"""Does the absolute scale predict an effort it was not fitted on?

Leave one effort out: for each model with an effort ladder of three or more efforts in the
published table (gpt-5, gpt-5-mini, gpt-5-nano, o3-mini; Claude's and Gemini's thinking
on/off pairs are no ladder), drop every row of one (model, effort) - its published rows, and
its per-query rows where a table has it (reasoning-gym's o3-mini is o3-mini@medium) - refit
the scale, and predict that arm on every benchmark with items where it has a published row.

- **Interior efforts** (the issue's target, MAE <= 0.05): ``scale.arm(key)``, which keeps the
  model's knowledge and interpolates reasoning between the neighbouring efforts (minimal,
  low, medium, high equally spaced). Baseline: the neighbours' published scores on the same
  benchmark interpolated linearly at the same position (the publisher's own rows where it
  has both, else the mean over publishers): what a user would do by hand.
- **Ends** (minimal, and the highest effort; o3-mini's lowest, low, which thinks) cannot be
  interpolated and are reported apart, not in the target: minimal does not think, so it is
  the model's knowledge with the reasoning every plain arm shares; a thinking end
  extrapolates reasoning linearly from the two nearest efforts (at least 0). Baseline: the
  nearest effort's score.

Predictions add the fitted (publisher, benchmark) offset of the row's harness, which the
other arms' rows of that publisher fix (leave one benchmark out uses 0: there the
benchmark's harness is unknown). MAE with 90% bootstrap intervals over rows.

    python bench/bench_scale_efforts.py [--shared PATH] [--iter N] [--quick] [--interior-only]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _scale_baselines import Held, report
from bench_scale import add_options, data_options, fresh_scale, shared_dir

from ponder.classifiers import build_featurizer, default_featurizer_spec
from ponder.classifiers._arm_keys import EFFORTS, thinks
from ponder.classifiers._scale import AbsoluteScale, PerQuery, ScaleArm
from ponder.classifiers._scale_data import PublishedRow, ScaleData, fit_on, load_scale_data


def ladders(rows: list[PublishedRow]) -> dict[str, list[str]]:
    """Models with three or more published efforts, and those efforts in order."""
    got: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        model, setting = r.key.split("@", 1)
        if setting in EFFORTS:
            got[model].add(setting)
    return {m: [e for e in EFFORTS if e in s] for m, s in sorted(got.items()) if len(s) >= 3}


def without_arm(data: ScaleData, key: str) -> ScaleData:
    """``data`` with the per-query rows of ``key`` dropped and the arm renamed, so that
    ``scale.arm(key)`` must place it from its neighbours."""
    if key not in data.arm_keys:
        return data
    a = data.arm_keys.index(key)
    pq = data.per_query
    keep = pq.ai != a
    arm_keys = list(data.arm_keys)
    arm_keys[a] = f"{key}#held-out"
    held = PerQuery(pq.qi[keep], pq.ai[keep], pq.y[keep], pq.w[keep])
    return dataclasses.replace(data, per_query=held, arm_keys=arm_keys)


def end_arm(scale: AbsoluteScale, key: str, known: list[str]) -> ScaleArm | None:
    """An end of the ladder: plain at minimal, else reasoning extrapolated (see doc)."""
    model, effort = key.split("@", 1)
    knowledge = scale.models_.get(model)
    if knowledge is None:
        return None
    if not thinks(key):
        plain = next(a for k, a in scale.arms_.items() if not thinks(k.split("#")[0]))
        return ScaleArm(key, knowledge, plain.reasoning, "plain (model's knowledge)")
    at = EFFORTS.index(effort)
    near = sorted(known, key=lambda e: abs(EFFORTS.index(e) - at))[:2]
    if len(near) < 2:
        return None
    i1, i2 = (EFFORTS.index(e) for e in near)
    r1, r2 = (scale.arms_[f"{model}@{e}"].reasoning for e in near)
    r = r1 + (r2 - r1) * (at - i1) / (i2 - i1)
    return ScaleArm(key, knowledge, max(0.0, r), "extrapolated")


def neighbour_score(
    rows: list[PublishedRow], key: str, bench: str, publisher: str, known: list[str]
) -> float | None:
    """Interpolated (interior) or nearest (end) neighbours' published score on ``bench``."""
    model, effort = key.split("@", 1)
    at = EFFORTS.index(effort)

    def score(e: str) -> float | None:
        got = [r for r in rows if r.key == f"{model}@{e}" and r.benchmark == bench]
        own = [r.score for r in got if r.publisher == publisher]
        vals = own or [r.score for r in got]
        return float(np.mean(vals)) if vals else None

    below = [e for e in known if EFFORTS.index(e) < at]
    above = [e for e in known if EFFORTS.index(e) > at]
    if below and above:
        lo, hi = below[-1], above[0]
        s_lo, s_hi = score(lo), score(hi)
        if s_lo is None or s_hi is None:
            return None
        t = (at - EFFORTS.index(lo)) / (EFFORTS.index(hi) - EFFORTS.index(lo))
        return (1 - t) * s_lo + t * s_hi
    nearest = sorted(known, key=lambda e: abs(EFFORTS.index(e) - at))
    return score(nearest[0]) if nearest else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_options(ap)
    ap.add_argument("--interior-only", action="store_true", help="skip the ladders' ends")
    args = ap.parse_args()
    shared = shared_dir(args)
    featurizer = build_featurizer(default_featurizer_spec())
    kw = data_options(args)
    full = load_scale_data(shared, **kw)
    X = featurizer.transform(full.texts).astype(np.float64)
    found = ladders(full.rows)
    print("ladders: " + "; ".join(f"{m} {'/'.join(e)}" for m, e in found.items()))
    interior: list[Held] = []
    ends: list[Held] = []
    for model, efforts in found.items():
        for i, effort in enumerate(efforts):
            is_end = i in (0, len(efforts) - 1)
            if is_end and args.interior_only:
                continue
            t0 = time.perf_counter()
            key = f"{model}@{effort}"
            targets = [r for r in full.rows if r.key == key and r.benchmark in full.item_index]
            drop = [f"{key}:{r.benchmark}" for r in targets]
            data = without_arm(load_scale_data(shared, exclude=drop, **kw), key)
            assert data.texts == full.texts
            scale = fit_on(fresh_scale(args), data, X)
            known = [e for e in efforts if e != effort]
            arm = end_arm(scale, key, known) if is_end else scale.arm(key)
            offsets = dict(zip(data.offset_names, scale.offsets_, strict=True))
            for r in targets:
                pred = None
                if arm is not None:
                    off = float(offsets.get(f"{r.publisher}|{r.benchmark}", 0.0))
                    z = scale.logits(X[full.item_index[r.benchmark]], [arm])[:, 0] + off
                    pred = float(np.mean(1.0 / (1.0 + np.exp(-z))))
                base = neighbour_score(full.rows, key, r.benchmark, r.publisher, known)
                groups = (key, f"[{effort}{' end' if is_end else ''}]", "[all]")
                held = Held(groups, r.score, {"scale": pred, "neighbours": base})
                (ends if is_end else interior).append(held)
                shown = "-" if pred is None else f"{pred:.3f}"
                shown_b = "-" if base is None else f"{base:.3f}"
                print(
                    f"    {key:18s} {r.benchmark:13s} {r.publisher[:24]:24s} published "
                    f"{r.score:.3f}  scale {shown}  neighbours {shown_b}"
                )
            how = "none" if arm is None else f"{arm.source}, reasoning {arm.reasoning:.2f}"
            ladder = ", ".join(
                f"{e} {scale.arms_[f'{model}@{e}'].reasoning:.2f}"
                for e in known
                if f"{model}@{e}" in scale.arms_
            )
            took = time.perf_counter() - t0
            print(
                f"  left out {key}: {len(targets)} rows, arm {how} (fitted: {ladder}), "
                f"fit {took:.0f} s",
                flush=True,
            )
    report(interior, ["neighbours"], title="held out (interior)")
    if ends:
        report(ends, ["neighbours"], title="held out (end)")
        print(
            "\nends: minimal is placed as a plain arm with the model's knowledge, a thinking "
            "end by extrapolating reasoning; the baseline there is the nearest effort's score"
        )


if __name__ == "__main__":
    main()
