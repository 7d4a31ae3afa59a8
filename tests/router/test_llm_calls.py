"""What ponder's provider calls ask of litellm (issue 13, proxy overhead): each call gives
litellm the arm's price, so litellm does not search its price table, and runs without
litellm's logging and callbacks; neither may change what ponder reports or charges.

Real parts throughout: the fake upstream on loopback, litellm itself, a litellm
``CustomLogger`` registered the way a litellm user would register one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ponder import Menu, ProviderError, Router, Settings
from ponder._pricing import Price, lookup_price
from ponder.classifiers import DifficultyClassifier, load_default_classifier
from ponder.errors import UnsupportedParameterError
from ponder.router._llm import _kwargs, litellm, request_params
from tests.fakes.upstream import FakeUpstream, count_tokens

PRICE = {"input_price": 1.0, "output_price": 2.0}  # USD per million tokens
QUESTION = "What is 6 times 7?"
ANSWER = "It is 42"


@pytest.fixture(scope="module")
def clf() -> DifficultyClassifier:
    return load_default_classifier()


@pytest.fixture
def up(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUpstream]:
    monkeypatch.setenv("PONDER_TEST_KEY", "sk-test-key")
    with FakeUpstream() as server:
        yield server


def router(clf: DifficultyClassifier, arm: dict[str, Any], **settings: Any) -> Router:
    menu = Menu.parse({"arms": [arm]})
    return Router(Settings(num_retries=0, timeout=10.0, **settings), menu=menu, classifier=clf)


def arm(up: FakeUpstream, model: str, **kw: Any) -> dict[str, Any]:
    return {"model": model, "api_base": up.base_url, "api_key_env": "PONDER_TEST_KEY", **kw}


def expected_cost(price: Price, question: str, answer: str) -> float:
    """What the fake upstream bills, at ``price``: its token counts are whitespace words."""
    return float(price.cost(count_tokens(question), count_tokens(answer)))


def test_ponder_reports_and_charges_the_arms_own_price(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    """A model litellm has no price for, priced by the menu: the trace, the usage and the
    ledger all carry the menu's price of the tokens the upstream reported. A caller who
    tries to hand litellm a price of its own is refused by name (issue 21: the library
    refuses what the proxy refuses; it used to ignore it), and it never reaches the
    provider either."""
    up.script("small", [ANSWER])
    r = router(clf, arm(up, "openai/small", **PRICE), budget=1.0)
    with pytest.raises(UnsupportedParameterError, match="input_cost_per_token"):
        r.complete(QUESTION, input_cost_per_token=1.0, output_cost_per_token=1.0)
    assert up.requests == []
    out = r.complete(QUESTION)
    cost = expected_cost(Price(1.0, 2.0), QUESTION, ANSWER)
    assert out.ponder.cost == pytest.approx(cost)
    assert [a.cost for a in out.ponder.attempts] == [pytest.approx(cost)]
    assert asyncio.run(r.spent()) == pytest.approx(cost)
    assert out.usage.prompt_tokens == count_tokens(QUESTION)
    body = up.chat_bodies("small")[0]
    assert not {"input_cost_per_token", "output_cost_per_token"} & set(body)


def test_a_model_in_litellms_table_is_charged_its_table_price(
    clf: DifficultyClassifier, up: FakeUpstream
) -> None:
    """Without a menu price, ponder's price is litellm's table's, as before: handing it to
    litellm per call changes nothing about the figure."""
    up.script("gpt-4o-mini", [ANSWER])
    r = router(clf, arm(up, "openai/gpt-4o-mini"), budget=1.0)
    out = r.complete(QUESTION)
    cost = expected_cost(lookup_price("openai/gpt-4o-mini"), QUESTION, ANSWER)
    assert cost > 0
    assert out.ponder.cost == pytest.approx(cost)
    assert asyncio.run(r.spent()) == pytest.approx(cost)


def test_litellm_prices_the_call_at_the_arms_price(up: FakeUpstream) -> None:
    """litellm's own cost of a call ponder makes (which ponder does not use) is the arm's
    price of the reported tokens: given per call, not looked up (it has no price for this
    model at all)."""
    up.script("small", [ANSWER])
    the_arm = Menu.parse({"arms": [arm(up, "openai/small", **PRICE)]}).arms[0]
    kwargs = _kwargs(the_arm, [{"role": "user", "content": QUESTION}], {}, "sk-test-key", 10.0)
    response = asyncio.run(litellm().acompletion(**kwargs))
    litellm_cost = response._hidden_params["response_cost"]
    assert litellm_cost == pytest.approx(expected_cost(Price(1.0, 2.0), QUESTION, ANSWER))


def test_callers_cannot_set_the_price_litellm_is_given() -> None:
    the_arm = Menu.parse({"arms": [{"model": "openai/small", **PRICE}]}).arms[0]
    params = request_params(the_arm, {"input_cost_per_token": 5.0, "temperature": 0.5})
    assert params == {"temperature": 0.5}


class Recorder:
    """A litellm ``CustomLogger`` noting the first user message of every call it hears of."""

    def __new__(cls) -> Any:
        from litellm.integrations.custom_logger import CustomLogger

        class _Recorder(CustomLogger):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.events: list[tuple[str, str]] = []

            def _note(self, event: str, kwargs: dict[str, Any]) -> None:
                messages = kwargs.get("messages") or [{}]
                self.events.append((event, str(messages[0].get("content"))))

            def log_success_event(
                self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
            ) -> None:
                self._note("success", kwargs)

            def log_failure_event(
                self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
            ) -> None:
                self._note("failure", kwargs)

            async def async_log_success_event(
                self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
            ) -> None:
                self._note("async success", kwargs)

            async def async_log_failure_event(
                self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
            ) -> None:
                self._note("async failure", kwargs)

        return _Recorder()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A logger in ``litellm.callbacks``; every callback list litellm keeps is a fresh one
    for the test and put back after it."""
    lm = litellm()
    lists = [n for n in dir(lm) if n.endswith("callback") or n.endswith("callbacks")]
    for name in lists:
        if isinstance(getattr(lm, name), list):
            monkeypatch.setattr(lm, name, [])
    rec = Recorder()
    lm.callbacks.append(rec)
    return rec


def test_litellm_callbacks_do_not_run_on_ponders_calls(
    clf: DifficultyClassifier, up: FakeUpstream, recorder: Any
) -> None:
    """A litellm callback hears of a call made with litellm directly, in the same event loop
    and after ponder's calls (so its logging had every chance to run), but of none of
    ponder's: neither an answered one nor a failed one. ponder's own figures stand."""
    up.script("small", [ANSWER, ANSWER])
    r = router(clf, arm(up, "openai/small", **PRICE))

    async def scenario() -> float:
        out = await r.acomplete("ponder answered")
        up.fail("small", status=400, times=1)
        with pytest.raises(ProviderError):
            await r.acomplete("ponder failed")
        await litellm().acompletion(
            model="openai/small",
            api_base=up.base_url,
            api_key="sk-test-key",
            messages=[{"role": "user", "content": "litellm direct"}],
        )
        deadline = time.monotonic() + 30
        while not any(text == "litellm direct" for _, text in recorder.events):
            assert time.monotonic() < deadline, "litellm never logged the direct call"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # logging of the same kind queued earlier has run by now
        return out.ponder.cost

    cost = asyncio.run(scenario())
    heard = {text for _, text in recorder.events}
    assert "litellm direct" in heard
    assert not {"ponder answered", "ponder failed"} & heard, recorder.events
    assert cost == pytest.approx(expected_cost(Price(1.0, 2.0), "ponder answered", ANSWER))


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every OpenAI client litellm builds from here on."""
    import openai

    clients: list[object] = []
    init = openai.AsyncOpenAI.__init__

    def counting(self: openai.AsyncOpenAI, *args: Any, **kwargs: Any) -> None:
        clients.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(openai.AsyncOpenAI, "__init__", counting)
    return clients


def test_calls_of_an_arm_reuse_one_client(
    clf: DifficultyClassifier, up: FakeUpstream, built: list[object]
) -> None:
    """litellm keeps one OpenAI client (and its connection pool) per provider, key, base URL,
    timeout and event loop; ponder's calls of an arm vary in nothing of that (the deadline
    bounds a call from outside, not through the client's timeout), so the requests one event
    loop serves, as the proxy's does, reuse one client."""
    up.script("small", [ANSWER] * 6)
    r = router(clf, arm(up, "openai/small", **PRICE))

    async def requests() -> None:
        for i in range(6):
            await r.acomplete(f"question {i}", max_tokens=5 + i, cache=False)

    asyncio.run(requests())
    assert up.calls("small") == 6
    assert len(built) <= 1


def test_blocking_calls_share_one_loop_and_client(
    clf: DifficultyClassifier, up: FakeUpstream, built: list[object]
) -> None:
    """``Router.complete`` runs every call on one event loop kept for the router's life, so
    consecutive blocking calls reuse litellm's client (and its connections) as async ones
    do; ``close()`` stops that loop, and the router still answers after it."""
    up.script("small", [ANSWER] * 6)
    r = router(clf, arm(up, "openai/small", **PRICE))
    for i in range(4):
        assert r.complete(f"question {i}", cache=False).content == ANSWER
    assert len(built) <= 1

    async def inside_a_running_loop() -> str | None:  # a notebook's case
        return r.complete("question 4", cache=False).content

    assert asyncio.run(inside_a_running_loop()) == ANSWER
    assert len(built) <= 1
    r.close()
    assert r.complete("question 5", cache=False).content == ANSWER
    assert up.calls("small") == 6
    r.close()
