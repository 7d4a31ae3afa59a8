"""`ponder serve` as a real process against the fake upstream, for the tests that need one
(several workers, shutdown on a signal): its config, its command line and its environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fakes.upstream import FakeUpstream


def write_config(tmp_path: Path, up: FakeUpstream, **extra: object) -> Path:
    """A config with one arm on the fake upstream and one tenant key; ``extra`` adds or
    replaces top-level fields."""
    arm = {
        "model": "openai/small",
        "input_price": 1,
        "output_price": 2,
        "api_base": up.base_url,
        "api_key_env": "PONDER_TEST_KEY",
    }
    body = {
        "num_retries": 0,
        "api_keys": [{"key_env": "PONDER_TEST_PROXY_KEY", "tenant": "a"}],
        "menu": {"arms": [arm]},
        **extra,
    }
    cfg = tmp_path / "ponder.yaml"
    cfg.write_text(json.dumps(body))  # JSON is YAML
    return cfg


def serve(cfg: Path, port: int, proxy_key: str, *args: str) -> subprocess.Popen[str]:
    """``ponder serve`` on ``port``, the tenant's key set to ``proxy_key``."""
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PONDER_TEST_KEY": "sk-up",
        "PONDER_TEST_PROXY_KEY": proxy_key,
    }
    command = [sys.executable, "-m", "ponder", "serve", "--config", str(cfg), "--port", str(port)]
    return subprocess.Popen(
        [*command, "--log-level", "warning", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_up(proc: subprocess.Popen[str], url: str) -> None:
    """Until ``url``'s /health answers 200; fails with the process's output if it exits,
    or after 90 s."""
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "ponder serve did not come up"
        time.sleep(0.2)
