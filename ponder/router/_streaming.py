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
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ponder._menu import Arm
from ponder.errors import ProviderError
from ponder.router._ceiling import text_tokens
from ponder.router._completions import completion, failed_attempt, new_id, streamed_attempt
from ponder.router._deadline import passed
from ponder.router._decision import ArmEstimate
from ponder.router._escalation import next_arm, one_sample, provider_error
from ponder.router._llm import CallFailed, Piece, stream
from ponder.router._pipeline import Holding, Pipeline, Plan
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
    """Stream ``request`` live if one sample decides it, else compute and replay.

    A live stream is held by :meth:`Pipeline.held` like any request: until its first piece
    arrives the hold is released by any exception (cancellation included), and a provider
    that fails before any text is escalated through :meth:`Pipeline.serve`; after that the
    stream's events own the hold and settle it once, however they end."""
    key = pipeline.cache_key(request)
    hit = await pipeline.lookup(key)
    if hit is not None:
        return replay(hit)
    plan = await pipeline.plan(request, key)
    route, escalation = plan.route, pipeline.escalation
    arm = route.arms[route.start]
    if arm.samples > 1 or escalation.verifier is not None or one_sample(route.openai_kwargs):
        # A tool call is sent whole, once the answer is known (see replay()).
        return replay(await pipeline.serve(plan))
    chosen = next(e for e in route.decision.arms if e.arm == route.start)
    params = plan.ceiling.capped_params(arm, route.openai_kwargs, chosen.prompt_tokens)
    options = escalation.provider_options(arm, route.keys, route.deadline)
    try:
        async with pipeline.held(plan) as holding:
            pieces = stream(arm, route.msgs, params, **options)
            try:
                first = await anext(pieces)
            except StopAsyncIteration:
                raise CallFailed(
                    "the provider's stream ended before any text", None, False
                ) from None
            except BaseException:
                await _close(pieces)
                raise
            return _live(pipeline, plan, chosen, holding, pieces, first)
    except CallFailed as exc:
        return await _fallback(pipeline, plan, exc)


async def _close(pieces: AsyncIterator[Piece]) -> None:
    aclose = getattr(pieces, "aclose", None)
    if aclose is not None:
        await aclose()


def _live(
    pipeline: Pipeline,
    plan: Plan,
    chosen: ArmEstimate,
    holding: Holding,
    pieces: AsyncIterator[Piece],
    first: Piece,
) -> RoutedStream:
    """The live stream from its first piece on; its events own ``holding``."""
    route, decision = plan.route, plan.decision
    arm = route.arms[chosen.arm]
    c_id, created = new_id(), int(time.time())

    def cost(usage: Usage) -> float:
        return float(arm.price().cost(usage.prompt_tokens, usage.completion_tokens))

    async def settle(content: str) -> None:
        """Settle at what was sent so far, then close the provider's stream; detached, so
        that a client going away (which cancels this task) cannot leave the ceiling held."""
        await holding.settle(cost(_usage_estimate(arm, chosen, content)), lambda: _close(pieces))

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
            usage = last.usage or _usage_estimate(arm, chosen, content)
            spent = cost(usage)
            attempt = streamed_attempt(arm, content, usage, spent)
            c = completion(
                decision, (attempt,), arm, content, last.finish_reason, id=c_id, created=created
            )
            await holding.settle(spent, lambda: _close(pieces))
            await pipeline.record(c, plan)
            yield c
        except CallFailed as exc:
            await settle("".join(parts))
            raise StreamBroken(
                f"the provider failed mid-stream: {exc}", timeout=exc.timeout
            ) from None
        finally:  # the client went away (cancelled, or closed at a yield): what was read
            await settle("".join(parts))

    async def never_read() -> None:  # a no-op once events() has settled
        await settle(first.content or "")

    return RoutedStream(
        c_id, created, arm.model, decision.chosen_arm, False, True, events(), never_read
    )


async def _fallback(pipeline: Pipeline, plan: Plan, first: CallFailed) -> RoutedStream:
    """The provider failed before any text: escalate as a failure would (through
    :meth:`Pipeline.serve`, which holds and settles again), then replay."""
    route, decision = plan.route, plan.decision
    failed = next(e for e in decision.arms if e.arm == route.start)
    nxt, _ = next_arm(decision, {failed.arm}, spent=0.0, after=failed, must_improve=False)
    if nxt is None:
        message = f"'{failed.arm}' failed at the provider and no other arm fits"
        raise provider_error(message, [first])
    lost = failed_attempt(route.arms[failed.arm], str(first) or type(first).__name__)
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


def _usage_estimate(arm: Arm, chosen: ArmEstimate, content: str) -> Usage:
    """The usage of a stream the provider did not report: the prompt as the ceiling
    counted it, and the answer so far by the same estimator."""
    prompt, answer = chosen.prompt_tokens, text_tokens(arm.model, content)
    return Usage(prompt_tokens=prompt, completion_tokens=answer, total_tokens=prompt + answer)
