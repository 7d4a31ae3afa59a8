from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ponder.classifiers import (
    DifficultyClassifier,
    FeaturizerSpec,
    load_classifier,
    save_classifier,
)
from ponder.outcomes import OutcomeTable
from ponder.policies import HullGuard


@pytest.fixture(scope="module")
def fitted(synthetic: tuple[OutcomeTable, np.ndarray]) -> DifficultyClassifier:
    return DifficultyClassifier(
        backend="logistic", featurizer=FeaturizerSpec(kind="stats"), cv_folds=3
    ).fit(synthetic[0])


def test_fit_calibrates_a_guard_on_its_own_folds(fitted: DifficultyClassifier) -> None:
    guard = fitted.hull_guard_
    assert guard is not None
    assert guard.lams[0] == 0.0 and len(guard.lams) > 10
    assert set(guard.fallback) <= {None, "weak", "mid", "strong"}
    assert np.isfinite(guard.gain) and np.isfinite(guard.gain_unguarded)


def test_a_table_without_costs_gets_no_guard(synthetic: tuple[OutcomeTable, np.ndarray]) -> None:
    table = synthetic[0]
    free = OutcomeTable(
        ids=table.ids,
        prompts=table.prompts,
        tasks=table.tasks,
        arms=table.arms,
        scores=table.scores,
        costs=np.full(table.scores.shape, np.nan),
        input_tokens=table.input_tokens,
        output_tokens=table.output_tokens,
    )
    clf = DifficultyClassifier(
        backend="logistic", featurizer=FeaturizerSpec(kind="stats"), cv_folds=3
    ).fit(free)
    assert clf.hull_guard_ is None


def test_the_guard_round_trips_and_an_old_artifact_has_none(
    fitted: DifficultyClassifier, tmp_path: Path
) -> None:
    fitted.hull_guard_ = HullGuard(lams=(0.0, 0.5), fallback=("strong", None), margin=1.0)
    out = save_classifier(fitted, tmp_path / "m")
    back = load_classifier(out)
    assert back.hull_guard_ == fitted.hull_guard_
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["hull_guard"]  # as saved before the guard existed
    (out / "manifest.json").write_text(json.dumps(manifest))
    old = load_classifier(out)
    assert old.hull_guard_ is None
    texts = ["alpha beta?", " ".join(["gamma"] * 50) + "?"]
    assert np.allclose(old.predict(texts).p_success, back.predict(texts).p_success)
