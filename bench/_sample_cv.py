"""Out-of-fold replay of ways to stop sampling on one set, and paired bootstrap intervals.

Every policy is replayed through :func:`ponder.simulate._samples.replayed`, the draw loop
the live router runs, on the held-out fold's recorded samples; its settings were chosen on
the other folds only. Per row the replay keeps whether the answer is right and how many
samples it drew, so the shortfall against vote@max is paired query by query.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _sample_sets import ARM, SampleSet, available, load_set

from ponder.aggregators import CannotBeOvertaken, LeadBy, SamplePlan, StopRule
from ponder.outcomes import OutcomeTable
from ponder.policies import SamplingPolicy, calibrate_sampling, recorded_samples, within_reach
from ponder.policies._sampling_fit import CONFIDENCES
from ponder.simulate._samples import allocated, replayed

POLICIES = ("vote@max", "margin", "exact", "ponder")


@dataclass
class Held:
    """Per row of a set (held out once): right or not, samples drawn, and the settings
    chosen for each fold."""

    right: np.ndarray
    samples: np.ndarray
    settings: list[str] = field(default_factory=list)

    @classmethod
    def empty(cls, n: int) -> Held:
        return cls(np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64))


def group_folds(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold of each row, whole groups to one fold, groups shuffled by ``seed``."""
    names, inv = np.unique(groups, return_inverse=True)
    order = np.random.default_rng(seed).permutation(names.size)
    fold_of_group = np.empty(names.size, dtype=np.int64)
    fold_of_group[order] = np.arange(names.size) % k
    return fold_of_group[inv]


def _fixed(rule: StopRule) -> Callable[[int, int], SamplePlan]:
    return lambda _i, n: SamplePlan(n, rule)


def replay(table: OutcomeTable, rule: StopRule) -> tuple[np.ndarray, np.ndarray]:
    """``rule`` over each row's whole recorded budget: (right, samples) per row."""
    r = replayed(table, ARM, _fixed(rule))
    return r.right, r.samples


def choose_margin(tables: Sequence[OutcomeTable]) -> int:
    """The smallest lead ``m`` whose :class:`LeadBy` replay on ``tables`` (pooled) stays
    within 0.5 points of vote@max by the rule calibration uses (one standard error of
    margin); the largest recorded budget (the exact rule) when none does."""
    full = np.concatenate([replay(t, CannotBeOvertaken())[0] for t in tables])
    most = max(len(r or ()) for t in tables for r in t.samples[ARM])
    for m in range(1, most):
        right = np.concatenate([replay(t, LeadBy(m))[0] for t in tables])
        lost = int(np.count_nonzero(full & ~right))
        gained = int(np.count_nonzero(right & ~full))
        if within_reach(lost, gained, full.size):
            return m
    return most


DIRICHLET: list[bool] = [False]
"""Whether ponder's calibration here offers the Dirichlet rule (``--dirichlet``). Off by
default: its replay costs about a millisecond a step, some twenty CPU-minutes a 40-sample
set, and on the sets where it was run it did not beat the margin rule."""


def calibrate(
    tables: Sequence[OutcomeTable], fold_of: np.ndarray, budgets: bool = True
) -> SamplingPolicy:
    """Ponder's calibration with no classifier (every query the arm's mean): budget (unless
    ``budgets`` is False), and the :class:`LeadBy` margin or the exact rule (and the
    Dirichlet rule's confidence when :data:`DIRICHLET`), chosen by cross-validation over
    ``fold_of`` (one entry per row of the tables, in order)."""
    recs = [q for t in tables for q in recorded_samples(t, ARM, np.nan)]
    confidences = CONFIDENCES if DIRICHLET[0] else (1.0,)
    return calibrate_sampling(
        recs,
        fold_of,
        trusts=(0.0,),
        floors=(0.0,),
        confidences=confidences,
        with_budgets=budgets,
    )


def describe(policy: SamplingPolicy) -> str:
    rule = f"lead {policy.margin}" if policy.margin else f"conf {policy.confidence:g}"
    return f"gain {policy.budget.gain:.3g}, {rule}"


def cross_validate(s: SampleSet, folds: int, seed: int) -> dict[str, Held]:
    """Each policy on each held-out fold of ``s``, its settings chosen on the others."""
    n = s.table.n_queries
    out = {p: Held.empty(n) for p in POLICIES}
    fold_of = group_folds(s.groups, folds, seed)
    for f in range(folds):
        train_at, test_at = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        train, test = s.table.take(train_at), s.table.take(test_at)

        def put(
            name: str,
            right: np.ndarray,
            samples: np.ndarray,
            setting: str,
            at: np.ndarray = test_at,
        ) -> None:
            out[name].right[at] = right
            out[name].samples[at] = samples
            out[name].settings.append(setting)

        right, samples = replay(test, CannotBeOvertaken())
        lengths = np.array([len(r or ()) for r in test.samples[ARM]])
        put("vote@max", right, lengths, "all")
        put("exact", right, samples, "budget: all")
        m = choose_margin([train])
        most = max(len(r or ()) for r in train.samples[ARM])
        put("margin", *replay(test, LeadBy(m)), f"m={m}" if m < most else "none (exact)")
        inner = group_folds(s.groups[train_at], folds, seed + 1 + f)
        policy = calibrate([train], inner)
        r = allocated(test, ARM, policy)
        got = replayed(test, ARM, lambda _i, k, policy=policy: policy.plan(None, k))
        assert abs(got.right.mean() - r.accuracy) < 1e-12
        put("ponder", got.right, got.samples, describe(policy))
    return out


def leave_one_out(
    sets: Sequence[SampleSet], held: int, cap: int, seed: int
) -> tuple[dict[str, Held], str]:
    """Set ``held`` replayed under settings chosen on the other sets only (each cut to at
    most ``cap`` queries, so no set outweighs the rest; folds of the calibration are the
    sets): the margin rule's ``m`` and ponder's calibration. Returns the replays and the
    settings chosen."""
    rng = np.random.default_rng(seed)
    train: list[OutcomeTable] = []
    fold_of: list[np.ndarray] = []
    for j, s in enumerate(sets):
        if j == held:
            continue
        names = np.unique(s.groups)
        keep = set(rng.permutation(names)[:cap].tolist())
        rows = np.flatnonzero([g in keep for g in s.groups])
        train.append(s.table.take(rows))
        fold_of.append(np.full(rows.size, j))
    test = sets[held].table
    out: dict[str, Held] = {}
    right, _ = replay(test, CannotBeOvertaken())
    lengths = np.array([len(r or ()) for r in test.samples[ARM]])
    out["vote@max"] = Held(right, lengths)
    m = choose_margin(train)
    out["margin"] = Held(*replay(test, LeadBy(m)))
    policy = calibrate(train, np.concatenate(fold_of), budgets=False)
    got = replayed(test, ARM, lambda _i, k: policy.plan(None, k))
    out["ponder"] = Held(got.right, got.samples)
    return out, f"margin m={m}; ponder {describe(policy)}"


def group_sums(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum of ``values`` and the row count, per group."""
    _, inv = np.unique(groups, return_inverse=True)
    sums = np.bincount(inv, weights=values.astype(np.float64))
    counts = np.bincount(inv).astype(np.float64)
    return sums, counts


def boot_shortfall(
    diff: np.ndarray, groups: np.ndarray, b: int, rng: np.random.Generator
) -> np.ndarray:
    """``b`` bootstrap replicates of the mean paired shortfall (resampling groups)."""
    sums, counts = group_sums(diff, groups)
    idx = rng.integers(0, sums.size, size=(b, sums.size))
    return sums[idx].sum(axis=1) / counts[idx].sum(axis=1)


def interval(reps: np.ndarray, level: float = 0.90) -> tuple[float, float]:
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


BOOT = 2000
"""Bootstrap replicates of each interval."""


@dataclass(frozen=True)
class Row:
    """One set's result for one policy: the shortfall against vote@max (points) with its
    90% interval and bootstrap replicates, and mean samples."""

    shortfall: float
    low: float
    high: float
    samples: float
    reps: np.ndarray


def summarise(
    s: SampleSet, held: dict[str, Held], names: Sequence[str], rng: np.random.Generator
) -> dict[str, Row]:
    vote = held["vote@max"].right.astype(np.int64)
    out = {}
    for name in names:
        h = held[name]
        diff = vote - h.right.astype(np.int64)
        reps = 100 * boot_shortfall(diff, s.groups, BOOT, rng)
        lo, hi = interval(reps)
        out[name] = Row(100 * float(diff.mean()), lo, hi, float(h.samples.mean()), reps)
    return out


def cell(r: Row) -> str:
    return f"{r.shortfall:+.2f} [{r.low:+.2f}, {r.high:+.2f}]"


def gmean(x: Sequence[float]) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(x, dtype=np.float64)))))


def pooled_row(rows: Sequence[Row]) -> Row:
    """The mean over sets (each set one weight), its interval from the sets' independent
    bootstrap replicates averaged replicate by replicate."""
    reps = np.mean([r.reps for r in rows], axis=0)
    lo, hi = interval(reps)
    mean = float(np.mean([r.shortfall for r in rows]))
    return Row(mean, lo, hi, float("nan"), reps)


def many_sets_section(data: Path, keys: Sequence[str], folds: int, seed: int, cap: int) -> None:
    """Every set with 8 or more samples a query: the out-of-fold table, the goals of issue
    20 checked, and leave one set out."""
    keys = [k for k in keys if k in available(data)]
    if not keys:
        print("(none of the sets with 8 or more samples found)\n")
        return
    sets = [load_set(data, k) for k in keys]
    rng = np.random.default_rng(seed)
    names = ("margin", "exact", "ponder")
    results: list[dict[str, Row]] = []
    settings: list[str] = []
    print(
        "### Sets with 8 or more samples: shortfall against vote@max, settings chosen out of fold\n"
    )
    print(
        f"{folds} folds by query (adacons: a query's three seeds in one fold); every setting "
        "is chosen on the training folds and replayed on the held-out fold, through the "
        "router's draw loop. **margin**: stop once the leader is m votes ahead (m chosen: the "
        "smallest within 0.5 points of vote@max plus one standard error on the training "
        "folds, the rule calibration uses); **exact**: stop once the leader cannot be "
        "overtaken within all the samples (vote@max's answers); **ponder**: the calibrated "
        "allocation with no classifier (a fixed budget, and within it the margin rule or "
        "the exact rule"
        + (" or the Dirichlet rule" if DIRICHLET[0] else "")
        + ", whichever is cheapest within reach on the training folds' own inner folds). "
        "Cells: shortfall in points (vote@max accuracy minus the policy's; negative: more "
        "accurate) [paired 90% bootstrap interval over queries] and mean samples.\n"
    )
    print(
        "| set | queries | vote@max (%) | margin | exact | ponder | samples: max / margin /"
        " exact / ponder |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for s in sets:
        start = time.perf_counter()
        held = cross_validate(s, folds, seed)
        r = summarise(s, held, names, rng)
        results.append(r)
        acc = 100 * held["vote@max"].right.mean()
        n_max = held["vote@max"].samples.mean()
        smp = " / ".join(f"{x:.2f}" for x in (n_max, *(r[k].samples for k in names)))
        print(
            f"| {s.label} | {len(np.unique(s.groups))} | {acc:.1f} | "
            + " | ".join(cell(r[k]) for k in names)
            + f" | {smp} |",
            flush=True,
        )
        settings.append(
            f"- {s.label}: margin {', '.join(held['margin'].settings)}; ponder "
            f"{'; '.join(held['ponder'].settings)}"
        )
        results[-1]["vote@max"] = Row(0.0, 0.0, 0.0, float(n_max), np.zeros(BOOT))
        print(f"  {s.key}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    pooled = {k: pooled_row([r[k] for r in results]) for k in names}
    ratio = {k: gmean([r["vote@max"].samples / r[k].samples for r in results]) for k in names}
    print(
        f"| **pooled (mean over {len(sets)} sets)** | | | "
        + " | ".join(cell(pooled[k]) for k in names)
        + " | geometric mean, vote@max / policy: "
        + " / ".join(f"{ratio[k]:.2f}x" for k in names)
        + " |\n"
    )
    vs_margin = gmean([r["margin"].samples / r["ponder"].samples for r in results])
    p = pooled["ponder"]
    worst = max(results, key=lambda r: r["ponder"].high)["ponder"].high
    goals = [
        ("pooled mean shortfall <= 0.5 points", p.shortfall <= 0.5),
        ("its 90% upper bound <= 1.0", p.high <= 1.0),
        (f"no set's upper bound above 1.5 (largest {worst:.2f})", worst <= 1.5),
        (f">= 3x fewer samples than vote@max ({ratio['ponder']:.2f}x)", ratio["ponder"] >= 3),
        (
            f">= 1.3x fewer than the margin rule ({vs_margin:.2f}x) at equal or better pooled "
            f"accuracy ({p.shortfall:+.2f} vs {pooled['margin'].shortfall:+.2f})",
            vs_margin >= 1.3 and p.shortfall <= pooled["margin"].shortfall,
        ),
    ]
    print("Goals (ponder): " + "; ".join(f"{g}: {'met' if ok else 'NOT met'}" for g, ok in goals))
    print("\nSettings chosen per fold:\n")
    for line in settings:
        print(line)
    print()
    if len(sets) < 2:
        return
    print("### Leave one set out: settings chosen on the other sets only\n")
    print(
        f"For each set, the margin rule's m and ponder's calibration are chosen on the other "
        f"sets (each cut to at most {cap} queries; the calibration's inner folds are the "
        "sets) and replayed on the whole unseen set. Ponder is offered its stopping rules "
        "over all the samples, not a fixed budget: a budget read off the other sets' mean "
        "success does not carry to a set whose success is unknown.\n"
    )
    print("| set | margin | ponder | samples: margin / ponder | chosen |")
    print("|---|---:|---:|---:|---|")
    loso: list[dict[str, Row]] = []
    for j, s in enumerate(sets):
        start = time.perf_counter()
        held, chosen = leave_one_out(sets, j, cap, seed)
        r = summarise(s, held, ("margin", "ponder"), rng)
        r["vote@max"] = Row(0.0, 0.0, 0.0, float(held["vote@max"].samples.mean()), np.zeros(BOOT))
        loso.append(r)
        print(
            f"| {s.label} | {cell(r['margin'])} | {cell(r['ponder'])} | "
            f"{r['margin'].samples:.2f} / {r['ponder'].samples:.2f} | {chosen} |",
            flush=True,
        )
        print(f"  leave out {s.key}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    lp = {k: pooled_row([r[k] for r in loso]) for k in ("margin", "ponder")}
    lr = {k: gmean([r["vote@max"].samples / r[k].samples for r in loso]) for k in lp}
    print(
        "| **pooled** | "
        + " | ".join(cell(lp[k]) for k in ("margin", "ponder"))
        + f" | vote@max / policy: {lr['margin']:.2f}x / {lr['ponder']:.2f}x | |\n"
    )
    ok = lp["ponder"].shortfall <= 1.0
    print(
        f"Goal, leave one set out pooled shortfall <= 1.0 point: "
        f"{'met' if ok else 'NOT met'} ({lp['ponder'].shortfall:+.2f}).\n"
    )


__all__ = [
    "BOOT",
    "POLICIES",
    "Held",
    "Row",
    "boot_shortfall",
    "calibrate",
    "cell",
    "choose_margin",
    "cross_validate",
    "describe",
    "gmean",
    "group_folds",
    "interval",
    "leave_one_out",
    "many_sets_section",
    "pooled_row",
    "replay",
    "summarise",
]
