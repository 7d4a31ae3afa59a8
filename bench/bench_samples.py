"""Replay sampled arms: majority@N, the samples each way of sampling needs to keep
majority@max accuracy (settings chosen out of fold), and a GPT-3.5 -> GPT-4 cascade.

Reads ``qwen-math-sampled``, ``mot-cascade`` and ``reasoning-gym`` from ``../shared/data``
beside the repo (``PONDER_SHARED`` overrides) and prints Markdown. No model is called:
every number is a replay of recorded samples (``ponder.simulate._samples``), through the
same sample plans and draw loop the live router runs.

    python3 bench/bench_samples.py                 # every set, 5 outer folds
    python3 bench/bench_samples.py --sets qwen date --folds 5
    python3 bench/bench_samples.py --only-many       # the 15 sets with 8+ samples (issue 20)
    python3 bench/bench_samples.py --only-many --many ap-gsm8k qwen
    python3 bench/bench_samples.py --only-shipped    # out of the box, and the ceiling

The sets with 8 or more samples (``bench/_sample_sets.py``) are cross-validated against
vote@max with paired 90% bootstrap intervals, and left out one at a time
(``bench/_sample_cv.py``); the packaged model's policy for any arm is replayed on each
(``bench/_sample_shipped.py``), and what a per-query signal could add to the margin rule is
bounded (``bench/_sample_ceiling.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _sample_ceiling import ceiling_section
from _sample_cv import DIRICHLET, many_sets_section
from _sample_sets import SETS as MANY
from _sample_sets import available, load_set
from _sample_shipped import shipped_section

from ponder.aggregators import CannotBeOvertaken, SamplePlan, StoppingRule, StopRule
from ponder.classifiers import DifficultyClassifier
from ponder.importers import import_rows
from ponder.outcomes import OutcomeTable, load_outcomes, rows_to_table
from ponder.policies import SamplingPolicy, calibrate_sampling, recorded_samples, within_reach
from ponder.simulate import predict_saved
from ponder.simulate._samples import (
    EscalationResult,
    Replayed,
    VoteResult,
    allocated,
    escalation,
    majority_curve,
    replayed,
)

CONFIDENCES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
WITHIN = 0.005  # adaptive must reach majority@max accuracy minus 0.5 points
PRICE_CHEAP, PRICE_STRONG = 1.0, 20.0  # assumed GPT-3.5 : GPT-4 per-sample price ratio
CHEAP_ARM, STRONG_ARM = "gpt-3.5-turbo-cot1", "gpt-4-cot1"
CASCADE_KS = (3, 5, 10)


def shared_data() -> Path:
    env = os.environ.get("PONDER_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def majority_section(arms: list[tuple[str, OutcomeTable, str]]) -> None:
    curves = {label: majority_curve(t, arm) for label, t, arm in arms}
    top = max(len(c) for c in curves.values())
    labels = list(curves)
    print("### Majority@N accuracy (%)\n")
    print("| N | " + " | ".join(labels) + " |")
    print("|---:|" + "---:|" * len(labels))
    for n in range(1, top + 1):
        cells = [pct(c[n - 1].accuracy) if n <= len(c) else "" for c in curves.values()]
        print(f"| {n} | " + " | ".join(cells) + " |")
    print()


# ---- samples needed within 0.5 points of majority@max, settings chosen out of fold ---------


@dataclass
class Pooled:
    """Held-out results of one policy on one arm, summed over the outer folds."""

    correct: float = 0.0
    samples: float = 0.0
    declined: int = 0
    n: int = 0
    settings: list[str] = field(default_factory=list)

    def add(self, r: VoteResult, setting: str) -> None:
        self.correct += r.accuracy * r.n_queries
        self.samples += r.mean_samples * r.n_queries
        self.declined += r.declined
        self.n += r.n_queries
        self.settings.append(setting)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    @property
    def mean_samples(self) -> float:
        return self.samples / self.n


@dataclass(frozen=True)
class SampledSet:
    """One shared table and the arms of it to report; the classifier that gives the
    allocation its prior is trained on these arms of the training folds."""

    key: str
    label: str
    load: Callable[[Path], OutcomeTable]
    arms: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    """One arm against the goals: the allocation's saving and accuracy, the exact rule's."""

    max_n: int
    ratio: float
    samples: float
    exact_samples: float
    drop: float
    within: bool
    exact_within: bool


def _plan(family: str, setting: str | None, top: int) -> Callable[[int, int], SamplePlan]:
    """Each query's plan under one setting of a baseline family (None: its safest)."""
    if family == "adaptive":
        rule: StopRule = StoppingRule(float(setting) if setting else CONFIDENCES[-1])
        return lambda _i, n: SamplePlan(min(top, n), rule)
    budget = int(setting) if setting else top
    return lambda _i, n: SamplePlan(min(budget, n), CannotBeOvertaken())


def _replay(table: OutcomeTable, arm: str, family: str, setting: str | None) -> Replayed:
    """A baseline on ``table``; ``vote`` scores as ``exact`` (the same answers) at N each."""
    top = len(majority_curve(table, arm))
    r = replayed(table, arm, _plan(family, setting, top))
    if family != "vote":
        return r
    n = int(setting) if setting else top
    lengths = np.array([len(table.samples[arm][i] or ()) for i in r.rows])
    return dataclasses.replace(r, samples=np.minimum(n, lengths))


def _choose(train: OutcomeTable, arm: str, family: str) -> str | None:
    """The cheapest setting of ``family`` on the training folds that stays within 0.5 points
    of majority@max there, by the rule ``ponder train`` calibrates with (None: none does)."""
    top = len(majority_curve(train, arm))
    full = _replay(train, arm, "exact", None).right
    names = (
        [str(c) for c in CONFIDENCES]
        if family == "adaptive"
        else [str(n) for n in range(1, top + 1)]
    )
    best: tuple[float, str] | None = None
    for name in names:
        r = _replay(train, arm, family, name)
        lost = int(np.count_nonzero(full & ~r.right))
        gained = int(np.count_nonzero(r.right & ~full))
        if within_reach(lost, gained, full.size) and (best is None or r.samples.mean() < best[0]):
            best = (float(r.samples.mean()), name)
    return None if best is None else best[1]


def _describe(policy: SamplingPolicy) -> str:
    b = policy.budget
    return f"t{b.trust:g}/g{b.gain:.2g}/f{b.floor:g}/c{policy.confidence:g}"


FAMILIES = ("vote", "adaptive", "exact")
COLUMNS = ("vote@max", "vote@N", "adaptive", "exact", "allocation", "allocation, no classifier")


def cross_validate(
    table: OutcomeTable, arms: tuple[str, ...], folds: int, seed: int
) -> dict[str, dict[str, Pooled]]:
    """Every policy of every arm on held-out folds, its settings chosen on the others."""
    order = np.random.default_rng(seed).permutation(table.n_queries)
    fold_of = np.empty(table.n_queries, dtype=np.int64)
    fold_of[order] = np.arange(table.n_queries) % folds
    out = {arm: {c: Pooled() for c in COLUMNS} for arm in arms}
    for f in range(folds):
        train, test = (
            table.take(np.flatnonzero(fold_of != f)),
            table.take(np.flatnonzero(fold_of == f)),
        )
        clf = DifficultyClassifier(seed=seed).fit(train)
        p_test = predict_saved(clf, test)
        inner = np.random.default_rng(seed + 1 + f).permutation(train.n_queries) % folds
        for arm in arms:
            pooled = out[arm]
            pooled["vote@max"].add(_replay(test, arm, "vote", None).result(), "max")
            for family in FAMILIES:
                setting = _choose(train, arm, family)
                name = "vote@N" if family == "vote" else family
                pooled[name].add(_replay(test, arm, family, setting).result(), setting or "none")
            policy = clf.sampling_[arm]
            p = p_test[:, test.arm_index(arm)]
            pooled["allocation"].add(allocated(test, arm, policy, p), _describe(policy))
            blind = calibrate_sampling(recorded_samples(train, arm, np.nan), inner)
            pooled["allocation, no classifier"].add(
                allocated(test, arm, blind, None), _describe(blind)
            )
        print(f"  fold {f + 1}/{folds} done", file=sys.stderr)
    return out


def needed_section(sets: list[SampledSet], data: Path, folds: int, seed: int) -> None:
    print("### Samples to stay within 0.5 points of majority@max, settings chosen out of fold\n")
    print(
        f"{folds} outer folds (random by query, seed {seed}): every setting is chosen on the "
        "training folds and scored on the held-out fold; figures pool the held-out folds. "
        "Every family is chosen by the rule `ponder train` calibrates with: the fewest mean "
        "samples whose accuracy, paired query by query with majority@max's, falls short by "
        "at most 0.5 points plus one standard error of the difference (McNemar's). "
        "**vote@N**: the smallest N; "
        "**adaptive**: the Beta rule (Adaptive-Consistency, the current `adaptive: true`), "
        f"confidence from {CONFIDENCES[0]}..{CONFIDENCES[-1]}; **exact**: stop once the leader "
        "cannot be overtaken within a budget N (chosen); **allocation**: the per-query budget "
        "from the classifier and the Dirichlet rule, as `ponder train` calibrates it (a "
        "DifficultyClassifier fitted on the training folds' arms; its knobs chosen by its own "
        "inner cross-validation on its out-of-fold predictions) with the model's predictions "
        "for the held-out queries; **no classifier**: the same calibration with no prediction. "
        "A query the allocation declines (predicted hopeless) draws nothing and counts wrong. "
        "Cells: mean samples (held-out accuracy, % ; ✗ where it fell more than 0.5 points "
        "below majority@max).\n"
    )
    header = "| arm (max) | queries | " + " | ".join(COLUMNS) + " | vote@max / allocation |"
    rows: list[str] = []
    ratios: dict[str, Verdict] = {}
    settings: list[str] = []
    for spec in sets:
        table = spec.load(data)
        print(f"{spec.label}: {table.n_queries} queries", file=sys.stderr)
        pooled = cross_validate(table, spec.arms, folds, seed)
        for arm in spec.arms:
            got = pooled[arm]
            top = got["vote@max"]
            max_n = len(majority_curve(table, arm))
            cells = []
            for c in COLUMNS:
                r = got[c]
                ok = r.accuracy >= top.accuracy - WITHIN - 1e-12
                declined = f", {r.declined / r.n:.0%} declined" if r.declined else ""
                cells.append(
                    f"{r.mean_samples:.2f} ({pct(r.accuracy)}{'' if ok else ' ✗'}{declined})"
                )
            ratio = top.mean_samples / got["allocation"].mean_samples
            name = f"{spec.label} {arm} ({max_n})"
            rows.append(f"| {name} | {top.n} | " + " | ".join(cells) + f" | {ratio:.1f}x |")
            floor = top.accuracy - WITHIN - 1e-12
            ratios[name] = Verdict(
                max_n,
                ratio,
                got["allocation"].mean_samples,
                got["exact"].mean_samples,
                100 * (top.accuracy - got["allocation"].accuracy),
                got["allocation"].accuracy >= floor,
                got["exact"].accuracy >= floor,
            )
            settings.append(
                f"- {name}: vote@N {got['vote@N'].settings}, adaptive {got['adaptive'].settings}, "
                f"exact {got['exact'].settings}, allocation {got['allocation'].settings}, "
                f"no classifier {got['allocation, no classifier'].settings}"
            )
    print(header)
    print("|---|---:|" + "---:|" * (len(COLUMNS) + 1))
    for row in rows:
        print(row)
    print()
    big = {k: v for k, v in ratios.items() if v.max_n >= 8}
    if big:
        parts = [
            f"{k} {v.ratio:.1f}x" + ("" if v.within else f", {v.drop:.2f} points below ✗")
            for k, v in big.items()
        ]
        mean = float(np.mean([v.ratio for v in big.values()]))
        met = all(v.within and v.ratio >= 3 for v in big.values()) and mean >= 4
        print(
            f"Sets with 8 or more samples, allocation below vote@max: {'; '.join(parts)} (mean "
            f"{mean:.1f}x). Goal, at least 3x each and 4x on average, within 0.5 points: "
            f"{'met' if met else 'not met'}."
        )
    fewer = all(v.samples <= v.exact_samples + 1e-9 for v in ratios.values())
    lost = [k for k, v in ratios.items() if v.exact_within and not v.within]
    samples = "fewer samples on every arm" if fewer else "more samples on some arm"
    print(
        f"Against the exact rule: {samples}"
        + (
            f"; within 0.5 points wherever it is, except {', '.join(lost)}."
            if lost
            else "; within 0.5 points wherever it is."
        )
    )
    print("\nSettings chosen per outer fold (allocation: trust/gain/floor/confidence):\n")
    for line in settings:
        print(line)
    print()


def _qwen(data: Path) -> OutcomeTable:
    return rows_to_table(import_rows("qwen-math-sampled", data / "qwen-math-sampled"))


def _mot(split: str, arms: tuple[str, ...]) -> Callable[[Path], OutcomeTable]:
    def load(data: Path) -> OutcomeTable:
        table = rows_to_table(import_rows("mot-cascade", data / "mot-cascade", split=split))
        return table.select_arms(list(arms))

    return load


def _reasoning_gym(data: Path) -> OutcomeTable:
    """The easy configs (3 graded samples per arm; the hard ones have 1), arms measured."""
    table = load_outcomes(data / "reasoning-gym" / "outcomes.jsonl").table
    three = [
        i
        for i in range(table.n_queries)
        if any(len((table.samples.get(a) or ())[i] or ()) >= 3 for a in table.samples)
    ]
    table = table.take(np.array(three))
    measured = np.flatnonzero(np.asarray(table.measured).any(axis=0))
    return table.select_arms([table.arms[int(j)] for j in measured])


RG_ARMS = (
    "anthropic/claude-3.5-sonnet",
    "anthropic/claude-sonnet-4",
    "deepseek/deepseek-r1",
    "google/gemma-3-27b-it",
    "meta-llama/llama-3.3-70b-instruct",
    "meta-llama/llama-4-maverick",
    "mistralai/mistral-small-3.1-24b-instruct",
    "openai/o3-mini",
    "qwen/qwq-32b",
)
DATE_ARMS = ("gpt-3.5-turbo-cot1", "gpt-3.5-turbo-cot1-n40", "gpt-4-cot1")
SETS = {
    s.key: s
    for s in (
        SampledSet("qwen", "MATH", _qwen, ("qwen-math-cot",)),
        SampledSet("date", "Date", _mot("date", DATE_ARMS), DATE_ARMS),
        SampledSet("gsm8k", "GSM8K", _mot("gsm8k", ("gpt-4-cot1",)), ("gpt-4-cot1",)),
        SampledSet("rg", "reasoning-gym easy", _reasoning_gym, RG_ARMS),
    )
}


def pareto(points: list[tuple[str, EscalationResult]]) -> list[tuple[str, EscalationResult]]:
    """Points not beaten on both accuracy and cost by another, sorted by cost."""
    pts = sorted(points, key=lambda p: (p[1].mean_cost, -p[1].accuracy))
    out: list[tuple[str, EscalationResult]] = []
    for p in pts:
        if not out or p[1].accuracy > out[-1][1].accuracy:
            out.append(p)
    return out


def cascade_section(date: OutcomeTable) -> None:
    print(f"### Cascade on mot-cascade `date`: `{CHEAP_ARM}` vote of k -> `{STRONG_ARM}`\n")
    print(
        f"Assumed per-sample prices GPT-3.5 : GPT-4 = {PRICE_CHEAP:g} : {PRICE_STRONG:g} "
        "(assumed; roughly the 2023 list-price ratio of gpt-3.5-turbo vs gpt-4 per token; "
        "the tables have no costs). Escalate when the cheap vote's agreement < threshold; the "
        "escalated answer is GPT-4's first sample. Cost relative to always-GPT-4 (1 sample).\n"
    )
    always4 = escalation(date, CHEAP_ARM, STRONG_ARM, 1, 2.0, 0.0, PRICE_STRONG)
    base = always4.mean_cost
    rows: list[tuple[str, EscalationResult]] = []
    for k in CASCADE_KS:
        thresholds = sorted({j / k for j in range(1, k + 1)} | {0.0})
        for th in thresholds:
            r = escalation(date, CHEAP_ARM, STRONG_ARM, k, th, PRICE_CHEAP, PRICE_STRONG)
            rows.append((f"k={k}, agreement < {th:.2f}", r))
    refs: list[tuple[str, EscalationResult]] = [("always GPT-4 (1 sample)", always4)]
    maj4 = escalation(date, CHEAP_ARM, STRONG_ARM, 1, 2.0, 0.0, PRICE_STRONG, n_strong=3)
    refs.append(("always GPT-4, majority of 3", maj4))
    for k in (1, *CASCADE_KS):
        r = escalation(date, CHEAP_ARM, STRONG_ARM, k, 0.0, PRICE_CHEAP, PRICE_STRONG)
        refs.append((f"always GPT-3.5, majority of {k}", r))

    def line(name: str, r: EscalationResult) -> str:
        return (
            f"| {name} | {pct(r.accuracy)} | {r.mean_cost:.2f} | {r.mean_cost / base:.2f} "
            f"| {r.share_escalated:.0%} |"
        )

    header = "| policy | accuracy (%) | mean cost (units) | cost vs GPT-4 | escalated |"
    sep = "|---|---:|---:|---:|---:|"
    print(header)
    print(sep)
    for name, r in refs:
        print(line(name, r))
    print()
    front = pareto(rows)
    print(
        f"Cascade operating points on the accuracy/cost frontier ({len(front)} of "
        f"{len(rows)} swept; k in {CASCADE_KS}, threshold over the agreement levels j/k):\n"
    )
    print(header)
    print(sep)
    for name, r in front:
        print(line(name, r))
    best = [p for p in rows if p[1].accuracy >= always4.accuracy]
    if best:
        name, r = min(best, key=lambda p: p[1].mean_cost)
        print(
            f"\nCheapest cascade at least as accurate as always-GPT-4: {name}: "
            f"{pct(r.accuracy)} % at {r.mean_cost / base:.2f}x its cost."
        )
    else:
        print("\nNo swept cascade point reaches always-GPT-4's accuracy.")
    print(f"\n{always4.n_queries} queries, {always4.skipped} skipped.\n")


def transfer_sections(data: Path, keys: list[str], seed: int) -> None:
    """The packaged policy on every set with 8+ samples, and the per-query ceiling."""
    sets = [load_set(data, k) for k in keys if k in available(data)]
    if sets:
        shipped_section(sets, seed)
        ceiling_section(sets, seed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    ap.add_argument("--folds", type=int, default=5, help="outer folds (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--many",
        nargs="*",
        choices=list(MANY),
        default=list(MANY),
        help="sets with 8 or more samples to cross-validate (default: all; none: skip)",
    )
    ap.add_argument("--only-many", action="store_true", help="only the sets with 8 or more")
    ap.add_argument(
        "--only-shipped",
        action="store_true",
        help="only the packaged policy on the sets with 8 or more, and the per-query ceiling",
    )
    ap.add_argument(
        "--cap", type=int, default=300, help="queries of each set when it trains (leave one out)"
    )
    ap.add_argument(
        "--dirichlet",
        action="store_true",
        help="offer the Dirichlet rule to ponder on the 8+ sets (slow: minutes a set)",
    )
    args = ap.parse_args(argv)
    start = time.perf_counter()
    data = shared_data()
    DIRICHLET[0] = args.dirichlet
    if args.only_many or args.only_shipped:
        if args.only_many:
            many_sets_section(data, args.many, args.folds, args.seed, args.cap)
        transfer_sections(data, args.many, args.seed)
        print(f"Runtime: {time.perf_counter() - start:.1f} s")
        return 0
    qwen_dir, mot_dir = data / "qwen-math-sampled", data / "mot-cascade"
    if not (qwen_dir.is_dir() and mot_dir.is_dir()):
        print(f"Shared data not found under {data} (set PONDER_SHARED); nothing to benchmark.")
        return 0
    qwen = _qwen(data)
    gsm8k = rows_to_table(import_rows("mot-cascade", mot_dir, split="gsm8k"))
    date = rows_to_table(import_rows("mot-cascade", mot_dir, split="date"))
    print("## Sampled arms replayed (no model calls)\n")
    majority_section(
        [
            ("qwen-math MATH (8)", qwen, "qwen-math-cot"),
            ("gsm8k gpt-4-cot1 (3)", gsm8k, "gpt-4-cot1"),
            ("date gpt-4-cot1 (3)", date, "gpt-4-cot1"),
            ("date gpt-3.5-cot1 (20)", date, "gpt-3.5-turbo-cot1"),
            ("date gpt-3.5-cot1-n40 (40)", date, "gpt-3.5-turbo-cot1-n40"),
        ]
    )
    sets = [SETS[k] for k in args.sets]
    if "rg" in args.sets and not (data / "reasoning-gym").is_dir():
        print("(reasoning-gym not found: left out)\n")
        sets = [s for s in sets if s.key != "rg"]
    needed_section(sets, data, args.folds, args.seed)
    if args.many:
        many_sets_section(data, args.many, args.folds, args.seed, args.cap)
        transfer_sections(data, args.many, args.seed)
    cascade_section(date)
    print(f"Runtime: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
