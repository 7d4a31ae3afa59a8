"""The library on bad arguments: each is refused with a typed ponder error before anything
is called, never a bare TypeError/KeyError/AttributeError from deep inside (the classifier's
tokenizer, litellm), nor a provider error for what is the caller's mistake; and the router
still answers the next good request."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import pytest

from ponder.classifiers import DifficultyClassifier, load_default_classifier
from ponder.errors import PonderError, RequestError
from ponder.router import Router, Settings
from tests.fakes.upstream import FakeUpstream

Q = [{"role": "user", "content": "What is 6 times 7?"}]


@pytest.fixture(scope="module")
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        server.script("small", ["It is 42"])
        yield server


@pytest.fixture(scope="module")
def router(up: FakeUpstream) -> Iterator[Router]:
    clf: DifficultyClassifier = load_default_classifier()
    arm = {
        "model": "openai/small",
        "input_price": 1,
        "output_price": 2,
        "api_base": up.base_url,
        "api_key_env": "PONDER_TEST_KEY",
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PONDER_TEST_KEY", "sk-test")
        yield Router(Settings(menu={"arms": [arm]}, num_retries=0), classifier=clf)


class Odd:
    """Not JSON, not a number, not a string."""


BAD: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("messages None", (None,), {}),
    ("messages int", (5,), {}),
    ("messages a dict", ({"role": "user", "content": "hi"},), {}),
    ("messages bytes", (b"hi",), {}),
    ("messages a set", ({"hi"},), {}),
    ("messages empty", ([],), {}),
    ("messages of strings", (["hi"],), {}),
    ("message missing role", ([{"content": "hi"}],), {}),
    ("message role int", ([{"role": 1, "content": "hi"}],), {}),
    ("message None", ([None],), {}),
    ("content int", ([{"role": "user", "content": 5}],), {}),
    ("content dict", ([{"role": "user", "content": {"text": "hi"}}],), {}),
    ("content list of ints", ([{"role": "user", "content": [1, 2]}],), {}),
    ("earlier content int", ([{"role": "user", "content": 5}, *Q],), {}),
    ("assistant content float", ([{"role": "assistant", "content": 1.5}, *Q],), {}),
    ("content an object", ([{"role": "user", "content": Odd()}],), {}),
    ("a part that is not JSON", ([{"role": "user", "content": [{"text": Odd()}]}, *Q],), {}),
    ("lone surrogate", ([{"role": "user", "content": "hi \ud800"}],), {}),
    ("lone surrogate as a string", ("hi \udfff",), {}),
    ("empty string", ("",), {}),
    ("only a system message", ([{"role": "system", "content": "be brief"}],), {}),
    ("max_cost negative", (Q,), {"max_cost": -1}),
    ("max_cost zero", (Q,), {"max_cost": 0}),
    ("max_cost NaN", (Q,), {"max_cost": math.nan}),
    ("max_cost inf", (Q,), {"max_cost": math.inf}),
    ("max_cost str", (Q,), {"max_cost": "0.01"}),
    ("max_cost bool", (Q,), {"max_cost": True}),
    ("lam negative", (Q,), {"lam": -1}),
    ("lam NaN", (Q,), {"lam": math.nan}),
    ("lam inf", (Q,), {"lam": math.inf}),
    ("lam str", (Q,), {"lam": "low"}),
    ("budget_limit negative", (Q,), {"budget_key": "k", "budget_limit": -1}),
    ("budget_limit NaN", (Q,), {"budget_key": "k", "budget_limit": math.nan}),
    ("budget_key int", (Q,), {"budget_key": 5}),
    ("tenant int", (Q,), {"tenant": 5}),
    ("cache str", (Q,), {"cache": "no"}),
    ("temperature NaN", (Q,), {"temperature": math.nan}),
    ("an OpenAI parameter that is not JSON", (Q,), {"stop": Odd()}),
]


@pytest.mark.parametrize(("args", "kwargs"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_complete_refuses_bad_arguments_with_a_request_error(
    router: Router, up: FakeUpstream, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    before = len(up.requests)
    with pytest.raises(RequestError):
        router.complete(*args, **kwargs)
    assert len(up.requests) == before  # refused before any call
    assert router.complete(Q).content == "It is 42"


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.route(None),
        lambda r: r.route("hi", max_cost=math.inf),
        lambda r: r.route("hi", lam=math.nan),
        lambda r: asyncio.run(r.aforward(None, Q)),
        lambda r: asyncio.run(r.aforward(5, Q)),
        lambda r: asyncio.run(r.aforward("openai/small", Q, max_cost=math.nan)),
        lambda r: asyncio.run(r.aforward("openai/small", Q, max_cost=-1)),
        lambda r: asyncio.run(r.aforward("openai/small", [{"role": "user", "content": 5}])),
        lambda r: asyncio.run(r.astream(Q, max_cost=math.inf)),
        lambda r: asyncio.run(r.astream(Q, model=7)),
        lambda r: asyncio.run(r.astream([{"role": "user", "content": "\ud800"}])),
    ],
    ids=[
        "route None",
        "route max_cost inf",
        "route lam NaN",
        "forward model None",
        "forward model int",
        "forward max_cost NaN",
        "forward max_cost negative",
        "forward content int",
        "stream max_cost inf",
        "stream model int",
        "stream lone surrogate",
    ],
)
def test_route_forward_and_stream_refuse_bad_arguments(router: Router, call: Any) -> None:
    with pytest.raises(RequestError):
        call(router)


def test_every_refusal_is_a_ponder_error_with_a_one_line_message(router: Router) -> None:
    """What the CLI and the proxy print: a PonderError they know how to show."""
    for _, args, kwargs in BAD:
        try:
            router.complete(*args, **kwargs)
        except PonderError as exc:
            assert str(exc) and "\n" not in str(exc), str(exc)
        else:  # pragma: no cover - the parametrised test says which
            pytest.fail(f"accepted: {args!r} {kwargs!r}")
