"""Routing benchmark: ponder against a kNN router and the baselines, on public outcome data.

Per dataset, every router is fitted on training rows only (a train/test split, or 5-fold CV
grouped by id) and its predictions are replayed by ``ponder.simulate.simulate``: ``ponder``
(lightgbm backend, with the hull guard its fit calibrates: see ``ponder.policies.HullGuard``),
``ponder-unguarded`` (the same predictions routed without the guard, so the difference is
the guard alone), ``ponder-logistic`` (the simple baseline, guarded), ``knn-tfidf``
(RouterBench-style kNN: mean scores of the k nearest training prompts by TF-IDF cosine, k
chosen by CV on the training split), and the cascade, random, oracle and best arm from
ponder's replay. AIQ and gap
closed are recomputed for every router on one common cost range per dataset: ``simulate`` ends
its range at the largest cost any policy reaches, and the cascade's depends on the predictions.
Ponder's AIQ minus random's gets a 90% bootstrap interval, per dataset and, on reasoning-gym,
per generator fold.

    python bench/bench_routing.py [--only NAME ...] [--shared PATH] [--json FILE]
                                  [--folds-by clusters|tasks|queries]

Markdown tables go to stdout, progress to stderr. Data: ``../shared/data`` beside the repository
(or ``$PONDER_SHARED``); without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from ponder._menu import Menu
from ponder.classifiers import FOLDS_BY, DifficultyClassifier
from ponder.classifiers._irt import Backend, FoldsBy
from ponder.classifiers._routing_score import routing_gain
from ponder.errors import PonderError
from ponder.importers import import_rows
from ponder.outcomes import OutcomeTable, load_outcomes, rows_to_table
from ponder.policies import HullGuard
from ponder.simulate._evaluate import expected_costs, predict_guarded, price_table
from ponder.simulate._metrics import aiq, gap_closed
from ponder.simulate._report import Report
from ponder.simulate._simulate import simulate
from ponder.simulate._splits import grouped_kfold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._aiq_intervals import Guards, aiq_minus_random, forcing
from bench._reference_routers import (
    KnnTfidfRouter,
    LogisticTfidfRouter,
    MatrixFactorisationRouter,
)

FloatArray = npt.NDArray[np.float64]
Folds = list[tuple[OutcomeTable, OutcomeTable]]  # (train, test): one pair, or one per fold
SEED = 0
ROUTERS = (
    "ponder",
    "ponder-unguarded",
    "ponder-logistic",
    "knn-tfidf",
    "logistic-tfidf",
    "mf-tfidf",
)
UNGUARDED = {"ponder-unguarded": "ponder"}
"""Routers replayed from another's predictions without its hull guard: the same fits, so
the difference is the guard alone."""
REFERENCES = {
    "knn-tfidf": KnnTfidfRouter,
    "logistic-tfidf": LogisticTfidfRouter,
    "mf-tfidf": MatrixFactorisationRouter,
}
BACKENDS: tuple[tuple[Backend, str], ...] = (
    ("lightgbm", "ponder"),
    ("logistic", "ponder-logistic"),
)
_T0 = time.perf_counter()

# RouteLLM's figures for its routers on the same data (GPT-4-1106 vs Mixtral-8x7B), as
# (router, APGR, CPT(50%), CPT(80%)); None = not found. Its routers were trained on Chatbot
# Arena preferences (+ augmentation), not on these sets, so the comparison is indicative.
ROUTELLM: dict[str, list[tuple[str, float | None, float | None, float | None]]] = {
    "routellm-mmlu": [
        ("SW ranking, arena+gold", 0.603, 0.354, None),
        ("causal LLM", 0.600, 0.355, None),
        ("BERT / matrix factorization", None, None, None),
    ],
    "routellm-gsm8k": [
        ("causal LLM, augmented", 0.622, 0.336, 0.633),
        ("SW ranking / BERT / matrix factorization", None, None, None),
    ],
}
ROUTELLM_NOTE = (
    "*RouteLLM* rows: Ong et al. 2024 (arXiv:2406.18665), as transcribed by secondary sources; "
    "not checked against the paper's tables. — : not found."
)


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ datasets
@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    load: Callable[[Path], Folds]
    folder: str = "routerbench"
    evaluation: str = "train → test (holdout)"
    per_fold: bool = False
    """Report AIQ against random on each fold's test rows too (folds of unseen kinds)."""


def _routerbench_csv(path: Path) -> OutcomeTable:
    """The wide CSV as ``ponder simulate`` reads it (lines sharing a sample_id are merged)."""
    return price_table(load_outcomes(path).table, None)


def _holdout(train: OutcomeTable, test: OutcomeTable) -> Folds:
    return [(train, test.select_arms([a for a in test.arms if a in train.arms]))]


def _holdout_csv(stem: str) -> Callable[[Path], Folds]:
    return lambda d: _holdout(*(_routerbench_csv(d / f"{stem}_{s}.csv") for s in ("train", "test")))


def _imported(name: str, folder: Path, split: str | None = None) -> OutcomeTable:
    return price_table(rows_to_table(import_rows(name, folder, split)), None)


def _cv(name: str, k: int) -> Callable[[Path], Folds]:
    def load(folder: Path) -> Folds:
        table = _imported(name, folder)
        folds = grouped_kfold(list(table.ids), k, seed=SEED)
        return [(table.take(tr), table.take(te)) for tr, te in folds]

    return load


def _reasoning_gym(folder: Path) -> Folds:
    """5 folds grouped by generator: every test puzzle comes from a generator no training
    row came from (ids are ``rg-<config>-<category>-<generator>-<hash>``)."""
    table = price_table(
        load_outcomes(folder / "outcomes.jsonl").table, Menu.load(folder / "menu.yaml")
    )
    generator = ["-".join(i.split("-")[2:4]) for i in table.ids]
    folds = grouped_kfold(list(table.ids), 5, groups=generator, seed=SEED)
    return [(table.take(tr), table.take(te)) for tr, te in folds]


def _llmrouter(folder: Path) -> Folds:
    return _holdout(_imported("llmrouter", folder, "train"), _imported("llmrouter", folder, "test"))


_HO, _CV = "train → test (holdout)", "5-fold CV grouped by id"
DATASETS = {
    d.name: d
    for d in (
        Dataset("routerbench-arc", "RouterBench ARC-Challenge", _holdout_csv("arc_challenge")),
        Dataset("routerbench-mbpp", "RouterBench MBPP", _holdout_csv("mbpp")),
        Dataset("routellm-gsm8k", "RouteLLM GSM8K", _cv("routellm-gsm8k", 5), "routellm", _CV),
        Dataset("routellm-mmlu", "RouteLLM MMLU", _cv("routellm-mmlu", 5), "routellm", _CV),
        Dataset("llmrouter", "LLMRouter", _llmrouter, "llmrouter", _HO + ", deduplicated"),
        Dataset(
            "reasoning-gym",
            "reasoning-gym",
            _reasoning_gym,
            "reasoning-gym",
            "5-fold CV grouped by generator",
            per_fold=True,
        ),
    )
}


# ------------------------------------------------------------------------------ running
def run_dataset(ds: Dataset, shared: Path, folds_by: FoldsBy = "clusters") -> dict[str, Any]:
    folds = ds.load(shared / ds.folder)
    replay = OutcomeTable.concat([te for _, te in folds]) if len(folds) > 1 else folds[0][1]
    n, k = replay.n_queries, replay.n_arms
    preds = {r: np.full((n, k), np.nan) for r in ROUTERS if r not in UNGUARDED}
    guards: dict[str, list[HullGuard | None]] = {name: [None] * n for _, name in BACKENDS}
    cost = np.full((n, k), np.nan)
    row = 0
    spans: list[slice] = []
    for f, (train, test) in enumerate(folds):
        rows = slice(row, row + test.n_queries)
        spans.append(rows)
        row += test.n_queries
        where = f"{ds.name} fold {f + 1}/{len(folds)}"
        say(f"{where}: {train.n_queries} train, {test.n_queries} test queries")
        cost[rows] = expected_costs(train, test)
        for backend, name in BACKENDS:
            t0 = time.perf_counter()
            make = partial(DifficultyClassifier, backend=backend, folds_by=folds_by, seed=SEED)
            preds[name][rows], guard = predict_guarded(train, test, make, lambda _m: None)
            guards[name][rows] = [guard] * test.n_queries
            say(f"{where}: {name} fitted in {time.perf_counter() - t0:.0f}s ({_said(guard)})")
        for name, make_ref in REFERENCES.items():
            t0 = time.perf_counter()
            ref = make_ref().fit(train)
            preds[name][rows] = ref.predict(test.prompts)
            say(f"{where}: {name} fitted in {time.perf_counter() - t0:.0f}s")
    preds |= {r: preds[of] for r, of in UNGUARDED.items()}
    reports = {r: simulate(replay, preds[r], cost, guard=guards.get(r)) for r in ROUTERS}
    out = summarise(ds, reports)
    out["routing_gain"] = bootstrap_gains(preds, replay, guards, cost)
    say(f"{ds.name}: bootstrapping AIQ against random")
    out["aiq_minus_random"] = {
        r: aiq_minus_random(replay, preds[r], cost, guards.get(r), out["aiq_cost_range"])
        for r in ("ponder", "ponder-unguarded")
    }
    if ds.per_fold and len(spans) > 1:
        out["aiq_minus_random_per_fold"] = {
            r: [
                aiq_minus_random(
                    replay.take(np.arange(s.start, s.stop)),
                    preds[r][s],
                    cost[s],
                    None if guards.get(r) is None else guards[r][s],
                )
                for s in spans
            ]
            for r in ("ponder", "ponder-unguarded")
        }
    return out


def _said(guard: HullGuard | None) -> str:
    if guard is None or not guard.active:
        return "hull guard never falls back"
    arms = sorted({a for a in guard.fallback if a is not None})
    n = sum(a is not None for a in guard.fallback)
    return f"hull guard falls back at {n}/{len(guard.fallback)} lams, to {', '.join(arms)}"


def bootstrap_gains(
    preds: dict[str, FloatArray],
    replay: OutcomeTable,
    guards: dict[str, list[HullGuard | None]],
    cost: FloatArray,
    n_boot: int = 200,
) -> dict[str, Any]:
    """Each router's routing gain (``ponder.classifiers._routing_score``: the share of the
    oracle's margin over the best single arm earned, summed over the lam sweep) with a 90%
    bootstrap interval over queries, and ponder's difference from the best reference router
    on the same resamples: differences smaller than their interval are noise. Ponder's
    routers are replayed with their hull guards, as ``simulate`` replays them. Costs are
    the expected ones the policy priced (``cost``, as the AIQ replay uses), not each test
    row's recorded cost, which no router could have known."""
    rng = np.random.default_rng(SEED)
    y, c, measured = replay.scores, cost, replay.measured

    def gain(r: str, i: npt.NDArray[np.int64] | slice) -> float:
        g: Guards | None = guards.get(r)
        if g is not None and not isinstance(i, slice):
            g = [g[k] for k in i]
        adjust = forcing(g, replay.arms, measured[i])
        return routing_gain(preds[r][i], y[i], c[i], guard=adjust)

    point = {r: gain(r, slice(None)) for r in ROUTERS}
    refs = [r for r in ROUTERS if r in REFERENCES]
    best_ref = max(refs, key=lambda r: point[r])
    draws: dict[str, list[float]] = {r: [] for r in [*ROUTERS, "diff"]}
    for _ in range(n_boot):
        i = rng.integers(0, replay.n_queries, replay.n_queries)
        g = {r: gain(r, i) for r in ROUTERS}
        for r in ROUTERS:
            draws[r].append(g[r])
        draws["diff"].append(g["ponder"] - g[best_ref])

    def ci(v: list[float]) -> list[float]:
        return [float(np.quantile(v, 0.05)), float(np.quantile(v, 0.95))]

    return {
        "point": point,
        "interval": {r: ci(draws[r]) for r in ROUTERS},
        "best_reference": best_ref,
        "ponder_minus_best_reference": [point["ponder"] - point[best_ref], *ci(draws["diff"])],
    }


def summarise(ds: Dataset, reports: dict[str, Report]) -> dict[str, Any]:
    """Figures of every router on one common AIQ range (see the module docstring)."""
    base = reports["ponder"]
    lo = base.summary.aiq_cost_range[0]
    hi = max(r.summary.aiq_cost_range[1] for r in reports.values())
    best = f"arm:{base.summary.best_single_arm}"
    rows = {r: (reports[r], "ponder") for r in ROUTERS}
    rows |= {"cascade": (base, "cascade"), "random": (base, "random"), "oracle": (base, "oracle")}
    rows[best] = (base, best)

    def area(rep: Report, pol: str) -> float:
        pts = rep.policies[pol].points
        return aiq([p.cost_per_query for p in pts], [p.quality for p in pts], lo, hi)

    a_rand, a_orc = area(base, "random"), area(base, "oracle")
    keep = ("cost_share_to_match_best_single", "quality_at_share", "apgr", "cpt_50", "cpt_80")
    out: dict[str, Any] = {}
    for label, (rep, pol) in rows.items():
        a = area(rep, pol)
        out[label] = {"aiq": a, "gap_closed": gap_closed(a, a_rand, a_orc)}
        out[label] |= rep.policies[pol].model_dump(include=set(keep))
    best_of = base.summary.model_dump(include={"best_single_quality", "best_single_cost"})
    return {
        "title": ds.title,
        "evaluation": ds.evaluation,
        "n_queries": base.n_queries,
        "dropped_incomplete": base.dropped_incomplete,
        "arms": list(base.arms),
        "best_single_arm": base.summary.best_single_arm,
        **best_of,
        "aiq_cost_range": [lo, hi],
        "two_arm": len(base.arms) == 2,
        "routers": out,
    }


# ------------------------------------------------------------------------------ output
def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "—" if x is None else fmt.format(x)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table_markdown(name: str, res: dict[str, Any]) -> str:
    two, best = res["two_arm"], f"arm:{res['best_single_arm']}"
    cols = ["router", "AIQ", "gap closed", "cost to match best", "q@10%", "q@25%", "q@50%"]
    cols += ["APGR", "CPT(50%)", "CPT(80%)"] if two else []
    lines = [
        f"### {res['title']} (`{name}`)",
        "",
        f"{res['n_queries']} queries × {len(res['arms'])} arms, {res['evaluation']}. Best single "
        f"arm `{res['best_single_arm']}`: quality {res['best_single_quality']:.3f} at "
        f"${res['best_single_cost']:.6f}/query.",
        "",
        _row(cols),
        "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|",
    ]
    for label, r in res["routers"].items():
        q, single = r["quality_at_share"], label == best  # a lone point: AIQ is not comparable
        cells = [f"**{label}**" if label == "ponder" else label.replace("arm:", "best arm: ")]
        cells += ["—", "—"] if single else [_num(r["aiq"]), _num(r["gap_closed"])]
        cells += [_num(r["cost_share_to_match_best_single"], "{:.0%}")]
        cells += [_num(q.get(s)) for s in ("0.1", "0.25", "0.5")]
        if two:
            cells += [_num(r["apgr"]), _num(r["cpt_50"], "{:.1%}"), _num(r["cpt_80"], "{:.1%}")]
        lines.append(_row(cells))
    published = ROUTELLM.get(name, []) if two else []
    for label, a, c50, c80 in published:
        pct = "{:.1%}"
        lines.append(
            _row([f"*RouteLLM {label}*", *["—"] * 6, _num(a), _num(c50, pct), _num(c80, pct)])
        )
    return "\n".join(lines + (["", ROUTELLM_NOTE] if published else []))


def summary_markdown(results: dict[str, dict[str, Any]]) -> str:
    cols = ["dataset", "gap closed: ponder", *ROUTERS[1:]]
    lines = ["### Summary", "", _row([*cols, "AIQ: ponder", "random", "oracle"])]
    lines.append("|---|" + "---:|" * (len(cols) + 2))
    for res in results.values():
        r = res["routers"]
        gaps = [_num(r[x]["gap_closed"]) for x in ROUTERS]
        lines.append(
            _row(
                [res["title"], *gaps, *(_num(r[x]["aiq"]) for x in ("ponder", "random", "oracle"))]
            )
        )
    lines += [
        "",
        "Routing gain (share of the oracle's margin over the best single arm earned, summed "
        "over the lam sweep; 90% bootstrap interval):",
        "",
        _row(["dataset", *ROUTERS, "ponder - best reference"]),
        "|---|" + "---:|" * (len(ROUTERS) + 1),
    ]
    for res in results.values():
        g = res["routing_gain"]
        cells = [
            f"{g['point'][r]:.3f} [{g['interval'][r][0]:.3f}, {g['interval'][r][1]:.3f}]"
            for r in ROUTERS
        ]
        d = g["ponder_minus_best_reference"]
        cells.append(f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}] vs {g['best_reference']}")
        lines.append(_row([res["title"], *cells]))
    return "\n".join(lines + aiq_lines(results))


def _ci(v: list[float]) -> str:
    return f"{v[0]:+.4f} [{v[1]:+.4f}, {v[2]:+.4f}]"


def aiq_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """Ponder's AIQ minus random's (guarded and not), per set and, where a set asks for
    it, per fold (each fold's test rows on their own cost range)."""
    guarded = ("ponder", "ponder-unguarded")
    lines = [
        "",
        "AIQ minus random mixing of the single arms (90% bootstrap interval over queries, "
        "100 resamples; `ponder` with its hull guard, `ponder-unguarded` the same "
        "predictions without it):",
        "",
        _row(["dataset", *guarded]),
        "|---|---:|---:|",
    ]
    for res in results.values():
        d = res["aiq_minus_random"]
        lines.append(_row([res["title"], *(_ci(d[r]) for r in guarded)]))
    for res in results.values():
        per = res.get("aiq_minus_random_per_fold")
        if per is None:
            continue
        lines += ["", f"{res['title']}, per fold (each on its own test rows):", ""]
        lines += [_row(["fold", *guarded]), "|---|---:|---:|"]
        for f in range(len(per["ponder"])):
            lines.append(_row([str(f + 1), *(_ci(per[r][f]) for r in guarded)]))
    return lines


def default_shared() -> Path:
    env = os.environ.get("PONDER_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--only",
        action="append",
        choices=list(DATASETS),
        metavar="NAME",
        help=f"run only this dataset (repeatable): {', '.join(DATASETS)}",
    )
    ap.add_argument(
        "--shared", type=Path, help="data folder (default ../shared/data, $PONDER_SHARED)"
    )
    ap.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    ap.add_argument(
        "--folds-by",
        choices=list(FOLDS_BY),
        default="clusters",
        help="what ponder's own cross-validation holds out (DifficultyClassifier.folds_by): "
        "the shipped default is clusters; tasks holds out whole task labels",
    )
    args = ap.parse_args(argv)
    shared: Path = args.shared or default_shared()
    results: dict[str, dict[str, Any]] = {}
    for n in dict.fromkeys(args.only or DATASETS):
        ds, t0 = DATASETS[n], time.perf_counter()
        if not (shared / ds.folder).is_dir():
            say(f"skipping {n}: {shared / ds.folder} not found")
            continue
        try:
            with threadpool_limits(1):  # see DifficultyClassifier.fit: spinning BLAS threads
                results[n] = run_dataset(ds, shared, args.folds_by)
        except (PonderError, OSError) as exc:  # a file of the folder missing or unreadable
            say(f"skipping {n}: {exc}")
            continue
        results[n]["seconds"] = time.perf_counter() - t0
        print(table_markdown(n, results[n]) + "\n", flush=True)
    if not results:
        hint = "pass --shared PATH or set PONDER_SHARED"
        print(f"no shared data found under {shared}: nothing benchmarked ({hint})", file=sys.stderr)
        return 0
    print(summary_markdown(results))
    say(f"done in {time.perf_counter() - _T0:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        say(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
