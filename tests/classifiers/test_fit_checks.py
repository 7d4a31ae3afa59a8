"""What ``fit`` says about a wrong argument or a table too small, and the warning for an
arm the price prior predicts certain: each was an error from deep inside a library (or
nothing at all) before."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from ponder import PriorWarning
from ponder.classifiers import DifficultyClassifier, FeaturizerSpec, NotFittedError
from ponder.errors import PonderError, TrainingDataError
from ponder.outcomes import OutcomeTable, load_outcomes
from tests.classifiers.tables import drawn_table
from tests.conftest import synthetic_table, write_table_jsonl

STATS = FeaturizerSpec(kind="stats")


def _table(prompts: list[str], p: float = 0.6, seed: int = 0) -> OutcomeTable:
    n = len(prompts)
    chances = np.column_stack([np.full(n, p), np.full(n, (1 + p) / 2)])
    rng = np.random.default_rng(seed)
    return drawn_table(prompts, chances, ["small-model", "gpt-4o"], [0.001, 0.01], rng)


def test_fit_names_what_it_takes_when_given_a_load_result(tmp_path: Path) -> None:
    table, _ = synthetic_table(n=40, seed=3)
    loaded = load_outcomes(write_table_jsonl(table, tmp_path / "t.jsonl"))
    said = r"not a LoadResult: .*load_outcomes\(path\)\.table"
    with pytest.raises(TrainingDataError, match=said):
        DifficultyClassifier().fit(loaded)  # type: ignore[arg-type]
    with pytest.raises(TrainingDataError, match=r"OutcomeTable, not str"):
        DifficultyClassifier().fit(str(tmp_path / "t.jsonl"))  # type: ignore[arg-type]


def test_fit_says_a_table_is_too_small_for_lightgbm() -> None:
    """Ten queries: LightGBM used to stop with ``Check failed: (train_data->num_features())
    > (0)``; the check says how many are needed, before any featurizing."""
    small = _table([f"question {i} about {'sums' if i % 2 else 'wars'}" for i in range(10)])
    with pytest.raises(TrainingDataError, match=r"has 10 queries .* at least 25") as info:
        DifficultyClassifier(featurizer=STATS).fit(small)
    assert isinstance(info.value, ValueError) and isinstance(info.value, PonderError)
    assert "backend='logistic'" in str(info.value)
    DifficultyClassifier(backend="logistic", featurizer=STATS, sampling=False).fit(small)


def test_fit_says_what_lightgbm_cannot_split() -> None:
    """Enough queries, all alike: no feature varies, and LightGBM's own refusal is put in
    words instead of passed on."""
    same = _table(["What is the capital of France?"] * 40)
    with pytest.raises(TrainingDataError, match=r"no query feature it could split on \(40"):
        DifficultyClassifier(featurizer=STATS, sampling=False).fit(same)


def test_fit_says_when_a_logistic_model_has_nothing_to_learn() -> None:
    table = _table([f"q {i}" for i in range(8)])
    ones = dataclasses.replace(table, scores=np.ones_like(table.scores))
    with pytest.raises(TrainingDataError, match=r"every measured outcome scores 1"):
        DifficultyClassifier(backend="logistic", featurizer=STATS).fit(ones)


def test_an_unfitted_classifier_names_the_real_loader() -> None:
    with pytest.raises(NotFittedError, match=r"fit\(table\).*load_classifier\(path\)"):
        DifficultyClassifier().predict(["x"])


def test_a_saturated_prior_warns_and_a_sane_one_does_not() -> None:
    """An arm the model never saw gets its ability from the price prior; a prior fitted on
    too little can put it past every trained arm, at P(success) 1.000 for every query
    (seen with a 50-row table), and it would then always win. That warns; a prior that
    keeps the arm uncertain, and a trained arm however sure, do not."""
    table, _ = synthetic_table(n=120, seed=5)
    clf = DifficultyClassifier(backend="logistic", featurizer=STATS, cv_folds=3, sampling=False)
    clf.fit(table)
    texts = ["alpha beta?", "gamma delta epsilon " * 20]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict(texts, arms=[*clf.arm_names, "unknown-arm"])
    clf.prior_ = dataclasses.replace(clf.prior_, intercept=60.0, slope=0.0)
    with pytest.warns(PriorWarning, match=r"unknown-arm are not in the model's training data"):
        p = clf.predict(texts, arms=["unknown-arm"]).p_success
    assert (p > 0.999).all()
    clf.prior_ = dataclasses.replace(clf.prior_, intercept=-60.0)
    with pytest.warns(PriorWarning, match=r"about 0 or 1"):
        clf.predict(texts, arms=[clf.arm_names[0], "another-unknown"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict(texts)  # trained arms only: no prior involved
