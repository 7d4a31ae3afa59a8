"""The names of what a router remembers about a request: HMACs under a server secret, with
the tenant in the message.

The answer cache and the escalation memory are keyed by a digest of the request. A plain
hash of the prompt is the same for every tenant, and lets anyone who can read the store
confirm a guessed prompt by hashing it. An HMAC under a secret the store never holds does
neither, and putting the tenant in its message gives two tenants asking the same thing
unrelated keys (the tenant also stays in the key's hash tag, for Redis Cluster).

Where the secret comes from: ``digest_secret`` (``PONDER_DIGEST_SECRET``). Replicas sharing
a Redis must all use the same one, or their cache and memory would never match each other's
(nor survive a restart), so a router whose cache or memory is in Redis refuses to start
without it. In-process stores live and die with the process; for them a secret drawn at
random once per process does, and nothing needs configuring.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ponder.errors import ConfigError
from ponder.router._decide import Decision
from ponder.router._settings import Settings


@functools.cache
def process_secret() -> bytes:
    """A random secret for this process, drawn on first use (not at import)."""
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class Digests:
    """Cache and memory keys under one secret."""

    secret: bytes = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, shared: bool) -> Digests:
        """The configured secret; without one, the process's, unless the keys go to a
        ``shared`` store (Redis), where replicas must agree: then it is an error."""
        configured = settings.digest_secret
        if configured is not None:
            return cls(configured.get_secret_value().encode())
        if shared:
            raise ConfigError(
                "digest_secret is not set: with redis_url, cache and escalation-memory keys "
                "are HMACs under it, and every replica sharing the Redis needs the same one; "
                "set PONDER_DIGEST_SECRET (e.g. to the output of `openssl rand -hex 32`)"
            )
        return cls(process_secret())

    def cache_key(
        self, tenant: str, msgs: list[dict[str, Any]], params: Mapping[str, Any], d: Decision
    ) -> str | None:
        """Everything that shapes the answer; ``None`` when it cannot be serialised."""
        try:
            blob = json.dumps(
                [msgs, dict(params), d.max_cost, d.lam, [e.arm for e in d.arms]],
                sort_keys=True,
                separators=(",", ":"),
            )
        except (TypeError, ValueError):
            return None
        return f"ponder:cache:{{{tenant}}}:{self._mac('cache', tenant, blob)}"

    def memory_key(self, tenant: str, text: str) -> str:
        """The escalation memory of a query: case and spacing do not make it new."""
        normal = re.sub(r"\s+", " ", text.strip().lower())
        return f"ponder:memory:{{{tenant}}}:{self._mac('memory', tenant, normal)}"

    def _mac(self, kind: str, tenant: str, payload: str) -> str:
        # The tenant is length-prefixed so that no (tenant, payload) pair reads as another.
        head = f"ponder {kind}\0{len(tenant)}:{tenant}\0".encode()
        mac = hmac.new(self.secret, head, hashlib.sha256)
        mac.update(payload.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()
