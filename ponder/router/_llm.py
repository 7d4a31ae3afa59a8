"""One provider call for one sample of one arm, through litellm.

litellm is imported on the first call, never at import: it takes seconds and, unless told
otherwise, fetches a fresh price table over the network (:mod:`ponder._litellm` imports it
for every part of ponder, without that). Cost is computed from the usage
the provider reports and the arm's price (litellm's table or the menu's own), so the
figure the router adds up is the one the provider bills, not an estimate.

Retries are ponder's own, not litellm's: litellm hands ``num_retries`` to the OpenAI SDK
for OpenAI-style providers (which honours any ``Retry-After`` up to 60 s, long enough to
hold a proxy request for minutes) and does not retry its Anthropic provider at all. Here
every provider gets the same rule: transient failures (timeouts, 408/409/429/5xx, a dropped
connection, a body that is not a completion) are retried with exponential backoff and
jitter; a ``Retry-After`` is honoured up to ``max_wait``, and one longer than that gives the
arm up at once, since the next arm is a better bet than a long wait. A stream is retried
only until its first text has been handed on: after that the caller has sent it.

litellm is made cheap on ponder's calls, not bypassed (it maps thinking parameters and
providers). Each call hands litellm the arm's own price (``input_cost_per_token`` /
``output_cost_per_token``), so litellm's per-call cost figure, which ponder does not use,
is the same arithmetic as ponder's instead of a search of its price table that, for a model
it does not know, walks every fallback match and builds a traceback. And each call runs as
one whose caller logs and bills it (:func:`unlogged`): ponder's trace, ledger and feedback
are the record, so litellm's success and failure logging and its callbacks
(``litellm.callbacks``, ``success_callback`` ...) do not run for ponder's calls; a stream's
success logging has only a process-wide switch in litellm and is left on. litellm keeps
one pooled HTTP client per provider, key, base URL, timeout and event loop itself (its
client cache, over aiohttp), which a client of ponder's own was measured to be slower than,
so none is passed; the timeout is the same on every call, so the calls one loop makes reuse
one client.

Time is bounded twice: ``timeout`` bounds a whole non-streamed call (httpx applies it per
read, which an upstream sending a byte at a time never trips), and the request's deadline
(:mod:`ponder.router._deadline`) bounds every call, stream and retry of the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, aclosing
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ponder._litellm import import_litellm
from ponder._menu import Arm
from ponder._openai_params import OWNED
from ponder._thinking import thinking_params
from ponder.router._deadline import PASSED, DeadlinePassed, bounded, starts_in_time
from ponder.router._trace import FunctionCall, ToolCall, Usage

_litellm: ModuleType | None = None
_unlogged: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext


def litellm() -> ModuleType:
    """Import litellm once, with its price table read from the package (no network)."""
    global _litellm, _unlogged
    if _litellm is None:
        module = import_litellm()
        try:  # litellm's marker for a call whose caller logs and bills it
            from litellm._internal_context import internal_sub_call

            _unlogged = internal_sub_call
        except ImportError:  # another layout: litellm logs ponder's calls, as before
            _unlogged = contextlib.nullcontext
        _litellm = module
    return _litellm


def unlogged() -> AbstractContextManager[None]:
    """The context a provider call runs in so that litellm neither logs it nor runs its
    callbacks: litellm's own marker for a call whose caller logs and bills it, which ponder
    does (the trace, the ledger, the feedback stream). It is set in the calling task and
    follows the call into the thread litellm runs part of it on; no other call sees it."""
    litellm()
    return _unlogged()


@dataclass(frozen=True)
class Sample:
    """One provider response: its text (or the tools it called), why it ended, its tokens
    and what it cost."""

    content: str | None
    finish_reason: str | None
    usage: Usage
    cost: float
    seconds: float
    tool_calls: tuple[ToolCall, ...] = ()


# 4xx statuses worth another try: the request was fine, the moment was not.
_RETRY_4XX = frozenset({408, 409, 429})
BACKOFF = 0.5
"""Seconds before the first retry (doubling after, with jitter)."""
MAX_WAIT = 5.0
"""Longest wait before a retry, ``Retry-After`` included."""


class CallFailed(Exception):
    """A provider call failed (after retries, when raised by :func:`call` or :func:`stream`).
    Internal: the router decides whether to fall back to another arm or to raise
    :class:`~ponder.errors.ProviderError`. ``retryable`` says whether the same call may
    succeed if tried again; ``retry_after`` is the provider's ``Retry-After`` in seconds."""

    def __init__(
        self,
        message: str,
        status: int | None,
        timeout: bool,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        truncated: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.timeout = timeout
        self.retryable = retryable
        self.retry_after = retry_after
        self.truncated = truncated


def retry_wait(
    failed: CallFailed, retry: int, *, backoff: float = BACKOFF, max_wait: float = MAX_WAIT
) -> float | None:
    """Seconds to wait before retry number ``retry`` (from 0) after ``failed``, or ``None``
    when it should not be retried: not transient, or a ``Retry-After`` over ``max_wait``.

    Without a ``Retry-After`` the wait is ``backoff * 2**retry`` with "equal jitter" (half
    fixed, half random), so concurrent requests that failed together do not come back
    together, and no wait is near zero.
    """
    if not failed.retryable:
        return None
    if failed.retry_after is not None:
        return failed.retry_after if failed.retry_after <= max_wait else None
    base = min(max_wait, backoff * 2.0**retry)
    return base / 2 + random.uniform(0.0, base / 2)


def request_params(arm: Arm, user: Mapping[str, Any]) -> dict[str, Any]:
    """The arm's request parameters: the caller's OpenAI parameters, then thinking.

    A thinking budget needs ``max_tokens`` above it, so a caller's ``max_tokens`` is read
    as the room for the visible answer and the budget is added on top.
    """
    params = {k: v for k, v in user.items() if k not in OWNED and v is not None}
    thinking = thinking_params(arm.thinking)
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


_SSL_REPR = re.compile(r" ?ssl:<[^<>]* object at 0x[0-9a-fA-F]+>")
_REPR = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")


def _readable(text: str) -> str:
    """A provider error without Python object reprs: aiohttp's "Cannot connect to host
    h:443 ssl:<ssl.SSLContext object at 0x7f...> [...]" says nothing more to a reader than
    "Cannot connect to host h:443 [...]", and the address differs run to run."""
    return _REPR.sub(r"\1", _SSL_REPR.sub("", text))


async def call(
    arm: Arm,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    api_key: str | None,
    timeout: float,
    num_retries: int,
    backoff: float = BACKOFF,
    max_wait: float = MAX_WAIT,
    deadline: float | None = None,
) -> Sample:
    """One completion from ``arm``, retrying transient failures up to ``num_retries``
    times (see :func:`retry_wait`) while a retry can start before ``deadline`` (a
    ``time.monotonic()`` point); :class:`CallFailed` when the provider gives up."""
    start = time.perf_counter()
    retry = 0
    while True:
        try:
            return await _call_once(arm, messages, params, api_key, timeout, start, deadline)
        except CallFailed as failed:
            wait = retry_wait(failed, retry, backoff=backoff, max_wait=max_wait)
            if retry >= num_retries or wait is None or not starts_in_time(deadline, wait):
                raise
        retry += 1
        await asyncio.sleep(wait)


async def _call_once(
    arm: Arm,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    api_key: str | None,
    timeout: float,
    start: float,
    deadline: float | None,
) -> Sample:
    lm = litellm()
    kwargs = _kwargs(arm, messages, params, api_key, timeout)
    try:
        with unlogged():
            response = await bounded(lm.acompletion(**kwargs), timeout, deadline)
        # Read inside the try: a body that parsed but is not a completion (no choices, no
        # message) is the provider's failure, not ponder's.
        choice = response.choices[0]
        content = choice.message.content
        finish = getattr(choice, "finish_reason", None)
        calls = _tool_calls(choice.message)
        usage = _usage(response)
    except DeadlinePassed:
        raise out_of_time() from None
    except TimeoutError:
        message = f"the provider did not answer within the {timeout:g} s timeout"
        raise CallFailed(message, None, True, retryable=True) from None
    except Exception as exc:  # litellm maps every provider failure to its own classes
        raise classify_failure(exc, api_key) from None
    cost = float(arm.price().cost(usage.prompt_tokens, usage.completion_tokens))
    return Sample(
        content=content,
        finish_reason=finish,
        usage=usage,
        cost=cost,
        seconds=time.perf_counter() - start,
        tool_calls=calls,
    )


def _tool_calls(message: Any) -> tuple[ToolCall, ...]:
    """The tools a provider's message called, in OpenAI's shape (litellm maps every
    provider's to it). A call without a function name is the provider's failure."""
    calls = getattr(message, "tool_calls", None) or ()
    out: list[ToolCall] = []
    for c in calls:
        function = getattr(c, "function", None)
        name = getattr(function, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError("a tool call without a function name")
        arguments = getattr(function, "arguments", None)
        out.append(
            ToolCall(
                id=str(getattr(c, "id", None) or f"call_{len(out)}"),
                function=FunctionCall(
                    name=name, arguments=arguments if isinstance(arguments, str) else "{}"
                ),
            )
        )
    return tuple(out)


def _kwargs(
    arm: Arm,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    api_key: str | None,
    timeout: float,
) -> dict[str, Any]:
    price = arm.price()
    kwargs: dict[str, Any] = {
        "model": arm.model,
        "messages": list(messages),
        "timeout": timeout,
        # Retries are ours (see the module docstring); 0 also keeps litellm from resetting
        # its global ``litellm.num_retries`` while it retries.
        "num_retries": 0,
        # Nothing is dropped: a parameter the provider cannot take fails the call rather
        # than vanish (ponder checks before it calls: see ponder.router._abilities).
        "drop_params": False,
        **params,
        # The arm's price, per token: litellm's cost of the call is then ponder's, without
        # a search of its price table (see the module docstring). Not sent to the provider.
        "input_cost_per_token": price.input / 1e6,
        "output_cost_per_token": price.output / 1e6,
    }
    if arm.api_base is not None:
        kwargs["api_base"] = arm.api_base
    if api_key is not None:
        kwargs["api_key"] = api_key
    return kwargs


TRUNCATED = "the provider's stream ended without a finish reason (truncated)"


def _is_truncation(exc: BaseException) -> bool:
    """Whether litellm gave up on a stream the provider cut short.

    litellm 1.7x passed such a stream off as complete (ponder checks for that in
    :func:`_provider_finished`); later releases raise ``MidStreamFallbackError`` instead.
    Both end here as one kind of failure, so no caller depends on litellm's wording.
    """
    mid_stream = getattr(litellm().exceptions, "MidStreamFallbackError", None)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # walk the original exceptions
        seen.add(id(current))
        if mid_stream is not None and isinstance(current, mid_stream):
            return True
        if "ended before a finish_reason" in str(current):
            return True
        nxt = getattr(current, "original_exception", None)
        current = nxt if isinstance(nxt, BaseException) else current.__cause__
    return False


def classify_failure(exc: Exception, api_key: str | None) -> CallFailed:
    """The one place a litellm exception becomes a :class:`CallFailed`."""
    if _is_truncation(exc):
        return CallFailed(TRUNCATED, None, False, retryable=True, truncated=True)
    raw = getattr(exc, "status_code", None)
    status = raw if isinstance(raw, int) else None
    is_timeout = isinstance(exc, litellm().exceptions.Timeout) or status in (408, 504)
    text = _readable(_scrub(f"{type(exc).__name__}: {exc}", api_key)).splitlines()
    message = (text[0] if text else type(exc).__name__)[:500]
    # A 4xx other than these says the request itself is wrong (bad parameters, auth, an
    # unknown model, context too long): trying again cannot help. Anything else, including
    # a dropped connection or a body that is not JSON (no status, or litellm's 500), is
    # taken as transient.
    retryable = is_timeout or status is None or status >= 500 or status in _RETRY_4XX
    return CallFailed(
        message,
        status,
        is_timeout,
        retryable=retryable,
        retry_after=_retry_after(exc),
    )


def out_of_time() -> CallFailed:
    """The failure of a call cut short by the request's deadline: a timeout, and final,
    since no retry could start in time."""
    return CallFailed(PASSED, None, True)


def _retry_after(exc: Exception) -> float | None:
    """The provider's ``Retry-After`` (or ``retry-after-ms``) in seconds, if it sent one.
    litellm keeps the response headers on its exceptions."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
    except (AttributeError, TypeError, ValueError):
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:  # an HTTP date
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
    backoff: float = BACKOFF,
    max_wait: float = MAX_WAIT,
    deadline: float | None = None,
) -> AsyncIterator[Piece]:
    """One streamed completion from ``arm``; :class:`CallFailed` if it fails, before or
    during the stream. Usage is asked for (``include_usage``) so the cost is the real one.

    A failure before the first piece of text is retried like :func:`call`'s; once a piece
    has been yielded the caller may have sent it on, so a later failure is final. The whole
    stream ends by ``deadline``: each piece is awaited no longer than what is left of it.
    """
    retry = 0
    while True:
        sent = False
        try:
            async with aclosing(_stream_once(arm, messages, params, api_key, timeout)) as once:
                while True:
                    try:
                        piece = await bounded(anext(once), None, deadline)
                    except StopAsyncIteration:
                        break
                    except DeadlinePassed:
                        raise out_of_time() from None
                    sent = True
                    yield piece
            return
        except CallFailed as failed:
            wait = retry_wait(failed, retry, backoff=backoff, max_wait=max_wait)
            if sent or retry >= num_retries or wait is None or not starts_in_time(deadline, wait):
                raise
        retry += 1
        await asyncio.sleep(wait)


async def _stream_once(
    arm: Arm,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    api_key: str | None,
    timeout: float,
) -> AsyncGenerator[Piece, None]:
    lm = litellm()
    kwargs = _kwargs(arm, messages, params, api_key, timeout)
    kwargs.update(stream=True, stream_options={"include_usage": True})
    finish: str | None = None
    usage: Usage | None = None
    try:
        with unlogged():  # around the call only: the context must not span the generator's yields
            response = await lm.acompletion(**kwargs)
        _allow_repeats(response)
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
        ended = _provider_finished(response)
    except Exception as exc:
        raise classify_failure(exc, api_key) from None
    if finish is None or not ended:
        # The connection closed cleanly, but the provider never said the answer was over
        # (no finish_reason; with OpenAI's wire, no [DONE] either): a cut, not an answer.
        raise CallFailed(TRUNCATED, None, False, retryable=True, truncated=True)
    yield Piece("", finish, usage)


def _allow_repeats(response: Any) -> None:
    """Turn litellm's repetition guard off for this stream.

    litellm ends a stream whose last ``REPEATED_STREAMING_CHUNK_LIMIT`` (100) non-empty
    chunks are identical with an error, taking the model to be stuck in a loop. A valid
    answer can repeat a chunk (a table's rows, a run of one token: 200 chunks of the same
    five characters were cut), and ponder bounds a looping model already, by ``max_tokens``
    (capped to the ceiling) and the request's deadline. The guard is replaced on this
    stream's wrapper alone: raising litellm's module-wide limit would change it for every
    other user of litellm in the process. A wrapper without the guard needs nothing.
    """
    if callable(getattr(response, "raise_on_model_repetition", None)):
        # A wrapper that refuses attributes keeps its guard.
        with contextlib.suppress(AttributeError, TypeError):
            response.raise_on_model_repetition = _no_repetition_check


def _no_repetition_check() -> None:
    """Stands in for litellm's repetition guard on ponder's streams (see :func:`_allow_repeats`)."""


def _provider_finished(response: Any) -> bool:
    """Whether the provider itself said the stream was over. litellm's stream wrapper ends
    every stream with a chunk of its own whose ``finish_reason`` is ``"stop"`` when the
    provider sent none, so a stream cut short looks complete; the wrapper's record of what
    the provider sent is the only tell. A wrapper without that record is trusted."""
    if not hasattr(response, "received_finish_reason"):
        return True
    received = getattr(response, "received_finish_reason", None)
    return received is not None or getattr(response, "intermittent_finish_reason", None) is not None
