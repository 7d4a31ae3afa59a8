"""A real, throwaway ``redis-server`` for tests.

``RedisServer`` runs the binary as a subprocess on 127.0.0.1, on a free port, with no
persistence and its working directory in a temporary directory::

    with RedisServer() as server:
        store = RedisStore(server.url)
        ...
        server.stop()    # Redis goes away: clients see refused connections
        server.start()   # and comes back on the same port, empty
        server.freeze()  # or hangs: connections are accepted, nothing answers

A real server rather than a fake, because what is under test is how the store behaves
against Redis itself: Lua atomicity, PX expiry, stream trimming, refused connections.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

START_TIMEOUT = 5.0


def free_port() -> int:
    """A port the kernel just handed out, so nothing else is likely to take it soon."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int, pid: int) -> bool:
    """Whether the server on ``port`` answers and is process ``pid`` (not another server that
    already held the port). Speaks the inline protocol: no client library involved."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"INFO server\r\n")
            reply = b""
            while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    found = re.search(rb"process_id:(\d+)", reply)
    return found is not None and int(found.group(1)) == pid


class RedisServer:
    """One ``redis-server`` process; ``stop`` and ``start`` keep the port."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = found
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="ponder-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        if self.running:
            raise RuntimeError("RedisServer already started")
        workdir = Path(self._tmp.name)
        log = workdir / "server.log"  # redis-server reports startup errors on stdout
        output = log.open("wb")
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--dir", str(workdir),
        ]  # fmt: skip
        with output:
            self._proc = subprocess.Popen(
                args, cwd=workdir, stdout=output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if _answers(self.port, self._proc.pid):
                return self
            time.sleep(0.02)
        code = self._proc.poll()
        self._kill()
        what = f"exited with code {code}" if code is not None else "did not answer"
        err = log.read_text(errors="replace").strip()
        raise RuntimeError(
            f"redis-server {what} on port {self.port} within {START_TIMEOUT:g} s"
            + (f"; its output:\n{err}" if err else "")
        )

    def stop(self) -> None:
        """Terminate the server and wait for it, so its port refuses connections at once."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a frozen server cannot handle SIGTERM
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def freeze(self) -> None:
        """SIGSTOP the server: it still accepts connections (the kernel does) but never
        answers, which is what a hung or overloaded Redis looks like to a client."""
        if self._proc is None:
            raise RuntimeError("RedisServer is not running")
        self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def close(self) -> None:
        """Stop the server and remove its working directory."""
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
