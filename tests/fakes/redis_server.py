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

import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

START_TIMEOUT = 5.0


_HANDED_OUT: set[int] = set()
_RNG = random.Random()  # its own: a test that seeds the global generator must not fix ports


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out for outgoing connections (Linux's default when
    the range cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free port below the kernel's ephemeral range, never handed out before in this process.

    Below the range, because a port the kernel hands out (``bind(0)``) is free only until it
    hands it out again: any outgoing connection of a running test may take it as its local
    port before the server binds it, or while a test has the server stopped. Never twice,
    because a cluster draws a dozen ports before its first node binds one."""
    high = _ephemeral_low()
    low = max(1024, high - 20000)
    for _ in range(1000):
        port = _RNG.randrange(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port between {low} and {high}")


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


def _server_args(binary: str, port: int, workdir: Path, *extra: str) -> list[str]:
    return [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "yes",
        "--dir", str(workdir),
        # A replica syncs at once (the default waits 5 s for more replicas to share it).
        "--repl-diskless-sync-delay", "0",
        *extra,
    ]  # fmt: skip


class _Node:
    """One process of a cluster or a sentinel set, restartable on its port."""

    def __init__(self, args: list[str], port: int, workdir: Path) -> None:
        self.args, self.port, self.workdir = args, port, workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "server.log").open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if _answers(self.port, self.proc.pid):
                return
            time.sleep(0.02)
        log = (self.workdir / "server.log").read_text(errors="replace")
        self.kill()
        raise RuntimeError(f"redis node on port {self.port} did not start; its output:\n{log}")

    def freeze(self) -> None:
        """SIGSTOP: a node that hangs (a replica that acknowledges nothing meanwhile)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown (no last words to replicas or sentinels)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def _poll(ready: Callable[[], bool], what: str, timeout: float = 30.0, step: float = 0.1) -> None:
    """Wait until ``ready()``, or fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(step)


def wait_replicated(port: int, timeout: float = 10.0) -> None:
    """Wait until every replica of the master on ``port`` has its whole replication stream:
    replication is asynchronous, so a kill before that may lose acknowledged writes, and a
    test that means to show nothing is lost must not kill earlier."""

    def caught_up() -> bool:
        info = _command(port, "INFO", "replication")
        offset = re.search(r"master_repl_offset:(\d+)", info)
        replicas = re.findall(r"slave\d+:.*?offset=(\d+)", info)
        return bool(offset and replicas) and all(
            int(r) >= int(offset.group(1)) for r in replicas  # type: ignore[union-attr]
        )

    _poll(caught_up, f"the replicas of 127.0.0.1:{port} to catch up", timeout, step=0.05)


def _command(port: int, *args: str) -> str:
    """One command over the inline protocol, its reply as text (no client library)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall((" ".join(args) + "\r\n").encode())
        reply = b""
        s.settimeout(0.5)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
                if reply.endswith(b"\r\n") and not reply.startswith((b"$", b"*")):
                    break
                if reply.startswith(b"$") and reply.count(b"\r\n") >= 2:
                    break
        except TimeoutError:
            pass
    return reply.decode(errors="replace")


class RedisCluster:
    """A Redis Cluster on loopback: ``masters`` masters with ``replicas`` replicas each,
    made by ``redis-cli --cluster create``, with a node timeout short enough that a killed
    master's replica takes over in a few seconds, and long enough (3 s) that a node starved of
    CPU on a loaded test machine is not failed over before the test kills one::

        with RedisCluster() as cluster:
            cluster.url            # redis+cluster://127.0.0.1:<any node's port>
            cluster.kill_master_of("ponder:budget:{global}")
            cluster.wait_for_failover()
    """

    def __init__(self, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 3000) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            raise RuntimeError("redis-server and redis-cli are not installed")
        self.cli = cli
        self._tmp = tempfile.TemporaryDirectory(prefix="ponder-cluster-")
        root = Path(self._tmp.name)
        self.replicas = replicas
        self.nodes: list[_Node] = []
        for i in range(masters * (1 + replicas)):
            port = free_port()
            work = root / f"node{i}"
            args = _server_args(
                server, port, work,
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(work / "nodes.conf"),
                "--cluster-port", str(free_port()),  # the bus (default: port + 10000)
                "--cluster-node-timeout", str(node_timeout_ms),
                "--cluster-replica-validity-factor", "0",  # any replica may take over
            )  # fmt: skip
            self.nodes.append(_Node(args, port, work))

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [self.cli, "--cluster", "create",
                 *(f"127.0.0.1:{p}" for p in self.ports),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            _poll(lambda: self._healthy(), "the cluster to form")
        except BaseException:
            self.close()
            raise
        return self

    def _healthy(self) -> bool:
        masters = 0
        for node in self.nodes:
            if node.proc is None:
                continue
            info = _command(node.port, "CLUSTER", "INFO")
            if "cluster_state:ok" not in info:
                return False
            if "myself,master" in _command(node.port, "CLUSTER", "NODES"):
                masters += 1
            elif "master_link_status:up" not in _command(node.port, "INFO", "replication"):
                return False  # a replica not yet synced would lose everything on failover
        return masters * (1 + self.replicas) >= len([n for n in self.nodes if n.proc])

    def master_of(self, key: str) -> _Node:
        """The live node that owns ``key``'s slot now."""
        for node in self.nodes:
            if node.proc is None:
                continue
            slot = _command(node.port, "CLUSTER", "KEYSLOT", key).strip().lstrip(":")
            for line in _command(node.port, "CLUSTER", "NODES").splitlines():
                parts = line.split()
                if len(parts) < 9 or "master" not in parts[2] or "fail" in parts[2]:
                    continue
                for span in parts[8:]:
                    lo, _, hi = span.partition("-")
                    if lo.isdigit() and int(lo) <= int(slot) <= int(hi or lo):
                        port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
                        owner = next(n for n in self.nodes if n.port == port)
                        if owner.proc is None:
                            raise RuntimeError(f"the master of {key!r} is down")
                        return owner
        raise RuntimeError(f"no live master owns {key!r}")

    def replica_of(self, key: str) -> _Node:
        """A live replica of the master that owns ``key``'s slot now (as the replica says:
        the master learns of it later, by gossip)."""
        master = self.master_of(key)
        for node in self.nodes:
            if node.proc is not None and node is not master:
                info = _command(node.port, "INFO", "replication")
                if "role:slave" in info and f"master_port:{master.port}\r\n" in info:
                    return node
        raise RuntimeError(f"the master of {key!r} has no live replica")

    def kill_master_of(self, key: str) -> _Node:
        node = self.master_of(key)
        node.kill()
        return node

    def wait_for_failover(self, key: str, timeout: float = 30.0) -> _Node:
        """Wait until a live node serves ``key``'s slot as master (after a kill)."""
        found: list[_Node] = []

        def promoted() -> bool:
            try:
                node = self.master_of(key)
            except (RuntimeError, OSError):
                return False
            ok = "cluster_state:ok" in _command(node.port, "CLUSTER", "INFO")
            found[:] = [node]
            return ok

        _poll(promoted, f"a replica to take over {key!r}", timeout)
        return found[0]

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        self._tmp.cleanup()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class RedisSentinels:
    """A master, a replica and three sentinels (``redis-server --sentinel``) watching them
    under the service name ``service``, with a one-second down-after, so a killed master
    is replaced by its replica within a few seconds::

        with RedisSentinels() as s:
            s.url                  # redis+sentinel://127.0.0.1:<p1>,127.0.0.1:<p2>,.../mymaster
            s.kill_master(); s.wait_for_failover()
    """

    def __init__(self, service: str = "mymaster", sentinels: int = 3) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed")
        self.service = service
        self._tmp = tempfile.TemporaryDirectory(prefix="ponder-sentinel-")
        root = Path(self._tmp.name)
        mport, rport = free_port(), free_port()
        self.master = _Node(_server_args(server, mport, root / "master"), mport, root / "master")
        self.replica = _Node(
            _server_args(server, rport, root / "replica", "--replicaof", "127.0.0.1", str(mport)),
            rport,
            root / "replica",
        )
        self.sentinels: list[_Node] = []
        quorum = sentinels // 2 + 1
        for i in range(sentinels):
            port = free_port()
            work = root / f"sentinel{i}"
            work.mkdir(parents=True)
            conf = work / "sentinel.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {work}\n"
                f"sentinel monitor {service} 127.0.0.1 {mport} {quorum}\n"
                f"sentinel down-after-milliseconds {service} 1000\n"
                f"sentinel failover-timeout {service} 5000\n"
                f"sentinel parallel-syncs {service} 1\n"
            )
            self.sentinels.append(_Node([server, str(conf), "--sentinel"], port, work))
        self._original = self.master

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}"

    def start(self) -> RedisSentinels:
        try:
            self.master.start()
            self.replica.start()
            for s in self.sentinels:
                s.start()
            port = self.replica.port
            _poll(
                lambda: "master_link_status:up" in _command(port, "INFO", "replication"),
                "the replica to sync",
            )
            _poll(lambda: self.current_master_port() == self.master.port, "the sentinels")
        except BaseException:
            self.close()
            raise
        return self

    def current_master_port(self) -> int | None:
        """The master's port as the first live sentinel reports it."""
        for s in self.sentinels:
            if s.proc is None:
                continue
            reply = _command(
                s.port, "SENTINEL", "get-master-addr-by-name", self.service
            ).split("\r\n")
            ports = [x for x in reply if x.isdigit()]
            if ports:
                return int(ports[-1])
        return None

    def kill_master(self) -> None:
        self.master.kill()

    def wait_for_failover(self, timeout: float = 30.0) -> None:
        """Wait until the sentinels name the replica as master and it takes writes."""
        replica = self.replica if self.master is self._original else self._original

        def promoted() -> bool:
            return (
                self.current_master_port() == replica.port
                and "role:master" in _command(replica.port, "INFO", "replication")
            )

        _poll(promoted, "the sentinels to promote the replica", timeout)
        self.master, self.replica = replica, self.master

    def close(self) -> None:
        for node in [*self.sentinels, self.master, self.replica]:
            node.kill()
        self._tmp.cleanup()

    def __enter__(self) -> RedisSentinels:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
