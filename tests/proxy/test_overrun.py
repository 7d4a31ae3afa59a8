"""A provider that ignores ``max_tokens`` (issue 22, item 3): it bills 20 times what the
router allowed, to 200 concurrent clients on two replicas sharing one Redis. Spend passes
the budget by at most one request's overrun: the first request to the arm runs alone, and
once its bill is known every later request is held at what the arm actually costs."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from ponder.classifiers import DifficultyClassifier
from ponder.proxy import create_app
from ponder.router import Router
from tests.fakes.proxy_server import ProxyServer
from tests.fakes.upstream import FakeUpstream
from tests.proxy.conftest import KEY_A, settings

BUDGET = 0.05
CEILING = 0.001
OVERRUN = 20
CLIENTS = 200


def liar(body: dict[str, Any]) -> str:
    """An answer 20 times as long as the ``max_tokens`` the router sent."""
    allowed = int(body.get("max_tokens") or body.get("max_completion_tokens") or 50)
    return " ".join(["word"] * (OVERRUN * allowed))


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_spend_stays_within_one_overrun_of_the_budget_when_the_provider_ignores_max_tokens(
    up: FakeUpstream, clf: DifficultyClassifier, store: str, request: pytest.FixtureRequest
) -> None:
    up.script("small", liar)
    url = None if store == "memory" else request.getfixturevalue("redis_server").url
    s = settings(up, redis_url=url, budget=BUDGET, max_cost=CEILING)
    menu = s.load_menu()
    s = s.model_copy(update={"menu": menu.model_copy(update={"arms": menu.arms[:1]})})
    replicas = 1 if url is None else 2  # in-process ledgers are one per process
    routers = [Router(s, classifier=clf) for _ in range(replicas)]
    servers = [ProxyServer(create_app(router=r)).start() for r in routers]
    try:

        async def main() -> list[Any]:
            clients = [
                AsyncOpenAI(base_url=p.base_url, api_key=KEY_A, max_retries=0, timeout=60)
                for p in servers
            ]

            async def one(i: int) -> Any:
                try:
                    r = await clients[i % len(clients)].chat.completions.create(
                        model="ponder/auto",
                        messages=[{"role": "user", "content": f"What is {i} times 7?"}],
                    )
                except openai.RateLimitError:
                    return 429
                return r.model_dump()["ponder"]["cost"]

            got = await asyncio.gather(*(one(i) for i in range(CLIENTS)))
            for c in clients:
                await c.close()
            return list(got)

        outcomes = asyncio.run(main())
        ledger = asyncio.run(routers[0].spent())
    finally:
        for server in servers:
            server.stop()
    costs = [o for o in outcomes if isinstance(o, float)]
    assert all(isinstance(o, float) or o == 429 for o in outcomes)
    billed = sum(costs)
    assert up.calls("small") == len(costs)
    worst = max(costs)
    assert worst > 10 * CEILING  # the provider did overrun: each request cost 20 ceilings
    # The bound README states: the budget plus one request's overrun (the arm's first).
    assert billed <= BUDGET + (worst - CEILING) + 1e-12, (billed, len(costs))
    assert ledger == pytest.approx(billed, abs=1e-12)  # charged what was billed
    assert BUDGET - worst <= billed  # and the budget was used, not refused wholesale
