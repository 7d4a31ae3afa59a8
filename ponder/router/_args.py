"""Checks of what a caller hands the :class:`~ponder.router.Router`: messages, ceilings,
weights, OpenAI parameters. A wrong argument must fail here as a :class:`RequestError`, not
later as a ``TypeError`` in the classifier's tokenizer, or as a provider error from litellm
(which reports a message it cannot send, or a NaN it cannot serialise, as a failed call)."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from ponder.errors import RequestError


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
