"""The processes ``bench_proxy.py`` measures: the fake upstream, ``ponder serve`` and
LiteLLM's proxy, each a subprocess with its own config, started and stopped together."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]

MODEL = "bench"  # the upstream's model name
ANSWER = "The answer is 42."
PROMPT = "What is six times seven? Reply in one short sentence."
PONDER_KEY = "sk-bench-ponder-0123456789"
LITELLM_KEY = "sk-bench-litellm-0123456789"
UPSTREAM_KEY = "sk-bench-upstream"  # the fake upstream accepts any key
UPSTREAM_KEY_ENV = "PONDER_BENCH_UPSTREAM_KEY"
START_TIMEOUT = 300.0  # seconds for every server to answer its health check
LOG_TAIL = 12


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _terminate(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM the process group we started (the process is its leader), then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process ``pid`` and its descendants still
    alive (a server's workers), from ``/proc``; 0 where ``/proc`` is not there."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def _tail(path: Path, lines: int = LOG_TAIL) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) or "(empty log)"


class Upstream:
    """The fake upstream in its own process (``bench/_fake_upstream.py``)."""

    def __init__(
        self, nagle: bool = False, models: tuple[str, ...] = (MODEL,), fill: bool = False
    ) -> None:
        script = str(Path(__file__).with_name("_fake_upstream.py"))
        flags = [*(["--nagle"] if nagle else []), *(["--fill"] if fill else [])]
        self.proc = subprocess.Popen(
            [sys.executable, script, ",".join(models), ANSWER, *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http"):
            _terminate(self.proc)
            raise RuntimeError(f"the fake upstream did not start (said {line!r})")
        self.base_url = line

    def calls(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("calls\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def usage(self) -> list[list[Any]]:
        """``[tag, model, prompt_tokens, completion_tokens]`` per call (``_fake_upstream.py``)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("usage\n")
        self.proc.stdin.flush()
        rows: list[list[Any]] = json.loads(self.proc.stdout.readline())
        return rows

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        _terminate(self.proc, timeout=5)


@dataclass
class Server:
    """A proxy subprocess, its log file and its health check."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    health: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    failure: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.log.parent,
                start_new_session=True,  # Ctrl-C reaches us; we stop the servers ourselves
            )

    def stop(self) -> None:
        if self.proc is not None:
            _terminate(self.proc)


def wait_ready(servers: list[Server], timeout: float = START_TIMEOUT) -> None:
    """Poll every server's health endpoint until it answers 200, it exits, or time is up;
    a server that does not come up gets ``failure`` set (and is stopped)."""
    pending = [s for s in servers if s.proc is not None]
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while pending and time.monotonic() < deadline:
            for s in list(pending):
                assert s.proc is not None
                code = s.proc.poll()
                if code is not None:
                    s.failure = f"exited with code {code} while starting"
                    pending.remove(s)
                    continue
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(s.url + s.health).status_code == 200:
                        pending.remove(s)
            time.sleep(0.25)
    for s in pending:
        s.failure = f"did not answer {s.health} within {timeout:g} s"
        s.stop()


def start_all(servers: list[Server]) -> None:
    """Start every server and wait for all of them; ``RuntimeError`` naming any that failed
    (for benches that need every replica up)."""
    for s in servers:
        s.start()
    wait_ready(servers)
    failed = [f"{s.name}: {s.failure}" for s in servers if s.failure]
    if failed:
        raise RuntimeError("; ".join(failed))


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PONDER_")}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # no download of the price table at start
        LITELLM_LOG="ERROR",  # LiteLLM's proxy: uvicorn log level error, so no access log
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def ponder_server(
    name: str,
    python: str,
    workdir: Path,
    upstream: str,
    *,
    cache_ttl: float,
    redis: str | None,
    extra: dict[str, Any] | None = None,
    output_tokens: int | None = None,
    workers: int = 1,
    levers_off: tuple[str, ...] = (),
) -> Server:
    """``ponder serve`` on the upstream with a one-arm menu; ``workers`` processes (more than
    one needs ``redis``); ``levers_off`` names overhead levers to undo
    (``bench/_ponder_levers.py``)."""
    slug = name.replace(" ", "-").replace("+", "").replace(",", "").replace("/", "-")
    config = {
        "menu": {
            "arms": [
                {
                    "model": f"openai/{MODEL}",
                    "api_base": upstream,
                    "api_key_env": UPSTREAM_KEY_ENV,
                    "input_price": 1.0,
                    "output_price": 2.0,
                    **({"output_tokens": output_tokens} if output_tokens else {}),
                }
            ]
        },
        "auth": True,
        "api_keys": [{"key": PONDER_KEY, "tenant": "bench"}],
        "num_retries": 0,
        "timeout": 30,
        "cache_ttl": cache_ttl,
        # Replicas on one Redis must share the secret their cache and memory keys are made
        # under (ponder refuses a shared Redis without one).
        **({"digest_secret": "bench-digest-secret-0123456789"} if redis else {}),
        **(extra or {}),
    }
    path = workdir / f"{slug}.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    port = free_port()
    if levers_off:
        levers = str(Path(__file__).with_name("_ponder_levers.py"))
        cmd = [python, levers, ",".join(levers_off), "serve", "--config", str(path)]
    else:
        cmd = [python, "-m", "ponder", "serve", "--config", str(path)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    if redis is not None:
        cmd += ["--redis-url", redis]
    env = server_env(**{UPSTREAM_KEY_ENV: UPSTREAM_KEY})
    return Server(name, cmd, env, port, "/health", workdir / f"{slug}.log")


def litellm_server(
    name: str, python: str, workdir: Path, upstream: str, *, cache: dict[str, Any] | None
) -> Server:
    slug = name.replace(" ", "-").replace("+", "")
    config: dict[str, Any] = {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"openai/{MODEL}",
                    "api_base": upstream,
                    "api_key": UPSTREAM_KEY,
                },
            }
        ],
        "general_settings": {"master_key": LITELLM_KEY},
        "litellm_settings": {"num_retries": 0, "request_timeout": 30},
    }
    if cache is not None:
        config["litellm_settings"].update(cache=True, cache_params=cache)
    path = workdir / f"{slug}.yaml"
    path.write_text(json.dumps(config, indent=2))
    port = free_port()
    cmd = [python, "-m", "litellm.proxy.proxy_cli", "--config", str(path)]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    return Server(name, cmd, server_env(), port, "/health/liveliness", workdir / f"{slug}.log")
