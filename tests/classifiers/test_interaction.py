from __future__ import annotations

from pathlib import Path

import numpy as np

from ponder.classifiers import (
    DifficultyClassifier,
    FeaturizerSpec,
    load_classifier,
    save_classifier,
)
from ponder.classifiers._difficulty import sigmoid, stack_scores
from ponder.classifiers._folds import clustered_folds, task_folds
from ponder.classifiers._interaction import LowRankInteraction
from ponder.outcomes import OutcomeTable
from tests.classifiers.tables import drawn_table


def _reasoning_table(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three arms: two that answer straight away, one that reasons. Feature 0 is the query's
    reasoning need: it costs the quick arms and helps the reasoning arm."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    need = X[:, 0].astype(np.float64)
    logits = np.stack([0.5 - 1.5 * need, 0.8 - 1.5 * need, 0.6 + 1.5 * need], axis=1)
    scores = (rng.random((n, 3)) < sigmoid(logits)).astype(float)
    return X, scores, need


def test_the_reasoning_trait_is_learned_and_carries_to_an_unseen_reasoning_arm() -> None:
    X, scores, need = _reasoning_table()
    obs = stack_scores(scores)
    strength = np.array([0.0, 0.0, 1.0])
    base = obs.arm_logit_means()[obs.aj]  # an offset that knows nothing of the query
    model = LowRankInteraction(rank=1, l2=1e-3).fit(X, obs, base, strength)
    learned = model.reasoning_need(X)
    assert learned is not None
    assert np.corrcoef(learned, need)[0, 1] > 0.9
    # Arms the model never saw: one that reasons at full strength gains where the need is
    # high; one that does not loses there, like the quick arms it was trained on.
    terms = model.terms(X, np.array([-1, -1]), np.array([1.0, 0.0]))
    assert np.corrcoef(terms[:, 0], need)[0, 1] > 0.9
    assert np.corrcoef(terms[:, 1], need)[0, 1] < -0.9
    assert np.corrcoef(terms[:, 0] - terms[:, 1], learned)[0, 1] > 0.99


def test_without_a_reasoning_contrast_there_is_no_anchor() -> None:
    X, scores, _ = _reasoning_table(n=400)
    obs = stack_scores(scores)
    model = LowRankInteraction(rank=2, l2=1e-2).fit(X, obs, np.zeros(len(obs.y)), None)
    assert not model.has_reasoning_trait
    assert model.reasoning_need(X) is None
    again = LowRankInteraction.from_state(model.state())
    np.testing.assert_allclose(again.row_terms(X, obs), model.row_terms(X, obs))


def test_clustered_folds_hold_out_whole_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=50.0, size=(40, 4))
    which = rng.integers(0, 40, size=1200)  # 40 tight groups, more than the 20 clusters
    X = (centres[which] + rng.normal(size=(1200, 4))).astype(np.float32)
    folds = clustered_folds(X, 3, seed=0)
    assert set(folds.tolist()) == {0, 1, 2}
    for c in range(40):  # every query of a well-separated group lands in one fold
        assert len(set(folds[which == c].tolist())) == 1
    few = clustered_folds(X[:50], 3, seed=0)  # too few to cluster: a random split
    assert set(few.tolist()) == {0, 1, 2}


def test_task_folds_hold_out_whole_tasks_and_need_enough_of_them() -> None:
    rng = np.random.default_rng(1)
    tasks = [f"t{i}" for i in rng.integers(0, 9, size=900)]
    tasks += ["big"] * 400  # the largest task goes first, and the rest fill the others
    folds = task_folds(tasks, 3, seed=0)
    assert folds is not None and set(folds.tolist()) == {0, 1, 2}
    labels = np.array(tasks)
    for t in set(tasks):
        assert len(set(folds[labels == t].tolist())) == 1
    sizes = np.bincount(folds)
    largest_small = max((labels == t).sum() for t in set(tasks) - {"big"})
    assert sizes.max() - sizes.min() <= largest_small
    assert task_folds(tasks, 5, seed=0) is not None  # 10 tasks: two a fold
    assert task_folds(tasks, 6, seed=0) is None  # fewer than two a fold


def _puzzle_table(n: int = 1500, seed: int = 0) -> OutcomeTable:
    """Puzzles (digits and equations) defeat the quick arms and not the reasoning one, which
    in turn overthinks plain requests: a crossing that no shared difficulty (whatever each
    arm's slope) can express."""
    rng = np.random.default_rng(seed)
    puzzle = rng.random(n) < 0.5
    prompts = tuple(
        ("solve 12 x 345 = 6789 - 10 ^ 2 for x, then 77 * 3 = ?" if z else "write a kind note")
        + " " + " ".join(rng.choice(["alpha", "beta", "gamma", "delta"], size=4))
        for z in puzzle
    )
    p = np.stack(
        [np.where(puzzle, 0.15, 0.9), np.where(puzzle, 0.2, 0.92), np.where(puzzle, 0.85, 0.55)],
        axis=1,
    )
    arms = ("llama-3.3-70b", "gpt-4o", "openai/o3-mini")
    return drawn_table(prompts, p, arms, (0.0005, 0.002, 0.004), rng)


def test_an_unseen_thinking_arm_gains_where_the_query_needs_reasoning(tmp_path: Path) -> None:
    table = _puzzle_table()
    clf = DifficultyClassifier(
        backend="logistic", featurizer=FeaturizerSpec(kind="stats"), cv_folds=3
    ).fit(table)
    assert clf.reasoning_ is not None  # the table has a reasoning contrast
    thinking = clf.profile("new-model-thinking", price_per_mtok=1.0, reasoning=1.0)
    quick = clf.profile("new-model", price_per_mtok=1.0, reasoning=0.0)
    texts = ["solve 3 x 41 = 999 - 7 ^ 2 for x, then 5 * 8 = ? beta", "write a kind note gamma"]
    pred = clf.predict(texts, arms=[thinking, quick])
    assert pred.reasoning_need is not None
    assert pred.reasoning_need[0] > pred.reasoning_need[1] + 0.5
    logit = np.log(pred.p_success) - np.log1p(-pred.p_success)
    gain = logit[:, 0] - logit[:, 1]  # what thinking adds, on the logit scale
    assert gain[0] > 0.3 and gain[0] > gain[1] + 1.0  # it pays on the puzzle, not the note
    save_classifier(clf, tmp_path / "m")
    again = load_classifier(tmp_path / "m").predict(texts, arms=[thinking, quick])
    np.testing.assert_allclose(again.p_success, pred.p_success)
