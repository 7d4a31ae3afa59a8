"""Extensions checked where the router takes their answers: a custom classifier's prediction
and a custom policy's choice that the router cannot use raise ``ExtensionError`` naming the
class at fault, instead of a numpy error, an ``IndexError`` or a silently wrong arm later."""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from ponder import Arm, Menu
from ponder.classifiers import ArmProfile, Prediction
from ponder.errors import ExtensionError, PonderError
from ponder.policies import NO_ARM, FloatArray
from ponder.router import Decider, decide
from tests.fakes.upstream import FakeUpstream
from tests.router.menus import BIG, SMALL, arm, make_router

QUERY = "Prove that there are infinitely many primes."
MENU = Menu(
    arms=(
        Arm(model="small", input_price=1.0, output_price=2.0, output_tokens=100),
        Arm(model="big", input_price=10.0, output_price=40.0, output_tokens=100),
    ),
    lam=0.5,
)


class Answers:
    """A classifier that returns whatever ``answer(texts, names)`` builds."""

    def __init__(self, answer: Callable[[Sequence[str], list[str]], Any]) -> None:
        self.answer = answer

    def predict(
        self, texts: Sequence[str], arms: Sequence[str | ArmProfile] | None = None
    ) -> Prediction:
        names = [a if isinstance(a, str) else a.name for a in arms or ()]
        out: Prediction = self.answer(texts, names)
        return out


def plain(p: list[float]) -> Answers:
    """P(success) ``p`` per arm for every query, built the short way."""
    return Answers(lambda texts, names: Prediction.from_probabilities([p] * len(texts), names))


def raw(**fields: Any) -> Answers:
    """A Prediction built field by field, with the given fields replaced."""

    def answer(texts: Sequence[str], names: list[str]) -> Prediction:
        n = len(texts)
        good = Prediction(
            tuple(ArmProfile(a, 0.0, 1.0, "given") for a in names),
            np.zeros(n),
            np.full((n, len(names)), 0.5),
        )
        return dataclasses.replace(good, **fields)

    return Answers(answer)


@pytest.mark.parametrize(
    ("clf", "said"),
    [
        (plain([0.5, 1.7]), r"Answers\.predict\(\) returned P\(success\) = 1\.7 for arm 'big'"),
        (plain([0.5, -0.1]), r"P\(success\) = -0\.1 for arm 'big'.*within \[0, 1\]"),
        (plain([math.nan, 0.5]), r"P\(success\) = nan for arm 'small'.*finite"),
        (plain([0.5, math.inf]), r"= inf for arm 'big'"),
        (raw(p_success=np.full((1, 1), 0.5)), r"shape \(1, 1\); expected \(1, 2\).*small, big"),
        (raw(p_success=np.full((2,), 0.5)), r"shape \(2,\); expected \(1, 2\)"),
        (raw(p_success=[["a", "b"]]), r"p_success of list, not numbers"),
        (Answers(lambda texts, names: [[0.5, 0.6]]), r"returned list, not a Prediction"),
        (Answers(lambda texts, names: None), r"returned NoneType, not a Prediction"),
        (raw(difficulty=np.zeros(3)), r"difficulty of shape \(3,\); expected \(1,\)"),
        (raw(difficulty=np.array([math.nan])), r"difficulty that is not finite"),
        (raw(reasoning_need=np.zeros((1, 2))), r"reasoning_need of shape \(1, 2\)"),
        (raw(arms=("big", "small")), r"arms are not a tuple of ArmProfile"),
        (
            raw(arms=(ArmProfile("big", 0, 1), ArmProfile("small", 0, 1))),
            r"answered for arms \['big', 'small'\] but was asked about \['small', 'big'\]",
        ),
    ],
)
def test_a_bad_prediction_names_the_classifier(clf: Answers, said: str) -> None:
    with pytest.raises(ExtensionError, match=said) as info:
        Decider(clf, MENU).decide(QUERY)
    assert info.value.extension == "Answers" and info.value.method == "predict"
    assert isinstance(info.value, PonderError)


def test_something_that_cannot_predict_is_refused_when_the_router_is_built() -> None:
    with pytest.raises(ExtensionError, match=r"dict\.predict\(\) is missing"):
        Decider({"small": 0.5}, MENU)  # type: ignore[arg-type]
    with pytest.raises(ExtensionError, match=r"str\.choose\(\) is missing"):
        Decider(plain([0.5, 0.5]), MENU, policy="cheapest")  # type: ignore[arg-type]


def test_a_keyword_classifier_needs_only_probabilities() -> None:
    """No ability, discrimination or difficulty to invent: ``from_probabilities`` fills
    them, and the difficulty it derives orders queries as the probabilities do."""

    class Keywords:
        def predict(
            self, texts: Sequence[str], arms: Sequence[str | ArmProfile] | None = None
        ) -> Prediction:
            hard = {"small": 0.1, "big": 0.9}
            easy = {"small": 0.9, "big": 0.95}
            names = [a if isinstance(a, str) else a.name for a in arms or ()]
            rows = [hard if "prove" in t.lower() else easy for t in texts]
            return Prediction.from_probabilities([[r[n] for n in names] for r in rows], arms or ())

    hard = decide(QUERY, Keywords(), MENU)
    easy = decide("What is 2 + 2?", Keywords(), MENU)
    assert (hard.chosen_arm, easy.chosen_arm) == ("big", "small")
    assert hard.difficulty == pytest.approx(-math.log(0.5 / 0.5))  # mean P 0.5: logit 0
    assert easy.difficulty == pytest.approx(-math.log(0.925 / 0.075))
    assert [e.p_success for e in hard.arms] == pytest.approx([0.1, 0.9])

    pred = Prediction.from_probabilities(np.array([[0.2, 0.4]]), ["a", ArmProfile("b", 1, 2)])
    assert pred.arm_names == ("a", "b") and pred.arms[1].ability == 1
    assert math.isnan(pred.arms[0].ability) and pred.arms[0].source == "classifier"
    assert Prediction.from_probabilities([[0.5]], ["a"], difficulty=[3.0]).difficulty[0] == 3.0
    with pytest.raises(ValueError, match=r"shape \(1, 2\); expected \(n_queries, 3\)"):
        Prediction.from_probabilities([[0.5, 0.5]], ["a", "b", "c"])


class Returns:
    """A policy that returns ``value`` whatever it is offered."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def choose(self, p: FloatArray, cost: FloatArray) -> Any:
        return self.value


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (np.array([2]), r"Returns\.choose\(\) returned arm index 2 for query 0; expected 0\.\.1"),
        (np.array([-2]), r"returned arm index -2 for query 0"),  # would wrap to an arm
        (np.array([0.0]), r"returned float64 values \[0\.0\]; expected integer"),
        (np.array([True]), r"returned bool values"),
        (1, r"returned int of shape \(\); expected \(1,\)"),
        (np.array([0, 1]), r"shape \(2,\); expected \(1,\)"),
        (None, r"returned NoneType of shape \(\)"),
    ],
)
def test_a_bad_choice_names_the_policy(value: Any, said: str) -> None:
    with pytest.raises(ExtensionError, match=said) as info:
        Decider(plain([0.5, 0.6]), MENU, policy=Returns(value)).decide(QUERY)
    assert info.value.extension == "Returns" and info.value.method == "choose"


def test_a_policy_index_is_a_column_of_the_arms_that_fit() -> None:
    """With a ceiling that only the small arm fits, the policy is offered one column:
    index 0 is the small arm and index 1 is out of range, though the menu has two."""
    worst = decide(QUERY, plain([0.5, 0.6]), MENU).arms[0].worst_cost
    d = Decider(plain([0.5, 0.6]), MENU, policy=Returns(np.array([0])))
    assert d.decide(QUERY, max_cost=worst * 1.01).chosen_arm == "small"
    assert d.decide(QUERY).chosen_arm == "small"
    with pytest.raises(ExtensionError, match=r"index 1 .* 0\.\.0 \(a column of the 1 arms"):
        Decider(plain([0.5, 0.6]), MENU, policy=Returns(np.array([1]))).decide(
            QUERY, max_cost=worst * 1.01
        )
    no_arm = Decider(plain([0.5, 0.6]), MENU, policy=Returns([NO_ARM]))
    with pytest.raises(PonderError, match="Returns"):
        no_arm.decide(QUERY)


def test_the_router_checks_what_its_extensions_return(up: FakeUpstream) -> None:
    arms = [arm(up, "small", **SMALL), arm(up, "big", **BIG)]
    with pytest.raises(ExtensionError, match=r"Answers\.predict\(\).*1\.7"):
        make_router(plain([0.5, 1.7]), arms).complete(QUERY)
    with pytest.raises(ExtensionError, match=r"Returns\.choose\(\).*index 5"):
        make_router(plain([0.5, 0.6]), arms, policy=Returns(np.array([5]))).complete(QUERY)
    assert up.calls("small") == up.calls("big") == 0  # refused before any call


def test_decision_and_trace_name_the_chosen_arm_alike(up: FakeUpstream) -> None:
    router = make_router(plain([0.9, 0.95]), [arm(up, "small", **SMALL), arm(up, "big", **BIG)])
    up.script("small", ["4"])
    d = router.route(QUERY)
    t = router.complete(QUERY).ponder
    assert d.chosen_arm == t.chosen_arm == "small"
    with pytest.warns(DeprecationWarning, match="chosen_arm"):
        assert d.chosen == "small"  # the older name still answers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dataclasses.asdict(d)["chosen_arm"] == "small"
