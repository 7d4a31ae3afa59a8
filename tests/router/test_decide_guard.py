from __future__ import annotations

import copy

import numpy as np
import pytest

from ponder import Arm, Menu
from ponder.classifiers import DifficultyClassifier, FeaturizerSpec
from ponder.outcomes import OutcomeTable
from ponder.policies import HullGuard
from ponder.router import calibrate
from ponder.router._decide import Decider

HARD = " ".join(["gamma delta epsilon"] * 40) + "?"


@pytest.fixture(scope="module")
def unguarded(synthetic: tuple[OutcomeTable, np.ndarray]) -> DifficultyClassifier:
    clf = DifficultyClassifier(
        backend="logistic", featurizer=FeaturizerSpec(kind="stats"), cv_folds=3
    ).fit(synthetic[0])
    clf.hull_guard_ = None  # as a model saved before the guard existed
    return clf


def _menu(lam: float = 0.0, **extra: Arm) -> Menu:
    arms = [
        Arm(model="weak", input_price=0.2, output_price=0.2, output_tokens=100),
        Arm(model="mid", input_price=1.0, output_price=1.0, output_tokens=100),
        Arm(model="strong", input_price=10.0, output_price=10.0, output_tokens=100),
        *extra.values(),
    ]
    return Menu(arms=tuple(arms), lam=lam)


def _guarded(clf: DifficultyClassifier, guard: HullGuard) -> DifficultyClassifier:
    out = copy.copy(clf)
    out.hull_guard_ = guard
    return out


def test_the_decider_takes_the_guards_arm_at_the_menus_lam(
    unguarded: DifficultyClassifier,
) -> None:
    guard = HullGuard(lams=(0.0, 5.0), fallback=("mid", None))
    routed = Decider(unguarded, _menu()).decide(HARD)
    assert routed.chosen_arm == "strong"  # what the model routes to, unguarded
    at_menu_lam = Decider(_guarded(unguarded, guard), _menu(lam=0.0)).decide(HARD)
    assert at_menu_lam.chosen_arm == "mid"
    assert "did not beat" in at_menu_lam.reason
    beyond = Decider(_guarded(unguarded, guard), _menu(lam=6.0)).decide(HARD)
    assert beyond.chosen_arm == Decider(unguarded, _menu(lam=6.0)).decide(HARD).chosen_arm
    assert "did not beat" not in beyond.reason


def test_without_a_guard_decisions_are_as_before(unguarded: DifficultyClassifier) -> None:
    silent = HullGuard(lams=(0.0,), fallback=(None,))
    for lam in (0.0, 0.3, 3.0, 100.0):
        a = Decider(unguarded, _menu(lam=lam)).decide(HARD)
        b = Decider(_guarded(unguarded, silent), _menu(lam=lam)).decide(HARD)
        assert (a.chosen_arm, a.reason) == (b.chosen_arm, b.reason)


def test_the_guard_never_takes_an_arm_over_the_ceiling_or_one_it_never_saw(
    unguarded: DifficultyClassifier,
) -> None:
    to_strong = _guarded(unguarded, HullGuard(lams=(0.0,), fallback=("strong",)))
    decider = Decider(to_strong, _menu(lam=100.0))
    costs = {e.arm: e.worst_cost for e in decider.decide(HARD).arms}
    assert decider.decide(HARD).chosen_arm == "strong"
    capped = decider.decide(HARD, max_cost=(costs["mid"] + costs["strong"]) / 2)
    assert capped.chosen_arm == "weak"  # the routed choice: strong does not fit
    # An arm only `like` a trained one is another model: the guard does not name it.
    like = Arm(model="other", like="mid", input_price=5.0, output_price=5.0, output_tokens=100)
    only_like = Menu(arms=(_menu().arms[0], like), lam=100.0)
    to_mid = _guarded(unguarded, HullGuard(lams=(0.0,), fallback=("mid",)))
    assert Decider(unguarded, only_like).decide(HARD).chosen_arm == "weak"
    assert Decider(to_mid, only_like).decide(HARD).chosen_arm == "weak"


def test_calibration_counts_the_arm_the_guard_takes(unguarded: DifficultyClassifier) -> None:
    texts = [HARD, "alpha beta?", "gamma delta?"]
    plain = calibrate(Decider(unguarded, _menu()), texts, target_cost=1.0)
    assert plain.share["strong"] == 1.0  # lam 0 fits the budget: the best predicted arm
    to_mid = _guarded(unguarded, HullGuard(lams=(0.0,), fallback=("mid",)))
    guarded = calibrate(Decider(to_mid, _menu()), texts, target_cost=1.0)
    assert guarded.share["mid"] == 1.0
