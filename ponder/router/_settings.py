"""One settings object for a router, read once (file, then environment) and passed down.

A config file is YAML or TOML. Its keys are the fields of :class:`Settings`; ``menu`` is
either a path to a menu file or the menu itself, inline. A file whose top level has
``arms`` is taken as a bare menu. Environment variables ``PONDER_<FIELD>`` override the
file, so a deployment can change, say, the budget without editing the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from ponder._files import read_mapping
from ponder._menu import Arm, Menu
from ponder.errors import ConfigError, MenuError

MIN_SECRET = 16
"""Shortest ``digest_secret`` accepted: a short one could be found by trying them all."""


class ApiKey(BaseModel):
    """A proxy API key: the key itself (or the variable holding it) and whom it serves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: SecretStr | None = None
    key_env: str | None = None
    tenant: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    budget: float | None = Field(default=None, gt=0, description="USD for this key")

    @model_validator(mode="after")
    def _one_source(self) -> ApiKey:
        if (self.key is None) == (self.key_env is None):
            raise ValueError("give exactly one of key and key_env")
        return self


class Profile(BaseModel):
    """A named routing profile, served as the model ``ponder/<name>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lam: float | None = Field(default=None, ge=0)
    max_cost: float | None = Field(default=None, gt=0)


class Settings(BaseSettings):
    """Everything a :class:`~ponder.Router` needs besides its extension points."""

    model_config = SettingsConfigDict(
        env_prefix="PONDER_", extra="forbid", frozen=True, arbitrary_types_allowed=True
    )

    menu: Menu | Path | None = Field(
        default=None, description="menu file or inline menu; default: the shipped menu"
    )
    model: Path | None = Field(
        default=None, description="trained classifier directory; default: the shipped model"
    )
    budget: float | None = Field(
        default=None, gt=0, description="global spending budget in USD (none: unlimited)"
    )
    max_cost: float | None = Field(
        default=None, gt=0, description="per-request ceiling in USD; overrides the menu's"
    )
    lam: float | None = Field(
        default=None, ge=0, description="quality-vs-cost trade-off; overrides the menu's"
    )
    adaptive_confidence: float = Field(
        default=0.95, gt=0, lt=1, description="adaptive arms stop once the vote is this sure"
    )
    escalate_below: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="escalate when the share of samples agreeing with the answer is below",
    )
    verify_threshold: float = Field(
        default=0.5, description="escalate when the verifier scores the answer below"
    )
    max_escalations: int = Field(default=2, ge=0, le=16, description="extra arms per request")
    timeout: float = Field(default=60.0, gt=0, description="seconds per provider call")
    deadline: float = Field(
        default=120.0,
        gt=0,
        description="seconds a whole request may take: retries, samples, escalations and a "
        "live stream (a timeout, 504, when it passes without an answer)",
    )
    lease_margin: float = Field(
        default=30.0,
        gt=0,
        description="seconds a budget hold outlives its request's deadline: a hold whose "
        "settlement never comes (a crash, an outage) is given back then",
    )
    num_retries: int = Field(default=2, ge=0, le=10, description="provider retries per call")
    retry_backoff: float = Field(
        default=0.5, gt=0, le=60, description="seconds before the first retry (doubling after)"
    )
    retry_max_wait: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="longest wait before a retry; a longer Retry-After moves to the next arm",
    )
    max_samples: int = Field(
        default=16, ge=1, le=64, description="most samples one request may fan out to in all"
    )
    memory_ttl: float = Field(
        default=7 * 24 * 3600.0,
        ge=0,
        description="seconds to remember the arm a query escalated to (0: off)",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for budgets, cache, escalation memory and feedback: "
        "redis://host:port/db (rediss:// for TLS), redis+cluster://node:port[,node:port] "
        "for a Redis Cluster, "
        "redis+sentinel://sentinel:port[,...]/service[/db] behind Sentinel (none: in-process)",
    )
    settle_wait: float = Field(
        default=0.1,
        ge=0,
        le=0.3,
        description="seconds a budget settlement waits for a replica to acknowledge it (Redis "
        "WAIT) on a Redis Cluster or behind Sentinel, so that losing the master does not lose "
        "it; past that it goes ahead, logged and counted (0: do not wait)",
    )
    budget_fail_open: bool = Field(
        default=False,
        description="serve without budget checks when the ledger is unreachable (default: refuse)",
    )
    digest_secret: SecretStr | None = Field(
        default=None,
        description="key of the HMACs naming cache and escalation-memory entries (16+ "
        "characters); required with redis_url, the same on every replica (none: per process)",
    )
    shutdown_grace: float = Field(
        default=10.0,
        ge=0,
        description="seconds ponder serve lets requests finish after SIGTERM; streams still "
        "open then end with an error event and their budget holds are settled",
    )
    start_degraded: bool = Field(
        default=False,
        description="ponder serve starts even if Redis does not answer (default: exit 2)",
    )
    feedback: bool = Field(default=False, description="record each routed request for retraining")
    feedback_text: bool = Field(
        default=False, description="keep the query text in feedback records (privacy: off)"
    )
    api_keys: tuple[ApiKey, ...] = Field(
        default=(), description="proxy keys and their tenants (env: JSON list)"
    )
    auth: bool = Field(default=True, description="require a proxy key (turn off only locally)")
    metrics_key: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="the only key that may read /metrics (Bearer; 16+ characters); none: any "
        "proxy key",
    )
    profiles: dict[str, Profile] = Field(
        default_factory=dict, description="extra routing profiles besides ponder/auto"
    )
    passthrough: tuple[str, ...] = Field(
        default=(), description="models the proxy forwards as they are, besides the menu's"
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="request size limit")
    judge: Arm | None = Field(
        default=None, description="model that picks among best_of_n samples (an arm's fields)"
    )
    cache_ttl: float = Field(
        default=0.0, ge=0, description="seconds to keep answers in the exact cache (0: off)"
    )

    @field_validator("digest_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET:
            raise ValueError(f"must be at least {MIN_SECRET} characters (a random string)")
        return value

    @field_validator("menu", mode="before")
    @classmethod
    def _menu(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return Menu.parse(value, source="config: menu")
        return value

    def load_menu(self) -> Menu:
        """The menu, with prices and thinking checked, so a bad one fails before any call."""
        if self.menu is None:
            return Menu.default()
        if isinstance(self.menu, Path):
            return Menu.from_file(self.menu)
        self.menu.check_prices()
        return self.menu

    @classmethod
    def from_file(cls, path: str | Path) -> Settings:
        """Settings from a YAML/TOML file; ``PONDER_*`` variables set in the environment win.

        Relative ``menu`` and ``model`` paths are taken relative to the file.
        """
        p = Path(path)
        data = read_mapping(p, ConfigError, "config")
        if "arms" in data:
            data = {"menu": data}
        for key in ("menu", "model"):
            value = data.get(key)
            if isinstance(value, str):
                data[key] = (p.parent / value).resolve()
        try:
            from_env = cls().model_dump(exclude_unset=True)
            return cls(**{**data, **from_env})
        except MenuError as exc:
            raise ConfigError(f"{p}: {exc}") from None
        except ValidationError as exc:
            raise ConfigError(f"{p}: {_first_error(exc)}") from None

    @classmethod
    def from_env(cls) -> Settings:
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError(f"environment: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    loc = ".".join(str(x) for x in e["loc"]) or "settings"
    return f"{loc}: {e['msg']}"
