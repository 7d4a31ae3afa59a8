"""Decision latency of `ponder route`: featurize + predict + choose, per query.

Prints p50/p99 in microseconds for the packaged model with
  - the default menu (arms priced and scored by the price prior), and
  - a menu of arms the model was trained on (adds the arm-aware trees),
next to a baseline measured in the same run: featurizing the query alone (the static
embedding lookup every learned router pays). Absolute times on shared machines are noisy;
the ratio to the baseline is the figure to compare across machines.

    python bench/bench_route_latency.py [--n 2000]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ponder import Arm, Menu
from ponder.classifiers import load_default_classifier
from ponder.router import Decider

FALLBACK = [
    "What is the capital of France?",
    "Prove that there are infinitely many primes.",
    "Write a Python function that reverses a linked list in place.",
    "Janet has 3 apples and buys 5 more. How many apples does she have now?",
    "Question: Which of these is a mammal?\nA. shark\nB. dolphin\nC. trout\nD. eel\nAnswer:",
]


def queries(n: int) -> list[str]:
    """Real query texts from ../shared (GSM8K and MMLU prompts) when present."""
    root = Path(os.environ.get("PONDER_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    texts: list[str] = []
    gsm = root / "data" / "gsm8k-openai" / "test.jsonl"
    if gsm.is_file():
        import json

        texts = [json.loads(line)["question"] for line in gsm.read_text().splitlines()]
    if not texts:
        texts = FALLBACK
    return [texts[i % len(texts)] for i in range(n)]


def measure(fn: Callable[[str], object], texts: list[str]) -> tuple[float, float]:
    for t in texts[:50]:
        fn(t)  # warm up caches and lazy loads
    gc.disable()
    times = []
    for t in texts:
        start = time.perf_counter()
        fn(t)
        times.append(time.perf_counter() - start)
    gc.enable()
    us = np.array(times) * 1e6
    return float(np.percentile(us, 50)), float(np.percentile(us, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="queries to time per setting")
    args = ap.parse_args()
    texts = queries(args.n)
    clf = load_default_classifier()
    prior_menu = Menu.default()
    trained = clf.arm_names[:4]
    trained_menu = Menu(
        arms=tuple(Arm(model=a, input_price=1.0, output_price=1.0) for a in trained)
    )
    rows = [
        ("baseline: featurize only", lambda t: clf.featurizer_.transform([t])),
        ("route, default menu (prior arms)", Decider(clf, prior_menu).decide),
        (f"route, {len(trained)} trained arms", Decider(clf, trained_menu).decide),
    ]
    results = [(name, *measure(fn, texts)) for name, fn in rows]
    base = results[0][1]
    mean_len = statistics.mean(len(t) for t in texts)
    print(f"{len(texts)} queries, mean {mean_len:.0f} characters, 1 thread")
    print(f"| {'setting':34} | p50 (us) | p99 (us) | p50 / baseline |")
    print(f"|{'-' * 36}|---------:|---------:|---------------:|")
    for name, p50, p99 in results:
        print(f"| {name:34} | {p50:8.0f} | {p99:8.0f} | {p50 / base:14.1f} |")


if __name__ == "__main__":
    main()
