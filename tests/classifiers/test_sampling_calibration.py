"""A classifier trained on a table with recorded samples calibrates each sampled arm's
sampling policy on its own out-of-fold predictions, and the model directory keeps it;
models saved before calibrations existed still load."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from ponder.classifiers import (
    DifficultyClassifier,
    load_classifier,
    save_classifier,
)
from ponder.errors import ModelArtifactError
from ponder.outcomes import OutcomeTable, Sample
from ponder.policies import ANY_ARM, policy_for
from tests.conftest import synthetic_table


def _with_samples(m: int = 5, kappa: float = 2.0, seed: int = 0) -> OutcomeTable:
    """The synthetic table, with ``m`` samples of arm ``mid`` per query drawn around its
    true one-sample success (right answer "r", wrong answers mostly different)."""
    table, p = synthetic_table(n=400, seed=seed)
    rng = np.random.default_rng(seed + 1)
    j = table.arm_index("mid")
    rows = []
    for i in range(table.n_queries):
        rate = rng.beta(p[i, j] * kappa, (1 - p[i, j]) * kappa)
        right = rng.random(m) < rate
        rows.append(
            tuple(
                Sample(answer="r" if ok else f"w{rng.integers(0, 3)}", score=float(ok))
                for ok in right
            )
        )
    scores = table.scores.copy()
    scores[:, j] = [float(r[0].score) for r in rows]
    return dataclasses.replace(table, scores=scores, samples={"mid": tuple(rows)})


@pytest.fixture(scope="module")
def calibrated() -> tuple[DifficultyClassifier, OutcomeTable]:
    table = _with_samples()
    return DifficultyClassifier(backend="logistic", cv_folds=3).fit(table), table


def test_sampled_arms_get_a_policy_chosen_out_of_fold(
    calibrated: tuple[DifficultyClassifier, OutcomeTable],
) -> None:
    clf, table = calibrated
    assert set(clf.sampling_) == {"mid", ANY_ARM}
    policy = clf.sampling_["mid"]
    cal = policy.calibration
    assert cal is not None
    assert (cal.n_queries, cal.max_samples, cal.folds) == (400, 5, 3)
    assert cal.accuracy >= cal.vote_accuracy - 0.005
    assert cal.mean_samples < 5
    # the prior it was calibrated on is the model's out-of-fold prediction
    assert clf.oof_p_.shape == (table.n_queries, table.n_arms)
    assert np.isfinite(clf.oof_p_[:, table.arm_index("mid")]).all()


def test_arms_without_samples_stop_by_what_the_sampled_ones_showed(
    calibrated: tuple[DifficultyClassifier, OutcomeTable],
) -> None:
    clf, _ = calibrated
    anyone = clf.sampling_[ANY_ARM]
    cal = anyone.calibration
    assert cal is not None and cal.n_queries == 400  # mid's queries, the only sampled arm
    # a stopping rule only: no budget from mid's success, which says nothing of another arm
    assert (anyone.budget.trust, anyone.budget.gain, anyone.budget.floor) == (0.0, 0.0, 0.0)
    assert cal.accuracy >= cal.vote_accuracy - 0.005 and cal.mean_samples < 5
    assert policy_for(clf.sampling_, "strong") is anyone
    assert policy_for(clf.sampling_, "mid") is clf.sampling_["mid"]


def test_the_policy_survives_save_and_load(
    calibrated: tuple[DifficultyClassifier, OutcomeTable], tmp_path: Path
) -> None:
    clf, _ = calibrated
    save_classifier(clf, tmp_path / "m")
    again = load_classifier(tmp_path / "m")
    assert again.sampling_ == clf.sampling_
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    manifest["sampling"]["mid"]["budget"]["kappa"] = -1.0
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelArtifactError, match="malformed"):
        load_classifier(tmp_path / "m")


def test_models_without_calibrations_still_load(tmp_path: Path) -> None:
    table = _with_samples()
    clf = DifficultyClassifier(backend="logistic", cv_folds=3, sampling=False).fit(table)
    assert clf.sampling_ == {}
    save_classifier(clf, tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    del manifest["sampling"]
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    assert load_classifier(tmp_path / "m").sampling_ == {}
