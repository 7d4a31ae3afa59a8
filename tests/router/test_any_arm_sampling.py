"""The sampling policy for any arm (``ANY_ARM``): what the packaged model carries, so a
menu's vote arm is drawn and priced by a calibrated rule out of the box, on the live path
(loopback upstream) and in ``ponder route``'s decider alike; an arm's own policy wins."""

from __future__ import annotations

import pytest

from ponder import Menu
from ponder.classifiers import load_default_classifier
from ponder.policies import ANY_ARM, SampleBudget, SamplingPolicy
from ponder.router import Decider
from tests.fakes.upstream import FakeUpstream
from tests.router.menus import BIG, SMALL, arm, make_router
from tests.router.test_live_sampling import Known

EXACT = SamplingPolicy(SampleBudget(kappa=0.3, mean=0.9), confidence=1.0, gamma=1.5)
BY_LEAD = SamplingPolicy(SampleBudget(kappa=0.3, mean=0.9), gamma=1.5, margin=2)


def test_the_packaged_models_policy_reaches_the_default_menus_vote_arm() -> None:
    clf = load_default_classifier()
    menu = Menu.default()
    voting = [a.label for a in menu.arms if a.adaptive]
    assert voting, "the default menu has an adaptive vote arm"
    shipped = clf.sampling_[ANY_ARM]
    # A bare decider (``ponder route``, ``ponder calibrate``) reads the classifier's own.
    assert Decider(clf, menu).sampling == {label: shipped for label in voting}
    assert Decider(clf, menu, sampling={}).sampling == {}


def test_the_packaged_policy_is_priced_as_its_rule_draws() -> None:
    clf = load_default_classifier()
    menu = Menu.default()
    (vote,) = [a for a in menu.arms if a.adaptive]
    label = vote.label
    shipped = clf.sampling_[ANY_ARM]
    est = {e.arm: e for e in Decider(clf, menu).decide("What is 2 + 2?").arms}[label]
    _, samples, success = shipped.priced([est.p_sample], vote.samples, vote.batch)
    assert est.expected_samples == pytest.approx(float(samples[0]))
    assert est.p_success == pytest.approx(float(success[0]))
    bare = {e.arm: e for e in Decider(clf, menu, sampling={}).decide("What is 2 + 2?").arms}
    assert bare[label].expected_samples != pytest.approx(est.expected_samples, abs=1e-6)


def test_an_arms_own_policy_wins_over_the_policy_for_any_arm(up: FakeUpstream) -> None:
    arms = [
        arm(up, "weak", samples=5, aggregation="majority", adaptive=True, **SMALL),
        arm(up, "other", samples=5, aggregation="majority", adaptive=True, **SMALL),
        arm(up, "plain", samples=5, aggregation="majority", **SMALL),
        arm(up, "strong", **BIG),
    ]
    router = make_router(Known(), arms, lam=5.0, sampling={ANY_ARM: EXACT, "weak": BY_LEAD})
    assert router.decider.sampling == {"weak": BY_LEAD, "other": EXACT}


@pytest.mark.parametrize(("sampling", "drawn"), [({ANY_ARM: EXACT}, 3), ({}, 4)])
def test_an_arm_without_its_own_policy_stops_by_the_any_arm_rule(
    up: FakeUpstream, sampling: dict[str, SamplingPolicy], drawn: int
) -> None:
    """Five agreeing samples: the exact rule stops at three (the leader cannot be
    overtaken); with no policy at all, the Beta rule at 0.95 wants a fourth."""
    up.script("weak", ["The answer is 42"])
    up.script("strong", ["It is 42"])
    arms = [
        arm(up, "weak", samples=5, aggregation="majority", adaptive=True, batch=1, **SMALL),
        arm(up, "strong", **BIG),
    ]
    router = make_router(Known(), arms, lam=5.0, sampling=sampling)
    out = router.complete("unsure: what is 6 times 7?")
    (att,) = out.ponder.attempts
    assert att.arm == "weak"
    assert att.samples_used == drawn == up.calls("weak")
