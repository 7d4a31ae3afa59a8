"""Cost ceilings that hold against any client (issue 10, "Budget and ceiling bypasses"):
the whole request is priced, the answer's length is capped to fit, and a client can only
lower the operator's ceiling. Real proxy, real loopback upstream, the official client."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.fakes.upstream import FakeUpstream, count_tokens
from tests.proxy.conftest import BIG, KEY_A, SMALL, ProxyFactory, settings

QUESTION = "What is 6 times 7?"
ASK = [{"role": "user", "content": QUESTION}]
INT32 = 2**31 - 1
LONG = 6_000
"""Words the upstream writes when nothing stops it: 6,000 x $2/M = $0.012 on 'small'."""


def client(base_url: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=KEY_A, max_retries=0, timeout=60)


def as_long_as_allowed(body: dict[str, Any]) -> str:
    """An answer that uses every output token the request allows, as a model asked for an
    essay would (one token a word, as the upstream counts)."""
    limit = body.get("max_tokens") or body.get("max_completion_tokens") or LONG
    return " ".join(["w"] * min(int(limit), LONG))


def bill(body: dict[str, Any], answer: str, price: dict[str, float]) -> float:
    """What the upstream charges for one call (its usage at the arm's price)."""
    prompt = sum(count_tokens(str(m.get("content") or "")) for m in body["messages"])
    return (prompt * price["input_price"] + count_tokens(answer) * price["output_price"]) / 1e6


def trace(c: Any) -> dict[str, Any]:
    out: dict[str, Any] = (c.model_extra or {})["ponder"]
    return out


def test_the_whole_request_is_priced_not_just_the_last_user_message(
    up: FakeUpstream, proxy: ProxyFactory
) -> None:
    up.script("small", ["It is 42"])
    up.script("big", ["It is 42"])
    # 5,000 prompt tokens upstream under a one-line question: $0.005 on 'small'.
    msgs = [{"role": "system", "content": "word " * 5_000}, *ASK]
    c = client(proxy(settings(up, max_cost=0.001)).base_url)
    for model in ("ponder/auto", "openai/small"):
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as info:
                c.chat.completions.create(model=model, messages=msgs, stream=stream)
            assert info.value.code == "no_arm_fits", info.value.body
    assert up.requests == []  # refused before any call: it could not have kept to $0.001
    # With room for the whole prompt, the same request is answered within its ceiling.
    c = client(proxy(settings(up, max_cost=0.02)).base_url)
    r = c.chat.completions.create(model="ponder/auto", messages=msgs)
    (body,) = up.chat_bodies("small")
    billed = bill(body, "It is 42", SMALL)
    assert billed > 0.001 and trace(r)["cost"] == pytest.approx(billed) and billed <= 0.02


def test_max_tokens_is_capped_so_that_the_answer_fits_the_ceiling(
    up: FakeUpstream, proxy: ProxyFactory
) -> None:
    up.script("small", as_long_as_allowed)
    ceiling, budget = 0.01, 0.05
    keys = [{"key": KEY_A, "tenant": "a", "budget": budget}]
    c = client(proxy(settings(up, max_cost=ceiling, api_keys=keys)).base_url)
    requests: list[dict[str, Any]] = [
        {"model": "ponder/auto", "max_tokens": INT32},
        {"model": "ponder/auto", "max_tokens": INT32, "stream": True},
        {"model": "openai/small", "max_completion_tokens": INT32},
        {"model": "openai/small", "stream": True},  # no limit from the client at all
        {"model": "ponder/auto"},
    ]
    refused = 0
    for i in range(8):
        try:
            r = c.chat.completions.create(messages=ASK, **requests[i % len(requests)])
            if isinstance(r, openai.Stream):
                assert "".join(x.choices[0].delta.content or "" for x in r if x.choices)
        except openai.RateLimitError:
            refused += 1
    bodies = up.chat_bodies("small")
    bills = [bill(b, as_long_as_allowed(b), SMALL) for b in bodies]
    assert max(bills) <= ceiling  # every call kept to the ceiling, answer included
    assert max(bills) > 0.9 * ceiling  # the cap is the ceiling's, not a fixed guess
    assert sum(bills) <= budget  # so the budget holds too: later requests are refused
    assert refused == 8 - len(bodies) and refused > 0


def test_a_ceiling_too_small_for_a_minimal_answer_is_refused(
    up: FakeUpstream, proxy: ProxyFactory
) -> None:
    up.script("small", as_long_as_allowed)
    c = client(proxy(settings(up, max_cost=0.0005)).base_url)
    # 400 answer tokens (the arm's expected answer) do not fit $0.0005 at $2/M...
    with pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model="ponder/auto", messages=ASK, max_tokens=INT32)
    assert info.value.code == "no_arm_fits"
    assert up.requests == []
    # ...but the 100 the client asks for do, and that is what the provider is allowed.
    r = c.chat.completions.create(model="ponder/auto", messages=ASK, max_tokens=100)
    (body,) = up.chat_bodies("small")
    assert body["max_tokens"] == 100 and trace(r)["cost"] <= 0.0005


def test_a_client_can_lower_the_operators_ceiling_and_lam_but_never_raise_them(
    up: FakeUpstream, proxy: ProxyFactory
) -> None:
    up.script("small", ["It is 42"])
    up.script("big", ["It is 42 (big)"])
    profiles = {"cheap": {"max_cost": 0.0009}, "best": {"lam": 0}}
    c = client(proxy(settings(up, max_cost=0.001, profiles=profiles)).base_url)
    # The big arm costs about $0.016: no client control can buy it under $0.001.
    for model, ceiling in (("ponder/auto", 0.001), ("ponder/cheap", 0.0009)):
        for ask in (
            {"extra_headers": {"x-ponder-max-cost": "1000", "x-ponder-lam": "0"}},
            {"extra_body": {"ponder": {"max_cost": 1e6, "lam": 0}}},
        ):
            r = c.chat.completions.create(model=model, messages=ASK, **ask)
            assert trace(r)["answered_by"] == "small"
            assert trace(r)["max_cost"] == ceiling
    with pytest.raises(openai.BadRequestError, match="ceiling"):
        c.chat.completions.create(
            model="openai/big",
            messages=ASK,
            extra_headers={"x-ponder-max-cost": "1000"},
        )
    # Lowering is the client's to do.
    r = c.chat.completions.create(
        model="ponder/auto",
        messages=ASK,
        extra_headers={"x-ponder-max-cost": "0.00095"},
    )
    assert trace(r)["max_cost"] == 0.00095
    assert up.calls("big") == 0

    # lam: the operator's (menu lam 5: 'small') is a floor; a profile may set a lower one.
    c = client(proxy(settings(up, profiles=profiles)).base_url)
    for model, lam, arm in (
        ("ponder/auto", 0, "small"),  # a client cannot buy quality the operator did not allow
        ("ponder/best", None, "big"),  # the operator's profile can
        ("ponder/best", 100, "small"),  # and a client may still ask for cheaper within it
    ):
        ponder = {} if lam is None else {"lam": lam}
        r = c.chat.completions.create(model=model, messages=ASK, extra_body={"ponder": ponder})
        assert trace(r)["answered_by"] == arm, (model, lam)
    assert BIG["input_price"] > SMALL["input_price"]
