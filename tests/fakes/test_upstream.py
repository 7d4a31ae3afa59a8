"""Tests for the fake OpenAI-compatible upstream, driven by the official ``openai`` client."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.fakes.upstream import THINKING_TEXT, FakeUpstream, count_tokens

# litellm fetches its price table over the network at import unless told otherwise.

@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


def client(up: FakeUpstream) -> OpenAI:
    return OpenAI(base_url=up.base_url, api_key="test", max_retries=0, timeout=10)


def ask(c: OpenAI, model: str, text: str = "what is two plus two", **kw: Any) -> Any:
    return c.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], **kw
    )


def test_base_url_is_loopback_with_ephemeral_port(up: FakeUpstream) -> None:
    assert up.base_url == f"http://127.0.0.1:{up.port}/v1"
    assert up.port > 0


def test_scripted_answers_in_order_and_cycle(up: FakeUpstream) -> None:
    up.script("small", ["one", "two", "three"])
    c = client(up)
    got = [ask(c, "small").choices[0].message.content for _ in range(5)]
    assert got == ["one", "two", "three", "one", "two"]
    assert up.calls("small") == 5
    assert up.calls("other") == 0


def test_response_shape_and_usage(up: FakeUpstream) -> None:
    up.script("small", ["the answer is 4"])
    resp = client(up).chat.completions.create(
        model="small",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "what is two plus two"},
        ],
    )
    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-")
    assert resp.model == "small"
    assert resp.created > 0
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == "the answer is 4"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == 2 + 5
    assert resp.usage.completion_tokens == 4
    assert resp.usage.total_tokens == 11


def test_n_returns_n_choices_consuming_answers(up: FakeUpstream) -> None:
    up.script("small", ["a", "b c", "d", "e"])
    c = client(up)
    resp = ask(c, "small", n=3)
    assert [ch.index for ch in resp.choices] == [0, 1, 2]
    assert [ch.message.content for ch in resp.choices] == ["a", "b c", "d"]
    assert resp.usage is not None
    assert resp.usage.completion_tokens == 4
    # The cursor advanced by three: the next call gets the fourth answer.
    assert ask(c, "small").choices[0].message.content == "e"


def test_callable_answers_see_the_request(up: FakeUpstream) -> None:
    up.script("echo", lambda body: body["messages"][-1]["content"].upper())
    resp = ask(client(up), "echo", "hello there")
    assert resp.choices[0].message.content == "HELLO THERE"


def test_streaming_yields_chunks_that_join_to_the_answer(up: FakeUpstream) -> None:
    answer = "First, add two and two. The result is 4."
    up.script("small", [answer])
    stream = ask(client(up), "small", stream=True, stream_options={"include_usage": True})
    pieces: list[str] = []
    finish: list[str | None] = []
    usage = None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            finish.append(choice.finish_reason)
    assert len(pieces) > 1
    assert "".join(pieces) == answer
    assert finish[-1] == "stop"
    assert usage is not None
    assert usage.completion_tokens == len(answer.split())


def test_stream_ends_with_done_on_the_wire(up: FakeUpstream) -> None:
    up.script("small", ["hi there"])
    req = urllib.request.Request(
        up.base_url + "/chat/completions",
        data=json.dumps(
            {"model": "small", "stream": True, "messages": [{"role": "user", "content": "x"}]}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        text = resp.read().decode()
    events = [line for line in text.split("\n\n") if line]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)


def test_rate_limit_then_success(up: FakeUpstream) -> None:
    up.script("small", ["ok"])
    up.fail("small", status=429, times=1, retry_after=3)
    c = client(up)
    with pytest.raises(openai.RateLimitError) as info:
        ask(c, "small")
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "3"
    body = info.value.body
    assert isinstance(body, dict)
    assert body["code"] == "rate_limit_exceeded"
    assert ask(c, "small").choices[0].message.content == "ok"
    assert up.calls("small") == 2


def test_server_errors_for_n_times(up: FakeUpstream) -> None:
    up.script("small", ["ok"])
    up.fail("small", status=503, times=2)
    c = client(up)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as info:
            ask(c, "small")
        assert info.value.status_code == 503
    assert ask(c, "small").choices[0].message.content == "ok"


def test_client_retries_through_scripted_failure(up: FakeUpstream) -> None:
    up.script("small", ["ok"])
    up.fail("small", status=500, times=1)
    c = OpenAI(base_url=up.base_url, api_key="test", max_retries=1, timeout=10)
    assert ask(c, "small").choices[0].message.content == "ok"
    assert up.calls("small") == 2


def test_unknown_model_is_not_found(up: FakeUpstream) -> None:
    up.script("small", ["ok"])
    with pytest.raises(openai.NotFoundError) as info:
        ask(client(up), "no-such-model")
    body = info.value.body
    assert isinstance(body, dict)
    assert body["code"] == "model_not_found"
    assert "no-such-model" in body["message"]


def test_malformed_json_is_400(up: FakeUpstream) -> None:
    req = urllib.request.Request(
        up.base_url + "/chat/completions",
        data=b'{"model": "small", ',
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 400
    payload = json.loads(info.value.read())
    assert set(payload["error"]) >= {"message", "type", "code"}
    assert payload["error"]["type"] == "invalid_request_error"


def test_models_endpoint_lists_scripted_models(up: FakeUpstream) -> None:
    up.script("small", ["a"])
    up.script("large", ["b"])
    ids = [m.id for m in client(up).models.list()]
    assert ids == ["large", "small"]


def test_request_bodies_and_headers_are_recorded(up: FakeUpstream) -> None:
    up.script("thinker", ["done"])
    ask(
        client(up),
        "thinker",
        "prove it",
        reasoning_effort="high",
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 2048}},
        extra_headers={"X-Ponder-Trace": "abc"},
    )
    [rec] = up.requests
    assert rec.path == "/v1/chat/completions"
    path, headers, body = rec
    assert path == rec.path
    assert headers["authorization"] == "Bearer test"
    assert headers["x-ponder-trace"] == "abc"
    assert body["model"] == "thinker"
    assert body["reasoning_effort"] == "high"
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["messages"] == [{"role": "user", "content": "prove it"}]
    assert up.chat_bodies("thinker") == [body]


def test_twenty_concurrent_async_requests(up: FakeUpstream) -> None:
    up.script("echo", lambda body: f"reply to {body['messages'][0]['content']}")

    async def run() -> list[str | None]:
        async with AsyncOpenAI(
            base_url=up.base_url, api_key="test", max_retries=0, timeout=10
        ) as ac:
            responses = await asyncio.gather(
                *(
                    ac.chat.completions.create(
                        model="echo", messages=[{"role": "user", "content": f"q{i}"}]
                    )
                    for i in range(20)
                )
            )
        return [r.choices[0].message.content for r in responses]

    contents = asyncio.run(run())
    assert contents == [f"reply to q{i}" for i in range(20)]
    assert up.calls("echo") == 20
    seen = sorted(r.body["messages"][0]["content"] for r in up.requests)
    assert seen == sorted(f"q{i}" for i in range(20))
    ids = {json.dumps(r.body, sort_keys=True) for r in up.requests}
    assert len(ids) == 20


def test_stops_cleanly_and_refuses_connections_after_exit() -> None:
    with FakeUpstream() as server:
        server.script("small", ["ok"])
        url = server.base_url
        assert ask(client(server), "small").choices[0].message.content == "ok"
    with pytest.raises(openai.APIConnectionError):
        ask(OpenAI(base_url=url, api_key="test", max_retries=0, timeout=2), "small")


# --- Anthropic Messages API (/v1/messages) ------------------------------------------

CLAUDE = "claude-sonnet-4-5"


def claude(up: FakeUpstream, text: str = "what is two plus two", **kw: Any) -> Any:
    """Call the fake through litellm's Anthropic provider (imported lazily: it is slow)."""
    import litellm

    return litellm.completion(
        model=f"anthropic/{CLAUDE}",
        messages=[{"role": "user", "content": text}],
        api_base=up.root_url,
        api_key="test",
        num_retries=0,
        timeout=10,
        **kw,
    )


def post_messages(up: FakeUpstream, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        up.root_url + "/v1/messages",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "x-api-key": "test",
            "anthropic-version": "2023-06-01",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_litellm_anthropic_with_thinking(up: FakeUpstream) -> None:
    up.script(CLAUDE, ["the answer is 4"])
    resp = claude(up, thinking={"type": "enabled", "budget_tokens": 2048}, max_tokens=2648)
    message = resp.choices[0].message
    assert message.content == "the answer is 4"
    assert message.reasoning_content == THINKING_TEXT
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.prompt_tokens == 5
    assert resp.usage.completion_tokens == 4 + count_tokens(THINKING_TEXT)
    assert up.calls(CLAUDE) == 1
    [rec] = up.requests
    assert rec.path == "/v1/messages"
    assert rec.headers["x-api-key"] == "test"
    assert rec.headers["anthropic-version"]
    assert rec.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert rec.body["max_tokens"] == 2648
    assert up.bodies(CLAUDE) == [rec.body]
    assert up.bodies(CLAUDE, path="/v1/messages") == [rec.body]
    assert up.chat_bodies(CLAUDE) == []


def test_litellm_anthropic_budget_below_minimum_is_bad_request(up: FakeUpstream) -> None:
    import litellm

    up.script(CLAUDE, ["ok"])
    with pytest.raises(litellm.BadRequestError) as info:
        claude(up, thinking={"type": "enabled", "budget_tokens": 512}, max_tokens=2048)
    assert info.value.status_code == 400
    assert "budget_tokens" in str(info.value)
    assert up.calls(CLAUDE) == 0  # rejected before reaching the script
    assert up.bodies(CLAUDE)[0]["thinking"]["budget_tokens"] == 512


def test_litellm_anthropic_scripted_rate_limit(up: FakeUpstream) -> None:
    import litellm

    up.script(CLAUDE, ["ok"])
    up.fail(CLAUDE, status=429, times=1, retry_after=3)
    with pytest.raises(litellm.RateLimitError) as info:
        claude(up, max_tokens=100)
    assert info.value.status_code == 429
    assert "rate_limit_error" in str(info.value)
    assert info.value.litellm_response_headers["retry-after"] == "3"
    assert claude(up, max_tokens=100).choices[0].message.content == "ok"
    assert up.calls(CLAUDE) == 2


def test_messages_wire_shape_without_thinking(up: FakeUpstream) -> None:
    up.script(CLAUDE, ["four"])
    status, payload = post_messages(
        up,
        {
            "model": CLAUDE,
            "max_tokens": 100,
            "system": "be brief",
            "messages": [{"role": "user", "content": "what is two plus two"}],
        },
    )
    assert status == 200
    assert payload["id"].startswith("msg_")
    assert payload["type"] == "message"
    assert payload["role"] == "assistant"
    assert payload["model"] == CLAUDE
    assert payload["content"] == [{"type": "text", "text": "four"}]
    assert payload["stop_reason"] == "end_turn"
    assert payload["stop_sequence"] is None
    assert payload["usage"] == {"input_tokens": 2 + 5, "output_tokens": 1}


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1023}}, "budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, "max_tokens"),
        ({"thinking": {"type": "enabled"}}, "budget_tokens"),
        ({"stream": True}, "stream"),
        ({"messages": []}, "messages"),
    ],
)
def test_messages_rejects_invalid_bodies(
    up: FakeUpstream, extra: dict[str, Any], fragment: str
) -> None:
    up.script(CLAUDE, ["ok"])
    body = {"model": CLAUDE, "max_tokens": 4096, "messages": [{"role": "user", "content": "x"}]}
    body.update(extra)
    body = {k: v for k, v in body.items() if v is not None}
    status, payload = post_messages(up, body)
    assert status == 400
    assert payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error"
    assert fragment in payload["error"]["message"]
    assert up.calls(CLAUDE) == 0


def test_messages_unknown_model_and_server_error(up: FakeUpstream) -> None:
    up.fail(CLAUDE, status=529, times=1)
    body = {"max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    status, payload = post_messages(up, {"model": CLAUDE, **body})
    assert status == 529
    assert payload["error"]["type"] == "overloaded_error"
    status, payload = post_messages(up, {"model": CLAUDE, **body})
    assert status == 404
    assert payload["error"]["type"] == "not_found_error"
    assert up.calls(CLAUDE) == 2
