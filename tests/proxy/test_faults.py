"""Provider faults through the proxy, with the official openai client: fallback to the next
arm, retries that respect Retry-After, 502/504 only when every option is spent, and streams
that break mid-way ending with an error event. Faults come from FakeUpstream's seeded
injector (tests/fakes/upstream_faults.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from ponder.classifiers import DifficultyClassifier
from ponder.proxy import create_app
from ponder.router import Router, Settings
from ponder.router._ceiling import Ceiling
from tests.fakes.proxy_server import ProxyServer
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream_faults import FAULT_KINDS
from tests.proxy.conftest import KEY_A, ProxyFactory, settings

QUESTION = "What is 6 times 7?"
SMALL_ANSWER = "Small says the answer is 42, after some careful thought."
BIG_ANSWER = "Big says the answer is 42, after even more careful thought."
TIMEOUT = 0.4  # the router's per-call timeout; timeout faults sleep past it
FAST: dict[str, Any] = {
    "timeout": TIMEOUT,
    "num_retries": 1,
    "retry_backoff": 0.01,
    "retry_max_wait": 2.0,
}


@pytest.fixture
def scripted(up: FakeUpstream) -> FakeUpstream:
    up.script("small", [SMALL_ANSWER])
    up.script("big", [BIG_ANSWER])
    return up


def fast(up: FakeUpstream, **kw: Any) -> Settings:
    return settings(up, **{**FAST, **kw})


def client(p: ProxyServer) -> OpenAI:
    return OpenAI(base_url=p.base_url, api_key=KEY_A, max_retries=0, timeout=30)


def ask(p: ProxyServer, **kw: Any) -> Any:
    return client(p).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=[{"role": "user", "content": QUESTION}], **kw
    )


def inject(up: FakeUpstream, model: str, kind: str) -> None:
    up.faults(model, rate=1.0, kinds=(kind,), delay=3 * TIMEOUT, retry_after=0.05)


def stream_text(raw: Any) -> tuple[str, dict[str, Any]]:
    chunks = list(raw.parse())
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    final = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason][-1]
    return text, (final.model_extra or {})["ponder"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_faulty_first_arm_falls_back_to_the_next(
    scripted: FakeUpstream, proxy: ProxyFactory, kind: str, stream: bool
) -> None:
    up = scripted
    if kind == "truncated_stream" and stream:
        up.script("small", ["Short"])  # cut before any text: still time to fall back
    inject(up, "small", kind)
    raw = ask(proxy(fast(up)), stream=stream)
    if stream:
        text, trace = stream_text(raw)
    else:
        c = raw.parse()
        text, trace = c.choices[0].message.content, (c.model_extra or {})["ponder"]
    assert text == BIG_ANSWER
    assert trace["answered_by"] == "big" and trace["chosen_arm"] == "small"
    assert [a["outcome"] for a in trace["attempts"]] == ["provider_error", "accepted"]
    assert up.calls("small") == 2  # tried, retried once, given up
    assert up.calls("big") == 1


@pytest.mark.parametrize(
    ("small", "big", "status", "code", "stream"),
    [
        ("500", "503", 502, "upstream_failed", False),
        ("429", "invalid_json", 502, "upstream_failed", False),
        ("truncated_stream", "truncated_stream", 502, "upstream_failed", False),
        ("timeout", "timeout", 504, "upstream_timeout", False),
        ("timeout", "500", 502, "upstream_failed", False),
        ("503", "timeout", 502, "upstream_failed", False),
        # Streams: the live arm fails before any text, then the fallback runs as above.
        ("truncated_stream", "invalid_json", 502, "upstream_failed", True),
        ("timeout", "timeout", 504, "upstream_timeout", True),
        ("500", "timeout", 502, "upstream_failed", True),
    ],
)
def test_every_arm_spent_is_502_or_504_only_if_all_timed_out(
    scripted: FakeUpstream,
    proxy: ProxyFactory,
    small: str,
    big: str,
    status: int,
    code: str,
    stream: bool,
) -> None:
    up = scripted
    if stream:
        up.script("small", ["Short"])  # a truncated stream is then cut before any text
        up.script("big", ["Short"])
    inject(up, "small", small)
    inject(up, "big", big)
    p = proxy(fast(up))
    with pytest.raises(openai.APIStatusError) as info:
        ask(p, stream=stream)
    assert info.value.status_code == status
    error = info.value.response.json()["error"]
    assert error["type"] == "upstream_error" and error["code"] == code
    assert "sk-provider-secret" not in info.value.response.text
    assert (up.calls("small"), up.calls("big")) == (2, 2)
    # The proxy is fine afterwards.
    up.faults("small", rate=0.0)
    assert ask(p, stream=stream).parse() is not None


def test_retry_after_is_waited_for_and_a_long_one_moves_on(
    scripted: FakeUpstream, proxy: ProxyFactory
) -> None:
    up = scripted
    p = proxy(fast(up))
    up.fail("small", status=429, times=1, retry_after=1)
    start = time.perf_counter()
    c = ask(p).parse()
    assert time.perf_counter() - start >= 1.0  # the retry waited the provider's 1 s
    assert c.choices[0].message.content == SMALL_ANSWER
    assert (up.calls("small"), up.calls("big")) == (2, 0)
    # Over retry_max_wait (2 s): the next arm at once rather than a 30 s wait.
    up.fail("small", status=429, times=1, retry_after=30)
    start = time.perf_counter()
    c = ask(p).parse()
    assert time.perf_counter() - start < 10
    assert c.choices[0].message.content == BIG_ANSWER
    assert (up.calls("small"), up.calls("big")) == (3, 1)


def test_a_provider_fault_is_not_remembered_as_an_escalation(
    scripted: FakeUpstream, proxy: ProxyFactory
) -> None:
    up = scripted
    p = proxy(fast(up, memory_ttl=3600))
    up.fail("small", status=503, times=2)  # the try and its retry
    c = ask(p).parse()
    assert (c.model_extra or {})["ponder"]["answered_by"] == "big"
    # The same query starts at the cheap arm again: the fault said nothing about it.
    c = ask(p).parse()
    trace = (c.model_extra or {})["ponder"]
    assert trace["chosen_arm"] == "small" and trace["answered_by"] == "small"
    assert not trace["reason"].startswith("remembered")


def test_fallback_stays_under_the_cost_ceiling(
    scripted: FakeUpstream, proxy: ProxyFactory, clf: DifficultyClassifier
) -> None:
    up = scripted
    s = fast(up)
    arms = {e.arm: e for e in Router(s, classifier=clf).route(QUESTION).arms}
    assert arms["small"].worst_cost < arms["big"].worst_cost
    ceiling = (arms["small"].worst_cost + arms["big"].worst_cost) / 2
    inject(up, "small", "503")
    with pytest.raises(openai.APIStatusError) as info:
        ask(proxy(s), extra_body={"ponder": {"max_cost": ceiling}})
    assert info.value.status_code == 502
    assert up.calls("big") == 0  # the fallback would have broken the ceiling


@pytest.fixture
def held(scripted: FakeUpstream, clf: DifficultyClassifier) -> Iterator[tuple[Router, str]]:
    router = Router(fast(scripted), classifier=clf)
    with ProxyServer(create_app(router=router)) as server:
        yield router, server.base_url


def test_a_stream_cut_mid_way_ends_with_an_error_event_and_is_charged(
    scripted: FakeUpstream, held: tuple[Router, str]
) -> None:
    up = scripted
    router, base_url = held
    long_answer = "The answer is 42. " * 20
    up.script("small", [long_answer])
    inject(up, "small", "truncated_stream")
    stream = OpenAI(base_url=base_url, api_key=KEY_A, max_retries=0, timeout=30).chat.completions
    got: list[str] = []
    with pytest.raises(openai.APIError, match="mid-stream"):
        for chunk in stream.create(
            model="ponder/auto", messages=[{"role": "user", "content": QUESTION}], stream=True
        ):
            got.append(chunk.choices[0].delta.content or "")
    text = "".join(got)
    assert text and long_answer.startswith(text) and text != long_answer
    # On the wire: text, then an error event, and no [DONE].
    r = httpx.post(
        f"{base_url}/chat/completions",
        json={
            "model": "ponder/auto",
            "stream": True,
            "messages": [{"role": "user", "content": QUESTION}],
        },
        headers={"authorization": f"Bearer {KEY_A}"},
        timeout=30,
    )
    events = [e.removeprefix("data: ") for e in r.text.split("\n\n") if e]
    assert r.status_code == 200 and "[DONE]" not in events
    last = json.loads(events[-1])
    assert last["error"]["type"] == "upstream_error"
    assert up.calls("small") == 2 and up.calls("big") == 0  # text had gone out: no retry
    # The budget holds were settled to the partial answers' cost, not left at the ceiling.
    spent = asyncio.run(router.spent())
    d = router.route(QUESTION)
    hold = Ceiling(d.max_cost).reserve(d.arms, d.chosen_arm, router.settings.max_escalations)
    assert 0 < spent < hold


async def _one(c: AsyncOpenAI, i: int, stream: bool) -> str:
    """One request of the seeded run, classified: ``answered``, ``502``/``504`` (an OpenAI
    error body), ``stream_error`` (an error event after text), or what went wrong."""
    messages: Any = [{"role": "user", "content": f"{QUESTION} #{i}"}]
    try:
        if not stream:
            r = await c.chat.completions.create(model="ponder/auto", messages=messages)
            ok = r.choices[0].message.content in (SMALL_ANSWER, BIG_ANSWER)
            return "answered" if ok else f"wrong answer {r.choices[0].message.content!r}"
        parts: list[str] = []
        finish = None
        async for ch in await c.chat.completions.create(
            model="ponder/auto", messages=messages, stream=True
        ):
            if ch.choices:
                parts.append(ch.choices[0].delta.content or "")
                finish = ch.choices[0].finish_reason or finish
        text = "".join(parts)
        if text in (SMALL_ANSWER, BIG_ANSWER) and finish == "stop":
            return "answered"
        return f"silent cut {text!r}"  # a stream that ended short without an error
    except openai.APITimeoutError:
        return "hang"
    except openai.APIStatusError as exc:
        body = exc.response.json() if exc.response.content else None
        error = body.get("error") if isinstance(body, dict) else None
        if exc.status_code in (502, 504) and isinstance(error, dict) and error.get("message"):
            return str(exc.status_code)
        return f"status {exc.status_code}: {exc.response.text[:200]}"
    except openai.APIError as exc:  # an error event in a stream that had started
        return "stream_error" if stream and exc.body else f"{type(exc).__name__}: {exc}"


def test_a_seeded_fault_run_loses_nothing(scripted: FakeUpstream, proxy: ProxyFactory) -> None:
    up = scripted
    for seed, model in enumerate(("small", "big")):
        up.faults(model, rate=0.3, seed=seed, delay=3 * TIMEOUT, retry_after=0.05)
    p = proxy(fast(up))

    async def run() -> Counter[str]:
        c = AsyncOpenAI(base_url=p.base_url, api_key=KEY_A, max_retries=0, timeout=20)
        gate = asyncio.Semaphore(20)

        async def limited(i: int) -> str:
            async with gate:
                return await _one(c, i, stream=i % 4 == 0)

        outcomes = await asyncio.gather(*(limited(i) for i in range(200)))
        await c.close()
        return Counter(outcomes)

    outcomes = asyncio.run(run())
    injected = up.fault_counts()
    print(f"\nseeded run: {dict(outcomes)}; faults injected: {dict(injected)}")
    assert set(outcomes) <= {"answered", "502", "504", "stream_error"}, outcomes
    assert sum(outcomes.values()) == 200
    assert outcomes["answered"] >= 150  # with a retry and a fallback, most get through
    assert set(injected) == set(FAULT_KINDS) and sum(injected.values()) >= 50
    for model in ("small", "big"):
        up.faults(model, rate=0.0)
    c = client(p).chat.completions.create(
        model="ponder/auto", messages=[{"role": "user", "content": QUESTION}]
    )
    assert c.choices[0].message.content == SMALL_ANSWER
