"""A request as the router takes it: its arguments checked once, its controls resolved.

A wrong argument must fail here as a :class:`RequestError`, not later as a ``TypeError`` in
the classifier's tokenizer, or as a provider error from litellm (which reports a message it
cannot send, or a NaN it cannot serialise, as a failed call). What passes becomes a
:class:`Request`, which every later stage reads and none re-checks.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ponder._openai_params import ANSWER_KEYS, Feature, check_params, needs, prompt_messages
from ponder.errors import RequestError
from ponder.router._budgets import GLOBAL


@dataclass(frozen=True)
class Bounds:
    """The ceiling (USD per request) and quality-vs-cost weight a request runs with."""

    max_cost: float | None
    lam: float


@dataclass(frozen=True)
class Request:
    """One request, checked: its messages and the text the classifier judges, the controls
    it runs with, who it is for, and the budgets it is held against (``(name, limit)``).
    ``model`` is a pass-through model, ``None`` for a routed request. The request's deadline
    counts from ``started``."""

    msgs: list[dict[str, Any]]
    text: str
    bounds: Bounds
    tenant: str
    cache: bool
    openai_kwargs: Mapping[str, Any]
    limits: tuple[tuple[str, float | None], ...]
    model: str | None = None
    started: float = field(default_factory=time.monotonic)
    needs: frozenset[Feature] = frozenset()
    """What an arm must be able to do to serve it (tools, a JSON schema, images)."""

    @property
    def prompt(self) -> list[Mapping[str, Any]]:
        """What the prompt is priced as: the messages, and the tool definitions or schema
        the provider also bills as prompt."""
        return prompt_messages(self.openai_kwargs, self.msgs)

    @property
    def answer_tokens(self) -> int | None:
        """The client's limit on the answer's length, if any."""
        return answer_tokens(self.openai_kwargs)


def parse_request(
    messages: Sequence[Mapping[str, Any]] | str,
    *,
    operator: Bounds,
    model: str | None = None,
    max_cost: Any = None,
    lam: Any = None,
    tenant: Any = "",
    cache: Any = True,
    budget: float | None = None,
    budget_key: Any = None,
    budget_limit: Any = None,
    openai_kwargs: Mapping[str, Any] | None = None,
) -> Request:
    """Check a caller's arguments once; ``max_cost`` and ``lam`` default to ``operator``'s
    (the profile's, else the settings', else the menu's). ``budget`` is the global limit."""
    if model is not None and not isinstance(model, str):
        raise RequestError(f"model must be a string, not {type(model).__name__}")
    check_controls(max_cost, lam)
    if not isinstance(tenant, str):
        raise RequestError(f"tenant must be a string, not {type(tenant).__name__}")
    if not isinstance(cache, bool):
        raise RequestError(f"cache must be True or False, not {cache!r}"[:200])
    params = check_params(openai_kwargs or {})  # the proxy's rule: refused by name
    check_json("OpenAI parameters", params)
    msgs = as_messages(messages)
    limits: list[tuple[str, float | None]] = [(GLOBAL, budget)]
    if budget_key is not None and not isinstance(budget_key, str):
        raise RequestError(f"budget_key must be a string, not {type(budget_key).__name__}")
    check_number("budget_limit", budget_limit, positive=True)
    if budget_key is not None:
        limits.append((f"key:{budget_key}", budget_limit))
    bounds = Bounds(
        max_cost if max_cost is not None else operator.max_cost,
        lam if lam is not None else operator.lam,
    )
    text = query_text(msgs)
    wants = needs(params, msgs)
    return Request(msgs, text, bounds, tenant, cache, params, tuple(limits), model, needs=wants)


def answer_tokens(params: Mapping[str, Any]) -> int | None:
    """The client's limit on a visible answer (``max_tokens`` / ``max_completion_tokens``;
    the larger when both are given, since a provider may read either)."""
    given = [v for k in ANSWER_KEYS if isinstance(v := params.get(k), int)]
    return max(given) if given else None


def query_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text the classifier judges: the last user message (text parts joined)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = [p.get("text") for p in content if isinstance(p, dict)]
                return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def as_messages(messages: Sequence[Mapping[str, Any]] | str) -> list[dict[str, Any]]:
    """The messages as a list of dicts, checked: litellm would report a malformed one as a
    provider failure, and the classifier's tokenizer fails on text that is not valid
    Unicode (a lone surrogate) with a bare TypeError."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    elif not isinstance(messages, Sequence) or not messages:
        raise RequestError("messages must be a non-empty list of {'role', 'content'} objects")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise RequestError(f"messages[{i}] must be an object with a string 'role'")
        content = m.get("content")
        parts = isinstance(content, (list, tuple)) and all(isinstance(p, Mapping) for p in content)
        if not (content is None or isinstance(content, str) or parts):
            what = "a list of other things" if isinstance(content, (list, tuple)) else None
            raise RequestError(
                f"messages[{i}].content must be a string, a list of content parts (objects) "
                f"or None, not {what or type(content).__name__}"
            )
        out.append(dict(m))
    check_json("messages", out)
    return out


def check_json(what: str, value: Any) -> None:
    """``value`` must go on the wire as JSON: finite numbers, valid Unicode, plain data."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise RequestError(
            f"{what} must be JSON data (finite numbers, valid Unicode): {reason}"
        ) from None


def check_number(name: str, value: Any, *, positive: bool) -> None:
    """``None``, or a finite number above zero (``positive``) or at least zero. NaN and
    infinity are refused: an infinite ceiling or cost weight would pass a plain comparison
    and then mean nothing."""
    if value is None:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise RequestError(f"{name} must be a finite number {bound}, got {value!r}"[:200])


def check_controls(max_cost: Any, lam: Any) -> None:
    check_number("max_cost", max_cost, positive=True)
    check_number("lam", lam, positive=False)
