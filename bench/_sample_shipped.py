"""Out of the box: the sampling an adaptive arm gets with no recorded samples of its own,
replayed on every set with 8 or more samples.

Two ways: the packaged model's policy for any arm (``ANY_ARM``, calibrated by
``tools/attach_sampling.py`` on qwen-math-sampled only, so every other set here is one it
never saw), and the Beta rule at the router's ``adaptive_confidence`` (0.95), what an
adaptive arm drew before the packaged model carried a policy, and still draws under a model
that has none. Each over all of a query's recorded samples, through the router's draw loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from _sample_cv import BOOT, Held, Row, cell, gmean, pooled_row, replay, summarise
from _sample_sets import ARM, SampleSet

from ponder import Settings
from ponder.aggregators import CannotBeOvertaken, StoppingRule
from ponder.classifiers import load_default_classifier
from ponder.policies import ANY_ARM
from ponder.simulate._samples import replayed

SEEN = {"qwen"}
"""Sets the packaged policy was calibrated on."""


def shipped_section(sets: Sequence[SampleSet], seed: int) -> None:
    policy = load_default_classifier().sampling_.get(ANY_ARM)
    if policy is None:
        print("(the packaged model carries no policy for any arm)\n")
        return
    confidence = Settings.model_fields["adaptive_confidence"].default
    print("### Out of the box: no recorded samples of the arm's own\n")
    print(
        "**shipped**: the packaged model's policy for any adaptive arm (stops "
        f"{policy.stopping()}, calibrated on qwen-math-sampled by `tools/attach_sampling.py`; "
        "the other sets are ones it never "
        f"saw, marked *seen* where it did); **Beta {confidence:g}**: the Beta rule at the "
        "router's `adaptive_confidence`, what an adaptive arm drew before the packaged model "
        "carried a policy (and still draws under a model with none). Each over all of a "
        "query's samples; cells as above.\n"
    )
    print("| set | shipped | Beta | samples: max / shipped / Beta |")
    print("|---|---:|---:|---:|")
    rng = np.random.default_rng(seed)
    names = ("shipped", "beta")
    results: list[dict[str, Row]] = []
    for s in sets:
        table = s.table
        right, _ = replay(table, CannotBeOvertaken())
        lengths = np.array([len(r or ()) for r in table.samples[ARM]])
        got = replayed(table, ARM, lambda _i, k: policy.plan(None, k))
        held = {
            "vote@max": Held(right, lengths),
            "shipped": Held(got.right, got.samples),
            "beta": Held(*replay(table, StoppingRule(confidence=confidence))),
        }
        r = summarise(s, held, names, rng)
        r["vote@max"] = Row(0.0, 0.0, 0.0, float(lengths.mean()), np.zeros(BOOT))
        results.append(r)
        label = s.label + (" *seen*" if s.key in SEEN else "")
        print(
            f"| {label} | {cell(r['shipped'])} | {cell(r['beta'])} | "
            f"{lengths.mean():.2f} / {r['shipped'].samples:.2f} / {r['beta'].samples:.2f} |",
            flush=True,
        )
    unseen = [r for r, s in zip(results, sets, strict=True) if s.key not in SEEN]
    for title, rows in (("all sets", results), ("sets it never saw", unseen)):
        if not rows:
            continue
        pooled = {k: pooled_row([r[k] for r in rows]) for k in names}
        ratio = {k: gmean([r["vote@max"].samples / r[k].samples for r in rows]) for k in names}
        worst = {k: max(r[k].high for r in rows) for k in names}
        print(
            f"| **pooled, {title} ({len(rows)})** | "
            + " | ".join(cell(pooled[k]) for k in names)
            + " | vote@max / policy: "
            + " / ".join(f"{ratio[k]:.2f}x" for k in names)
            + f"; largest upper bound {worst['shipped']:.2f} / {worst['beta']:.2f} |"
        )
    print()


__all__ = ["shipped_section"]
