"""One provider call for one sample of one arm, through litellm.

litellm is imported on the first call, never at import: it takes seconds and, unless told
otherwise, fetches a fresh price table over the network. Cost is computed from the usage
the provider reports and the arm's price (litellm's table or the menu's own), so the
figure the router adds up is the one the provider bills, not an estimate.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ponder._menu import Arm
from ponder._thinking import thinking_params
from ponder.router._trace import Usage

# Parameters a caller may not set per request: the router owns them.
_OWNED = frozenset({"model", "n", "stream", "stream_options", "api_base", "api_key", "base_url"})

_litellm: ModuleType | None = None


def litellm() -> ModuleType:
    """Import litellm once, with its price table read from the package (no network)."""
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm as module

        module.suppress_debug_info = True
        _litellm = module
    return _litellm


@dataclass(frozen=True)
class Sample:
    """One provider response: its text, why it ended, its tokens and what it cost."""

    content: str | None
    finish_reason: str | None
    usage: Usage
    cost: float
    seconds: float


class CallFailed(Exception):
    """A provider call failed after litellm's retries. Internal: the router decides whether
    to fall back to another arm or to raise :class:`~ponder.errors.ProviderError`."""

    def __init__(self, message: str, status: int | None, timeout: bool) -> None:
        super().__init__(message)
        self.status = status
        self.timeout = timeout


def request_params(arm: Arm, user: Mapping[str, Any]) -> dict[str, Any]:
    """The arm's request parameters: the caller's OpenAI parameters, then thinking.

    A thinking budget needs ``max_tokens`` above it, so a caller's ``max_tokens`` is read
    as the room for the visible answer and the budget is added on top.
    """
    params = {k: v for k, v in user.items() if k not in _OWNED and v is not None}
    thinking = thinking_params(arm)
    if "max_tokens" in thinking:
        answer = params.pop("max_tokens", None) or params.pop("max_completion_tokens", None)
        if answer is not None:
            thinking["max_tokens"] = (arm.thinking_budget or 0) + int(answer)
    params.update(thinking)
    return params


def _usage(response: Any) -> Usage:
    u = getattr(response, "usage", None)
    if u is None:
        return Usage()
    prompt = int(getattr(u, "prompt_tokens", 0) or 0)
    completion = int(getattr(u, "completion_tokens", 0) or 0)
    details = getattr(u, "completion_tokens_details", None)
    reasoning = int(getattr(details, "reasoning_tokens", 0) or 0) if details else 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        reasoning_tokens=reasoning,
    )


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


async def call(
    arm: Arm,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    api_key: str | None,
    timeout: float,
    num_retries: int,
) -> Sample:
    """One completion from ``arm``; :class:`CallFailed` when the provider gives up."""
    lm = litellm()
    start = time.perf_counter()
    try:
        response = await lm.acompletion(
            **_kwargs(arm, messages, params, api_key, timeout, num_retries)
        )
    except Exception as exc:  # litellm maps every provider failure to its own classes
        raise _failed(exc, api_key) from None
    choice = response.choices[0]
    usage = _usage(response)
    cost = float(arm.price().cost(usage.prompt_tokens, usage.completion_tokens))
    return Sample(
        content=choice.message.content,
        finish_reason=getattr(choice, "finish_reason", None),
        usage=usage,
        cost=cost,
        seconds=time.perf_counter() - start,
    )


def _kwargs(
    arm: Arm,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    api_key: str | None,
    timeout: float,
    num_retries: int,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": arm.model,
        "messages": list(messages),
        "timeout": timeout,
        "num_retries": num_retries,
        "drop_params": True,
        **params,
    }
    if arm.api_base is not None:
        kwargs["api_base"] = arm.api_base
    if api_key is not None:
        kwargs["api_key"] = api_key
    return kwargs


def _failed(exc: Exception, api_key: str | None) -> CallFailed:
    status = getattr(exc, "status_code", None)
    is_timeout = isinstance(exc, litellm().exceptions.Timeout) or status in (408, 504)
    message = _scrub(f"{type(exc).__name__}: {exc}", api_key).splitlines()[0][:500]
    return CallFailed(message, status if isinstance(status, int) else None, is_timeout)


@dataclass(frozen=True)
class Piece:
    """One streamed delta; the last piece of a stream has ``finish_reason`` and ``usage``."""

    content: str
    finish_reason: str | None = None
    usage: Usage | None = None


async def stream(
    arm: Arm,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    api_key: str | None,
    timeout: float,
    num_retries: int,
) -> AsyncIterator[Piece]:
    """One streamed completion from ``arm``; :class:`CallFailed` if it fails, before or
    during the stream. Usage is asked for (``include_usage``) so the cost is the real one."""
    lm = litellm()
    kwargs = _kwargs(arm, messages, params, api_key, timeout, num_retries)
    kwargs.update(stream=True, stream_options={"include_usage": True})
    try:
        response = await lm.acompletion(**kwargs)
        finish: str | None = None
        usage: Usage | None = None
        async for chunk in response:
            if getattr(chunk, "usage", None) is not None:
                usage = _usage(chunk)
            choices = getattr(chunk, "choices", None) or []
            if not choices:
                continue
            delta = getattr(choices[0], "delta", None)
            text = getattr(delta, "content", None) or ""
            finish = getattr(choices[0], "finish_reason", None) or finish
            if text:
                yield Piece(text)
    except Exception as exc:
        raise _failed(exc, api_key) from None
    yield Piece("", finish or "stop", usage)
