"""Tools, structured output and images through the proxy (issue 23), with the official
openai client: against the dev upstream (``ponder dev-upstream``), which calls an offered
tool and honours a JSON schema, and against the scripted fake where an arm must fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from ponder.devserver import create_app as dev_upstream
from ponder.router import Settings
from tests.fakes.proxy_server import ProxyServer
from tests.fakes.upstream import FakeUpstream
from tests.proxy.conftest import KEY_A, ProxyFactory, menu, settings

QUESTION = "What is 6 times 7?"
CALC = {
    "type": "function",
    "function": {
        "name": "calculate",
        "description": "Work out an arithmetic expression.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}, "value": {"type": "integer"}},
            "required": ["expression", "value"],
        },
    },
}
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"answer": {"type": "integer"}, "working": {"type": "string"}},
            "required": ["answer", "working"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture(scope="module")
def dev() -> Iterator[ProxyServer]:
    with ProxyServer(dev_upstream()) as server:
        yield server


def dev_settings(dev: ProxyServer, plain: dict[str, Any] | None = None) -> Settings:
    """Two arms on the dev upstream: 'plain', cheap and strong but (as litellm knows
    nothing of its model) without tools or schemas, and 'tooled', which the menu says
    supports both."""
    base = {"api_base": dev.base_url}
    arms = [
        {
            "model": "hosted_vllm/dev-small",
            "name": "plain",
            "ability": 3.0,
            "input_price": 0.1,
            "output_price": 0.2,
            **base,
            **(plain or {}),
        },
        {
            "model": "hosted_vllm/dev-large",
            "name": "tooled",
            "ability": 0.0,
            "input_price": 5.0,
            "output_price": 10.0,
            "supports": ["tools", "json_schema"],
            **base,
        },
    ]
    return Settings(
        menu={"arms": arms, "lam": 1.0},
        num_retries=0,
        timeout=10.0,
        api_keys=[{"key": KEY_A, "tenant": "a"}],
    )


def client(p: ProxyServer) -> OpenAI:
    return OpenAI(base_url=p.base_url, api_key=KEY_A, max_retries=0, timeout=30)


def trace(c: Any) -> dict[str, Any]:
    return (c.model_extra or {})["ponder"]


def streamed(c: OpenAI, **kwargs: Any) -> tuple[str, list[dict[str, Any]], str | None, Any]:
    """Text, tool calls (deltas merged by index), finish reason and trace of a stream."""
    text, calls, finish, ponder = "", {}, None, None
    for chunk in c.chat.completions.create(stream=True, **kwargs):
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        text += choice.delta.content or ""
        for d in choice.delta.tool_calls or []:
            call = calls.setdefault(d.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = d.id or call["id"]
            if d.function is not None:
                call["name"] += d.function.name or ""
                call["arguments"] += d.function.arguments or ""
        finish = choice.finish_reason or finish
        ponder = (chunk.model_extra or {}).get("ponder") or ponder
    return text, [calls[i] for i in sorted(calls)], finish, ponder


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_tool_calling_round_trip(dev: ProxyServer, proxy: ProxyFactory, stream: bool) -> None:
    """Tool call, tool result, final answer: the calls come back in OpenAI's shape, from
    the arm that supports tools although the plain one would win on price and ability."""
    c = client(proxy(dev_settings(dev)))
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    ask = {"model": "ponder/auto", "messages": messages, "tools": [CALC]}
    if stream:
        text, calls, finish, t = streamed(c, **ask)
        assert text == ""
        call = calls[0]
        call_id, name, arguments = call["id"], call["name"], call["arguments"]
    else:
        r = c.chat.completions.create(**ask)
        finish, t = r.choices[0].finish_reason, trace(r)
        assert r.choices[0].message.content is None
        [tc] = r.choices[0].message.tool_calls or []
        assert tc.type == "function"
        call_id, name, arguments = tc.id, tc.function.name, tc.function.arguments
    assert finish == "tool_calls"
    assert name == "calculate"
    assert json.loads(arguments) == {"expression": QUESTION, "value": 42}
    assert call_id
    assert t["answered_by"] == "tooled"
    assert [a["arm"] for a in t["attempts"]] == ["tooled"]
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "42"},
    ]
    if stream:
        text, calls, finish, t = streamed(c, **ask)
    else:
        r = c.chat.completions.create(**ask)
        text, calls = r.choices[0].message.content or "", r.choices[0].message.tool_calls
        finish, t = r.choices[0].finish_reason, trace(r)
    assert text == "The tool answered: 42"
    assert not calls
    assert finish == "stop"
    assert t["answered_by"] == "tooled"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_json_schema_response_format(dev: ProxyServer, proxy: ProxyFactory, stream: bool) -> None:
    c = client(proxy(dev_settings(dev)))
    ask = {
        "model": "ponder/auto",
        "messages": [{"role": "user", "content": QUESTION}],
        "response_format": SCHEMA,
    }
    if stream:
        content, _, _, t = streamed(c, **ask)
    else:
        r = c.chat.completions.create(**ask)
        content, t = r.choices[0].message.content or "", trace(r)
    doc = json.loads(content)
    assert doc["answer"] == 42 and "42" in doc["working"]
    assert t["answered_by"] == "tooled"  # the plain arm cannot follow a schema


def test_plain_requests_still_go_to_the_plain_arm(dev: ProxyServer, proxy: ProxyFactory) -> None:
    """The control: what makes the tool requests above land on 'tooled' is the tools."""
    c = client(proxy(dev_settings(dev)))
    r = c.chat.completions.create(
        model="ponder/auto",
        messages=[{"role": "user", "content": QUESTION}],
        response_format={"type": "json_object"},  # asked of every arm as it is
    )
    assert trace(r)["answered_by"] == "plain"
    assert json.loads(r.choices[0].message.content or "") == {
        "answer": "6 * 7 = 42. The answer is 42."
    }


def test_a_routed_tool_request_never_lands_on_an_arm_without_tools(
    up: FakeUpstream, proxy: ProxyFactory
) -> None:
    """'big' supports tools and fails; 'small' does not support them. Without tools the
    router falls back to 'small'; with tools it must not, and says the provider failed."""
    m = menu(up)
    m["arms"][1]["supports"] = ["tools"]
    m["arms"][0]["ability"] = 3.0  # the small arm would be chosen first, if it could serve
    m["arms"][1]["ability"] = 2.0
    p = proxy(settings(up, menu=m))
    c = client(p)
    up.script("small", ["It is 42"])
    up.script("big", ["It is 42 (big)"])
    up.fail("big", status=500, times=100)
    plain = c.chat.completions.create(
        model="ponder/auto", messages=[{"role": "user", "content": QUESTION}]
    )
    assert trace(plain)["answered_by"] == "small"
    calls_before = up.calls("small")
    with pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(
            model="ponder/auto",
            messages=[{"role": "user", "content": QUESTION}],
            tools=[CALC],  # type: ignore[list-item]
        )
    assert info.value.status_code == 502
    assert up.calls("small") == calls_before
    assert up.calls("big") >= 1
    assert all("tools" in b for b in up.chat_bodies("big"))


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"tools": [CALC]}, "does not support tools"),
        ({"response_format": SCHEMA}, "does not support json_schema"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": QUESTION},
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:image/png;base64,AA=="},
                            },
                        ],
                    }
                ]
            },
            "does not support images",
        ),
    ],
    ids=["tools", "json_schema", "images"],
)
def test_a_request_no_arm_can_take_is_a_400(
    up: FakeUpstream, proxy: ProxyFactory, extra: dict[str, Any], needle: str
) -> None:
    """Routed or passed through, nothing is called, nothing is dropped."""
    p = proxy(settings(up))
    headers = {"authorization": f"Bearer {KEY_A}"}
    for model in ("ponder/auto", "openai/small"):
        body = {"model": model, "messages": [{"role": "user", "content": QUESTION}], **extra}
        r = httpx.post(f"{p.base_url}/chat/completions", json=body, headers=headers)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "unsupported_parameter"
        assert needle in error["message"]
    assert up.requests == []


def test_an_image_reaches_an_arm_that_reads_images(up: FakeUpstream, proxy: ProxyFactory) -> None:
    m = menu(up)
    m["arms"][1]["supports"] = ["images"]
    p = proxy(settings(up, menu=m))
    up.script("big", ["A red square"])
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    r = client(p).chat.completions.create(
        model="ponder/auto",
        messages=[{"role": "user", "content": [{"type": "text", "text": "What is it?"}, image]}],
    )
    assert trace(r)["answered_by"] == "big"
    [body] = up.chat_bodies("big")
    assert body["messages"][-1]["content"][1] == image
