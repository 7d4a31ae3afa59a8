"""The single-row fast path must give the raw scores ``Booster.predict`` gives."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.classifiers import load_default_classifier
from ponder.classifiers._single_row import raw_score_one

lgb = pytest.importorskip("lightgbm")


@pytest.fixture(scope="module")
def booster() -> object:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    y = X[:, 0] - 2 * X[:, 1] * (X[:, 2] > 0) + rng.normal(scale=0.1, size=400)
    params = {"objective": "regression", "num_leaves": 7, "verbose": -1, "num_threads": 1}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("num_iteration", [0, 10])
def test_one_row_equals_predict(booster: object, dtype: type, num_iteration: int) -> None:
    rows = np.random.default_rng(1).normal(size=(50, 6)).astype(dtype)
    rows[3, 2] = np.nan  # missing values take the trees' default branch in both paths
    expected = booster.predict(  # type: ignore[attr-defined]
        rows, raw_score=True, num_iteration=num_iteration or None
    )
    got = [raw_score_one(booster, r, num_iteration) for r in rows]
    assert None not in got
    np.testing.assert_allclose(np.array(got, dtype=np.float64), expected, rtol=0, atol=1e-12)


def test_other_shapes_and_types_fall_back(booster: object) -> None:
    assert raw_score_one(booster, np.zeros((2, 6))) is None
    assert raw_score_one(booster, np.zeros(6, dtype=np.int64)) is None


def test_wrong_width_is_refused_not_crashed(booster: object) -> None:
    assert raw_score_one(booster, np.zeros(3)) is None


def test_packaged_model_decides_the_same_one_row_at_a_time() -> None:
    clf = load_default_classifier()
    texts = ["What is 2 + 2?", "Prove that there are infinitely many primes.", "Write a haiku."]
    together = clf.predict(texts).p_success
    alone = np.vstack([clf.predict([t]).p_success for t in texts])
    np.testing.assert_allclose(alone, together, rtol=0, atol=1e-12)
