from __future__ import annotations

from pathlib import Path

import numpy as np

from ponder.classifiers import (
    DifficultyClassifier,
    FeaturizerSpec,
    load_classifier,
    save_classifier,
)
from ponder.classifiers._arm_select import MARGIN, SHRINK_GRID
from ponder.outcomes import OutcomeTable
from tests.classifiers.tables import drawn_table

STATS = FeaturizerSpec(kind="stats")


def _one_arm_cue_table(n: int = 2000, seed: int = 3) -> OutcomeTable:
    """Digits defeat the small arm only; code defeats the large arm only. One difficulty
    shared by both arms cannot say both (whatever each arm's slope), one model per arm can."""
    rng = np.random.default_rng(seed)
    digits = rng.random(n) < 0.5
    code = rng.random(n) < 0.5
    prompts = tuple(
        ("compute 12 + 345 * 6789 - 10 " if d else "describe the river and the hill ")
        + ("def f(x): return {x; y} " if c else "in plain words please ")
        + " ".join(rng.choice(["alpha", "beta", "gamma", "delta"], size=5))
        for d, c in zip(digits, code, strict=True)
    )
    p = np.stack([np.where(digits, 0.15, 0.85), np.where(code, 0.15, 0.85)], axis=1)
    return drawn_table(prompts, p, ("small", "large"), (0.001, 0.01), rng)


def test_arm_specific_cue_selects_an_arm_model(tmp_path: Path) -> None:
    table = _one_arm_cue_table()
    clf = DifficultyClassifier(backend="logistic", featurizer=STATS, cv_folds=3).fit(table)
    chosen = clf.params_["arm_model"]
    assert chosen in {"lowrank", "linear"}
    m = clf.metrics_
    gains = {k: v for k, v in m.items() if k.startswith(f"oof_routing_gain_{chosen}")}
    # Chosen by how it routes out of fold, and it routes far better than one difficulty.
    assert max(gains.values()) == max(v for k, v in m.items() if "routing_gain" in k)
    assert max(gains.values()) > m["oof_routing_gain_shared"] + 0.2
    p = clf.predict_proba(
        [
            "compute 12 + 345 * 6789 - 10 in plain words please alpha beta gamma delta alpha",
            "describe the river and the hill def f(x): return {x; y} alpha beta gamma delta beta",
        ]
    )
    assert p[0, 0] < 0.35 and p[0, 1] > 0.65  # digits: the small arm fails, the large does not
    assert p[1, 0] > 0.65 and p[1, 1] < 0.35  # code: the other way round
    save_classifier(clf, tmp_path / "m")
    again = load_classifier(tmp_path / "m")
    np.testing.assert_allclose(
        again.predict_proba(["compute 7 * 8 beta"]), clf.predict_proba(["compute 7 * 8 beta"])
    )


def test_shared_model_kept_when_arm_models_do_not_help(
    synthetic: tuple[OutcomeTable, np.ndarray],
) -> None:
    # In the synthetic table one difficulty drives every arm: nothing arm-specific to learn.
    clf = DifficultyClassifier(backend="logistic", featurizer=STATS, cv_folds=3).fit(synthetic[0])
    m = clf.metrics_
    gains = {k: v for k, v in m.items() if k.startswith("oof_routing_gain_")}
    best = max(gains.values())
    if clf.params_["arm_model"] == "shared":  # kept unless another routes clearly better
        assert best < m["oof_routing_gain_shared"] + MARGIN
    else:
        assert best >= m["oof_routing_gain_shared"] + MARGIN


def test_unknown_arms_still_use_the_shared_difficulty() -> None:
    table = _one_arm_cue_table()
    clf = DifficultyClassifier(backend="logistic", featurizer=STATS, cv_folds=3).fit(table)
    prior = clf.profile("newcomer", price_per_mtok=1.0)
    pred = clf.predict(["compute 1 + 2", "describe the hill"], arms=["small", prior])
    assert pred.arm_names == ("small", "newcomer")
    assert np.all((pred.p_success > 0) & (pred.p_success < 1))


def test_the_arm_models_step_is_taken_in_the_share_that_routed_best(tmp_path: Path) -> None:
    """The chosen candidate is also tried part of the way from the shared logit, out of fold;
    the share that routed best is what the model predicts with, and what it saves."""
    table = _one_arm_cue_table(n=1200, seed=4)
    clf = DifficultyClassifier(backend="logistic", featurizer=STATS, cv_folds=3).fit(table)
    kind, shrink = clf.params_["arm_model"], clf.params_["arm_shrink"]
    assert kind != "shared" and shrink in (1.0, *SHRINK_GRID)
    m = clf.metrics_
    steps = {k: v for k, v in m.items() if k.startswith(f"oof_routing_gain_{kind}") and " x" in k}
    assert len(steps) == len(SHRINK_GRID)  # tried on the chosen candidate only
    (best,) = {k.rsplit(" x", 1)[0] for k in steps}
    share = {1.0: m[best], **{float(k.rsplit(" x", 1)[1]): v for k, v in steps.items()}}
    assert share[shrink] == max(share.values())

    texts = ["compute 12 + 345 * 6789 - 10 in plain words please", "describe the hill beta"]
    newcomer = clf.profile("newcomer", price_per_mtok=1.0)
    arms = ["small", "large", newcomer]

    def logits(w: float, arm_model: object) -> np.ndarray:
        clf.arm_shrink_, kept = w, clf.arm_model_
        clf.arm_model_ = arm_model  # type: ignore[assignment]
        try:
            p = clf.predict(texts, arms=arms).p_success
        finally:
            clf.arm_shrink_, clf.arm_model_ = shrink, kept
        return np.log(p / (1 - p))

    full, half, alone = logits(1.0, clf.arm_model_), logits(0.5, clf.arm_model_), logits(1.0, None)
    # Trained arms go half way from the shared logit; an arm without logs keeps its own.
    np.testing.assert_allclose(half[:, :2], (full[:, :2] + alone[:, :2]) / 2, rtol=1e-6)
    np.testing.assert_allclose(half[:, 2], full[:, 2], rtol=1e-9)
    assert not np.allclose(full[:, :2], alone[:, :2])

    clf.arm_shrink_ = clf.params_["arm_shrink"] = 0.5  # as a fit that chose half would
    save_classifier(clf, tmp_path / "m")
    again = load_classifier(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(texts), clf.predict_proba(texts))
