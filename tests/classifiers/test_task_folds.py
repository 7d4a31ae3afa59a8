"""Folds that hold out whole tasks: a model whose routing rests on recognising the tasks it
was trained on must not be trusted on tasks it has not seen."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ponder.classifiers import DifficultyClassifier
from tests.classifiers.tables import drawn_table

ARMS = ("cheap", "dear")


def _tasks_table(n_tasks: int = 12, per_task: int = 100, seed: int = 0):  # type: ignore[no-untyped-def]
    """Each task draws four words from one pool of sixteen and has its own better arm, at
    random: within the table's tasks the words tell the arms apart, but a word says
    nothing about which arm wins on a task the table does not have."""
    rng = np.random.default_rng(seed)
    pool = [f"w{i}" for i in range(16)]
    prompts, tasks, p = [], [], []
    for t in range(n_tasks):
        words = list(rng.choice(pool, size=4, replace=False))
        cheap_wins = rng.random() < 0.5
        for _ in range(per_task):
            prompts.append(" ".join(rng.choice(words, size=8)) + " please answer")
            tasks.append(f"task{t}")
            p.append((0.9, 0.3) if cheap_wins else (0.2, 0.9))
    table = drawn_table(prompts, np.array(p), ARMS, (0.001, 0.004), rng)
    return dataclasses.replace(table, tasks=tuple(tasks))


def _fit(table, by: str, said: list[str] | None = None) -> DifficultyClassifier:  # type: ignore[no-untyped-def]
    clf = DifficultyClassifier(backend="logistic", cv_folds=4, folds_by=by, sampling=False)  # type: ignore[arg-type]
    return clf.fit(table, progress=None if said is None else said.append)


def test_task_folds_are_used_and_said() -> None:
    said: list[str] = []
    clf = _fit(_tasks_table(), "tasks", said)
    assert clf.params_["folds_by"] == "tasks"
    assert any("folds of whole tasks (12 tasks)" in s for s in said)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_guard_falls_back_where_routing_does_not_reach_unseen_tasks(seed: int) -> None:
    table = _tasks_table(seed=seed)
    within, across = _fit(table, "clusters").hull_guard_, _fit(table, "tasks").hull_guard_
    assert within is not None and across is not None
    lams = np.linspace(0.0, 1.2, 25)  # where the two arms' utilities cross (costs 1 : 4)
    routed_within = sum(within.arm_at(lam) is None for lam in lams)
    routed_across = sum(across.arm_at(lam) is None for lam in lams)
    # Judged on held-out clusters of queries (tasks the fit has seen), routing pays and is
    # kept; judged on held-out tasks, it guesses, and the guard takes one arm instead.
    assert routed_within >= 15
    assert routed_across <= 5


def test_too_few_tasks_fall_back_to_clusters() -> None:
    table = _tasks_table(n_tasks=4, per_task=60)
    said: list[str] = []
    clf = _fit(table, "tasks", said)
    assert clf.params_["folds_by"] == "clusters"
    assert any("4 task(s): fewer than 2 a fold" in s for s in said)
    assert any("folds of clusters of similar queries" in s for s in said)


def test_an_unknown_fold_scheme_is_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match="folds_by must be"):
        DifficultyClassifier(backend="logistic", folds_by="generators").fit(  # type: ignore[arg-type]
            _tasks_table(n_tasks=2, per_task=30)
        )
