"""Tests for FakeUpstream's seeded fault injection, seen from the wire and the openai client."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream_faults import FAULT_KINDS, INVALID_BODY

ANSWER = "one two three four five six"


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        server.script("m", [ANSWER])
        yield server


def client(up: FakeUpstream, timeout: float = 10) -> OpenAI:
    return OpenAI(base_url=up.base_url, api_key="test", max_retries=0, timeout=timeout)


def ask(c: OpenAI, **kw: Any) -> Any:
    return c.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "count"}], **kw
    )


def post(up: FakeUpstream, stream: bool) -> httpx.Response:
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "x"}]}
    return httpx.post(f"{up.base_url}/chat/completions", json=body, timeout=10)


def kinds_seen(up: FakeUpstream, seed: int, n: int) -> list[str | None]:
    up.faults("m", rate=0.5, seed=seed, kinds=("500", "503"))
    before = len(up.fault_log("m"))
    c = client(up)
    for _ in range(n):
        with contextlib.suppress(openai.InternalServerError):
            ask(c)
    return [r.kind for r in up.fault_log("m")[before:]]


def test_faults_are_seeded_and_recorded(up: FakeUpstream) -> None:
    first = kinds_seen(up, seed=7, n=30)
    again = kinds_seen(up, seed=7, n=30)
    other = kinds_seen(up, seed=8, n=30)
    assert first == again
    assert first != other
    assert {k for k in first if k} == {"500", "503"}  # both kinds drawn, nothing else
    assert 5 < sum(k is not None for k in first) < 25  # about half of 30
    log = up.fault_log("m")
    assert [r.call for r in log] == list(range(1, 91))
    assert sum(up.fault_counts("m").values()) == sum(r.kind is not None for r in log)


def test_rate_zero_and_one(up: FakeUpstream) -> None:
    up.faults("m", rate=0.0)
    c = client(up)
    assert ask(c).choices[0].message.content == ANSWER
    up.faults("m", rate=1.0, kinds=("503",))
    for _ in range(3):
        with pytest.raises(openai.InternalServerError) as info:
            ask(c)
        assert info.value.status_code == 503
    assert up.fault_counts() == {"503": 3}
    assert [r.kind for r in up.fault_log()] == [None, "503", "503", "503"]


def test_scripted_failures_come_first_and_draw_nothing(up: FakeUpstream) -> None:
    up.faults("m", rate=1.0, kinds=("500",))
    up.fail("m", status=429, times=1)
    c = client(up)
    with pytest.raises(openai.RateLimitError):
        ask(c)
    with pytest.raises(openai.InternalServerError):
        ask(c)
    assert [r.call for r in up.fault_log()] == [2]


def test_429_sends_retry_after(up: FakeUpstream) -> None:
    up.faults("m", rate=1.0, kinds=("429",), retry_after=1.5)
    with pytest.raises(openai.RateLimitError) as info:
        ask(client(up))
    assert info.value.response.headers["retry-after"] == "1.5"
    up.faults("m", rate=1.0, kinds=("429",), retry_after=None)
    with pytest.raises(openai.RateLimitError) as info:
        ask(client(up))
    assert "retry-after" not in info.value.response.headers


def test_timeout_outlasts_the_client_and_the_answer_still_comes(up: FakeUpstream) -> None:
    up.faults("m", rate=1.0, kinds=("timeout",), delay=3.0)
    start = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        ask(client(up, timeout=0.2))
    assert time.perf_counter() - start < 2.0
    up.faults("m", rate=1.0, kinds=("timeout",), delay=0.5)
    start = time.perf_counter()
    assert ask(client(up, timeout=5)).choices[0].message.content == ANSWER
    assert time.perf_counter() - start >= 0.5


def test_stop_ends_a_sleeping_timeout_at_once() -> None:
    up = FakeUpstream().start()
    up.script("m", [ANSWER])
    up.faults("m", rate=1.0, kinds=("timeout",), delay=20.0)
    with socket.create_connection(("127.0.0.1", up.port)) as s:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]})
        s.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        deadline = time.monotonic() + 5
        while not up.fault_log() and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.perf_counter()
        up.stop()
        assert time.perf_counter() - start < 2


def test_truncated_stream_has_no_finish_and_no_done(up: FakeUpstream) -> None:
    up.faults("m", rate=1.0, kinds=("truncated_stream",))
    r = post(up, stream=True)
    assert r.status_code == 200
    events = [e for e in r.text.split("\n\n") if e]
    assert "data: [DONE]" not in events
    payloads = [json.loads(e.removeprefix("data: ")) for e in events]
    text = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads)
    assert text and ANSWER.startswith(text) and text != ANSWER
    assert all(p["choices"][0]["finish_reason"] is None for p in payloads)
    # The official client sees a stream that simply stops: no error, no finish_reason.
    chunks = list(ask(client(up), stream=True))
    assert chunks and all(ch.choices[0].finish_reason is None for ch in chunks)


def test_truncated_plain_answer_is_a_short_read(up: FakeUpstream) -> None:
    up.faults("m", rate=1.0, kinds=("truncated_stream",))
    with pytest.raises(httpx.RemoteProtocolError):
        post(up, stream=False)
    with pytest.raises(openai.APIConnectionError):
        ask(client(up))


def test_invalid_json_is_a_200_that_is_not_json(up: FakeUpstream) -> None:
    up.faults("m", rate=1.0, kinds=("invalid_json",))
    r = post(up, stream=False)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == INVALID_BODY
    with pytest.raises(json.JSONDecodeError):
        r.json()
    r = post(up, stream=True)
    assert r.status_code == 200
    assert f"data: {INVALID_BODY.decode()}" in r.text


def test_every_kind_is_accepted_and_unknown_ones_are_not(up: FakeUpstream) -> None:
    up.faults("m", rate=1.0, kinds=FAULT_KINDS)
    with pytest.raises(ValueError, match="kinds"):
        up.faults("m", kinds=("teapot",))
    with pytest.raises(ValueError, match="rate"):
        up.faults("m", rate=1.5)
    with pytest.raises(ValueError, match="delay"):
        up.faults("m", delay=600)
