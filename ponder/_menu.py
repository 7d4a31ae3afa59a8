"""The menu: the arms a router may choose from, read from YAML or TOML and validated."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ponder._files import read_mapping
from ponder._pricing import Price, estimate_tokens, lookup_price
from ponder._thinking import Thinking, check_thinking, reasoning_strength
from ponder.errors import MenuError

Aggregation = Literal["first", "majority", "best_of_n"]
Effort = Literal["minimal", "low", "medium", "high"]

EFFORT_TOKENS: dict[str, int] = {"minimal": 0, "low": 1000, "medium": 2500, "high": 6000}
"""Hidden reasoning tokens assumed per answer at each ``reasoning_effort`` (also for a
reasoning model asked for no effort, which reasons at ``medium``). Providers bill them as
output; they are assumptions to price an arm before it has run, set ``output_tokens`` and
``thinking_budget`` from your own logs where you have them."""


class Arm(BaseModel):
    """One way to answer: a model, how hard it thinks, how many samples, how they combine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1, description="litellm model name, e.g. 'gpt-4o-mini'")
    name: str | None = Field(default=None, description="unique label; defaults to the model")
    thinking_budget: int | None = Field(default=None, ge=0, description="thinking tokens")
    reasoning_effort: Effort | None = None
    samples: int = Field(default=1, ge=1, le=64)
    aggregation: Aggregation = "first"
    input_price: float | None = Field(default=None, ge=0, description="USD per 1M input tokens")
    output_price: float | None = Field(default=None, ge=0, description="USD per 1M output tokens")
    output_tokens: int = Field(default=400, ge=1, description="expected answer tokens per sample")
    ability: float | None = Field(default=None, description="latent ability, overrides the model")
    reasoning: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="reasoning strength 0-1; defaults from the effort, budget or model name",
    )
    like: str | None = Field(default=None, description="a trained arm whose ability to borrow")
    adaptive: bool = Field(
        default=False, description="draw samples in batches, stop once the vote is settled"
    )
    batch: int = Field(default=2, ge=1, le=64, description="samples per batch when adaptive")
    api_base: str | None = Field(default=None, description="provider URL, e.g. a local server")
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the provider key"
    )

    @model_validator(mode="after")
    def _check(self) -> Arm:
        if self.thinking_budget is not None and self.reasoning_effort is not None:
            raise ValueError("set thinking_budget or reasoning_effort, not both")
        if self.samples > 1 and self.aggregation == "first":
            raise ValueError(
                f"{self.samples} samples with aggregation 'first' would pay for samples "
                "that are thrown away; use 'majority' or 'best_of_n'"
            )
        if self.adaptive and self.samples < 2:
            raise ValueError("adaptive sampling needs samples >= 2 (the most it may draw)")
        if (self.input_price is None) != (self.output_price is None):
            raise ValueError("set both input_price and output_price, or neither")
        return self

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def reasoning_strength(self) -> float:
        """How strongly the arm reasons before answering (0-1): what it gains, by the
        classifier's reckoning, on queries that need reasoning."""
        if self.reasoning is not None:
            return self.reasoning
        return reasoning_strength(
            self.model, effort=self.reasoning_effort, budget=self.thinking_budget
        )

    @property
    def thinking(self) -> Thinking:
        """What the arm asks its model to think (checked and mapped to the provider's
        parameters by :mod:`ponder._thinking`)."""
        return Thinking(
            self.model, self.thinking_budget, self.reasoning_effort, self.output_tokens, self.label
        )

    @property
    def thinking_tokens(self) -> int:
        """Hidden reasoning tokens expected per sample: the thinking budget, else the
        effort's assumed count (:data:`EFFORT_TOKENS`), else, for a model that reasons by
        default, the count at ``medium``."""
        if self.thinking_budget is not None:
            return self.thinking_budget
        if self.reasoning_effort is not None:
            return EFFORT_TOKENS[self.reasoning_effort]
        return EFFORT_TOKENS["medium"] if self.reasoning_strength >= 1.0 else 0

    def price(self) -> Price:
        if self.input_price is not None and self.output_price is not None:
            return Price(self.input_price, self.output_price)
        return lookup_price(self.model)

    @property
    def blended_price(self) -> float:
        """USD per million tokens at a typical 1:3 input:output mix (what the prior reads)."""
        p = self.price()
        return (p.input + 3 * p.output) / 4

    def expected_cost(self, input_tokens: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Expected USD for one request, given each query's input tokens."""
        out = self.output_tokens + self.thinking_tokens
        per_sample = self.price().cost(input_tokens, float(out))
        return np.asarray(per_sample * self.samples, dtype=np.float64)


class Menu(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    arms: tuple[Arm, ...] = Field(min_length=1)
    max_cost: float | None = Field(default=None, gt=0, description="USD ceiling per request")
    lam: float = Field(default=0.5, ge=0, description="quality-vs-cost trade-off (0 = quality)")

    @model_validator(mode="after")
    def _unique(self) -> Menu:
        seen: set[str] = set()
        for a in self.arms:
            if a.label in seen:
                raise ValueError(f"two arms are named '{a.label}'; give each a unique name")
            seen.add(a.label)
        return self

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(a.label for a in self.arms)

    def expected_costs(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        tokens = np.array([estimate_tokens(t) for t in texts], dtype=np.float64)
        return np.stack([a.expected_cost(tokens) for a in self.arms], axis=1)

    def check_prices(self) -> None:
        """Resolve every arm's price and check its thinking setting now, so a bad menu fails
        at load, not mid-request."""
        for a in self.arms:
            a.price()
            check_thinking(a.thinking)

    @classmethod
    def from_file(cls, path: str | Path) -> Menu:
        """A menu from a YAML or TOML file, prices and thinking checked (the verb of
        :meth:`ponder.Settings.from_file`). Raises :class:`~ponder.MenuError`."""
        p = Path(path)
        data = read_mapping(p, MenuError, "menu")
        menu = cls.parse(data, source=str(p))
        menu.check_prices()
        return menu

    @classmethod
    def load(cls, path: str | Path) -> Menu:
        """The same as :meth:`from_file` (the older name, kept so scripts keep working)."""
        return cls.from_file(path)

    @classmethod
    def parse(cls, data: object, source: str = "menu") -> Menu:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            e = exc.errors()[0]
            loc = ".".join(str(x) for x in e["loc"])
            raise MenuError(f"{source}: {loc}: {e['msg']}") from None

    @classmethod
    def default(cls) -> Menu:
        path = resources.files("ponder") / "menus" / "default.yaml"
        with resources.as_file(path) as p:
            return cls.from_file(p)
