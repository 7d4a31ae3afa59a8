"""Which Redis a URL names, and the redis-py client that talks to it.

Three deployments, told apart by the URL's scheme:

- ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://path``): one server, the default.
- ``redis+cluster://host:port[,host:port...]`` (``rediss+cluster://``): a Redis Cluster,
  reached through any of its nodes; redis-py's ``RedisCluster`` learns the slot map from
  it and follows the cluster through ``MOVED`` redirects and failovers.
- ``redis+sentinel://host:port[,host:port...]/service[/db]`` (``rediss+sentinel://``):
  a master and its replicas watched by Sentinel; the client asks the sentinels where the
  master of ``service`` is whenever it opens a connection, so a promoted replica is found.

Every client is built with no retries (see :mod:`ponder.router._redis`): a failover reads
as the store being away until the new master answers, never as a ledger write applied
twice. The URL's password, if any, is the data nodes'; sentinels are asked without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ponder.errors import ConfigError

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SENTINEL_SCHEMES = {"redis+sentinel": "redis", "rediss+sentinel": "rediss"}


@dataclass(frozen=True)
class Target:
    """What a URL points at: its ``kind`` (``single``, ``cluster``, ``sentinel``), the
    ``hosts`` given, and for the other kinds, what the client needs besides."""

    kind: str
    hosts: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False
    service: str = ""
    db: int = 0

    @property
    def where(self) -> str:
        """The servers, without credentials, for messages."""
        hosts = ",".join(f"{h}:{p}" for h, p in self.hosts)
        if self.kind == "cluster":
            return f"cluster {hosts}"
        if self.kind == "sentinel":
            return f"sentinel {hosts} service {self.service}"
        return hosts


def parse_target(url: str) -> Target:
    """The :class:`Target` of a ``redis+cluster://`` or ``redis+sentinel://`` URL (a plain
    URL is ``single``, its hosts unparsed: redis-py reads it). :class:`ConfigError` when the
    URL cannot name a cluster or a sentinel set."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or (scheme not in CLUSTER_SCHEMES and scheme not in SENTINEL_SCHEMES):
        return Target("single", ())
    cluster = scheme in CLUSTER_SCHEMES
    base = CLUSTER_SCHEMES.get(scheme) or SENTINEL_SCHEMES[scheme]
    netloc, _, path = rest.partition("/")
    path, _, query = path.partition("?")
    creds, at, hostlist = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = creds.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    hosts = tuple(_host(h, url) for h in hostlist.split(",") if h)
    if not hosts:
        raise ConfigError(f"{scheme}:// URL names no host (e.g. {scheme}://127.0.0.1:7000)")
    parts = [p for p in path.split("/") if p]
    db = 0
    options = dict(parse_qsl(query))
    if cluster:
        if parts and parts != ["0"]:
            raise ConfigError("a Redis Cluster has only database 0; drop the path of the URL")
        return Target("cluster", hosts, username, password, base == "rediss")
    if not parts:
        raise ConfigError(
            f"{scheme}:// URL names no service: {scheme}://host:26379/<service-name>[/db]"
        )
    if len(parts) > 1 or "db" in options:
        raw = options.get("db", parts[1] if len(parts) > 1 else "0")
        if not raw.isdigit():
            raise ConfigError(f"the database of a {scheme}:// URL must be a number, got {raw!r}")
        db = int(raw)
    return Target("sentinel", hosts, username, password, base == "rediss", unquote(parts[0]), db)


def _host(text: str, url: str) -> tuple[str, int]:
    try:
        parts = urlsplit(f"//{text}")
        port = parts.port
    except ValueError:
        raise ConfigError(f"invalid host in Redis URL: {text!r}") from None
    return parts.hostname or "localhost", port or (26379 if "sentinel" in url else 6379)


def cluster_client(target: Target, common: dict[str, Any]) -> Any:
    """A ``RedisCluster`` over the given nodes. ``max_connections`` is per node; the store
    bounds its own concurrency below it, as the cluster client refuses rather than waits
    when a node's pool is full."""
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    nodes = [ClusterNode(h, p) for h, p in target.hosts]
    return RedisCluster(
        startup_nodes=nodes,
        username=target.username,
        password=target.password,
        ssl=target.tls,
        # A killed master's slots fail over to its replica: keep serving the slots whose
        # masters are alive meanwhile rather than refuse every key.
        require_full_coverage=False,
        **common,
    )


def sentinel_client(target: Target, common: dict[str, Any]) -> tuple[Any, Any]:
    """The master of ``target.service``, as the sentinels name it, and the ``Sentinel``
    (to close with it)."""
    from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

    timeouts = {k: common[k] for k in ("socket_timeout", "socket_connect_timeout")}
    sentinel = Sentinel(
        list(target.hosts),
        sentinel_kwargs={**timeouts, "protocol": 2},
        **timeouts,
    )
    client = sentinel.master_for(
        target.service,
        connection_pool_class=SentinelConnectionPool,
        username=target.username,
        password=target.password,
        ssl=target.tls,
        db=target.db,
        **common,
    )
    return client, sentinel
