from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ponder.classifiers import (
    ArmProfile,
    DifficultyClassifier,
    FeaturizerSpec,
    NotFittedError,
    SuccessClassifier,
    load_classifier,
    save_classifier,
)
from ponder.errors import ModelArtifactError
from ponder.outcomes import OutcomeTable

STATS = FeaturizerSpec(kind="stats")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module", params=["logistic", "lightgbm"])
def fitted(
    request: pytest.FixtureRequest, synthetic: tuple[OutcomeTable, np.ndarray]
) -> DifficultyClassifier:
    table, _ = synthetic
    return DifficultyClassifier(backend=request.param, featurizer=STATS, cv_folds=3).fit(table)


def test_learns_abilities_and_difficulty(
    fitted: DifficultyClassifier, synthetic: tuple[OutcomeTable, np.ndarray]
) -> None:
    table, p_true = synthetic
    abilities = [a.ability for a in fitted.arms_]
    assert abilities[0] < abilities[1] < abilities[2]
    assert isinstance(fitted, SuccessClassifier)
    pred = fitted.predict(list(table.prompts))
    assert pred.p_success.shape == (table.n_queries, 3)
    # Longer queries are harder in the generating model; the learned difficulty must agree.
    lengths = np.array([len(p) for p in table.prompts])
    assert _spearman(pred.difficulty, lengths) > 0.8
    assert _spearman(pred.p_success[:, 1], p_true[:, 1]) > 0.8


def test_probabilities_are_calibrated(
    fitted: DifficultyClassifier, synthetic: tuple[OutcomeTable, np.ndarray]
) -> None:
    from ponder.classifiers._difficulty import soft_log_loss

    table, p_true = synthetic
    p = fitted.predict_proba(list(table.prompts))
    # Mean predicted success tracks the observed rate of each arm ...
    np.testing.assert_allclose(p.mean(axis=0), table.scores.mean(axis=0), atol=0.05)
    # ... and it is close to the true probabilities, not just their average.
    assert np.abs(p - p_true).mean() < 0.08
    assert fitted.metrics_["oof_log_loss"] < fitted.metrics_["baseline_log_loss"]
    assert soft_log_loss(table.scores.ravel(), p.ravel()) < fitted.metrics_["baseline_log_loss"]


def test_unseen_arm_gets_ability_from_price(fitted: DifficultyClassifier) -> None:
    cheap = fitted.profile("new-cheap", price_per_mtok=0.2)
    dear = fitted.profile("new-dear", price_per_mtok=10.0)
    assert cheap.source == dear.source == "prior"
    assert cheap.ability < dear.ability
    pred = fitted.predict(["alpha beta?"], arms=["weak", cheap, dear])
    assert pred.arm_names == ("weak", "new-cheap", "new-dear")
    assert pred.p_success[0, 1] < pred.p_success[0, 2]


def test_save_load_round_trip(fitted: DifficultyClassifier, tmp_path: Path) -> None:
    texts = ["alpha beta gamma?", " ".join(["delta"] * 100)]
    save_classifier(fitted, tmp_path / "m", sources=["synthetic"])
    again = load_classifier(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(texts), fitted.predict_proba(texts))
    assert again.arms_ == fitted.arms_
    assert again.data_hash_ == fitted.data_hash_


def test_errors(tmp_path: Path, synthetic: tuple[OutcomeTable, np.ndarray]) -> None:
    with pytest.raises(NotFittedError):
        DifficultyClassifier().predict(["x"])
    with pytest.raises(ModelArtifactError, match=r"no manifest\.json"):
        load_classifier(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "ponder-classifier", "format_version": 99}')
    with pytest.raises(ModelArtifactError, match="version 99"):
        load_classifier(tmp_path)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(ModelArtifactError, match="unreadable"):
        load_classifier(tmp_path)
    with pytest.raises(ValueError, match="backend"):
        DifficultyClassifier(backend="svm").fit(synthetic[0])  # type: ignore[arg-type]


def test_given_profiles_are_used_as_is(fitted: DifficultyClassifier) -> None:
    sure = ArmProfile("sure", ability=50.0, discrimination=1.0, source="given")
    pred = fitted.predict(["alpha?"], arms=[sure])
    assert pred.p_success[0, 0] > 0.999


def test_load_refuses_a_model_whose_features_changed(
    fitted: DifficultyClassifier, tmp_path: Path
) -> None:
    import json

    save_classifier(fitted, tmp_path / "m")
    manifest = tmp_path / "m" / "manifest.json"
    m = json.loads(manifest.read_text())
    m["featurizer_probe"][0] += 0.5
    manifest.write_text(json.dumps(m))
    with pytest.raises(ModelArtifactError, match="different features"):
        load_classifier(tmp_path / "m")
