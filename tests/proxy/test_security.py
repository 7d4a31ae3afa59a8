"""Security: keys required by default, tenants isolated, secrets and prompts out of logs."""

from __future__ import annotations

import logging

import httpx
import openai
import pytest
from openai import OpenAI
from pydantic import ValidationError

from ponder import ConfigError
from ponder.proxy import create_app
from ponder.proxy._auth import Authenticator
from ponder.router import Settings
from tests.fakes.redis_server import RedisServer
from tests.fakes.upstream import FakeUpstream
from tests.proxy.conftest import KEY_A, KEY_B, ProxyFactory, menu, settings

SECRET_PROMPT = "the launch code is tangerine-4471"


def client(base_url: str, key: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)


def test_keys_are_required_unless_auth_is_turned_off(up: FakeUpstream) -> None:
    with pytest.raises(ConfigError, match="requires API keys"):
        create_app(Settings(menu=menu(up)))
    assert Authenticator(Settings(menu=menu(up), auth=False)).authenticate(None).tenant
    auth = Authenticator(settings(up))
    for header in (None, "", "Bearer", "Basic " + KEY_A, "Bearer " + KEY_A[:-1], KEY_A):
        with pytest.raises(Exception, match="API key"):
            auth.authenticate(header)
    assert auth.authenticate(f"Bearer {KEY_A}").tenant == "a"
    assert auth.authenticate(f"bearer {KEY_B}").tenant == "b"


def test_tenants_cannot_read_each_others_cache_memory_or_budget(
    up: FakeUpstream, proxy: ProxyFactory, redis_server: RedisServer
) -> None:
    up.script("small", ["It is 1", "It is 2", "It is 3"])
    up.script("big", ["It is 42"])
    keys = [{"key": KEY_A, "tenant": "a", "budget": 1.0}, {"key": KEY_B, "tenant": "b"}]
    s = settings(up, samples=3, redis_url=redis_server.url, cache_ttl=60, api_keys=keys)
    p = proxy(s)
    ask = [{"role": "user", "content": "What is 6 times 7?"}]
    a = client(p.base_url, KEY_A).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ask
    )
    assert a.headers["x-ponder-arm"] == "big"  # escalated: remembered and cached for tenant a
    b = client(p.base_url, KEY_B).chat.completions.with_raw_response.create(
        model="ponder/auto", messages=ask
    )
    assert b.headers["x-ponder-cache"] == "miss"  # a's cached answer is not b's
    assert b.headers["x-ponder-chosen"] == "small"  # nor is a's escalation memory
    # Tenant a's spend is on a's ledger only.
    import redis

    r = redis.Redis.from_url(redis_server.url)
    budget_keys = sorted(k.decode() for k in r.scan_iter("ponder:budget:*"))
    assert len([k for k in budget_keys if k.startswith("ponder:budget:{key:")]) == 2
    cache_keys = sorted(k.decode() for k in r.scan_iter("ponder:cache:*"))
    assert {k.split(":")[2] for k in cache_keys} == {"{a}", "{b}"}
    assert all(KEY_A not in k and KEY_B not in k for k in budget_keys)  # no raw keys stored


def test_secrets_and_prompts_stay_out_of_logs(
    up: FakeUpstream, proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    up.script("small", ["x"])
    up.fail("small", status=500, times=50)
    up.fail("big", status=503, times=50)
    up.script("big", ["x"])
    p = proxy(settings(up))
    caplog.set_level(logging.INFO)
    r = httpx.post(
        f"{p.base_url}/chat/completions",
        json={"model": "ponder/auto", "messages": [{"role": "user", "content": SECRET_PROMPT}]},
        headers={"authorization": f"Bearer {KEY_A}"},
        timeout=30,
    )
    assert r.status_code == 502
    text = caplog.text + r.text
    assert "sk-provider-secret" not in text
    assert KEY_A not in text
    assert "tangerine" not in caplog.text
    assert caplog.records  # the check above read real log output (litellm logs calls)


METRICS_KEY = "sk-ponder-metrics-reader-0001"


def test_metrics_need_a_key(up: FakeUpstream, proxy: ProxyFactory) -> None:
    """/metrics shows every tenant's figures: a proxy key reads it, not anyone; with a
    metrics_key, only that key does (not the tenants' keys)."""
    up.script("small", ["x"])
    url = proxy(settings(up)).url + "/metrics"
    for header in (None, "Bearer wrong-key"):
        r = httpx.get(url, headers={"authorization": header} if header else {})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(url, headers={"authorization": f"Bearer {KEY_A}"}).status_code == 200
    url = proxy(settings(up, metrics_key=METRICS_KEY)).url + "/metrics"
    for key in (KEY_A, KEY_B, METRICS_KEY[:-1]):
        r = httpx.get(url, headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.get(url, headers={"authorization": f"Bearer {METRICS_KEY}"})
    assert r.status_code == 200 and "ponder_requests" in r.text
    # The metrics key is not a proxy key.
    models = url.replace("/metrics", "/v1/models")
    r = httpx.get(models, headers={"authorization": f"Bearer {METRICS_KEY}"})
    assert r.status_code == 401
    with pytest.raises(ValidationError, match="metrics_key"):
        settings(up, metrics_key="short")


def test_models_the_proxy_does_not_serve_share_one_metrics_label(
    up: FakeUpstream, proxy: ProxyFactory
) -> None:
    up.script("small", ["x"])
    p = proxy(settings(up, metrics_key=METRICS_KEY))
    ask = [{"role": "user", "content": "What is 6 times 7?"}]
    c = client(p.base_url, KEY_B)
    for i in range(30):
        with pytest.raises(openai.NotFoundError):
            c.chat.completions.create(model=f"tenant-b-secret-model-{i}", messages=ask)
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="ponder/no-such-profile", messages=ask)
    c.chat.completions.create(model="ponder/auto", messages=ask)
    c.chat.completions.create(model="openai/small", messages=ask)  # a pass-through model
    text = httpx.get(f"{p.url}/metrics", headers={"authorization": f"Bearer {METRICS_KEY}"}).text
    assert "secret-model" not in text and "no-such-profile" not in text
    assert 'ponder_requests_total{model="unknown",status="404"} 31.0' in text
    assert 'ponder_requests_total{model="ponder/auto",status="200"} 1.0' in text
    assert 'ponder_requests_total{model="openai/small",status="200"} 1.0' in text
