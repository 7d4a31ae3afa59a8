"""Leak-free splits: grouped k-fold and prompt de-duplication."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.simulate._splits import drop_seen_prompts, grouped_kfold, normalize_prompt


def test_folds_partition_rows_and_are_deterministic() -> None:
    ids = [f"id{i}" for i in range(103)]
    folds = grouped_kfold(ids, 5, seed=3)
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(103))
    for tr, te in folds:
        assert not set(tr) & set(te) and len(tr) + len(te) == 103
        assert 20 <= len(te) <= 21
    again = grouped_kfold(ids, 5, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = grouped_kfold(ids, 5, seed=4)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_groups_stay_whole() -> None:
    ids = [f"id{i}" for i in range(60)]
    tasks = ["big"] * 30 + ["t1"] * 10 + ["t2"] * 10 + ["t3"] * 5 + ["t4"] * 5
    folds = grouped_kfold(ids, 3, groups=tasks)
    for _, te in folds:
        seen = {tasks[i] for i in te}
        for t in seen:
            assert sum(tasks[i] == t for i in te) == tasks.count(t)
    assert sorted(len(te) for _, te in folds) == [15, 15, 30]  # balanced greedily
    dup = ["a", "a", "b", "b", "c", "c"]
    for _, te in grouped_kfold(dup, 3):
        assert len({dup[i] for i in te}) == 1


def test_bad_fold_requests() -> None:
    with pytest.raises(ValueError, match="at least 4 distinct groups"):
        grouped_kfold(["a", "b", "c", "d"], 4, groups=["x", "x", "y", "z"])
    with pytest.raises(ValueError, match="k must be"):
        grouped_kfold(["a", "b"], 1)
    with pytest.raises(ValueError, match="labels"):
        grouped_kfold(["a", "b"], 2, groups=["x"])


def test_drop_seen_prompts() -> None:
    prompts = ["What is 2+2?", "hello", "  what is  2+2? ", "new one", "HELLO"]
    kept = drop_seen_prompts(prompts, [0, 1], [2, 3, 4])
    assert kept.tolist() == [3]
    assert normalize_prompt(" A\n b ") == "a b"
