"""Tools through the library (issue 23): a voting arm serves a tool request with one sample,
streams carry the calls in the completion, and what the proxy refuses the library refuses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ponder import Menu, Router, Settings
from ponder.classifiers import DifficultyClassifier
from ponder.devserver import create_app as dev_upstream
from ponder.errors import NoArmFitsError, UnsupportedParameterError
from ponder.router import Completion
from tests.fakes.proxy_server import ProxyServer

QUESTION = "What is 6 times 7?"
CALC = {
    "type": "function",
    "function": {
        "name": "calculate",
        "parameters": {"type": "object", "properties": {"value": {"type": "integer"}}},
    },
}


@pytest.fixture(scope="module")
def dev() -> Iterator[ProxyServer]:
    with ProxyServer(dev_upstream()) as server:
        yield server


def voting_router(clf: DifficultyClassifier, dev: ProxyServer, **arm: Any) -> Router:
    menu = Menu.parse(
        {
            "arms": [
                {
                    "model": "hosted_vllm/dev-small",
                    "name": "vote",
                    "samples": 3,
                    "aggregation": "majority",
                    "input_price": 1.0,
                    "output_price": 2.0,
                    "api_base": dev.base_url,
                    **arm,
                }
            ]
        }
    )
    return Router(Settings(num_retries=0, timeout=10.0), menu=menu, classifier=clf)


def test_a_voting_arm_serves_a_tool_request_with_one_sample(
    clf: DifficultyClassifier, dev: ProxyServer
) -> None:
    r = voting_router(clf, dev, supports=["tools"])
    voted = r.complete(QUESTION)
    assert voted.ponder.attempts[0].samples_used == 3  # the control: it votes on text
    out = r.complete(QUESTION, tools=[CALC])
    attempt = out.ponder.attempts[0]
    assert (attempt.samples_requested, attempt.samples_used) == (1, 1)
    assert out.choices[0].finish_reason == "tool_calls"
    assert out.content is None
    [call] = out.choices[0].message.tool_calls or ()
    assert call.function.name == "calculate"
    assert json.loads(call.function.arguments) == {"value": 42}
    assert attempt.outcome == "accepted"


def test_a_stream_with_tools_ends_with_the_calls(
    clf: DifficultyClassifier, dev: ProxyServer
) -> None:
    r = voting_router(clf, dev, supports=["tools"])

    async def run() -> tuple[list[str | Completion], bool]:
        s = await r.astream(QUESTION, tools=[CALC], tool_choice="required")
        return [e async for e in s.events], s.live

    events, live = asyncio.run(run())
    assert live is False  # replayed: a call is sent whole
    *texts, last = events
    assert texts == []
    assert isinstance(last, Completion)
    assert last.choices[0].message.tool_calls
    assert last.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"logprobs": True}, "unsupported parameter"),
        ({"stream": True}, "astream"),
        ({"n": 2}, "samples"),
        ({"api_key": "sk-mine"}, "menu"),
        ({"tools": [CALC]}, "does not support tools"),
    ],
)
def test_the_library_refuses_what_the_proxy_refuses(
    clf: DifficultyClassifier, dev: ProxyServer, kwargs: dict[str, Any], needle: str
) -> None:
    """Never ignored, never dropped: a parameter the router sets itself, one ponder does not
    know, and tools offered to a menu without them."""
    r = voting_router(clf, dev)
    with pytest.raises(UnsupportedParameterError, match=needle):
        r.complete(QUESTION, **kwargs)


def test_tool_definitions_are_priced_as_prompt(clf: DifficultyClassifier, dev: ProxyServer) -> None:
    """The provider bills the tools it is sent as prompt tokens: a ceiling that a short
    question fits is not a promise if 200 KB of tool definitions are not counted."""
    r = voting_router(clf, dev, supports=["tools"], samples=1, aggregation="first")
    small = r.complete(QUESTION, tools=[CALC], max_cost=0.01)
    assert small.choices[0].message.tool_calls
    big = {**CALC, "function": {**CALC["function"], "description": "word " * 40_000}}
    with pytest.raises(NoArmFitsError):
        r.complete(QUESTION, tools=[big], max_cost=0.01)
