"""The request side of the wire: an OpenAI chat request, ponder's per-request controls (in
the body's ``ponder`` object, which the OpenAI SDKs send through ``extra_body``, or in
``x-ponder-*`` headers), and the response headers that report the decision."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ponder.proxy._errors import ApiError
from ponder.router import Completion

# OpenAI parameters that mean the same on every arm and are passed to each sample. The
# router owns model, n and streaming; tools and logprobs would need a routed answer to carry
# more than text, which it does not yet.
PASSED = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "user",
        "response_format",
        "logit_bias",
    }
)
OWNED = frozenset({"model", "messages", "stream", "stream_options", "n", "ponder"})


class Controls(BaseModel):
    """Per-request routing controls."""

    model_config = ConfigDict(extra="forbid")

    max_cost: float | None = Field(default=None, gt=0, le=1e6)
    lam: float | None = Field(default=None, ge=0, le=1e6)
    cache: bool = True

    @field_validator("max_cost", "lam")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[Message] = Field(min_length=1, max_length=1024)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int | None = Field(default=None, ge=1)
    ponder: Controls = Field(default_factory=Controls)

    def openai_params(self) -> dict[str, Any]:
        """The OpenAI parameters to pass on; anything else is refused, not silently lost."""
        extra = dict(self.model_extra or {})
        unknown = sorted(set(extra) - PASSED)
        if unknown:
            raise ApiError(
                400,
                f"unsupported parameter(s): {', '.join(unknown)} (supported: "
                f"{', '.join(sorted(PASSED))})",
                "invalid_request_error",
                "unsupported_parameter",
            )
        if self.n not in (None, 1):
            raise ApiError(
                400,
                "n > 1 is not supported: the router decides how many samples to draw "
                "(give an arm samples: N in the menu)",
                "invalid_request_error",
                "unsupported_parameter",
            )
        return extra

    def message_dicts(self) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True) for m in self.messages]


def controls_from_headers(headers: Mapping[str, str], body: Controls) -> Controls:
    """Headers override the body's controls (proxies and gateways can set headers)."""
    update: dict[str, Any] = {}
    for name, field in (("x-ponder-max-cost", "max_cost"), ("x-ponder-lam", "lam")):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            update[field] = float(raw)
        except ValueError:
            raise ApiError(
                400, f"header {name}: not a number: {raw[:40]!r}", "invalid_request_error"
            ) from None
    cache = headers.get("x-ponder-cache")
    if cache is not None:
        update["cache"] = cache.strip().lower() not in ("off", "no", "false", "0", "no-store")
    if not update:
        return body
    try:
        return Controls(**{**body.model_dump(), **update})
    except ValueError as exc:
        raise ApiError(
            400, f"x-ponder-* headers: {exc}".splitlines()[0], "invalid_request_error"
        ) from None


def decision_headers(c: Completion) -> dict[str, str]:
    t = c.ponder
    return {
        "x-ponder-chosen": t.chosen_arm,
        "x-ponder-arm": t.answered_by,
        "x-ponder-cost": f"{t.cost:.8f}",
        "x-ponder-escalations": str(t.escalations),
        "x-ponder-samples": str(t.samples_used),
        "x-ponder-cache": "hit" if t.cache_hit else "miss",
    }
