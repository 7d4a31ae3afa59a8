"""Menu arms on the absolute scale: placed by the model's published scores or the menu's own,
and routed by the query's need for reasoning."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

from ponder._menu import Arm, Menu
from ponder.classifiers import (
    AbsoluteScale,
    DifficultyClassifier,
    load_classifier,
    save_classifier,
)
from ponder.errors import MenuError, ModelArtifactError
from ponder.router import Decider

PLAIN = "Please suggest a nice name for a small bakery in the old town."
DIGITS = "Compute 48213 * 90417 - 77731 + 20254 / 3 - 99181 * 47 + 6021 = ?"
DIGIT_RATIO = 3  # the text-statistics column the hand-made scale reads need from


def _scale(clf: DifficultyClassifier) -> AbsoluteScale:
    """A scale on which need grows with the share of digits: gpt-5 at effort high gains a lot
    on digit-heavy queries and nothing on plain ones."""
    width = clf.featurizer_.transform(["x"]).shape[1]
    w_need = [0.0] * width
    w_need[DIGIT_RATIO] = 20.0
    w_d = [0.0] * width
    w_d[DIGIT_RATIO] = 8.0
    state = {
        "clip": 1e9,
        "columns": None,
        "mean": [0.0] * width,
        "scale": [1.0] * width,
        "w_difficulty": w_d,
        "b_difficulty": -2.0,
        "w_need": w_need,
        "b_need": -4.0,
        "arms": [["gpt-5@minimal", 1.0, 0.2], ["gpt-5@medium", 1.0, 3.0], ["gpt-5@high", 1.0, 4.0]],
        "models": {"gpt-5": 1.0},
        "items": {
            "Toy Bench": [[0.0, 1.0, 2.0, 3.0], [0.2, 0.5, 0.8, 1.0]],
        },
    }
    return AbsoluteScale.from_state(state)


@pytest.fixture
def scaled(clf: DifficultyClassifier) -> DifficultyClassifier:
    return copy.copy(clf).attach_scale(_scale(clf))


def _menu(*arms: Arm, lam: float = 1.0) -> Menu:
    return Menu(arms=list(arms), lam=lam, max_cost=1.0)


def test_effort_is_bought_where_the_query_needs_it(scaled: DifficultyClassifier) -> None:
    menu = _menu(
        Arm(model="gpt-5", name="fast", reasoning_effort="minimal"),
        Arm(model="gpt-5", name="deep", reasoning_effort="high"),
        lam=0.3,  # the gain is worth 30% of the dearer arm's cost, not all of it
    )
    decider = Decider(scaled, menu)
    assert [p.source for p in decider.profiles] == ["published", "published"]
    est = decider.estimate([PLAIN, DIGITS])
    gain = est.p_success[:, 1] - est.p_success[:, 0]
    assert gain[1] > 0.4 > 0.05 > gain[0]
    assert est.reasoning_need is not None and est.reasoning_need[1] > est.reasoning_need[0]
    assert decider.decide(PLAIN).chosen_arm == "fast"
    assert decider.decide(DIGITS).chosen_arm == "deep"


def test_without_a_scale_the_same_menu_falls_back_to_the_price_prior(
    clf: DifficultyClassifier,
) -> None:
    menu = _menu(Arm(model="gpt-5", reasoning_effort="high"))
    plain = copy.copy(clf).attach_scale(None)
    assert Decider(plain, menu).profiles[0].source == "price prior"


def test_published_scores_in_the_menu_place_a_new_arm(scaled: DifficultyClassifier) -> None:
    menu = _menu(
        Arm(model="new-strong", published={"toy-bench": 0.9}, input_price=1, output_price=2),
        Arm(model="new-weak", published={"TOY BENCH": 0.3}, input_price=1, output_price=2),
    )
    decider = Decider(scaled, menu)
    assert [p.source for p in decider.profiles] == ["menu scores", "menu scores"]
    strong, weak = (p.scale for p in decider.profiles)
    assert strong is not None and weak is not None
    d, need, load = scaled.scale_.items_["Toy Bench"]  # type: ignore[union-attr]
    for arm, score in ((strong, 0.9), (weak, 0.3)):
        z = load * arm.knowledge + arm.reasoning * need - d
        mean = float(np.mean(1 / (1 + np.exp(-z))))
        assert mean == pytest.approx(score, abs=0.05)


@pytest.mark.parametrize(
    ("scores", "message"),
    [({"gpqa": 0.5}, "no items of benchmark 'gpqa'"), ({"toy bench": 1.5}, "not in [0, 1]")],
)
def test_unusable_published_scores_name_the_arm(
    scaled: DifficultyClassifier, scores: dict[str, float], message: str
) -> None:
    menu = _menu(Arm(model="new", name="newcomer", published=scores, input_price=1, output_price=2))
    with pytest.raises(MenuError, match=rf"arm .newcomer.: .*{re.escape(message)}"):
        Decider(scaled, menu)


def test_published_scores_need_a_model_with_a_scale(clf: DifficultyClassifier) -> None:
    menu = _menu(Arm(model="new", published={"mmlu_pro": 0.8}, input_price=1, output_price=2))
    with pytest.raises(MenuError, match="absolute scale"):
        Decider(copy.copy(clf).attach_scale(None), menu)


def test_the_scale_is_saved_with_the_model(scaled: DifficultyClassifier, tmp_path: Path) -> None:
    out = save_classifier(scaled, tmp_path / "m")
    again = load_classifier(out)
    arms = [scaled.profile("gpt-5"), scaled.profile("gpt-5-mini")]
    assert arms[0].source == "published" and arms[1].source == "prior"
    np.testing.assert_allclose(
        again.predict([PLAIN, DIGITS], arms).p_success,
        scaled.predict([PLAIN, DIGITS], arms).p_success,
    )
    state = json.loads((out / "scale.json").read_text())
    state["b_need"] = 3.0
    (out / "scale.json").write_text(json.dumps(state))
    with pytest.raises(ModelArtifactError, match=r"scale\.json: does not match the digest"):
        load_classifier(out)
    # Saving a model without a scale over it removes the stale file.
    save_classifier(copy.copy(scaled).attach_scale(None), out)
    assert not (out / "scale.json").exists()
    assert load_classifier(out).scale_ is None


def test_the_packaged_menu_is_on_the_packaged_scale(clf: DifficultyClassifier) -> None:
    """Out of the box every default arm is placed by published scores, and what thinking
    buys depends on the query: far more on a competition problem than on a chat request."""
    if clf.scale_ is None:
        pytest.skip("the packaged model has no absolute scale")
    menu = Menu.default()
    decider = Decider(clf, menu)
    assert {p.source for p in decider.profiles} == {"published"}
    chat = "Write a haiku about autumn."
    olympiad = (
        "Find the number of ordered pairs $(a, b)$ of positive integers with $a + b = 1000$ "
        "such that neither $a$ nor $b$ has a zero digit."
    )
    est = decider.estimate([chat, olympiad])
    cheap, deep = menu.labels.index("gpt-5-nano-minimal"), menu.labels.index("gpt-5-high")
    gain = est.p_success[:, deep] - est.p_success[:, cheap]
    assert gain[1] > 2 * gain[0]
    assert est.reasoning_need is not None and est.reasoning_need[1] > est.reasoning_need[0]
