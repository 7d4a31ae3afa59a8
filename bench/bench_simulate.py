"""How long ``simulate`` takes on 100k queries x 10 arms, against a bare numpy baseline.

The baseline is one ``argmax`` over the ``[n, k]`` matrix per knob value of a sweep, the
least any vectorised replay must do; the ratio says how much the simulator adds on top
(tie-breaking, true-score lookups, per-task means, the oracle and cascade sweeps, metrics).

    python3 bench/bench_simulate.py [--n 100000] [--k 10] [--points 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from ponder.outcomes import OutcomeTable
from ponder.simulate._simulate import simulate


def make_table(n: int, k: int, seed: int = 0) -> tuple[OutcomeTable, np.ndarray]:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--points", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    table, p = make_table(args.n, args.k)
    cost = table.costs.mean(axis=0)
    scaled = np.broadcast_to(cost / cost.max(), p.shape)
    lams = np.linspace(0.0, 5.0, args.points)

    def baseline() -> None:
        for lam in lams:
            (p - lam * scaled).argmax(axis=1)

    report = simulate(table, p, cost, n_points=args.points)
    n_params = sum(len(report.policies[k].points) for k in ("ponder", "oracle", "cascade"))
    base = best_of(args.repeat, baseline)
    sim_tasks = best_of(args.repeat, lambda: simulate(table, p, cost, n_points=args.points))
    sim_flat = best_of(
        args.repeat, lambda: simulate(table, p, cost, n_points=args.points, by_task=False)
    )
    print(f"{args.n} queries x {args.k} arms, ~{args.points} knob values per policy")
    print(f"  knob values swept (ponder + oracle + cascade): {n_params}")
    print(f"  bare argmax baseline ({args.points} passes):   {base:7.3f} s")
    print(
        f"  simulate, by_task=False:                       {sim_flat:7.3f} s"
        f"   ({sim_flat / base:.1f}x baseline)"
    )
    print(
        f"  simulate, 8 tasks:                             {sim_tasks:7.3f} s"
        f"   ({sim_tasks / base:.1f}x baseline)"
    )


if __name__ == "__main__":
    main()
