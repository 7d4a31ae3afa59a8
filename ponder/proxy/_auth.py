"""Proxy API keys: who is calling, which tenant they act for, what they may spend.

Keys are compared as SHA-256 digests with ``hmac.compare_digest`` against every configured
key, so neither the comparison nor the loop leaks, by timing, how much of a key matched or
which key it was.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from ponder.errors import ConfigError
from ponder.proxy._errors import ApiError
from ponder.router import Settings


@dataclass(frozen=True)
class Principal:
    """The caller: a tenant (scopes cache, memory and budget) and that key's budget."""

    tenant: str
    key_id: str
    budget: float | None


ANONYMOUS = Principal(tenant="default", key_id="anonymous", budget=None)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class Authenticator:
    """Resolves the configured keys once; ``authenticate`` checks one request's header."""

    def __init__(self, settings: Settings) -> None:
        self.required = settings.auth
        metrics = settings.metrics_key
        self._metrics = None if metrics is None else _digest(metrics.get_secret_value())
        self._keys: list[tuple[bytes, Principal]] = []
        for i, k in enumerate(settings.api_keys):
            if k.key is not None:
                value = k.key.get_secret_value()
            else:
                assert k.key_env is not None
                value = os.environ.get(k.key_env, "")
                if not value:
                    raise ConfigError(f"api_keys[{i}]: environment variable {k.key_env} is not set")
            key_id = hashlib.sha256(value.encode()).hexdigest()[:12]
            self._keys.append((_digest(value), Principal(k.tenant, key_id, k.budget)))
        if self.required and not self._keys:
            raise ConfigError(
                "the proxy requires API keys but none are configured: set api_keys in the "
                "config (or PONDER_API_KEYS), or turn auth off for local use (auth: false)"
            )

    def authenticate(self, authorization: str | None) -> Principal:
        if not self.required:
            return ANONYMOUS
        token = _bearer(authorization)
        if token is None:
            raise ApiError(
                401,
                "missing API key: send 'Authorization: Bearer <key>'",
                "invalid_request_error",
                "invalid_api_key",
            )
        given = _digest(token)
        found: Principal | None = None
        for digest, principal in self._keys:
            if hmac.compare_digest(digest, given):
                found = principal
        if found is None:
            raise ApiError(401, "invalid API key", "invalid_request_error", "invalid_api_key")
        return found


    def authorize_metrics(self, authorization: str | None) -> None:
        """Let a caller read ``/metrics``, or raise a 401.

        The figures are fleet-wide (every tenant's requests, decisions and cost), so with a
        ``metrics_key`` configured only that key reads them and the tenants' keys do not;
        without one, any proxy key does (and anyone, with ``auth: false``).
        """
        if self._metrics is None:
            self.authenticate(authorization)
            return
        token = _bearer(authorization)
        if token is None or not hmac.compare_digest(_digest(token), self._metrics):
            raise ApiError(
                401,
                "/metrics needs the metrics key: send 'Authorization: Bearer <metrics_key>'",
                "invalid_request_error",
                "invalid_api_key",
            )


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
