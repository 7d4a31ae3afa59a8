"""Calibrated adaptive arms on the live path, against the loopback upstream: the
classifier's prediction sets how many samples a query may draw before any is drawn, so a
query predicted easy is answered with one sample and a weak arm predicted hopeless is
passed by for a stronger one without a call."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import pytest

from ponder import Router
from ponder.classifiers import ArmProfile, Prediction, load_default_classifier
from ponder.policies import SampleBudget, SamplingPolicy
from tests.fakes.upstream import FakeUpstream
from tests.router.menus import BIG, SMALL, arm, make_router

# One-sample success of each arm, by what the query says before its colon.
PREDICTED = {
    "easy": {"weak": 0.995, "strong": 0.99},
    "hopeless": {"weak": 0.03, "strong": 0.95},
    "unsure": {"weak": 0.6, "strong": 0.95},
}
POLICY = SamplingPolicy(
    SampleBudget(kappa=2.0, gain=0.01, floor=0.3, trust=1.0, mean=0.6),
    confidence=0.9,
    gamma=1.0,
)


class Known:
    """A classifier that knows each arm's one-sample success on the test's queries."""

    def predict(
        self, texts: Sequence[str], arms: Sequence[str | ArmProfile] | None = None
    ) -> Prediction:
        names = [a if isinstance(a, str) else a.name for a in arms or ("weak", "strong")]
        p = np.array([[PREDICTED[t.split(":")[0]][n] for n in names] for t in texts])
        profiles = tuple(ArmProfile(n, math.nan, math.nan, "classifier") for n in names)
        return Prediction(profiles, np.zeros(len(texts)), p)


def _router(up: FakeUpstream, **settings: object) -> Router:
    """A cheap adaptive arm of up to 8 samples, calibrated as a model trained on its
    samples would calibrate it, and a dear strong arm; ``lam`` makes the cheap one first."""
    arms = [
        arm(up, "weak", samples=8, aggregation="majority", adaptive=True, batch=2, **SMALL),
        arm(up, "strong", **BIG),
    ]
    return make_router(Known(), arms, lam=5.0, sampling={"weak": POLICY}, **settings)


@pytest.fixture
def calibrated(up: FakeUpstream) -> Router:
    up.script("weak", ["The answer is 42"])
    up.script("strong", ["It is 42"])
    return _router(up)


def test_a_query_predicted_easy_is_answered_with_one_sample(
    calibrated: Router, up: FakeUpstream
) -> None:
    assert POLICY.plan(0.995, 8).budget == 1
    out = calibrated.complete("easy: what is 6 times 7?")
    assert up.calls("weak") == 1 and up.calls("strong") == 0
    (att,) = out.ponder.attempts
    assert (att.arm, att.outcome, att.samples_used, att.samples_requested) == (
        "weak",
        "accepted",
        1,
        1,
    )
    assert out.content == "The answer is 42"


def test_a_weak_arm_predicted_hopeless_is_passed_by_without_a_call(
    calibrated: Router, up: FakeUpstream
) -> None:
    decision = calibrated.route("hopeless: prove the Riemann hypothesis")
    assert decision.chosen_arm == "weak"  # cheap enough to be the policy's first choice...
    weak = next(e for e in decision.arms if e.arm == "weak")
    assert weak.budget == 0 and weak.expected_samples == 0.0
    out = calibrated.complete("hopeless: prove the Riemann hypothesis")
    assert up.calls("weak") == 0 and up.calls("strong") == 1  # ...but never drawn
    assert [(a.arm, a.outcome, a.samples_used) for a in out.ponder.attempts] == [
        ("weak", "declined", 0),
        ("strong", "accepted", 1),
    ]
    assert out.ponder.answered_by == "strong" and out.ponder.escalations == 1
    assert out.ponder.attempts[0].cost == 0.0


def test_with_no_escalation_allowed_a_hopeless_arm_answers_once(up: FakeUpstream) -> None:
    up.script("weak", ["The answer is 41"])
    up.script("strong", ["It is 42"])
    out = _router(up, max_escalations=0).complete("hopeless: prove the Riemann hypothesis")
    assert up.calls("weak") == 1 and up.calls("strong") == 0
    assert [a.outcome for a in out.ponder.attempts] == ["accepted"]


def test_an_unsure_query_draws_until_the_vote_is_settled(
    calibrated: Router, up: FakeUpstream
) -> None:
    plan = POLICY.plan(0.6, 8)
    assert plan.budget > 2
    out = calibrated.complete("unsure: what is 6 times 7?")
    (att,) = out.ponder.attempts
    assert 2 <= att.samples_used < plan.budget  # agreeing samples settle it early
    assert up.calls("weak") == att.samples_used and att.samples_requested == plan.budget
    assert att.samples_used % 2 == 0  # batches of 2


def test_a_trained_models_calibration_reaches_the_adaptive_arm(up: FakeUpstream) -> None:
    # A copy: the packaged model is loaded once per process, and other tests read it as shipped.
    clf = copy.copy(load_default_classifier())
    clf.sampling_ = {"weak": POLICY}
    arms = [
        arm(up, "weak", samples=8, aggregation="majority", adaptive=True, ability=0.0, **SMALL),
        arm(up, "plain", samples=8, aggregation="majority", ability=0.0, **SMALL),
        arm(up, "strong", ability=3.0, **BIG),
    ]
    router = make_router(clf, arms, lam=5.0)  # no sampling=: the classifier's own
    assert router.decider.sampling == {"weak": POLICY}  # not the non-adaptive arm
    est = {e.arm: e for e in router.route("What is 6 times 7?").arms}
    assert est["weak"].budget == POLICY.plan(est["weak"].p_sample, 8).budget
    assert est["plain"].budget == 8


def test_a_calibrated_vote_is_priced_as_its_rule_will_draw_it(up: FakeUpstream) -> None:
    """The decider's price of a vote arm is the policy's own: the samples its rule draws
    for this query's predicted success and the vote's success, not one sample's."""
    by_lead = SamplingPolicy(SampleBudget(kappa=2.0, trust=1.0, mean=0.6), gamma=4.0, margin=2)
    arms = [
        arm(up, "weak", samples=8, aggregation="majority", adaptive=True, batch=1, **SMALL),
        arm(up, "strong", **BIG),
    ]
    router = make_router(Known(), arms, lam=5.0, sampling={"weak": by_lead})
    for text, p in (("easy: 6 x 7?", 0.995), ("unsure: 6 x 7?", 0.6)):
        est = {e.arm: e for e in router.route(text).arms}
        budget, samples, success = by_lead.priced(np.array([p]), 8, 1)
        weak = est["weak"]
        assert weak.budget == int(budget[0])
        assert weak.expected_samples == pytest.approx(float(samples[0]))
        assert weak.p_success == pytest.approx(float(success[0]))
    easy = {e.arm: e for e in router.route("easy: 6 x 7?").arms}["weak"]
    unsure = {e.arm: e for e in router.route("unsure: 6 x 7?").arms}["weak"]
    assert easy.expected_samples < unsure.expected_samples  # an easy vote settles sooner
    assert unsure.p_success > 0.6  # the vote is worth more than one sample


def test_warmup_prices_the_calibrated_votes_before_the_first_request(up: FakeUpstream) -> None:
    from ponder.policies._sampling import simulated_votes

    by_lead = SamplingPolicy(SampleBudget(kappa=3.0, trust=1.0, mean=0.5), gamma=2.0, margin=3)
    arms = [
        arm(up, "weak", samples=6, aggregation="majority", adaptive=True, batch=1, **SMALL),
        arm(up, "strong", **BIG),
    ]
    router = make_router(Known(), arms, lam=5.0, sampling={"weak": by_lead})
    before = simulated_votes.cache_info().misses
    router.warmup()
    assert simulated_votes.cache_info().misses == before + 1  # the one budget it gives: 6
    hits = simulated_votes.cache_info().hits
    router.route("unsure: 6 x 7?")
    assert simulated_votes.cache_info().misses == before + 1
    assert simulated_votes.cache_info().hits > hits
