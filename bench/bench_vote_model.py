"""Does the beta-binomial ``VoteModel`` predict what voting and adaptive sampling buy?

For every arm with recorded samples in ``qwen-math-sampled`` and ``mot-cascade`` (read from
``../shared/data`` beside the repo; ``PONDER_SHARED`` overrides), the queries are split in
two halves (grouped by id, seed 0). ``kappa`` and the arm's mean single-sample success
``mu`` are fitted on one half (one ``kappa`` per arm here, since the arms answer different
datasets); on the other half the replayed majority@N accuracy
(:func:`ponder.simulate._samples.vote_at_n`) is compared with the model's ``p_vote(mu, N)``
and with the independent-samples prediction (``kappa = inf``), and the replayed adaptive
sampling (confidence 0.95) with the model's ``p_adaptive`` / ``expected_samples``.
No model is called.

    python3 bench/bench_vote_model.py
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ponder.importers import import_rows
from ponder.outcomes import OutcomeTable, rows_to_table
from ponder.policies import VoteModel
from ponder.simulate import grouped_kfold
from ponder.simulate._samples import adaptive, vote_at_n

CONFIDENCE = 0.95
DETAIL = (  # arms whose whole majority@N curve is printed
    ("qwen-math", "qwen-math-cot"),
    ("gsm8k", "gpt-4-cot1"),
    ("date", "gpt-4-cot1"),
    ("date", "gpt-3.5-turbo-cot1"),
    ("date", "gpt-3.5-turbo-cot1-n40"),
)


def shared_data() -> Path:
    env = os.environ.get("PONDER_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass(frozen=True)
class ArmFit:
    label: str
    arm: str
    test: OutcomeTable
    model: VoteModel
    mu: float
    max_n: int


def fit_halves(label: str, table: OutcomeTable, arm: str) -> ArmFit:
    train, test = grouped_kfold(table.ids, 2, seed=0)[0]
    model = VoteModel().fit(table.take(train), [arm])
    rows = table.samples[arm]
    max_n = max(len(r) for r in rows if r)
    return ArmFit(label, arm, table.take(test), model, model.means_[arm], max_n)


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def summary(fits: list[ArmFit]) -> None:
    print("### All sampled arms: fitted on one half, checked on the other\n")
    print(
        "MAE: mean absolute error over N = 1..max of the predicted majority@N accuracy "
        "against the replay on the held-out half (percentage points).\n"
    )
    print(
        "| dataset | arm | test queries | N max | kappa | mu | maj@max replay | model "
        "| independent | MAE model | MAE indep. | adaptive@0.95 replay: acc. / samples "
        "| model: acc. / samples |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    indep = VoteModel(kappa=math.inf)
    for f in fits:
        replay = [vote_at_n(f.test, f.arm, n).accuracy for n in range(1, f.max_n + 1)]
        model = [float(f.model.p_vote(f.mu, n)) for n in range(1, f.max_n + 1)]
        free = [float(indep.p_vote(f.mu, n)) for n in range(1, f.max_n + 1)]
        mae_m = sum(abs(a - b) for a, b in zip(replay, model, strict=True)) / f.max_n
        mae_i = sum(abs(a - b) for a, b in zip(replay, free, strict=True)) / f.max_n
        ad = adaptive(f.test, f.arm, f.max_n, CONFIDENCE)
        pa = float(f.model.p_adaptive(f.mu, f.max_n, CONFIDENCE))
        es = float(f.model.expected_samples(f.mu, f.max_n, CONFIDENCE))
        print(
            f"| {f.label} | {f.arm} | {ad.n_queries} | {f.max_n} | {f.model.kappa_:.3f} "
            f"| {f.mu:.3f} | {pct(replay[-1])} | {pct(model[-1])} | {pct(free[-1])} "
            f"| {100 * mae_m:.1f} | {100 * mae_i:.1f} "
            f"| {pct(ad.accuracy)} / {ad.mean_samples:.2f} | {pct(pa)} / {es:.2f} |"
        )
    print()


def curves(fits: list[ArmFit]) -> None:
    indep = VoteModel(kappa=math.inf)
    for f in fits:
        print(
            f"### {f.label} `{f.arm}`: majority@N, held-out half "
            f"(kappa {f.model.kappa_:.3f}, mu {f.mu:.3f})\n"
        )
        print("| N | replayed (%) | VoteModel (%) | independent (%) |")
        print("|---:|---:|---:|---:|")
        for n in range(1, f.max_n + 1):
            r = vote_at_n(f.test, f.arm, n).accuracy
            print(
                f"| {n} | {pct(r)} | {pct(float(f.model.p_vote(f.mu, n)))} "
                f"| {pct(float(indep.p_vote(f.mu, n)))} |"
            )
        ad = adaptive(f.test, f.arm, f.max_n, CONFIDENCE)
        print(
            f"\nAdaptive @{CONFIDENCE} (max {f.max_n}): replayed {pct(ad.accuracy)} % with "
            f"{ad.mean_samples:.2f} samples; VoteModel "
            f"{pct(float(f.model.p_adaptive(f.mu, f.max_n, CONFIDENCE)))} % with "
            f"{float(f.model.expected_samples(f.mu, f.max_n, CONFIDENCE)):.2f}; independent "
            f"{pct(float(indep.p_adaptive(f.mu, f.max_n, CONFIDENCE)))} % with "
            f"{float(indep.expected_samples(f.mu, f.max_n, CONFIDENCE)):.2f}.\n"
        )


def main() -> int:
    start = time.perf_counter()
    data = shared_data()
    qwen_dir, mot_dir = data / "qwen-math-sampled", data / "mot-cascade"
    if not (qwen_dir.is_dir() and mot_dir.is_dir()):
        print(f"Shared data not found under {data} (set PONDER_SHARED); nothing to benchmark.")
        return 0
    tables = {"qwen-math": rows_to_table(import_rows("qwen-math-sampled", qwen_dir))}
    for ds in ("gsm8k", "asdiv", "crepe", "date", "navigate", "tabmwp"):
        tables[ds] = rows_to_table(import_rows("mot-cascade", mot_dir, split=ds))
    fits: list[ArmFit] = []
    for label, t in tables.items():
        for arm, rows in t.samples.items():
            if max((len(r) for r in rows if r), default=0) >= 2:
                fits.append(fit_halves(label, t, arm))
    print("## VoteModel (beta-binomial) vs replayed votes (no model calls)\n")
    summary(fits)
    by_key = {(f.label, f.arm): f for f in fits}
    curves([by_key[k] for k in DETAIL if k in by_key])
    print(f"Runtime: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
