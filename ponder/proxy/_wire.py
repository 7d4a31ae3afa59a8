"""The request side of the wire: an OpenAI chat request, ponder's per-request controls (in
the body's ``ponder`` object, which the OpenAI SDKs send through ``extra_body``, or in
``x-ponder-*`` headers), and the response headers that report the decision.

The models are strict (``"stream": "yes"`` is a 400, not ``True``) and type every OpenAI
parameter the proxy passes on: a wrong type or a NaN would otherwise travel to the provider
and come back as a provider failure (502) for what is the client's mistake, or, for a NaN,
fail to serialise at all. They are also what the OpenAPI schema (``/openapi.json``)
describes, so a client generator or a fuzzer sees the same rules the proxy enforces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from ponder import _openai_params as params
from ponder._openai_params import StreamOptions
from ponder.proxy._errors import ApiError
from ponder.proxy._messages import Message
from ponder.router import Completion

# The OpenAI parameters are declared once, in ponder._openai_params: the passed ones become
# this schema's fields, typed and bounded as declared, and are checked by the same rule as
# the library's keywords.
INT32 = params.INT32
INT64 = params.INT64


def _finite(lo: float, hi: float, gt: bool = False) -> Any:
    """A float field bounded on both sides; NaN and infinities are refused by name rather
    than by an out-of-range message that would puzzle the sender."""
    if gt:
        return Field(default=None, gt=lo, le=hi, allow_inf_nan=False)
    return Field(default=None, ge=lo, le=hi, allow_inf_nan=False)


class Controls(BaseModel):
    """Per-request routing controls."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_cost: float | None = _finite(0, 1e6, gt=True)
    lam: float | None = _finite(0, 1e6)
    cache: bool = True


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="allow", strict=True, json_schema_extra={"additionalProperties": False}
    )


if TYPE_CHECKING:
    _Passed = _Strict
else:  # the passed parameters, as declared
    _Passed = create_model("_Passed", __base__=_Strict, **params.PASSED_FIELDS)


class ChatRequest(_Passed):
    """An OpenAI chat request: the router's own fields here, the parameters it passes on
    from the declaration (:mod:`ponder._openai_params`). Unknown parameters are refused
    with their names (not by pydantic's generic message), so the schema says
    ``additionalProperties: false`` while the model keeps them long enough to name them."""

    model: str = Field(min_length=1, max_length=256, examples=["ponder/auto"])
    messages: list[Message] = Field(min_length=1, max_length=1024)
    stream: bool = False
    stream_options: StreamOptions | None = None
    # Validated up to INT32 so that n > 1 is refused by name (openai_params); the schema
    # says what is served: 1.
    n: int | None = Field(default=None, ge=1, le=INT32, json_schema_extra={"maximum": 1})
    ponder: Controls = Field(default_factory=Controls)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        where = invalid_unicode(data)
        if where is not None:
            raise ValueError(f"{where}: not valid Unicode (an unpaired surrogate such as \\ud800)")
        if isinstance(data, dict):  # JSON Schema counts 3.0 as an integer; so does the proxy
            data = params.whole_numbers(data)
        return data

    def openai_params(self) -> dict[str, Any]:
        """The OpenAI parameters to pass on; anything else is refused, not silently lost."""
        why = params.refused(self.model_extra or {})
        if why is not None:
            raise ApiError(400, why, "invalid_request_error", "unsupported_parameter")
        if self.n not in (None, 1):
            raise ApiError(
                400,
                "n > 1 is not supported: the router decides how many samples to draw "
                "(give an arm samples: N in the menu)",
                "invalid_request_error",
                "unsupported_parameter",
            )
        given = self.model_dump(include=set(params.PASSED), exclude_unset=True, by_alias=True)
        given = {k: v for k, v in given.items() if v is not None}
        why = params.incoherent(given)
        if why is not None:
            raise ApiError(400, why, "invalid_request_error", None)
        return given

    def message_dicts(self) -> list[dict[str, Any]]:
        out = []
        for m in self.messages:
            d = m.model_dump(exclude_none=True)
            d.setdefault("content", None)  # an assistant turn with tool calls: litellm reads it
            out.append(d)
        return out


def invalid_unicode(data: Any) -> str | None:
    """Where ``data`` holds a string that is not valid Unicode, or ``None``.

    JSON's ``\\u`` escapes can spell a lone surrogate; Python decodes it into a ``str`` that
    cannot be encoded again, so it would fail later, in the classifier's tokenizer or on the
    way to the provider, as a 500 or a 502. Iterative, so any depth the JSON parser accepted
    is walked without recursion."""
    stack: list[tuple[str, Any]] = [("body", data)]
    while stack:
        path, x = stack.pop()
        if isinstance(x, str):
            if not _encodable(x):
                return path
        elif isinstance(x, dict):
            for k, v in x.items():
                if isinstance(k, str) and not _encodable(k):
                    return f"{path} (a key)"
                stack.append((f"{path}.{k}" if path != "body" else str(k), v))
        elif isinstance(x, list):
            stack.extend((f"{path}.{i}", v) for i, v in enumerate(x))
    return None


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_HEADERS = {"max_cost": "x-ponder-max-cost", "lam": "x-ponder-lam"}


def controls_from_headers(headers: Mapping[str, str], body: Controls) -> Controls:
    """Headers override the body's controls (proxies and gateways can set headers)."""
    update: dict[str, Any] = {}
    for field, name in _HEADERS.items():
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
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        name = _HEADERS.get(field, "x-ponder-*")
        raise ApiError(400, f"header {name}: {first['msg']}", "invalid_request_error") from None


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
