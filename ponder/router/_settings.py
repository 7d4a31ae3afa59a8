"""One settings object for a router, read once (file, then environment) and passed down.

A config file is YAML or TOML. Its keys are the fields of :class:`Settings`; ``menu`` is
either a path to a menu file or the menu itself, inline. A file whose top level has
``arms`` is taken as a bare menu. Environment variables ``PONDER_<FIELD>`` override the
file, so a deployment can change, say, the budget without editing the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ponder._files import read_mapping
from ponder._menu import Arm, Menu
from ponder.errors import ConfigError, MenuError


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
    num_retries: int = Field(default=2, ge=0, le=10, description="provider retries per call")
    max_samples: int = Field(
        default=16, ge=1, le=64, description="most samples one request may fan out to in all"
    )
    judge: Arm | None = Field(
        default=None, description="model that picks among best_of_n samples (an arm's fields)"
    )
    cache_ttl: float = Field(
        default=0.0, ge=0, description="seconds to keep answers in the exact cache (0: off)"
    )

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
            return Menu.load(self.menu)
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
