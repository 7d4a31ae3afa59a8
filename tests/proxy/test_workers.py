"""`ponder serve --workers N`: worker processes on one port, sharing Redis; refused without it.

The CLI runs in a subprocess against the fake upstream and a real redis-server. To know which
worker answered, each test connection is matched to the worker process holding its socket
(``/proc``), so a cache entry one worker wrote is read by the other, not by itself again.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.redis_server import RedisServer, free_port
from tests.fakes.upstream import FakeUpstream
from tests.proxy.serving import serve as serve_process
from tests.proxy.serving import write_config

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")

PROXY_KEY = "sk-proxy-key-for-workers"


def serve(cfg: Path, port: int, *args: str) -> subprocess.Popen[str]:
    return serve_process(cfg, port, PROXY_KEY, *args)


def test_more_than_one_worker_needs_redis(up: FakeUpstream, tmp_path: Path) -> None:
    """In-process budgets and caches would be one per worker: refused in one line, exit 2."""
    proc = serve(write_config(tmp_path, up), free_port(), "--workers", "2")
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: --workers 2 needs Redis (--redis-url"), err


def workers_of(pid: int) -> list[int]:
    """The worker processes of a uvicorn parent: its children running multiprocessing's
    spawn (its resource tracker is a child too)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def holder(conn: http.client.HTTPConnection, server_port: int, workers: list[int]) -> int | None:
    """The worker whose socket is the server's end of ``conn``."""
    assert conn.sock is not None
    client_port = conn.sock.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == server_port and int(remote, 16) == client_port:
            inode = fields[9]
    for w in workers:
        for fd in Path(f"/proc/{w}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return w
            except OSError:
                continue
    return None


def ask(conn: http.client.HTTPConnection, question: str) -> tuple[int, str | None, str]:
    body = json.dumps({"model": "ponder/auto", "messages": [{"role": "user", "content": question}]})
    headers = {"authorization": f"Bearer {PROXY_KEY}", "content-type": "application/json"}
    conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
    r = conn.getresponse()
    data = json.loads(r.read())
    content = data["choices"][0]["message"]["content"] if r.status == 200 else json.dumps(data)
    return r.status, r.getheader("x-ponder-cache"), content


@pytest.fixture
def two_workers(
    up: FakeUpstream, redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    cfg = write_config(tmp_path, up, cache_ttl=60, digest_secret="a-secret-every-worker-shares")
    port = free_port()
    proc = serve(cfg, port, "--workers", "2", "--redis-url", redis_server.url)
    try:
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def connect(port: int, proc: subprocess.Popen[str]) -> http.client.HTTPConnection:
    """A connection on which /health answered (the worker behind it is up)."""
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.communicate()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/health")
            r = conn.getresponse()
            if r.status == 200 and json.loads(r.read())["store"] == "redis":
                return conn
        except (OSError, http.client.HTTPException):
            pass
        conn.close()
        assert time.monotonic() < deadline, "ponder serve --workers 2 did not come up"
        time.sleep(0.2)


def test_workers_share_the_cache_through_redis(
    up: FakeUpstream, two_workers: tuple[subprocess.Popen[str], int]
) -> None:
    """Two workers, each with the settings of the config file (its key, menu and secret):
    an answer one worker cached is a hit on the other, and the upstream is asked once."""
    up.script("small", ["It is 42"])
    proc, port = two_workers
    first = connect(port, proc)
    workers = workers_of(proc.pid)
    assert len(workers) == 2, workers
    a = holder(first, port, workers)
    assert a is not None
    other = None
    # The kernel hands each new connection to either worker that is accepting; the second
    # may still be starting (a loaded machine), so try for a while, not a number of times.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        conn = connect(port, proc)
        if holder(conn, port, workers) not in (a, None):
            other = conn
            break
        conn.close()
    assert other is not None, "no connection reached the second worker"
    assert ask(first, "What is 6 times 7?") == (200, "miss", "It is 42")
    assert ask(other, "What is 6 times 7?") == (200, "hit", "It is 42")
    assert up.calls("small") == 1
    first.close()
    other.close()
