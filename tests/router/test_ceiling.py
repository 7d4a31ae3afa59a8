"""The library side of issue 10's ceiling fixes: the whole request is counted (litellm's
tokenizer where it knows the model, an over-estimate elsewhere) and the answer's
``max_tokens`` is capped to fit what is left of the ceiling, thinking budget included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ponder import Menu, NoArmFitsError, Router, Settings
from ponder.classifiers import DifficultyClassifier, load_default_classifier
from ponder.router._ceiling import conservative_tokens, prompt_tokens
from ponder.router._llm import litellm
from tests.fakes.upstream import FakeUpstream, count_tokens

TEXTS = [
    "What is 6 times 7?",
    "a a a a a a a a a a a a a a a a",
    "def f(x):\n    return {'k': [x, x ** 2]}\n" * 20,
    "日本語のテキストはトークンが多い。" * 30,
    "🙂🚀✨ " * 40,
]


@pytest.fixture(scope="module")
def clf() -> DifficultyClassifier:
    return load_default_classifier()


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


def chat(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": text}, {"role": "user", "content": "Answer."}]


@pytest.mark.parametrize("text", TEXTS)
def test_known_models_are_counted_by_litellm_and_others_over_counted(text: str) -> None:
    msgs = chat(text)
    counted = litellm().token_counter(model="gpt-4o", messages=msgs)
    assert prompt_tokens("gpt-4o", msgs) == counted
    # A model litellm does not know: never under the real tokenizers' count (nor the test
    # upstream's, which bills a token a word).
    estimate = prompt_tokens("openai/not-a-known-model", msgs)
    assert estimate == conservative_tokens(msgs)
    assert estimate >= counted
    assert estimate >= sum(count_tokens(m["content"]) for m in msgs)


def test_route_prices_every_message(clf: DifficultyClassifier, up: FakeUpstream) -> None:
    arm = {"model": "openai/small", "api_base": up.base_url, "input_price": 1, "output_price": 2}
    router = Router(Settings(menu=Menu.parse({"arms": [arm]})), classifier=clf)
    short = router.route(chat("Be brief."), max_cost=0.001)
    assert short.input_tokens < 100
    with pytest.raises(NoArmFitsError):  # the system prompt alone is about $0.0125
        router.route(chat("word " * 5_000), max_cost=0.001)


def test_thinking_budget_and_answer_are_capped_by_the_ceiling(
    clf: DifficultyClassifier, up: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    up.script("claude-sonnet-4-5", ["It is 42"])
    monkeypatch.setenv("PONDER_TEST_ANTHROPIC_KEY", "sk-test-secret")
    arm = {
        "model": "anthropic/claude-sonnet-4-5",
        "thinking_budget": 2048,
        "output_tokens": 500,
        "input_price": 3.0,
        "output_price": 15.0,
        "api_base": up.root_url,
        "api_key_env": "PONDER_TEST_ANTHROPIC_KEY",
    }
    menu = Menu.parse({"arms": [arm], "max_cost": 0.05})
    router = Router(Settings(menu=menu, num_retries=0, timeout=10.0), classifier=clf)
    out = router.complete("What is 6 times 7?", max_tokens=2**31 - 1)
    (body,) = up.bodies("claude-sonnet-4-5")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    prompt = router.route("What is 6 times 7?").arms[0].prompt_tokens
    worst = (prompt * 3.0 + body["max_tokens"] * 15.0) / 1e6
    assert body["max_tokens"] >= 2048 + 500 and worst <= 0.05 < worst + 15.0 / 1e6
    assert out.ponder.cost <= 0.05
    # Thinking and a minimal answer do not fit a smaller ceiling: refused, not sent.
    with pytest.raises(NoArmFitsError):
        router.complete("What is 6 times 7?", max_cost=2500 * 15.0 / 1e6)
    assert len(up.bodies("claude-sonnet-4-5")) == 1


def test_parts_litellm_does_not_count_are_estimated_from_their_size() -> None:
    pdf = {"type": "file", "file": {"file_data": "data:application/pdf;base64," + "A" * 40_000}}
    msgs = [{"role": "user", "content": [{"type": "text", "text": "Summarise."}, pdf]}]
    assert litellm().token_counter(model="gpt-4o", messages=msgs) < 1_000  # the data unseen
    assert prompt_tokens("gpt-4o", msgs) == conservative_tokens(msgs) > 20_000
