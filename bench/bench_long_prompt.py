"""What a long prompt costs the router: featurizing and deciding, against a typical prompt.

Routing runs on every request before the provider call, on the proxy's event loop, so its
cost must not grow with the prompt. Prints, side by side, the median time to featurize and
to decide (featurize + predict + choose, the packaged model and the default menu) for a
typical 238-character prompt and for prompts up to 990K characters, each as a ratio to
featurizing the typical one; then the longest the event loop went unanswered while three
990K-character prompts were decided at once, on the loop and as the router does it (on a
worker thread above ``OFF_LOOP_CHARS``). Absolute times on shared machines are noisy; the
ratios are the figures to compare.

    python bench/bench_long_prompt.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

from ponder import Menu
from ponder.classifiers import load_default_classifier
from ponder.router import Decider
from ponder.router._offload import OFF_LOOP_CHARS, sized

TYPICAL = (
    "A train leaves Paris at 9:40 and travels 312 km at an average speed of 104 km/h. "
    "A second train leaves 20 minutes later on the same line at 120 km/h. At what time "
    "does the second train catch up with the first, if it does at all? Be brief."
)
SIZES = (10_000, 100_000, 990_000)


def long_prompt(chars: int) -> str:
    """Pasted material (varied, so no cache flatters it) with the question at the end."""
    block = "Quarterly report, section {i}: revenue rose {i} percent; costs fell; see note {i}. "
    body, i = [], 0
    while sum(map(len, body)) < chars - len(TYPICAL):
        body.append(block.format(i=i))
        i += 1
    return ("".join(body) + TYPICAL)[-chars:]


def median_ms(fn: Callable[[str], object], text: str, repeat: int) -> float:
    fn(text)  # warm up lazy loads
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


async def loop_stall_ms(decide: Callable[[str], object], text: str, off_loop: bool) -> float:
    """The longest gap between 1 ms ticks of the event loop while three decisions run."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def one() -> None:
        if off_loop:
            await sized(len(text), decide, text)
        else:
            decide(text)
        await asyncio.sleep(0)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    await asyncio.gather(one(), one(), one())
    done.set()
    await tick
    return max(gaps) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=30, help="timings per cell (median shown)")
    args = ap.parse_args()
    clf = load_default_classifier()
    decider = Decider(clf, Menu.default())

    def featurize(t: str) -> object:
        return clf.featurizer_.transform([t])

    def decide(t: str) -> object:
        return decider.decide(t)

    base = median_ms(featurize, TYPICAL, args.repeat * 10)
    print(f"typical prompt: {len(TYPICAL)} characters; featurize {base * 1e3:.0f} us (= 1.0)")
    print("| prompt (chars) | featurize (ms) | / typical | decide (ms) | / typical |")
    print("|---------------:|---------------:|----------:|------------:|----------:|")
    for text in [TYPICAL, *(long_prompt(n) for n in SIZES)]:
        f = median_ms(featurize, text, args.repeat)
        d = median_ms(decide, text, args.repeat)
        print(f"| {len(text):14,} | {f:14.3f} | {f / base:9.1f} | {d:11.3f} | {d / base:9.1f} |")
    big = long_prompt(SIZES[-1])
    on = asyncio.run(loop_stall_ms(decide, big, off_loop=False))
    off = asyncio.run(loop_stall_ms(decide, big, off_loop=True))
    print(
        f"\nlongest event-loop stall, three {len(big):,}-character decisions at once: "
        f"{on:.1f} ms on the loop, {off:.1f} ms as routed (worker thread above "
        f"{OFF_LOOP_CHARS:,} characters)"
    )


if __name__ == "__main__":
    main()
