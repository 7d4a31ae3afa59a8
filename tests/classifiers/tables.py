"""Synthetic outcome tables for the classifier's tests: prompts, each arm's chance of success
on each, and the draws."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ponder.outcomes import OutcomeTable


def drawn_table(
    prompts: Sequence[str],
    p: np.ndarray,
    arms: Sequence[str],
    costs: Sequence[float],
    rng: np.random.Generator,
    tokens: float = 50,
) -> OutcomeTable:
    """One 0/1 outcome per (prompt, arm), drawn with the chances ``p`` (queries x arms);
    each arm costs ``costs[j]`` a query, with ``tokens`` in and out."""
    n, k = p.shape
    scores = (rng.random(p.shape) < p).astype(float)
    ones = np.ones((n, k))
    return OutcomeTable(
        ids=tuple(f"q{i}" for i in range(n)),
        prompts=tuple(prompts),
        tasks=("",) * n,
        arms=tuple(arms),
        scores=scores,
        costs=ones * np.asarray(costs, dtype=np.float64),
        input_tokens=ones * tokens,
        output_tokens=ones * tokens,
    )
