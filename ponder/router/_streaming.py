"""Streamed answers: live from the provider when one sample decides, replayed otherwise.

A single-sample arm with no verifier is streamed as the provider produces it, so the first
token arrives as fast as calling the provider directly. The stream is opened, and its first
piece read, before the caller commits to a response: a provider that fails at that point is
escalated like any failure. Once text has gone out, a failure cannot be taken back; the
stream ends with an error instead (never a silent cut). Votes, verifiers and judges need
every sample whole, so those answers are computed first and then sent in pieces.

A live stream holds its ceiling against the budgets until it ends, and however it ends
(the last piece, a provider failure, the client going away, or closed before it was read)
the hold is settled exactly once: at the real cost, or at what the provider sent so far.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ponder._pricing import estimate_tokens
from ponder.errors import ProviderError
from ponder.router._ceiling import capped_params
from ponder.router._completions import completion, failed_attempt, new_id, streamed_attempt
from ponder.router._deadline import passed
from ponder.router._escalation import next_arm, one_sample, provider_error
from ponder.router._llm import CallFailed, Piece, stream
from ponder.router._pipeline import Pipeline, Plan
from ponder.router._request import Request
from ponder.router._trace import Completion, Usage

PIECE = 64  # characters per replayed chunk


class StreamBroken(ProviderError):
    """The provider failed after part of the answer was sent."""


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class RoutedStream:
    """A streamed answer: the decision known up front, then ``events``: text pieces and,
    last, the whole :class:`Completion` with its trace (cost included).

    Read ``events`` to the end or call :meth:`aclose`: a live stream holds its ceiling
    against the budgets until one of them happens."""

    id: str
    created: int
    model: str
    chosen_arm: str
    cache_hit: bool
    live: bool
    events: AsyncGenerator[str | Completion, None]
    on_close: Callable[[], Awaitable[None]] = _nothing

    async def aclose(self) -> None:
        """End the stream early (the client went away). A live stream's hold is settled at
        the cost of what the provider sent so far, and the provider's stream is closed.
        Safe to call at any point, more than once, and after the last event (then it does
        nothing). It covers the case the generator's own cleanup cannot: a stream dropped
        before its first event was asked for, whose generator never started."""
        await self.events.aclose()
        await self.on_close()


def replay(c: Completion) -> RoutedStream:
    """A computed answer as a stream: its text in pieces, then the completion, which
    carries any tool calls (a request that offers tools is always replayed: the proxy
    sends its calls as OpenAI's ``tool_calls`` deltas)."""

    async def events() -> AsyncGenerator[str | Completion, None]:
        text = c.content or ""
        for i in range(0, len(text), PIECE):
            yield text[i : i + PIECE]
        yield c

    t = c.ponder
    return RoutedStream(c.id, c.created, c.model, t.chosen_arm, t.cache_hit, False, events())


async def open_stream(pipeline: Pipeline, request: Request) -> RoutedStream:
    """Stream ``request`` live if one sample decides it, else compute and replay."""
    key = pipeline.cache_key(request)
    hit = await pipeline.lookup(key)
    if hit is not None:
        return replay(hit)
    plan = await pipeline.plan(request, key)
    route, escalation = plan.route, pipeline.escalation
    decision, msgs = route.decision, route.msgs
    arm = route.arms[route.start]
    if arm.samples > 1 or escalation.verifier is not None or one_sample(route.openai_kwargs):
        # A tool call is sent whole, once the answer is known (see replay()).
        return replay(await pipeline.serve(plan))
    chosen = next(e for e in decision.arms if e.arm == route.start)
    params = capped_params(arm, route.openai_kwargs, chosen.prompt_tokens, decision.max_cost, 1)
    hold = await pipeline.hold(plan)
    options = escalation.provider_options(arm, route.keys, route.deadline)
    pieces = stream(arm, msgs, params, **options)
    try:
        first = await anext(pieces)
    except (CallFailed, StopAsyncIteration) as exc:
        await pipeline.budgets.release(hold)
        return await _fallback(pipeline, plan, exc)
    c_id, created = new_id(), int(time.time())
    settled = False

    async def close_provider() -> None:
        aclose = getattr(pieces, "aclose", None)
        if aclose is not None:
            await aclose()

    async def settle(cost: float) -> None:
        """Settle the hold once, whatever ends the stream; detached, so that a client
        going away (which cancels this task) cannot leave the ceiling held."""
        nonlocal settled
        if not settled:
            settled = True
            await pipeline.budgets.settle_detached(hold, cost, close_provider)

    async def events() -> AsyncGenerator[str | Completion, None]:
        parts: list[str] = []
        last = first
        try:
            piece: Piece | None = first
            while piece is not None:
                last = piece
                if piece.content:
                    parts.append(piece.content)
                    yield piece.content
                piece = await anext(pieces, None)
            content = "".join(parts)
            usage = last.usage or _usage_estimate(msgs, content)
            cost = float(arm.price().cost(usage.prompt_tokens, usage.completion_tokens))
            attempt = streamed_attempt(arm, content, usage, cost)
            c = completion(
                decision, (attempt,), arm, content, last.finish_reason, id=c_id, created=created
            )
            await settle(cost)
            await pipeline.record(c, plan)
            yield c
        except CallFailed as exc:
            await settle(_estimate(arm, msgs, "".join(parts)))
            raise StreamBroken(
                f"the provider failed mid-stream: {exc}", timeout=exc.timeout
            ) from None
        finally:  # the client went away (cancelled, or closed at a yield): what was read
            await settle(_estimate(arm, msgs, "".join(parts)))

    async def never_read() -> None:  # a no-op once events() has settled
        await settle(_estimate(arm, msgs, first.content))

    return RoutedStream(
        c_id, created, arm.model, decision.chosen, False, True, events(), never_read
    )


async def _fallback(pipeline: Pipeline, plan: Plan, exc: BaseException) -> RoutedStream:
    """The provider failed before any text: escalate as a failure would, then replay."""
    route, decision = plan.route, plan.decision
    failed = next(e for e in decision.arms if e.arm == route.start)
    first = (
        exc
        if isinstance(exc, CallFailed)
        else CallFailed("the provider's stream ended before any text", None, False)
    )
    nxt, _ = next_arm(decision, {failed.arm}, spent=0.0, after=failed, must_improve=False)
    if nxt is None:
        message = f"'{failed.arm}' failed at the provider and no other arm fits"
        raise provider_error(message, [first])
    lost = failed_attempt(route.arms[failed.arm], str(exc) or type(exc).__name__)
    moved = dataclasses.replace(plan, route=dataclasses.replace(route, start=nxt.arm))
    try:
        c = await pipeline.serve(moved, before=(lost,))
    except ProviderError as later:
        # A timeout (504) if the streamed arm timed out too or time ran out; a mix is a 502.
        raise ProviderError(
            f"'{failed.arm}' failed at the provider ({first}), then {later}",
            status=later.status,
            timeout=later.timeout and (first.timeout or passed(route.deadline)),
        ) from None
    return replay(c)


def _usage_estimate(msgs: list[dict[str, Any]], content: str) -> Usage:
    prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in msgs)
    completion = estimate_tokens(content)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _estimate(arm: Any, msgs: list[dict[str, Any]], content: str) -> float:
    u = _usage_estimate(msgs, content)
    return float(arm.price().cost(u.prompt_tokens, u.completion_tokens))
