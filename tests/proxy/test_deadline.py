"""Time through the proxy, with the official openai client: an upstream that drips a byte at a
time (which a per-read timeout never catches) is cut at the call's timeout, and a request
ends by its deadline, across retries and arms, in a 504 when it has no answer by then."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.fakes.proxy_server import ProxyServer
from tests.fakes.upstream import FakeUpstream
from tests.proxy.conftest import KEY_A, ProxyFactory, settings

QUESTION = "What is 6 times 7?"
SMALL_ANSWER = "Small says the answer is 42."
BIG_ANSWER = "Big says the answer is 42."
DRIP = 0.2  # seconds between bytes: a body of a few hundred bytes takes a minute


@pytest.fixture
def scripted(up: FakeUpstream) -> FakeUpstream:
    up.script("small", [SMALL_ANSWER])
    up.script("big", [BIG_ANSWER])
    return up


def ask(p: ProxyServer, **kw: Any) -> Any:
    c = OpenAI(base_url=p.base_url, api_key=KEY_A, max_retries=0, timeout=30)
    return c.chat.completions.with_raw_response.create(
        model="ponder/auto", messages=[{"role": "user", "content": QUESTION}], **kw
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_dripping_upstream_ends_in_a_504_at_the_deadline(
    scripted: FakeUpstream, proxy: ProxyFactory, stream: bool
) -> None:
    up = scripted
    up.drip("small", DRIP)
    p = proxy(settings(up, timeout=20.0, deadline=1.5, num_retries=2, retry_backoff=0.01))
    start = time.perf_counter()
    with pytest.raises(openai.APIStatusError) as info:
        ask(p, stream=stream)
    took = time.perf_counter() - start
    assert info.value.status_code == 504
    error = info.value.response.json()["error"]
    assert error["type"] == "upstream_error" and error["code"] == "upstream_timeout"
    assert "deadline" in error["message"]
    assert 1.5 <= took < 6  # the deadline, not the upstream's minute (nor 20 s timeouts)
    # Out of time: no retry of the dripping arm and no start of the next one.
    assert (up.calls("small"), up.calls("big")) == (1, 0)


def test_a_dripping_call_is_cut_at_its_timeout_and_the_next_arm_answers(
    scripted: FakeUpstream, proxy: ProxyFactory
) -> None:
    up = scripted
    up.drip("small", DRIP)
    p = proxy(settings(up, timeout=1.0, num_retries=0))
    start = time.perf_counter()
    c = ask(p).parse()
    assert time.perf_counter() - start < 10  # one 1 s timeout, not a minute of drip
    assert c.choices[0].message.content == BIG_ANSWER
    trace = (c.model_extra or {})["ponder"]
    assert [a["outcome"] for a in trace["attempts"]] == ["provider_error", "accepted"]
    assert "timeout" in trace["attempts"][0]["error"]


def test_a_retry_that_cannot_start_before_the_deadline_is_not_made(
    scripted: FakeUpstream, proxy: ProxyFactory
) -> None:
    up = scripted
    # Retry-After 3 s is within retry_max_wait, but past the 2 s deadline: the next arm,
    # which can start at once, answers instead of a retry that would end past it.
    up.fail("small", status=429, times=1, retry_after=3)
    s = settings(up, deadline=2.0, num_retries=2, retry_backoff=0.01, retry_max_wait=10.0)
    start = time.perf_counter()
    c = ask(proxy(s)).parse()
    assert time.perf_counter() - start < 2.0
    assert c.choices[0].message.content == BIG_ANSWER
    assert (up.calls("small"), up.calls("big")) == (1, 1)
