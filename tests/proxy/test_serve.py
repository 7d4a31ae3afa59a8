"""`ponder serve` end to end: the CLI in a subprocess, with a config file and --redis-url."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from openai import OpenAI

from tests.fakes.redis_server import RedisServer, free_port
from tests.fakes.upstream import FakeUpstream
from tests.proxy.serving import wait_up


def test_ponder_serve_subprocess(
    up: FakeUpstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    up.script("small", ["It is 42"])
    cfg = tmp_path / "ponder.yaml"
    cfg.write_text(
        f"""
num_retries: 0
cache_ttl: 60
digest_secret: a-secret-every-replica-shares
api_keys:
  - {{key_env: PONDER_TEST_PROXY_KEY, tenant: a}}
menu:
  arms:
    - model: openai/small
      input_price: 1
      output_price: 2
      api_base: {up.base_url}
      api_key_env: PONDER_TEST_KEY
"""
    )
    port = free_port()
    env = {
        **os.environ,
        "PONDER_TEST_PROXY_KEY": "sk-proxy",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ponder",
            "serve",
            "--config",
            str(cfg),
            "--port",
            str(port),
            "--redis-url",
            redis_server.url,
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_up(proc, url)
        assert httpx.get(f"{url}/health").json()["store"] == "redis"
        client = OpenAI(base_url=f"{url}/v1", api_key="sk-proxy", max_retries=0)
        for _ in range(2):
            raw = client.chat.completions.with_raw_response.create(
                model="ponder/auto", messages=[{"role": "user", "content": "6 times 7?"}]
            )
        assert raw.parse().choices[0].message.content == "It is 42"
        assert raw.headers["x-ponder-cache"] == "hit"
        assert up.calls("small") == 1
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _serve(cfg: Path, port: int, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PONDER_TEST_KEY": "sk-up"}
    command = [sys.executable, "-m", "ponder", "serve", "--config", str(cfg)]
    return subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _health(proc: subprocess.Popen[str], port: int) -> dict[str, object] | None:
    """Poll until the server answers /health (its JSON) or exits (None)."""
    deadline = time.monotonic() + 90
    while proc.poll() is None:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            if r.status_code == 200:
                body: dict[str, object] = r.json()
                return body
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "ponder serve neither came up nor exited"
        time.sleep(0.2)
    return None


@pytest.mark.parametrize("fault", ["wrong password", "unreachable"])
def test_serve_checks_redis_at_start_up(
    up: FakeUpstream, redis_server: RedisServer, tmp_path: Path, fault: str
) -> None:
    """A wrong password or an unreachable Redis is one line and exit 2 at start-up, not a
    server that comes up and fails every request; ``--start-degraded`` opts out."""
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "right-password")
    port = redis_server.port if fault == "wrong password" else free_port()
    url = f"redis://:wrong-password@127.0.0.1:{port}/0"
    cfg = tmp_path / "ponder.yaml"
    cfg.write_text(
        "auth: false\ndigest_secret: a-secret-every-replica-shares\n"
        f"menu:\n  arms:\n    - {{model: openai/small, input_price: 1, output_price: 2, "
        f"api_base: '{up.base_url}', api_key_env: PONDER_TEST_KEY}}\n"
    )
    first_port = free_port()
    proc = _serve(cfg, first_port, "--redis-url", url)
    try:
        assert _health(proc, first_port) is None  # exited without ever serving
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Redis at 127.0.0.1:"), err
    assert "--start-degraded" in lines[0] and "wrong-password" not in err
    # Opted in: it starts, says it is degraded, and serves what needs no budget.
    up.script("small", ["It is 42"])
    serve_port = free_port()
    proc = _serve(cfg, serve_port, "--redis-url", url, "--start-degraded")
    try:
        health = _health(proc, serve_port)
        assert health is not None and health["status"] == "degraded", health
        c = OpenAI(base_url=f"http://127.0.0.1:{serve_port}/v1", api_key="none", max_retries=0)
        ask = [{"role": "user", "content": "6 times 7?"}]
        r = c.chat.completions.create(model="ponder/auto", messages=ask)
        assert r.choices[0].message.content == "It is 42"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_serve_on_a_port_in_use_is_one_line(up: FakeUpstream, tmp_path: Path) -> None:
    """The port is bound before the model loads: taken, it is one line and exit 2, not
    uvicorn's log and exit 1 after seconds of loading."""
    cfg = tmp_path / "ponder.yaml"
    cfg.write_text(
        "auth: false\nmenu:\n  arms:\n    - {model: openai/small, input_price: 1, "
        f"output_price: 2, api_base: '{up.base_url}', api_key_env: PONDER_TEST_KEY}}\n"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = _serve(cfg, taken.getsockname()[1])
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cannot listen on 127.0.0.1:" in lines[0], err
