"""Provider calls under faults: what is retried, how long it waits, what becomes CallFailed.

Drives ``ponder.router._llm`` (``call``, ``stream``) against FakeUpstream through litellm,
the way the router does, with small timeouts and backoffs so the suite stays fast.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ponder._menu import Arm
from ponder.router._llm import (
    CallFailed,
    Piece,
    Sample,
    call,
    classify_failure,
    litellm,
    retry_wait,
    stream,
)
from tests.fakes.upstream import FakeUpstream

ANSWER = "The answer is forty two, as computed."
MESSAGES = [{"role": "user", "content": "What is 6 times 7?"}]
FAST: dict[str, Any] = {"api_key": "sk-test", "timeout": 0.5, "backoff": 0.01, "max_wait": 2.0}


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        server.script("m", [ANSWER])
        yield server


def openai_arm(up: FakeUpstream) -> Arm:
    return Arm(model="openai/m", api_base=up.base_url, input_price=1.0, output_price=2.0)


def complete(arm: Arm, retries: int, params: dict[str, Any] | None = None, **kw: Any) -> Sample:
    opts = {**FAST, **kw}
    return asyncio.run(call(arm, MESSAGES, params or {}, num_retries=retries, **opts))


def collect(arm: Arm, retries: int, sink: list[Piece] | None = None) -> list[Piece]:
    pieces = sink if sink is not None else []

    async def run() -> None:
        gen: AsyncIterator[Piece] = stream(arm, MESSAGES, {}, num_retries=retries, **FAST)
        async for p in gen:
            pieces.append(p)

    asyncio.run(run())
    return pieces


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_statuses_are_retried(up: FakeUpstream, status: int) -> None:
    up.fail("m", status=status, times=2)
    assert complete(openai_arm(up), retries=2).content == ANSWER
    assert up.calls("m") == 3


def test_retries_run_out(up: FakeUpstream) -> None:
    up.fail("m", status=503, times=5)
    with pytest.raises(CallFailed) as info:
        complete(openai_arm(up), retries=1)
    assert info.value.status == 503 and not info.value.timeout
    assert up.calls("m") == 2


def test_bad_requests_are_not_retried(up: FakeUpstream) -> None:
    up.fail("m", status=400, times=5)
    with pytest.raises(CallFailed) as info:
        complete(openai_arm(up), retries=3)
    assert info.value.status == 400 and not info.value.retryable
    assert up.calls("m") == 1


def test_retry_after_is_waited_for(up: FakeUpstream) -> None:
    up.fail("m", status=429, times=1, retry_after=1)
    start = time.perf_counter()
    assert complete(openai_arm(up), retries=1).content == ANSWER
    assert time.perf_counter() - start >= 1.0
    assert up.calls("m") == 2


def test_a_retry_after_over_the_cap_gives_the_arm_up_at_once(up: FakeUpstream) -> None:
    up.fail("m", status=429, times=1, retry_after=30)
    start = time.perf_counter()
    with pytest.raises(CallFailed) as info:
        complete(openai_arm(up), retries=3, max_wait=2.0)
    assert time.perf_counter() - start < 10  # not the 30 s asked for
    assert info.value.status == 429 and info.value.retry_after == 30
    assert up.calls("m") == 1


def test_anthropic_provider_is_retried_too(up: FakeUpstream) -> None:
    """litellm does not retry its Anthropic provider; ponder's loop does."""
    model = "claude-sonnet-4-5"
    up.script(model, ["Claude says 42"])
    up.fail(model, status=429, times=1, retry_after=0.2)
    arm = Arm(model=f"anthropic/{model}", api_base=up.root_url, input_price=1, output_price=2)
    assert complete(arm, retries=1, params={"max_tokens": 64}).content == "Claude says 42"
    assert up.calls(model) == 2


def test_timeouts_are_retried_and_flagged(up: FakeUpstream) -> None:
    up.faults("m", rate=1.0, kinds=("timeout",), delay=3.0)
    start = time.perf_counter()
    with pytest.raises(CallFailed) as info:
        complete(openai_arm(up), retries=1, timeout=0.3)
    assert info.value.timeout
    assert up.calls("m") == 2
    assert 0.6 <= time.perf_counter() - start < 2.5  # two 0.3 s tries, not a 3 s wait


@pytest.mark.parametrize("kind", ["invalid_json", "truncated_stream"])
def test_unreadable_answers_fail_cleanly_and_are_retried(up: FakeUpstream, kind: str) -> None:
    up.faults("m", rate=1.0, kinds=(kind,))
    with pytest.raises(CallFailed) as info:
        complete(openai_arm(up), retries=1)
    assert info.value.retryable and not info.value.timeout
    assert up.calls("m") == 2
    up.faults("m", rate=0.0)
    assert complete(openai_arm(up), retries=0).content == ANSWER


def test_a_stream_is_retried_before_its_first_text(up: FakeUpstream) -> None:
    up.fail("m", status=500, times=1)
    pieces = collect(openai_arm(up), retries=1)
    assert "".join(p.content for p in pieces) == ANSWER
    assert pieces[-1].finish_reason == "stop" and pieces[-1].usage is not None
    assert up.calls("m") == 2


def test_a_stream_cut_after_text_fails_and_is_not_retried(up: FakeUpstream) -> None:
    up.faults("m", rate=1.0, kinds=("truncated_stream",))
    got: list[Piece] = []
    with pytest.raises(CallFailed) as info:
        collect(openai_arm(up), retries=3, sink=got)
    assert info.value.truncated and info.value.retryable and not info.value.timeout
    assert got and ANSWER.startswith("".join(p.content for p in got))
    assert all(p.finish_reason is None for p in got)  # never passed off as complete
    assert up.calls("m") == 1


def test_a_stream_cut_before_any_text_is_retried() -> None:
    with FakeUpstream() as up:
        up.script("m", ["Short"])  # one piece: the cut comes before it
        up.faults("m", rate=1.0, kinds=("truncated_stream",))
        with pytest.raises(CallFailed) as info:
            collect(openai_arm(up), retries=2)
        assert info.value.truncated
        assert up.calls("m") == 3


def test_litellm_mid_stream_errors_are_classified_as_truncation_whatever_their_wording() -> None:
    lm = litellm()
    cut = lm.exceptions.MidStreamFallbackError(
        message="anything at all", model="m", llm_provider="openai"
    )
    failed = classify_failure(cut, api_key=None)
    assert failed.truncated and failed.retryable and not failed.timeout
    # Wrapped inside another litellm error, it is still a truncation.
    outer = lm.exceptions.APIConnectionError(message="x", llm_provider="openai", model="m")
    outer.original_exception = cut  # type: ignore[attr-defined]
    assert classify_failure(outer, api_key=None).truncated
    # A plain server error is not.
    plain = lm.exceptions.InternalServerError(message="boom", llm_provider="openai", model="m")
    failed = classify_failure(plain, api_key=None)
    assert not failed.truncated and failed.retryable and failed.status == 500


def test_retry_wait_backs_off_with_jitter_and_honours_retry_after() -> None:
    transient = CallFailed("x", 503, False, retryable=True)
    waits = [retry_wait(transient, r, backoff=0.1, max_wait=5.0) for r in range(4)]
    for r, w in enumerate(waits):
        assert w is not None and 0.1 * 2**r / 2 <= w <= 0.1 * 2**r
    assert retry_wait(transient, 20, backoff=0.1, max_wait=5.0) <= 5.0  # type: ignore[operator]
    told = CallFailed("x", 429, False, retryable=True, retry_after=1.5)
    assert retry_wait(told, 0, max_wait=5.0) == 1.5
    assert retry_wait(told, 0, max_wait=1.0) is None
    assert retry_wait(CallFailed("x", 401, False), 0) is None
