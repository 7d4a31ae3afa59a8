"""Decision latency of `ponder route`, per prompt length: featurize + predict + choose.

For prompts of 238, 2,000, 20,000 and 200,000 characters (slices of GSM8K test questions
joined by blank lines, from ../shared when present), prints p50/p99 in microseconds of

  - the text statistics, the static embedding, and both together (featurize),
  - a routing decision with the default menu (arms priced by the prior), and with 4 arms
    the packaged model was trained on (adds the arm-aware trees),

each measured now and with the implementation it replaced ("before": the pure-Python text
statistics, and the Rust tokenizer for the embedding, as ponder computed them up to the
vectorised rewrite; same values), timed call by call in turn in the same process, so a busy
machine slows both alike. Absolute times on shared machines are noisy; the before / now
ratio is the figure to compare across machines. One thread. A second table times the
default-menu decision alone, in a loop of its own (warm caches).

    python bench/bench_route_latency.py [--n 1000] [--lengths 238,2000,20000,200000]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder import Arm, Menu
from ponder.classifiers import Concat, StaticEmbedding, TextStats, load_default_classifier
from ponder.classifiers._featurize import clip
from ponder.classifiers._lexical import Lexicon
from ponder.router import Decider
from tests.classifiers.text_stats_reference import reference

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LENGTHS = (238, 2_000, 20_000, 200_000)
FALLBACK = [
    "What is the capital of France?",
    "Prove that there are infinitely many primes.",
    "Write a Python function that reverses a linked list in place.",
    "Janet has 3 apples and buys 5 more. How many apples does she have now?",
    "Question: Which of these is a mammal?\nA. shark\nB. dolphin\nC. trout\nD. eel\nAnswer:",
]


def corpus() -> str:
    """GSM8K test questions joined by blank lines (316k characters) when ../shared has them."""
    root = Path(os.environ.get("PONDER_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    gsm = root / "data" / "gsm8k-openai" / "test.jsonl"
    texts = FALLBACK
    if gsm.is_file():
        texts = [json.loads(line)["question"] for line in gsm.read_text().splitlines()]
    text = "\n\n".join(texts)
    while len(text) < 2 * max(LENGTHS):
        text += "\n\n" + text
    return text


def prompts(text: str, length: int, count: int = 64) -> list[str]:
    """``count`` different prompts of exactly ``length`` characters."""
    step = max(1, (len(text) - length) // count)
    return [text[i * step : i * step + length] for i in range(count)]


# --- the implementations replaced, for the side-by-side baseline ------------------------------



class BeforeStats:
    """TextStats as it was: one pure-Python pass per statistic."""

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        return reference(list(texts))


class BeforeStatic:
    """The static embedding as it was: the Rust tokenizer, then the same lookup and mean."""

    def __init__(self, now: StaticEmbedding) -> None:
        lookup = now._load()
        assert lookup is not None, "the packaged model is in the plain layout"
        self.lookup = lookup

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        lk = self.lookup
        out = np.zeros((len(texts), lk.vectors.shape[1]), dtype=np.float32)
        cut = [t[: lk.max_chars] for t in texts] if lk.max_chars else [clip(t) for t in texts]
        for i, enc in enumerate(lk.tokenizer.encode_batch_fast(cut, add_special_tokens=False)):
            ids = [j for j in enc.ids if j != lk.unk]
            if ids:
                out[i] = lk.vectors.take(ids, axis=0).mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


# --- timing ------------------------------------------------------------------------------------


def measure(
    fns: list[Callable[[str], object]], texts: list[str], n: int
) -> list[tuple[float, float]]:
    """p50 and p99 (us) of each function, called in turn on the same text, ``n`` times."""
    for fn in fns:
        for t in texts[:20]:
            fn(t)  # warm up caches and lazy loads
    times = np.empty((len(fns), n))
    gc.disable()
    try:
        for i in range(n):
            text = texts[i % len(texts)]
            for j, fn in enumerate(fns):
                start = time.perf_counter()
                fn(text)
                times[j, i] = time.perf_counter() - start
    finally:
        gc.enable()
    us = times * 1e6
    return [(float(np.percentile(r, 50)), float(np.percentile(r, 99))) for r in us]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="calls timed per setting and length")
    ap.add_argument("--lengths", default=",".join(str(x) for x in LENGTHS))
    args = ap.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]

    clf = load_default_classifier()
    now = clf.featurizer_
    assert isinstance(now, Concat)
    stats, static = now.parts
    assert isinstance(stats, TextStats) and isinstance(static, StaticEmbedding)
    before_stats, before_static = BeforeStats(), BeforeStatic(static)
    before = Concat([before_stats, before_static])
    old_clf: Any = copy.copy(clf)
    old_clf.featurizer_ = before
    prior_menu = Menu.default()
    trained = clf.arm_names[:4]
    trained_menu = Menu(
        arms=tuple(Arm(model=a, input_price=1.0, output_price=1.0) for a in trained)
    )
    steps: list[tuple[str, Callable[[str], object], Callable[[str], object]]] = [
        (
            "text statistics",
            lambda t: before_stats.transform([t]),
            lambda t: stats.transform([t]),
        ),
        (
            "static embedding",
            lambda t: before_static.transform([t]),
            lambda t: static.transform([t]),
        ),
        ("featurize (both)", lambda t: before.transform([t]), lambda t: now.transform([t])),
        (
            "route, default menu",
            Decider(old_clf, prior_menu).decide,
            Decider(clf, prior_menu).decide,
        ),
        (
            f"route, {len(trained)} trained arms",
            Decider(old_clf, trained_menu).decide,
            Decider(clf, trained_menu).decide,
        ),
    ]
    text = corpus()
    print(f"{args.n} calls per setting and length, one thread; p50 / p99 in microseconds")
    print()
    print("| prompt | step | before p50 / p99 | now p50 / p99 | p50 before / now |")
    print("|---:|---|---:|---:|---:|")
    for length in lengths:
        texts = prompts(text, length)
        fns: list[Callable[[str], object]] = []
        for _, old, new in steps:
            fns += [old, new]
        results = measure(fns, texts, args.n)
        for k, (name, _, _) in enumerate(steps):
            (b50, b99), (n50, n99) = results[2 * k], results[2 * k + 1]
            print(
                f"| {length:,} chars | {name} | {b50:,.0f} / {b99:,.0f} | "
                f"{n50:,.0f} / {n99:,.0f} | {b50 / n50:.1f}x |"
            )
    # The table's calls run in turn, ten implementations between two calls of one, so each
    # finds the caches cold. A router decides between other work too, but a decision in a
    # loop of its own shows what the code costs when its data stays in cache.
    print()
    print("Route, default menu, called in a loop of its own (p50 / p99 in microseconds):")
    print()
    print("| prompt | now p50 / p99 |")
    print("|---:|---:|")
    alone = Decider(clf, prior_menu).decide
    for length in lengths:
        ((a50, a99),) = measure([alone], prompts(text, length), args.n)
        print(f"| {length:,} chars | {a50:,.0f} / {a99:,.0f} |")
    # A model trained with the lexical head as its arm model reads the prompt's TF-IDF on
    # every decision too (the packaged model does not); a 10,000-term lexicon of the corpus.
    lexicon = Lexicon().fit(prompts(text, 400, count=2000))
    print()
    print("What a lexical-head model adds: the prompt's TF-IDF (p50 / p99 in microseconds):")
    print()
    print("| prompt | TF-IDF p50 / p99 |")
    print("|---:|---:|")
    for length in lengths:
        ((t50, t99),) = measure([lambda t: lexicon.transform([t])], prompts(text, length), args.n)
        print(f"| {length:,} chars | {t50:,.0f} / {t99:,.0f} |")


if __name__ == "__main__":
    main()
