"""`ponder serve` end to end: the CLI in a subprocess, with a config file and --redis-url."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from openai import OpenAI

from tests.redis_server import RedisServer, free_port
from tests.upstream import FakeUpstream


def test_ponder_serve_subprocess(
    up: FakeUpstream, redis_server: RedisServer, tmp_path: Path
) -> None:
    up.script("small", ["It is 42"])
    cfg = tmp_path / "ponder.yaml"
    cfg.write_text(
        f"""
num_retries: 0
cache_ttl: 60
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
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "ponder serve did not come up"
            time.sleep(0.2)
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
