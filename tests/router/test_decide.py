from __future__ import annotations

import copy
import dataclasses
import warnings

import numpy as np
import pytest

from ponder import Arm, Menu, MenuError, NoArmFitsError, PriorWarning
from ponder.classifiers import DifficultyClassifier, FeaturizerSpec
from ponder.outcomes import OutcomeTable
from ponder.router import decide
from ponder.router._profiles import resolve_profiles


@pytest.fixture(scope="module")
def clf(synthetic: tuple[OutcomeTable, np.ndarray]) -> DifficultyClassifier:
    return DifficultyClassifier(
        backend="logistic", featurizer=FeaturizerSpec(kind="stats"), cv_folds=3
    ).fit(synthetic[0])


def _menu(**kw: object) -> Menu:
    # The same three arms as the training data, with prices matching their costs.
    return Menu(
        arms=(
            Arm(model="weak", input_price=0.2, output_price=0.2, output_tokens=100),
            Arm(model="mid", input_price=1.0, output_price=1.0, output_tokens=100),
            Arm(model="strong", input_price=10.0, output_price=10.0, output_tokens=100),
        ),
        **kw,  # type: ignore[arg-type]
    )


EASY = "alpha beta?"
HARD = " ".join(["gamma delta epsilon"] * 40) + "?"


def test_lambda_trades_quality_for_cost(clf: DifficultyClassifier) -> None:
    menu = _menu()
    assert decide(HARD, clf, menu, lam=0.0).chosen_arm == "strong"
    assert decide(HARD, clf, menu, lam=100.0).chosen_arm == "weak"
    d = decide(EASY, clf, menu, lam=0.0)
    probs = {e.arm: e.p_success for e in d.arms}
    assert probs["weak"] < probs["mid"] < probs["strong"]
    # Harder queries have lower success for the same arm.
    hard = {e.arm: e.p_success for e in decide(HARD, clf, menu, lam=0.0).arms}
    assert hard["mid"] < probs["mid"]
    assert decide(HARD, clf, menu).difficulty > d.difficulty


def test_ceiling_excludes_expensive_arms(clf: DifficultyClassifier) -> None:
    menu = _menu()
    costs = {e.arm: e.expected_cost for e in decide(HARD, clf, menu, lam=0.0).arms}
    ceiling = (costs["mid"] + costs["strong"]) / 2
    d = decide(HARD, clf, menu, lam=0.0, max_cost=ceiling)
    assert d.chosen_arm == "mid"
    assert [e.fits for e in d.arms] == [True, True, False]
    assert "ceiling" in d.reason
    with pytest.raises(NoArmFitsError, match="cheapest"):
        decide(HARD, clf, menu, max_cost=costs["weak"] / 10)


def test_profiles_trained_like_given_and_prior(clf: DifficultyClassifier) -> None:
    menu = Menu(
        arms=(
            Arm(model="strong", name="strong-again", input_price=10, output_price=10),
            Arm(model="other", like="weak", input_price=1, output_price=1),
            Arm(model="fixed", ability=3.0, input_price=1, output_price=1),
            Arm(model="gpt-4o-mini"),
        )
    )
    sources = [p.source for p in resolve_profiles(clf, menu)]
    assert sources == ["trained", "like weak", "given", "price prior"]
    bad = Menu(arms=(Arm(model="x", like="nobody", input_price=1, output_price=1),))
    with pytest.raises(MenuError, match="like 'nobody'"):
        resolve_profiles(clf, bad)


def test_bad_arguments(clf: DifficultyClassifier) -> None:
    with pytest.raises(ValueError, match="lam"):
        decide(EASY, clf, _menu(), lam=-1)
    with pytest.raises(ValueError, match="max_cost"):
        decide(EASY, clf, _menu(), max_cost=0)


def test_calibrate_hits_cost_and_quality_targets(
    clf: DifficultyClassifier, synthetic: tuple[OutcomeTable, np.ndarray]
) -> None:
    from ponder.router import Decider, calibrate

    texts = list(synthetic[0].prompts[:200])
    decider = Decider(clf, _menu())
    cheap = calibrate(decider, texts, target_quality=0.01)
    dear = calibrate(decider, texts, target_quality=0.99)
    assert not dear.met and dear.lam == 0.0
    lo, hi = cheap.mean_cost, dear.mean_cost
    target = (lo + hi) / 2
    c = calibrate(decider, texts, target_cost=target)
    assert c.met and c.mean_cost <= target
    # The smallest lam within budget: a slightly smaller lam spends more than the target.
    c_less = calibrate(decider, texts, target_cost=c.mean_cost * 0.999)
    assert c_less.lam >= c.lam
    q = calibrate(decider, texts, target_quality=c.mean_p_success)
    assert q.met and q.mean_p_success >= c.mean_p_success - 1e-9
    assert sum(c.share.values()) == pytest.approx(1.0)
    # Routing each query one by one with the calibrated lam spends the same.
    spent = [decider.decide(t, lam=c.lam) for t in texts]
    chosen_cost = [next(e.expected_cost for e in d.arms if e.arm == d.chosen_arm) for d in spent]
    assert float(np.mean(chosen_cost)) == pytest.approx(c.mean_cost)
    with pytest.raises(ValueError, match="exactly one"):
        calibrate(decider, texts)


def test_sampled_arms_are_weighed_as_votes(clf: DifficultyClassifier) -> None:
    from ponder.policies import VoteModel
    from ponder.router import Decider

    mid = {"model": "mid", "input_price": 1.0, "output_price": 1.0, "output_tokens": 100}
    menu = Menu(
        arms=(
            Arm(**mid),  # type: ignore[arg-type]
            Arm(**mid, name="mid-x5", samples=5, aggregation="majority"),  # type: ignore[arg-type]
            Arm(  # type: ignore[arg-type]
                **mid, name="mid-ad8", samples=8, aggregation="majority", adaptive=True
            ),
        )
    )
    d = Decider(clf, menu, votes=VoteModel(kappa=5.0)).decide(EASY, lam=0.0)
    one, five, ada = d.arms
    assert one.p_success > 0.5  # voting helps only when one sample is more often right
    assert five.p_success > one.p_success
    assert five.expected_cost == pytest.approx(5 * one.expected_cost)
    assert five.worst_cost == five.expected_cost and five.expected_samples == 5
    assert 2 <= ada.expected_samples < 8
    assert ada.expected_cost == pytest.approx(ada.expected_samples * one.expected_cost)
    assert ada.worst_cost == pytest.approx(8 * one.expected_cost)
    # The ceiling binds on the worst case: the adaptive arm's expected cost fits, its
    # eight samples do not.
    capped = Decider(clf, menu).decide(EASY, lam=0.0, max_cost=ada.expected_cost * 1.01)
    assert [e.fits for e in capped.arms] == [True, False, False]
    assert capped.chosen_arm == "mid"
    # Samples that always agree (kappa -> 0) make a vote worth one sample: never worth 5x.
    same = Decider(clf, menu, votes=VoteModel(kappa=1e-6)).decide(EASY, lam=0.1)
    assert same.arms[1].p_success == pytest.approx(same.arms[0].p_success, abs=1e-3)
    assert same.chosen_arm == "mid"


def _twins() -> Menu:
    """One new model twice, thinking and not, at one price: neither is in the training data."""
    return Menu(
        arms=(
            Arm(model="newbie", input_price=1.0, output_price=1.0, reasoning=0.0),
            Arm(
                model="newbie",
                name="newbie-thinking",
                input_price=1.0,
                output_price=1.0,
                reasoning=1.0,
            ),
        )
    )


def test_thinking_twins_warn_when_the_model_knows_nothing_of_thinking(
    clf: DifficultyClassifier,
) -> None:
    assert not clf.tells_thinking_apart  # trained on three arms that do not reason
    with pytest.warns(PriorWarning, match="newbie, newbie-thinking differ only in how much"):
        profiles = resolve_profiles(clf, _twins())
    assert profiles[0].ability == profiles[1].ability


def test_thinking_twins_are_told_apart_by_a_reasoning_lift(clf: DifficultyClassifier) -> None:
    lifted = copy.copy(clf)
    lifted.prior_ = dataclasses.replace(clf.prior_, reasoning=0.8)
    assert lifted.tells_thinking_apart
    with warnings.catch_warnings():
        warnings.simplefilter("error", PriorWarning)
        plain, thinking = resolve_profiles(lifted, _twins())
    assert thinking.ability == pytest.approx(plain.ability + 0.8)
    d = decide(HARD, lifted, _twins(), lam=0.0)
    probs = {e.arm: e.p_success for e in d.arms}
    assert probs["newbie-thinking"] > probs["newbie"] and d.chosen_arm == "newbie-thinking"


def test_a_new_prior_is_not_answered_from_the_old_ones_memo(clf: DifficultyClassifier) -> None:
    # An arm asked about by name gets its profile from the prior; the profiles are memoised
    # per menu, and a copy with another prior must not read the original's.
    before = clf.predict([HARD], arms=["newbie-thinking"]).p_success[0, 0]
    lifted = copy.copy(clf)
    lifted.prior_ = dataclasses.replace(clf.prior_, reasoning=0.8)
    after = lifted.predict([HARD], arms=["newbie-thinking"]).p_success[0, 0]
    assert after > before
    assert clf.predict([HARD], arms=["newbie-thinking"]).p_success[0, 0] == before


def test_a_flat_prior_warns(clf: DifficultyClassifier) -> None:
    flat = copy.copy(clf)
    flat.prior_ = dataclasses.replace(clf.prior_, slope=0.0)
    menu = Menu(
        arms=(
            Arm(model="cheap-new", input_price=0.1, output_price=0.1),
            Arm(model="dear-new", input_price=10.0, output_price=10.0),
        )
    )
    with pytest.warns(PriorWarning, match="prior is flat"):
        cheap, dear = resolve_profiles(flat, menu)
    assert cheap.ability == dear.ability


def test_an_adaptive_vote_is_priced_as_the_exact_walk_prices_it(
    clf: DifficultyClassifier,
) -> None:
    """The decider reads uncalibrated adaptive votes off a table; the figures it prices
    them at are the exact walk's, to well under what any decision could notice."""
    from ponder.router import Decider

    menu = Menu(
        arms=(
            Arm(model="weak", input_price=0.2, output_price=0.2, output_tokens=100),
            Arm(
                model="weak",
                name="weak-ad6",
                input_price=0.2,
                output_price=0.2,
                output_tokens=100,
                samples=6,
                batch=2,
                aggregation="majority",
                adaptive=True,
            ),
        )
    )
    decider = Decider(clf, menu)
    texts = [EASY, HARD, "x" * 300, "what is 2 + 2?"]
    est = decider.estimate(texts)
    n, p = decider.votes.adaptive(est.p_sample[:, 1], 6, decider.adaptive_confidence, 2)
    np.testing.assert_allclose(est.expected_samples[:, 1], n, atol=1e-6)
    np.testing.assert_allclose(est.p_success[:, 1], p, atol=1e-6)
    assert (est.expected_samples[:, 1] > 1).all() and (est.p_success[:, 1] > 0).all()
