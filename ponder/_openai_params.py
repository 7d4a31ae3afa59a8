"""The OpenAI chat parameters ponder knows: the one declaration every list is derived from.

Each parameter is declared once, here: its type and bounds, whether it is passed to the
provider on every sample or owned by the router, whether it bounds the answer's length, and
which capability of an arm it needs (tools, a JSON schema for the answer, images). From
this come the proxy's wire schema (:class:`ponder.proxy` builds its ``ChatRequest`` from
:data:`PASSED_FIELDS`), the parameters the router never lets a caller set (:data:`OWNED`),
the ones that limit an answer (:data:`ANSWER_KEYS`), and the check the library applies to
``Router.acomplete(**openai_kwargs)`` (:func:`check_params`), so the library and the proxy
refuse the same things with the same words.

The rule: a parameter is passed on as given or refused by name, never dropped. A parameter
ponder does not declare is refused; one the router owns is refused with what to use
instead; one an arm cannot take keeps the request off that arm (see :func:`needs`), and a
request no arm can take is refused before anything is spent.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ponder.errors import RequestError, UnsupportedParameterError

INT32 = 2**31 - 1
INT64 = 2**63 - 1

Feature = Literal["tools", "json_schema", "images"]
"""What a request may need of an arm beyond text: calling tools, answering to a JSON
schema, reading images."""
FEATURES: tuple[Feature, ...] = ("tools", "json_schema", "images")


# -- the value types of the structured parameters -------------------------------------------
class _Open(BaseModel):
    """OpenAI adds fields over time; unknown ones inside a value are passed on as given."""

    model_config = ConfigDict(extra="allow", strict=True)


class JsonSchema(_Open):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str | None = None
    # ``schema`` would shadow a BaseModel attribute: named on the wire by its alias.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


class ResponseFormat(_Open):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None


class FunctionDef(_Open):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Open):
    type: Literal["function"]
    function: FunctionDef


class FunctionName(_Open):
    name: str = Field(min_length=1, max_length=64)


class NamedToolChoice(_Open):
    type: Literal["function"]
    function: FunctionName


class StreamOptions(_Open):
    include_usage: bool = False


# -- the declaration --------------------------------------------------------------------------
Owner = Literal["provider", "router"]


@dataclass(frozen=True)
class Param:
    """One OpenAI parameter. ``owner``: ``provider`` parameters are passed to every
    sample; ``router`` ones are the router's to set (``why`` says what to use instead).
    ``wire``: whether a proxy client may send it (the router's own may be in the body, as
    ``stream`` is, or never, as a price is). ``bounds``: pydantic's ``Field`` constraints.
    ``answer``: whether it limits the visible answer's length. ``needs``: the arm capability
    a request with this parameter needs."""

    name: str
    type: Any
    owner: Owner = "provider"
    bounds: Mapping[str, Any] = field(default_factory=dict)
    answer: bool = False
    needs: Feature | None = None
    wire: bool = True
    why: str = ""
    prompt: bool = False
    """Read by the model as part of the prompt, and billed so (tool definitions, a schema)."""
    everywhere: bool = False
    """Taken by every provider (litellm maps it, as ``user`` to Anthropic's metadata)
    although litellm's per-provider lists omit it."""

    @property
    def integer(self) -> bool:
        """Whether the value is a whole number (JSON's 3.0 is taken as 3, as JSON Schema
        counts it)."""
        return self.type is int

    def field(self) -> Any:
        return Field(default=None, **self.bounds)


def _number(lo: float, hi: float) -> dict[str, Any]:
    """A float bounded on both sides; NaN and infinities are refused by name rather than by
    an out-of-range message that would puzzle the sender."""
    return {"ge": lo, "le": hi, "allow_inf_nan": False}


_ROUTED = "the router decides which model answers"
_PRICE = "the router prices each call at the arm's price"
_ENDPOINT = "the arm's endpoint and key come from the menu"

PARAMS: tuple[Param, ...] = (
    Param("temperature", float, bounds=_number(0, 2)),
    Param("top_p", float, bounds=_number(0, 1)),
    Param("max_tokens", int, bounds={"ge": 1, "le": INT32}, answer=True),
    Param("max_completion_tokens", int, bounds={"ge": 1, "le": INT32}, answer=True),
    Param("stop", str | list[str]),
    Param("seed", int, bounds={"ge": -INT64 - 1, "le": INT64}),
    Param("presence_penalty", float, bounds=_number(-2, 2)),
    Param("frequency_penalty", float, bounds=_number(-2, 2)),
    Param("user", str, bounds={"max_length": 256}, everywhere=True),
    Param("logit_bias", dict[str, Annotated[int, Field(ge=-100, le=100)]]),
    Param("response_format", ResponseFormat, needs="json_schema", prompt=True),
    Param(
        "tools",
        list[Tool],
        bounds={"min_length": 1, "max_length": 128},
        needs="tools",
        prompt=True,
    ),
    Param(
        "tool_choice",
        Literal["none", "auto", "required"] | NamedToolChoice,
        needs="tools",
        prompt=True,
    ),
    Param("parallel_tool_calls", bool, needs="tools"),
    # The router's own: in a proxy request's body, typed by the proxy itself.
    Param("model", str, "router", why=_ROUTED),
    Param("messages", list, "router", why="the messages are the request's first argument"),
    Param("stream", bool, "router", why="use astream() for a stream"),
    Param("stream_options", StreamOptions, "router", why="the router asks for usage itself"),
    Param(
        "n",
        int,
        "router",
        bounds={"ge": 1, "le": INT32},
        why="the router decides how many samples to draw (give an arm samples: N in the menu)",
    ),
    Param("ponder", dict, "router", why="the routing controls are keyword arguments"),
    # The router's own, never on the wire: where a call goes and what it costs.
    Param("api_base", str, "router", wire=False, why=_ENDPOINT),
    Param("base_url", str, "router", wire=False, why=_ENDPOINT),
    Param("api_key", str, "router", wire=False, why=_ENDPOINT),
    Param("input_cost_per_token", float, "router", wire=False, why=_PRICE),
    Param("output_cost_per_token", float, "router", wire=False, why=_PRICE),
)

BY_NAME: Mapping[str, Param] = {p.name: p for p in PARAMS}
PASSED: frozenset[str] = frozenset(p.name for p in PARAMS if p.owner == "provider")
"""Passed to every sample of every arm, as given."""
OWNED: frozenset[str] = frozenset(p.name for p in PARAMS if p.owner == "router")
"""Set by the router alone: a caller's value is refused, and never reaches litellm."""
WIRE: frozenset[str] = frozenset(p.name for p in PARAMS if p.wire)
"""The fields of a proxy request's body."""
INTEGERS: tuple[str, ...] = tuple(p.name for p in PARAMS if p.wire and p.integer)
ANSWER_KEYS: tuple[str, ...] = tuple(p.name for p in PARAMS if p.answer)
"""The parameters that limit a visible answer's length."""
PASSED_FIELDS: dict[str, Any] = {
    p.name: (p.type | None, p.field()) for p in PARAMS if p.owner == "provider"
}
"""``create_model`` field definitions of the passed parameters (the proxy's schema)."""
CONTENT_NEEDS: Mapping[str, Feature] = {"image_url": "images"}
"""Content parts a message may carry that need an arm capability."""


class _Checked(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


@functools.cache
def _params_model() -> type[BaseModel]:
    """The passed parameters as one model: what the library checks its keywords with
    (built on first use: building it costs milliseconds that ``ponder --help`` need not)."""
    return create_model("Params", __base__=_Checked, **PASSED_FIELDS)


def whole_numbers(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with integral floats of integer parameters made ints (JSON Schema counts
    3.0 as an integer; so does ponder)."""
    whole = {k: int(v) for k in INTEGERS if isinstance(v := data.get(k), float) and v.is_integer()}
    return {**data, **whole} if whole else dict(data)


def refused(names: Iterable[str]) -> str | None:
    """Why the parameters ``names`` cannot be given, or ``None`` when they all can: the
    unknown ones named, the router's own named with what to use instead."""
    names = sorted(set(names))
    owned = [n for n in names if n in OWNED]
    if owned:
        first = BY_NAME[owned[0]]
        return f"{', '.join(owned)[:200]}: set by the router, not per request ({first.why})"
    unknown = [n for n in names if n not in PASSED]
    if unknown:
        return (
            f"unsupported parameter(s): {', '.join(unknown)[:200]} (supported: "
            f"{', '.join(sorted(PASSED))})"
        )
    return None


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The library's rule, the proxy's too: every name declared and passed, every value of
    its declared type and within its bounds; :class:`UnsupportedParameterError` (a
    :class:`~ponder.errors.RequestError`) otherwise. ``None`` values mean "not given"."""
    given = {k: v for k, v in params.items() if v is not None}
    why = refused(given)
    if why is not None:
        raise UnsupportedParameterError(why)
    given = whole_numbers(given)
    try:
        _params_model().model_validate(given)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e["loc"] if "[" not in str(x))  # not union tags
        raise RequestError(f"{loc}: {e['msg']}"[:300]) from None
    why = incoherent(given)
    if why is not None:
        raise RequestError(why)
    return given


def incoherent(params: Mapping[str, Any]) -> str | None:
    """What is wrong with parameters each valid alone, or ``None``: how to use tools
    without any (OpenAI refuses it too; a provider would, after the router had paid for
    the decision)."""
    if params.get("tools") is None:
        how = (p.name for p in PARAMS if p.needs == "tools" and p.name != "tools")
        orphans = [n for n in how if params.get(n) is not None]
        if orphans:
            return f"{', '.join(orphans)}: only allowed when tools are given"
    return None


def prompt_messages(
    params: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The messages as the prompt is billed: with the parameters the model reads as part
    of it (tool definitions, a schema) as one more message, so that counting the prompt
    counts them."""
    read = {p.name: params[p.name] for p in PARAMS if p.prompt and params.get(p.name) is not None}
    if not read:
        return list(messages)
    return [*messages, {"role": "system", "content": json.dumps(read, ensure_ascii=False)}]


def needs(params: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]) -> frozenset[Feature]:
    """What a request needs of an arm: tools when it offers tools (or says how to use
    them), a JSON schema when it asks the answer to follow one, images when a message
    carries an image part. Plain ``json_object`` mode is asked of every arm as it is."""
    out: set[Feature] = set()
    for name, value in params.items():
        p = BY_NAME.get(name)
        if p is None or p.needs is None or value is None:
            continue
        if name == "response_format" and _format_type(value) != "json_schema":
            continue
        out.add(p.needs)
    for m in messages:
        content = m.get("content")
        if isinstance(content, (list, tuple)):
            for part in content:
                kind = part.get("type") if isinstance(part, Mapping) else None
                if isinstance(kind, str) and kind in CONTENT_NEEDS:
                    out.add(CONTENT_NEEDS[kind])
    return frozenset(out)


def _format_type(value: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get("type")
    return getattr(value, "type", None)
