"""Train/test splits that do not leak: grouped k-fold and prompt de-duplication.

Routing benchmarks repeat prompts (the same question under several ids, several samples of
one id, one task's near-identical templates). A classifier evaluated on a row whose prompt
it was trained on is graded on memory, and the simulated savings are fiction. So folds keep
every group whole, and test rows whose prompt text was seen in training can be dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ponder.policies import IntArray

_SPACE = re.compile(r"\s+")


def grouped_kfold(
    ids: Sequence[str], k: int, groups: Sequence[str] | None = None, seed: int = 0
) -> list[tuple[IntArray, IntArray]]:
    """``k`` (train, test) index pairs; every group falls entirely in one test fold.

    Rows are grouped by ``ids`` (rows sharing an id stay together), or by ``groups`` (e.g.
    task labels, to test on tasks never trained on) when given. Groups are shuffled with
    ``seed``, then placed largest first into the fold with the fewest rows so far, which
    balances folds even when a few groups are large. Deterministic for a given input and
    seed; indices come back sorted.
    """
    keys = list(ids) if groups is None else list(groups)
    if groups is not None and len(keys) != len(ids):
        raise ValueError(f"groups has {len(keys)} labels for {len(ids)} ids")
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    names, inv = np.unique(np.asarray(keys, dtype=str), return_inverse=True)
    if names.size < k:
        what = "ids" if groups is None else "groups"
        raise ValueError(f"{k} folds need at least {k} distinct {what}; there are {names.size}")
    sizes = np.bincount(inv, minlength=names.size)
    shuffled = np.random.default_rng(seed).permutation(names.size)
    order = shuffled[np.argsort(-sizes[shuffled], kind="stable")]
    fold_of = np.empty(names.size, dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))
        fold_of[g] = f
        load[f] += sizes[g]
    row_fold = fold_of[inv]
    all_rows = np.arange(len(keys), dtype=np.int64)
    return [(all_rows[row_fold != f], all_rows[row_fold == f]) for f in range(k)]


def normalize_prompt(text: str) -> str:
    """Case-folded, whitespace-collapsed prompt: the key two prompts are "the same" under."""
    return _SPACE.sub(" ", text).strip().casefold()


def drop_seen_prompts(
    prompts: Sequence[str], train_idx: Sequence[int] | IntArray, test_idx: Sequence[int] | IntArray
) -> IntArray:
    """``test_idx`` without the rows whose (normalised) prompt occurs among ``train_idx``.

    The dropped count is ``len(test_idx) - len(result)``; report it, since a large share of
    duplicates says the benchmark's ids do not identify its questions.
    """
    seen = {normalize_prompt(prompts[int(i)]) for i in train_idx}
    test = np.asarray(test_idx, dtype=np.int64)
    keep = np.fromiter(
        (normalize_prompt(prompts[int(i)]) not in seen for i in test), dtype=bool, count=test.size
    )
    return test[keep]
