"""Menus of arms served by the loopback upstream, and routers over them, for the router's
tests (the provider key comes from the ``provider_key`` fixture)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ponder import Menu, Router, Settings
from ponder.classifiers import SuccessClassifier
from ponder.policies import Policy, SamplingPolicy
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream_wire import count_tokens

SMALL = {"input_price": 1.0, "output_price": 2.0}  # USD per million tokens
BIG = {"input_price": 10.0, "output_price": 40.0}
QUESTION = "What is 6 times 7?"


def make_router(
    clf: SuccessClassifier,
    arms: list[dict[str, Any]],
    *,
    policy: Policy | None = None,
    sampling: Mapping[str, SamplingPolicy] | None = None,
    **settings: Any,
) -> Router:
    menu_keys = {k: settings.pop(k) for k in ("max_cost", "lam") if k in settings}
    menu = Menu.parse({"arms": arms, "lam": 1.0, **menu_keys})
    defaults: dict[str, Any] = {"num_retries": 0, "timeout": 10.0}
    return Router(
        Settings(**{**defaults, **settings}),
        menu=menu,
        classifier=clf,
        policy=policy,
        sampling=sampling,
    )


def arm(up: FakeUpstream, model: str, **kw: Any) -> dict[str, Any]:
    """An arm served by the fake upstream; ``ability`` pins P(success) for a stable order."""
    base = {"model": f"openai/{model}", "name": model, "api_base": up.base_url}
    return {**base, "api_key_env": "PONDER_TEST_KEY", **kw}


def call_cost(body: dict[str, Any], answer: str, price: dict[str, float]) -> float:
    prompt = sum(count_tokens(m["content"]) for m in body["messages"])
    return (prompt * price["input_price"] + count_tokens(answer) * price["output_price"]) / 1e6
