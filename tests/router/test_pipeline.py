"""The request pipeline's stages, and its extension points: any classifier, any policy, and
profiles resolved by the router itself."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from ponder import NoArmFitsError, UnknownModelError
from ponder.classifiers import ArmProfile, Prediction
from ponder.policies import NO_ARM, FloatArray, IntArray
from ponder.router._request import parse_request
from tests.fakes.upstream import FakeUpstream
from tests.router.menus import BIG, SMALL, arm, make_router

HARD = "Prove that there are infinitely many primes."
EASY = "What is 2 + 2?"


class KeywordClassifier:
    """A classifier a user could write: P(success) per arm label, lower for proofs."""

    def __init__(self, easy: dict[str, float], hard: dict[str, float]) -> None:
        self.easy, self.hard = easy, hard
        self.calls = 0

    def predict(
        self, texts: Sequence[str], arms: Sequence[str | ArmProfile] | None = None
    ) -> Prediction:
        self.calls += 1
        names = [a if isinstance(a, str) else a.name for a in arms or ()]
        table = [self.hard if "prove" in t.lower() else self.easy for t in texts]
        p = np.array([[row[n] for n in names] for row in table], dtype=np.float64)
        profiles = tuple(ArmProfile(n, 0.0, 1.0, "given") for n in names)
        return Prediction(profiles, np.zeros(len(texts)), p)


class Dearest:
    """Always the dearest arm it is offered."""

    def choose(self, p: FloatArray, cost: FloatArray) -> IntArray:
        return np.asarray(cost, dtype=np.float64).argmax(axis=1).astype(np.int64)


class Nothing:
    def choose(self, p: FloatArray, cost: FloatArray) -> IntArray:
        return np.full(len(p), NO_ARM, dtype=np.int64)


def keyword() -> KeywordClassifier:
    return KeywordClassifier({"small": 0.9, "big": 0.95}, {"small": 0.1, "big": 0.9})


def two_arms(up: FakeUpstream) -> list[dict[str, object]]:
    up.script("small", ["It is 4"])
    up.script("big", ["Suppose finitely many; their product plus one has a new prime."])
    return [arm(up, "small", **SMALL), arm(up, "big", **BIG)]


def test_any_success_classifier_routes_by_its_predictions(up: FakeUpstream) -> None:
    clf = keyword()
    router = make_router(clf, two_arms(up), lam=0.5)
    assert router.route(EASY).chosen_arm == "small"
    assert router.route(HARD).chosen_arm == "big"
    out = router.complete(HARD)
    assert out.ponder.answered_by == "big" and up.calls("big") == 1
    assert out.ponder.arms[1].p_success == pytest.approx(0.9)


def test_a_policy_replaces_the_utility_rule_among_the_arms_that_fit(up: FakeUpstream) -> None:
    router = make_router(keyword(), two_arms(up), lam=0.5, policy=Dearest())
    d = router.route(EASY)
    assert d.chosen_arm == "big" and "Dearest" in d.reason
    small_only = router.route(EASY, max_cost=d.arms[0].worst_cost * 1.01)
    assert small_only.chosen_arm == "small"  # big does not fit: never offered to the policy
    with pytest.raises(NoArmFitsError, match="Nothing"):
        make_router(keyword(), two_arms(up), policy=Nothing()).route(EASY)


def test_the_cache_is_looked_up_before_the_classifier_runs(up: FakeUpstream) -> None:
    clf = keyword()
    router = make_router(clf, two_arms(up), lam=0.5, cache_ttl=60)
    first = router.complete(EASY)
    again = router.complete(EASY)
    assert again.ponder.cache_hit and not first.ponder.cache_hit
    assert clf.calls == 1 and up.calls("small") == 1
    router.complete(EASY, lam=0.6)  # other controls are another entry: classified again
    assert clf.calls == 2


def test_profiles_resolve_in_the_router(up: FakeUpstream) -> None:
    profiles = {"cheap": {"lam": 50.0}, "best": {"lam": 0.0}}
    router = make_router(keyword(), two_arms(up), lam=0.5, profiles=profiles)
    assert router.profiles == ("cheap", "best")
    assert router.bounds("cheap").lam == 50.0 and router.bounds().lam == 0.5
    assert router.route(HARD, profile="cheap").chosen_arm == "small"
    assert router.route(EASY, profile="best").chosen_arm == "big"
    assert router.route(HARD, profile="cheap", lam=0.5).chosen_arm == "big"  # the caller's wins
    out = router.complete(HARD, profile="cheap")
    assert out.ponder.answered_by == "small"
    with pytest.raises(UnknownModelError, match="no routing profile"):
        router.route(EASY, profile="nope")


def test_stages_hold_the_ceiling_then_settle_at_the_cost_and_record(up: FakeUpstream) -> None:
    router = make_router(keyword(), two_arms(up), lam=0.5, max_cost=0.01, cache_ttl=60)
    pipe = router.pipeline
    request = parse_request(EASY, operator=router.bounds(), budget_key="k", budget=1.0)

    async def stages() -> None:
        key = pipe.cache_key(request)
        assert await pipe.lookup(key) is None
        plan = await pipe.plan(request, key)
        assert plan.decision.chosen_arm == "small" and plan.route.deadline is not None
        hold = await pipe.hold(plan)
        assert await router.spent() == pytest.approx(0.01)
        assert await router.spent("k") == pytest.approx(0.01)
        c = await pipe.escalation.run(plan.route)
        await pipe.budgets.settle(hold, c.ponder.cost)
        assert await router.spent("k") == pytest.approx(c.ponder.cost)
        await pipe.record(c, plan)
        hit = await pipe.lookup(key)
        assert hit is not None and hit.content == c.content and hit.ponder.cost == 0

    asyncio.run(stages())


def test_a_pass_through_request_skips_the_classifier(up: FakeUpstream) -> None:
    clf = keyword()
    router = make_router(clf, two_arms(up), lam=0.5)
    out = asyncio.run(router.aforward("openai/big", EASY))
    assert out.ponder.reason == "pass-through" and clf.calls == 0
    with pytest.raises(UnknownModelError):
        asyncio.run(router.aforward("openai/nope", EASY))
