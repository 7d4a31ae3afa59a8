"""The proxy over real HTTP with the official openai client: routing, pass-through, auth,
errors, streaming, metrics. Redis-backed behaviour is in test_proxy_redis.py."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.fakes.upstream import FakeUpstream
from tests.proxy.conftest import KEY_A, ProxyFactory, settings

QUESTION = "What is 6 times 7?"


def client(base_url: str, key: str = KEY_A) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)


def test_routed_request_answers_with_the_decision(up: FakeUpstream, proxy: ProxyFactory) -> None:
    up.script("small", ["It is 42", "It is 42", "It is 41"])
    p = proxy(settings(up, samples=3))
    raw = client(p.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=[{"role": "user", "content": QUESTION}]
    )
    c = raw.parse()
    assert c.choices[0].message.content == "It is 42"
    assert raw.headers["x-ponder-arm"] == "small"
    assert raw.headers["x-ponder-samples"] == "3"
    assert raw.headers["x-ponder-cache"] == "miss"
    trace = (c.model_extra or {})["ponder"]
    assert trace["answered_by"] == "small" and trace["attempts"][0]["agreement"] == pytest.approx(
        2 / 3
    )
    assert float(raw.headers["x-ponder-cost"]) == pytest.approx(trace["cost"])
    assert c.usage is not None and c.usage.completion_tokens == 9
    assert up.calls("small") == 3
    # The provider key went upstream; the client's proxy key did not.
    auth = {r.headers.get("authorization") for r in up.requests}
    assert auth == {"Bearer sk-provider-secret"}


def test_controls_in_extra_body_and_headers(up: FakeUpstream, proxy: ProxyFactory) -> None:
    up.script("small", ["It is 42"])
    up.script("big", ["It is 42"])
    # The operator's lam 0 buys quality; a client may ask for cheaper (a higher lam), but
    # not for dearer than the operator's (issue 10: see test_ceilings.py).
    p = proxy(settings(up, lam=0))
    c = client(p.base_url)
    r = c.chat.completions.create(
        model="ponder/auto", messages=[{"role": "user", "content": QUESTION}]
    )
    assert (r.model_extra or {})["ponder"]["answered_by"] == "big"
    r = c.chat.completions.create(
        model="ponder/auto",
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"ponder": {"lam": 100}},
    )
    assert (r.model_extra or {})["ponder"]["answered_by"] == "small"
    r = c.chat.completions.create(
        model="ponder/auto",
        messages=[{"role": "user", "content": QUESTION}],
        extra_headers={"x-ponder-lam": "100"},
    )
    assert (r.model_extra or {})["ponder"]["answered_by"] == "small"
    with pytest.raises(openai.BadRequestError, match=r"no_arm_fits|ceiling"):
        c.chat.completions.create(
            model="ponder/auto",
            messages=[{"role": "user", "content": QUESTION}],
            extra_body={"ponder": {"max_cost": 1e-12}},
        )


def test_profiles_passthrough_and_models(up: FakeUpstream, proxy: ProxyFactory) -> None:
    up.script("small", ["It is 42"])
    up.script("big", ["It is 42 (big)"])
    p = proxy(settings(up, profiles={"best": {"lam": 0}}))
    c = client(p.base_url)
    ids = [m.id for m in c.models.list()]
    # The menu's arms by their own names too (issue 23: a menu name was a 404).
    assert ids == ["ponder/auto", "ponder/best", "big", "openai/big", "openai/small", "small"]
    r = c.chat.completions.create(
        model="ponder/best", messages=[{"role": "user", "content": QUESTION}]
    )
    assert r.choices[0].message.content == "It is 42 (big)"
    r = c.chat.completions.create(
        model="openai/small", messages=[{"role": "user", "content": QUESTION}]
    )
    assert r.choices[0].message.content == "It is 42"
    assert (r.model_extra or {})["ponder"]["reason"] == "pass-through"
    r = c.chat.completions.create(model="big", messages=[{"role": "user", "content": QUESTION}])
    assert r.choices[0].message.content == "It is 42 (big)"  # the arm's own menu name
    assert (r.model_extra or {})["ponder"]["reason"] == "pass-through"
    with pytest.raises(openai.NotFoundError, match="gpt-unknown"):
        c.chat.completions.create(
            model="gpt-unknown", messages=[{"role": "user", "content": QUESTION}]
        )
    with pytest.raises(openai.NotFoundError, match="ponder/nope"):
        c.chat.completions.create(
            model="ponder/nope", messages=[{"role": "user", "content": QUESTION}]
        )


def test_auth_is_required(up: FakeUpstream, proxy: ProxyFactory) -> None:
    p = proxy(settings(up))
    with pytest.raises(openai.AuthenticationError) as info:
        client(p.base_url, key="sk-wrong").models.list()
    assert info.value.status_code == 401
    r = httpx.post(f"{p.base_url}/chat/completions", json={"model": "ponder/auto"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert up.requests == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "ponder/auto", "messages": []}, "messages"),
        ({"model": "ponder/auto"}, "messages"),
        ({"model": "ponder/auto", "messages": [{"role": "wizard", "content": "x"}]}, "role"),
        ({"model": "ponder/auto", "messages": [{"role": "user", "content": "x"}], "n": 3}, "n > 1"),
        (
            # issue 23: tools are served now; logprobs still is not
            {"model": "ponder/auto", "messages": [{"role": "user", "content": "x"}], "logprobs": 1},
            "unsupported parameter",
        ),
        (
            {
                "model": "ponder/auto",
                "messages": [{"role": "user", "content": "x"}],
                "ponder": {"max_cost": -1},
            },
            "max_cost",
        ),
        ({"model": "ponder/auto", "messages": [{"role": "system", "content": "x"}]}, "user"),
    ],
)
def test_bad_requests_are_400_with_an_openai_error_body(
    up: FakeUpstream, proxy: ProxyFactory, body: dict[str, object], needle: str
) -> None:
    p = proxy(settings(up))
    headers = {"authorization": f"Bearer {KEY_A}"}
    r = httpx.post(f"{p.base_url}/chat/completions", json=body, headers=headers)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert needle in error["message"]
    bad_json = httpx.post(
        f"{p.base_url}/chat/completions",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    assert bad_json.status_code == 400 and "error" in bad_json.json()
    assert up.requests == []


def test_oversized_body_is_413(up: FakeUpstream, proxy: ProxyFactory) -> None:
    p = proxy(settings(up, max_body_bytes=4096))
    big = {"model": "ponder/auto", "messages": [{"role": "user", "content": "x" * 10_000}]}
    r = httpx.post(
        f"{p.base_url}/chat/completions", json=big, headers={"authorization": f"Bearer {KEY_A}"}
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


def test_upstream_failure_is_502_without_secrets(up: FakeUpstream, proxy: ProxyFactory) -> None:
    up.script("small", ["x"])
    up.script("big", ["x"])
    up.fail("small", status=500, times=10)
    up.fail("big", status=503, times=10)
    p = proxy(settings(up))
    with pytest.raises(openai.InternalServerError) as info:
        client(p.base_url).chat.completions.create(
            model="ponder/auto", messages=[{"role": "user", "content": QUESTION}]
        )
    assert info.value.status_code == 502
    assert "sk-provider-secret" not in info.value.response.text


def _collect(stream: openai.Stream[Any]) -> tuple[str, list[Any]]:
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    return text, chunks


def test_streaming_is_live_for_single_sample_arms(up: FakeUpstream, proxy: ProxyFactory) -> None:
    answer = "The answer is 42. " * 10
    up.script("small", [answer])
    p = proxy(settings(up))
    raw = client(p.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-ponder-stream"] == "live"
    assert raw.headers["x-ponder-chosen"] == "small"
    text, chunks = _collect(raw.parse())
    assert text == answer
    assert up.chat_bodies("small")[0]["stream"] is True  # streamed from the provider itself
    assert len([ch for ch in chunks if ch.choices and ch.choices[0].delta.content]) > 1
    finals = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finals[-1].choices[0].finish_reason == "stop"
    trace = (finals[-1].model_extra or {})["ponder"]
    assert trace["answered_by"] == "small" and trace["cost"] > 0
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    # Pass-through models stream live too.
    text, _ = _collect(
        client(p.base_url).chat.completions.create(
            model="openai/small", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    assert text == answer


def test_streaming_votes_and_failures_are_replayed(up: FakeUpstream, proxy: ProxyFactory) -> None:
    up.script("small", ["It is 42", "It is 42", "It is 41"])
    p = proxy(settings(up, samples=3))
    raw = client(p.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    assert raw.headers["x-ponder-stream"] == "replayed"
    text, _ = _collect(raw.parse())
    assert text == "It is 42" and up.calls("small") == 3
    # A provider that fails before the first token is escalated as any failure would be.
    single = proxy(settings(up))
    up.script("big", ["Big says 42"])
    up.fail("small", status=500, times=1)
    raw = client(single.base_url).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    text, chunks = _collect(raw.parse())
    assert text == "Big says 42"
    final = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason][-1]
    outcomes = [a["outcome"] for a in (final.model_extra or {})["ponder"]["attempts"]]
    assert outcomes == ["provider_error", "accepted"]


def test_async_client_concurrency_and_metrics(up: FakeUpstream, proxy: ProxyFactory) -> None:
    up.script("small", ["It is 42"])
    p = proxy(settings(up))

    async def many() -> list[str | None]:
        c = AsyncOpenAI(base_url=p.base_url, api_key=KEY_A, max_retries=0, timeout=30)
        rs = await asyncio.gather(
            *(
                c.chat.completions.create(
                    model="ponder/auto",
                    messages=[{"role": "user", "content": f"{QUESTION} #{i}"}],
                )
                for i in range(20)
            )
        )
        await c.close()
        return [r.choices[0].message.content for r in rs]

    assert asyncio.run(many()) == ["It is 42"] * 20
    assert up.calls("small") == 20
    text = httpx.get(f"{p.url}/metrics", headers={"authorization": f"Bearer {KEY_A}"}).text
    assert 'ponder_requests_total{model="ponder/auto",status="200"} 20.0' in text
    assert 'ponder_decisions_total{arm="small"} 20.0' in text
    assert "ponder_request_seconds_bucket" in text
    health = httpx.get(f"{p.url}/health").json()
    assert health["status"] == "ok" and health["store"] == "memory"


@pytest.mark.parametrize("model", ["ponder/auto", "openai/small"], ids=["routed", "passthrough"])
def test_a_stream_repeating_one_chunk_is_delivered_whole(
    up: FakeUpstream, proxy: ProxyFactory, model: str
) -> None:
    """litellm ends a stream of 100 identical chunks with an error, taking the model to be
    looping; a valid answer can repeat itself, and ponder bounds loops by max_tokens."""
    answer = "word " * 200  # 200 chunks of the same five characters
    up.script("small", [answer])
    p = proxy(settings(up))
    chunks = list(
        client(p.base_url).chat.completions.create(
            model=model, messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == answer
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
