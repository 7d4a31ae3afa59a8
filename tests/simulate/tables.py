"""Small outcome tables built from score and cost matrices, for the simulator's tests."""

from __future__ import annotations

import numpy as np

from ponder.outcomes import OutcomeTable


def outcome_table(
    scores: np.ndarray, costs: np.ndarray, tasks: list[str] | None = None
) -> OutcomeTable:
    """Arms ``m0..m{k-1}``, queries ``q0..q{n-1}`` with placeholder prompts, no tokens."""
    n, k = scores.shape
    return OutcomeTable(
        ids=tuple(f"q{i}" for i in range(n)),
        prompts=tuple(f"prompt {i}" for i in range(n)),
        tasks=tuple(tasks) if tasks else ("",) * n,
        arms=tuple(f"m{j}" for j in range(k)),
        scores=scores,
        costs=costs,
        input_tokens=np.full((n, k), np.nan),
        output_tokens=np.full((n, k), np.nan),
    )
