from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ponder.classifiers import DifficultyClassifier, load_default_classifier
from ponder.proxy import create_app
from ponder.router import Router, Settings
from tests.fakes.proxy_server import ProxyServer
from tests.fakes.upstream import FakeUpstream

KEY_A = "sk-ponder-tenant-a"
KEY_B = "sk-ponder-tenant-b"
DIGEST_SECRET = "test-digest-secret-shared-by-replicas"
SMALL = {"input_price": 1.0, "output_price": 2.0}
BIG = {"input_price": 10.0, "output_price": 40.0}


@pytest.fixture(scope="session")
def clf() -> DifficultyClassifier:
    return load_default_classifier()


@pytest.fixture
def up(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUpstream]:
    monkeypatch.setenv("PONDER_TEST_KEY", "sk-provider-secret")
    with FakeUpstream() as server:
        yield server


def menu(up: FakeUpstream, *, samples: int = 1, **extra: Any) -> dict[str, Any]:
    """Two arms on the fake upstream: 'small' (optionally voting) and 'big'."""
    small: dict[str, Any] = {
        "model": "openai/small",
        "name": "small",
        "ability": -1.0,
        "api_base": up.base_url,
        "api_key_env": "PONDER_TEST_KEY",
        **SMALL,
    }
    if samples > 1:
        small.update(samples=samples, aggregation="majority")
    big = {
        "model": "openai/big",
        "name": "big",
        "ability": 3.0,
        "api_base": up.base_url,
        "api_key_env": "PONDER_TEST_KEY",
        **BIG,
    }
    return {"arms": [small, big], "lam": 5.0, **extra}


def settings(up: FakeUpstream, *, samples: int = 1, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "menu": menu(up, samples=samples),
        "num_retries": 0,
        "timeout": 10.0,
        "digest_secret": DIGEST_SECRET,  # what replicas sharing a Redis must agree on
        "api_keys": [
            {"key": KEY_A, "tenant": "a"},
            {"key": KEY_B, "tenant": "b"},
        ],
    }
    return Settings(**{**base, **kw})


ProxyFactory = Callable[..., ProxyServer]


@pytest.fixture
def proxy(clf: DifficultyClassifier) -> Iterator[ProxyFactory]:
    """Start proxies (real uvicorn on loopback) from settings; all stop after the test."""
    started: list[ProxyServer] = []

    def start(s: Settings) -> ProxyServer:
        router = Router(s, classifier=clf)
        server = ProxyServer(create_app(router=router)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
