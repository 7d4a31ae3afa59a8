"""Does ponder spend more where it pays? Easy prompts against hard ones, out of the box.

Easy: everyday requests (MT-bench's writing, roleplay, extraction and humanities questions,
first turns) and grade-school word problems (SVAMP, MAWPS, ASDiv). Hard: competition maths
(AIME 2024, AMC 2023, OlympiadBench, MATH-500 level 5). None of these prompts is in the
packaged model's training data. For each cost weight ``lam`` the packaged menu is routed with
the packaged model (or ``--model`` / ``--menu``) and the script prints how well the chosen
arm's expected cost separates hard from easy (ROC AUC: 0.5 is no separation, 1.0 complete),
the ratio of mean cost on hard prompts to easy ones, and the arms chosen.

    python bench/bench_probe.py [--shared PATH] [--model DIR] [--menu FILE] [--per-set N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder._menu import Menu
from ponder.classifiers import load_classifier, load_default_classifier
from ponder.policies import choose_by_utility
from ponder.router import Decider

LAMS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0)
EVERYDAY = {"writing", "roleplay", "extraction", "humanities"}


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def prompts(shared: Path, per_set: int, seed: int = 0) -> tuple[list[str], list[str]]:
    everyday, words, hard = groups(shared, per_set, seed)
    return everyday + words, hard


def groups(shared: Path, per_set: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """Everyday requests, grade-school word problems, competition maths: easy is the first
    two together, hard the third."""
    rng = np.random.default_rng(seed)

    def some(items: list[str]) -> list[str]:
        if len(items) <= per_set:
            return items
        return [items[i] for i in sorted(rng.choice(len(items), per_set, replace=False))]

    math = shared / "math-benchmarks"
    mt = _jsonl(shared / "routellm" / "routellm" / "evals" / "mt_bench" / "question.jsonl")
    everyday = [str(q["turns"][0]) for q in mt if q["category"] in EVERYDAY]  # type: ignore[index]
    easy: list[str] = []
    easy += some([f"{q['Body']} {q['Question']}" for q in _jsonl(math / "svamp" / "test.jsonl")])
    easy += some([f"{q['body']} {q['question']}" for q in _jsonl(math / "asdiv" / "test.jsonl")])
    easy += some([str(q["input"]) for q in _jsonl(math / "mawps" / "test.jsonl")])
    hard = [str(q["problem"]) for q in _jsonl(math / "aime24" / "test.jsonl")]
    hard += [str(q["problem"]) for q in _jsonl(math / "amc23" / "test.jsonl")]
    hard += some([str(q["question"]) for q in _jsonl(math / "olympiadbench" / "test.jsonl")])
    level5 = [q for q in _jsonl(math / "math500" / "test.jsonl") if q.get("level") == 5]
    hard += some([str(q["problem"]) for q in level5])
    return everyday, easy, hard


def auc(hard: np.ndarray, easy: np.ndarray) -> float:
    """P(a hard prompt's cost > an easy prompt's), ties counting half."""
    greater = (hard[:, None] > easy[None, :]).mean()
    ties = (hard[:, None] == easy[None, :]).mean()
    return float(greater + 0.5 * ties)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--shared", type=Path)
    ap.add_argument("--model", type=Path, help="model directory (default: the packaged one)")
    ap.add_argument("--menu", type=Path, help="menu file (default: the packaged one)")
    ap.add_argument("--per-set", type=int, default=150, help="prompts drawn from each set")
    args = ap.parse_args()
    env = os.environ.get("PONDER_SHARED")
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    shared: Path = args.shared or (Path(env) if env else default)
    if not (shared / "math-benchmarks").is_dir():
        print(f"no shared data under {shared}: nothing to probe", file=sys.stderr)
        return 0
    everyday, words, hard = groups(shared, args.per_set)
    easy = everyday + words
    menu = Menu.load(args.menu) if args.menu else Menu.default()
    clf = load_classifier(args.model) if args.model else load_default_classifier()
    decider = Decider(clf, menu)
    texts = easy + hard
    est = decider.estimate(texts)
    is_hard = np.array([False] * len(easy) + [True] * len(hard))
    scale = float(est.expected_cost.mean(axis=0).max()) or 1.0
    fits = est.worst_cost <= (menu.max_cost if menu.max_cost is not None else np.inf)
    print(f"{len(easy)} easy and {len(hard)} hard prompts; menu lam {menu.lam:g}")
    d, need = est.difficulty, est.reasoning_need
    print(f"difficulty AUC (hard vs easy): {auc(d[is_hard], d[~is_hard]):.3f}")
    if need is not None:
        # The target compares competition maths with everyday requests; word
        # problems are maths too, so the need rightly runs higher on them than on chat.
        chat = np.arange(len(texts)) < len(everyday)
        print(
            f"reasoning-need AUC: maths vs everyday {auc(need[is_hard], need[chat]):.3f}, "
            f"maths vs all easy {auc(need[is_hard], need[~is_hard]):.3f}"
        )
    # Price rank of each arm among the menu's (0 = cheapest), by cost per sample on an
    # average prompt: what "spends more" means independently of a prompt's own length.
    per_sample = decider.sample_costs(texts).mean(axis=0)
    rank = np.argsort(np.argsort(per_sample)).astype(np.float64)
    thinks = np.array([a.reasoning_strength >= 0.5 for a in menu.arms])
    group = np.array(["everyday"] * len(everyday) + ["words"] * len(words) + ["maths"] * len(hard))
    print()
    print(
        "| lam | rank AUC | cost AUC | mean cost hard / easy | thinking: everyday / words / "
        "maths | arms chosen, easy | arms chosen, hard |"
    )
    print("|---:|---:|---:|---:|---|---|---|")
    rows = np.arange(len(texts))
    for lam in sorted({*LAMS, menu.lam}):
        chosen = choose_by_utility(est.p_success, est.expected_cost, lam, scale, fits)
        cost = est.expected_cost[rows, chosen]
        ratio = cost[is_hard].mean() / max(cost[~is_hard].mean(), 1e-12)
        names = np.array(menu.labels)[chosen]

        def top(mask: np.ndarray, names: np.ndarray = names) -> str:
            counts = Counter(names[mask].tolist()).most_common(3)
            return ", ".join(f"{n} {c / mask.sum():.0%}" for n, c in counts)

        mark = " (menu)" if lam == menu.lam else ""
        r = rank[chosen]
        shares = [thinks[chosen][group == g].mean() for g in ("everyday", "words", "maths")]
        think = " / ".join(f"{v:.0%}" for v in shares)
        print(
            f"| {lam:g}{mark} | {auc(r[is_hard], r[~is_hard]):.3f} "
            f"| {auc(cost[is_hard], cost[~is_hard]):.3f} | {ratio:.2f}x "
            f"| {think} | {top(~is_hard)} | {top(is_hard)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
