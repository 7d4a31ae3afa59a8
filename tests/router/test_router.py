"""The Router against a real loopback upstream speaking the OpenAI (and Anthropic) wire."""

from __future__ import annotations

import asyncio

import pytest

from ponder import (
    BudgetExceededError,
    ConfigError,
    Menu,
    NoArmFitsError,
    ProviderError,
    RequestError,
    Router,
    Settings,
)
from ponder.classifiers import DifficultyClassifier
from tests.fakes.upstream import FakeUpstream, count_tokens
from tests.router.menus import BIG, QUESTION, SMALL, arm, call_cost, make_router


def test_five_sample_arm_makes_five_calls_and_votes(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.script("small", ["It is 42", "It is 41", "It is 42", "It is 42", "It is 40"])
    router = make_router(
        clf, [arm(up, "small", samples=5, aggregation="majority", ability=0.0, **SMALL)]
    )
    out = router.complete(QUESTION)
    assert up.calls("small") == 5
    assert out.content == "It is 42"
    (att,) = out.ponder.attempts
    assert att.samples_used == 5
    assert att.agreement == pytest.approx(0.6)
    assert sorted(a or "" for a in att.answers) == ["40", "41", "42", "42", "42"]
    assert out.usage.completion_tokens == 15
    assert out.ponder.samples_used == 5


def test_costs_add_up_across_samples_and_escalation(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    small_answers = ["It is 1", "It is 2", "It is 3"]
    up.script("small", small_answers)
    up.script("big", ["The answer is 42"])
    router = make_router(
        clf,
        [
            arm(up, "small", samples=3, aggregation="majority", ability=-1.0, **SMALL),
            arm(up, "big", ability=3.0, **BIG),
        ],
        lam=5.0,
    )
    out = router.complete(QUESTION)
    trace = out.ponder
    assert [a.outcome for a in trace.attempts] == ["low_agreement", "accepted"]
    assert trace.chosen_arm == "small" and trace.answered_by == "big"
    assert out.content == "The answer is 42"
    assert trace.escalations == 1
    body = up.chat_bodies("big")[0]
    expected = sum(call_cost(body, a, SMALL) for a in small_answers) + call_cost(
        body, "The answer is 42", BIG
    )
    assert trace.cost == pytest.approx(expected)
    assert trace.cost == pytest.approx(sum(a.cost for a in trace.attempts))
    assert out.usage.prompt_tokens == 4 * count_tokens(QUESTION)


def test_adaptive_sampling_stops_early_when_answers_agree(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.script("agree", ["The answer is 42"])
    up.script("split", ["The answer is 42", "The answer is 41"])
    arms = [
        arm(up, "agree", samples=8, aggregation="majority", adaptive=True, batch=2, **SMALL),
    ]
    out = make_router(clf, arms).complete(QUESTION)
    # Beta stopping rule at 0.95: 2 agreeing samples give 0.875, 4 give 0.97.
    assert up.calls("agree") == 4
    assert out.ponder.samples_used == 4
    arms = [
        arm(up, "split", samples=8, aggregation="majority", adaptive=True, batch=2, **SMALL),
    ]
    out = make_router(clf, arms, escalate_below=0.0).complete(QUESTION)
    assert up.calls("split") == 8  # a 50/50 split never settles: the cap binds


def test_escalation_stops_at_the_ceiling(clf: DifficultyClassifier, up: FakeUpstream) -> None:
    small_answers = ["It is 1", "It is 2", "It is 3"]
    up.script("small", small_answers)
    up.script("big", ["The answer is 42"])
    arms = [
        arm(
            up, "small", samples=3, aggregation="majority", ability=-1.0, output_tokens=10, **SMALL
        ),
        arm(up, "big", ability=3.0, **BIG),
    ]
    router = make_router(clf, arms, lam=5.0)
    big_cost = next(e.expected_cost for e in router.route(QUESTION).arms if e.arm == "big")
    body = {"messages": [{"content": QUESTION}]}
    small_spend = sum(call_cost(body, a, SMALL) for a in small_answers)
    # The big arm fits on its own, but not after the small arm has spent its share.
    ceiling = big_cost + small_spend / 2
    out = router.complete(QUESTION, max_cost=ceiling)
    assert out.ponder.chosen_arm == "small"
    assert up.calls("big") == 0
    assert out.ponder.stopped == "ceiling"
    assert out.ponder.answered_by == "small"
    assert [a.outcome for a in out.ponder.attempts] == ["low_agreement"]
    assert out.ponder.cost == pytest.approx(small_spend)
    # With room for both, the same request escalates.
    out = router.complete(QUESTION, max_cost=big_cost + 2 * small_spend)
    assert up.calls("big") == 1 and out.ponder.answered_by == "big"


def test_escalation_respects_max_escalations(clf: DifficultyClassifier, up: FakeUpstream) -> None:
    for m in ("a", "b", "c"):
        up.script(m, ["x 1", "x 2", "x 3"])
    arms = [
        arm(up, m, samples=3, aggregation="majority", ability=ab, input_price=p, output_price=p)
        for m, ab, p in (("a", -1.0, 1.0), ("b", 0.0, 2.0), ("c", 1.0, 4.0))
    ]
    out = make_router(clf, arms, max_escalations=1, lam=5.0).complete(QUESTION)
    assert [a.arm for a in out.ponder.attempts] == ["a", "b"]
    assert out.ponder.stopped == "max_escalations"
    assert up.calls("c") == 0


def test_provider_failure_falls_back_then_raises(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.script("small", ["It is 42"])
    up.script("big", ["It is 42"])
    up.fail("small", status=500, times=1)
    arms = [arm(up, "small", ability=-1.0, **SMALL), arm(up, "big", ability=3.0, **BIG)]
    router = make_router(clf, arms, lam=5.0)
    out = router.complete(QUESTION)
    assert [a.outcome for a in out.ponder.attempts] == ["provider_error", "accepted"]
    assert out.ponder.answered_by == "big"
    assert "500" in (out.ponder.attempts[0].error or "") or out.ponder.attempts[0].error

    up.fail("small", status=503, times=5)
    up.fail("big", status=503, times=5)
    with pytest.raises(ProviderError) as info:
        router.complete(QUESTION)
    assert info.value.status == 503


def test_reasoning_effort_reaches_the_wire(clf: DifficultyClassifier, up: FakeUpstream) -> None:
    up.script("thinker", ["It is 42"])
    arms = [arm(up, "thinker", reasoning_effort="high", **SMALL)]
    make_router(clf, arms).complete(QUESTION, temperature=0.2)
    body = up.chat_bodies("thinker")[0]
    assert body["reasoning_effort"] == "high"


def test_thinking_budget_reaches_anthropic_wire(
    clf: DifficultyClassifier, up: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    up.script("claude-sonnet-4-5", ["It is 42"])
    arms = [
        {
            "model": "anthropic/claude-sonnet-4-5",
            "name": "sonnet-thinking",
            "thinking_budget": 2048,
            "output_tokens": 500,
            "api_base": up.root_url,
            "api_key_env": "PONDER_TEST_ANTHROPIC_KEY",
        }
    ]
    monkeypatch.setenv("PONDER_TEST_ANTHROPIC_KEY", "sk-test-secret")
    router = make_router(clf, arms)
    monkeypatch.delenv("PONDER_TEST_ANTHROPIC_KEY")  # read once, at construction
    out = router.complete(QUESTION)
    (body,) = up.bodies("claude-sonnet-4-5")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 2548
    (req,) = [r for r in up.requests if r.path.endswith("/messages")]
    assert req.headers["x-api-key"] == "sk-test-secret"
    assert out.content == "It is 42"
    assert out.usage.completion_tokens > count_tokens("It is 42")  # thinking is billed
    assert out.ponder.cost > 0


def test_missing_provider_key_variable_is_a_config_error(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    with pytest.raises(ConfigError, match="PONDER_NO_SUCH_KEY"):
        make_router(clf, [arm(up, "m", api_key_env="PONDER_NO_SUCH_KEY", **SMALL)])


def test_global_budget_is_enforced(clf: DifficultyClassifier, up: FakeUpstream) -> None:
    up.script("small", ["It is 42"])
    price = {"input_price": 1.0, "output_price": 1000.0}
    one = call_cost({"messages": [{"content": QUESTION}]}, "It is 42", price)  # ~0.003
    small = arm(up, "small", output_tokens=1, **price)
    router = make_router(clf, [small], max_cost=0.005, budget=0.01)
    router.complete(QUESTION)
    router.complete(QUESTION)
    # Each request held its 0.005 ceiling while running and was then charged its real cost.
    assert asyncio.run(router.spent()) == pytest.approx(2 * one)
    with pytest.raises(BudgetExceededError) as info:
        router.complete(QUESTION)  # 2 * 0.003 spent + a 0.005 ceiling > 0.01
    assert info.value.budget == 0.01
    assert asyncio.run(router.spent()) == pytest.approx(2 * one)
    assert up.calls("small") == 2
    # A smaller ceiling still fits what is left.
    router.complete(QUESTION, max_cost=0.0035)
    assert asyncio.run(router.spent()) == pytest.approx(3 * one)


def test_cache_hit_skips_upstream_and_is_per_tenant(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.script("small", ["It is 42"])
    router = make_router(clf, [arm(up, "small", **SMALL)], cache_ttl=60)
    first = router.complete(QUESTION, tenant="acme")
    again = router.complete(QUESTION, tenant="acme")
    assert up.calls("small") == 1
    assert again.ponder.cache_hit and not first.ponder.cache_hit
    assert again.content == first.content and again.ponder.cost == 0
    router.complete(QUESTION, tenant="other")
    router.complete(QUESTION, tenant="acme", cache=False)
    assert up.calls("small") == 3


def test_route_calls_nothing_and_bad_requests_are_typed(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.script("small", ["It is 42"])
    router = make_router(clf, [arm(up, "small", **SMALL)])
    d = router.route([{"role": "user", "content": QUESTION}])
    assert d.chosen_arm == "small"
    assert up.requests == []
    with pytest.raises(RequestError):
        router.complete([])
    with pytest.raises(RequestError):
        router.complete([{"role": "system", "content": "be brief"}])
    with pytest.raises(RequestError):
        router.complete(QUESTION, max_cost=-1)
    with pytest.raises(NoArmFitsError):
        router.complete(QUESTION, max_cost=1e-12)
    assert up.requests == []


def test_verifier_picks_best_of_n_and_escalates_on_failure(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.script("small", ["It is 7", "It is 42", "It is 9"])
    up.script("big", ["It is 42"])

    def verifier(query: str, response: str) -> float:
        return 1.0 if response.endswith("42") else 0.0

    arms = [
        arm(up, "small", samples=3, aggregation="best_of_n", ability=-1.0, **SMALL),
        arm(up, "big", ability=3.0, **BIG),
    ]
    menu = Menu.parse({"arms": arms, "lam": 5.0})
    settings = Settings(num_retries=0)
    router = Router(settings, menu=menu, classifier=clf, verifier=verifier)
    out = router.complete(QUESTION)
    assert out.content == "It is 42" and out.ponder.answered_by == "small"
    assert out.ponder.attempts[0].verifier_score == 1.0
    up.script("small", ["It is 7"])
    out = router.complete(QUESTION)
    assert [a.outcome for a in out.ponder.attempts] == ["verifier_failed", "accepted"]
    with pytest.raises(ConfigError, match="verifier"):
        Router(settings, menu=menu, classifier=clf)


def test_concurrent_requests(clf: DifficultyClassifier, up: FakeUpstream) -> None:
    up.script("small", ["It is 42"])
    router = make_router(clf, [arm(up, "small", samples=3, aggregation="majority", **SMALL)])

    async def many() -> list[str | None]:
        outs = await asyncio.gather(*(router.acomplete(f"{QUESTION} #{i}") for i in range(10)))
        return [o.content for o in outs]

    assert asyncio.run(many()) == ["It is 42"] * 10
    assert up.calls("small") == 30


def test_judge_model_picks_best_of_n_and_is_paid_for(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.script("writer", ["Draft one.", "Draft two, much better.", "Draft three."])
    up.script("judge", ["Candidate 2 is best: 2"])
    judge = arm(up, "judge", **BIG)
    arms = [arm(up, "writer", samples=3, aggregation="best_of_n", **SMALL)]
    router = make_router(clf, arms, judge=judge)
    out = router.complete("Write one sentence about the sea.")
    assert up.calls("writer") == 3 and up.calls("judge") == 1
    (prompt,) = up.chat_bodies("judge")
    text = prompt["messages"][0]["content"]
    assert all(d in text for d in ("Draft one.", "Draft two, much better.", "Draft three."))
    # Samples run concurrently, so their order varies: the answer is whichever the judge
    # saw as candidate 2.
    second = text.split("Candidate 2:\n", 1)[1].split("\n", 1)[0]
    assert out.content == second
    (att,) = out.ponder.attempts
    assert att.outcome == "accepted"
    judge_cost = call_cost(prompt, "Candidate 2 is best: 2", BIG)
    assert judge_cost > 0
    writer = sum(
        call_cost(b, a, SMALL)
        for b, a in zip(
            up.chat_bodies("writer"),
            ["Draft one.", "Draft two, much better.", "Draft three."],
            strict=True,
        )
    )
    assert att.cost == pytest.approx(writer + judge_cost)

    up.script("judge", ["I cannot decide."])  # no verdict: falls back to the majority
    out = router.complete("Write one sentence about the sea.")
    assert out.ponder.attempts[0].error is not None
    assert "unreadable verdict" in (out.ponder.attempts[0].error or "")


def test_sample_limit_and_blocking_call_inside_a_running_loop(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    with pytest.raises(ConfigError, match="max_samples"):
        make_router(clf, [arm(up, "m", samples=9, aggregation="majority", **SMALL)], max_samples=8)
    up.script("small", ["It is 42"])
    router = make_router(clf, [arm(up, "small", **SMALL)])

    async def from_a_notebook() -> str | None:
        return router.complete(QUESTION).content  # blocking form, loop already running

    assert asyncio.run(from_a_notebook()) == "It is 42"


def test_escalation_memory_starts_at_the_arm_that_answered(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    up.script("small", ["It is 1", "It is 2", "It is 3"])
    up.script("big", ["The answer is 42"])
    arms = [
        arm(up, "small", samples=3, aggregation="majority", ability=-1.0, **SMALL),
        arm(up, "big", ability=3.0, **BIG),
    ]
    router = make_router(clf, arms, lam=5.0, feedback=True)
    first = router.complete(QUESTION, tenant="acme")
    assert first.ponder.answered_by == "big" and up.calls("small") == 3
    again = router.complete("  what is 6 TIMES 7? ", tenant="acme")
    assert again.ponder.chosen_arm == "big" and "remembered" in again.ponder.reason
    assert up.calls("small") == 3 and up.calls("big") == 2
    other = router.complete(QUESTION, tenant="other")  # memory is per tenant
    assert other.ponder.chosen_arm == "small"
    # Every request left a feedback event, without its text by default.
    events = list(router.feedback.events)  # type: ignore[attr-defined]
    assert [e.chosen_arm for e in events] == ["small", "big", "small"]
    assert events[0].attempts[0].outcome == "low_agreement" and events[0].query == ""
    assert events[0].cost == pytest.approx(first.ponder.cost)


def test_per_key_budget(clf: DifficultyClassifier, up: FakeUpstream) -> None:
    up.script("small", ["It is 42"])
    price = {"input_price": 1.0, "output_price": 1000.0}
    router = make_router(clf, [arm(up, "small", output_tokens=1, **price)], max_cost=0.005)
    router.complete(QUESTION, budget_key="k1", budget_limit=0.006)
    with pytest.raises(BudgetExceededError, match="key:k1"):
        router.complete(QUESTION, budget_key="k1", budget_limit=0.006)
    router.complete(QUESTION, budget_key="k2", budget_limit=0.006)
    k1, total = asyncio.run(router.spent("k1")), asyncio.run(router.spent())
    assert k1 > 0 and total == pytest.approx(2 * k1)  # the refused request held nothing
