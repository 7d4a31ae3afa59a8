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
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ponder._pricing import estimate_tokens
from ponder.errors import ProviderError
from ponder.router._ceiling import capped_params
from ponder.router._deadline import passed
from ponder.router._decide import Decision
from ponder.router._escalate import next_arm
from ponder.router._llm import CallFailed, Piece, stream
from ponder.router._run import Plan, arm_choices, provider_error
from ponder.router._trace import (
    Attempt,
    Choice,
    Completion,
    Message,
    Trace,
    Usage,
)

if TYPE_CHECKING:
    from ponder.router._router import Router

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
    async def events() -> AsyncGenerator[str | Completion, None]:
        text = c.content or ""
        for i in range(0, len(text), PIECE):
            yield text[i : i + PIECE]
        yield c

    t = c.ponder
    return RoutedStream(c.id, c.created, c.model, t.chosen_arm, t.cache_hit, False, events())


async def open_stream(
    router: Router, plan: Plan, limits: list[tuple[str, float | None]]
) -> RoutedStream:
    """Stream ``plan`` live if one sample decides it, else compute and replay."""
    runner, decision, msgs = plan.runner, plan.decision, plan.msgs
    arm = runner.arms[decision.chosen]
    if arm.samples > 1 or runner.verifier is not None:
        return replay(await router._serve(plan, limits))
    hit = await router._cached(plan)
    if hit is not None:
        return replay(hit)
    chosen = next(e for e in decision.arms if e.arm == decision.chosen)
    params = capped_params(arm, plan.openai_kwargs, chosen.prompt_tokens, decision.max_cost, 1)
    hold = await router._hold(decision, limits)
    pieces = stream(arm, msgs, params, **runner.provider_options(arm, plan.deadline))
    try:
        first = await anext(pieces)
    except (CallFailed, StopAsyncIteration) as exc:
        await router.budgets.release(hold)
        return await _fallback(router, plan, limits, exc)
    c_id, created = f"chatcmpl-ponder-{uuid.uuid4().hex}", int(time.time())
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
            await router.budgets.settle_detached(hold, cost, close_provider)

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
            attempt = Attempt(
                arm=arm.label,
                model=arm.model,
                samples_requested=1,
                samples_used=1,
                answers=(None,),
                answer=None,
                agreement=1.0,
                cost=cost,
                usage=usage,
                outcome="accepted" if content else "refused",
            )
            choice = Choice(message=Message(content=content), finish_reason=last.finish_reason)
            c = Completion(
                id=c_id,
                created=created,
                model=arm.model,
                choices=(choice,),
                usage=usage,
                ponder=_trace(decision, attempt, arm.label),
            )
            await settle(cost)
            await router._after(c, plan)
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


async def _fallback(
    router: Router, plan: Plan, limits: list[tuple[str, float | None]], exc: BaseException
) -> RoutedStream:
    """The provider failed before any text: escalate as a failure would, then replay."""
    runner, decision = plan.runner, plan.decision
    failed = next(e for e in decision.arms if e.arm == decision.chosen)
    first = (
        exc
        if isinstance(exc, CallFailed)
        else CallFailed("the provider's stream ended before any text", None, False)
    )
    nxt, _ = next_arm(decision, {failed.arm}, spent=0.0, after=failed, must_improve=False)
    if nxt is None:
        message = f"'{failed.arm}' failed at the provider and no other arm fits"
        raise provider_error(message, [first])
    moved = dataclasses.replace(decision, chosen=nxt.arm)
    rest = dataclasses.replace(runner, tried=runner.tried | {failed.arm})
    try:
        c = await router._serve(dataclasses.replace(plan, runner=rest, decision=moved), limits)
    except ProviderError as later:
        # A timeout (504) if the streamed arm timed out too or time ran out; a mix is a 502.
        raise ProviderError(
            f"'{failed.arm}' failed at the provider ({first}), then {later}",
            status=later.status,
            timeout=later.timeout and (first.timeout or passed(plan.deadline)),
        ) from None
    arm = runner.arms[failed.arm]
    lost = Attempt(
        arm=failed.arm,
        model=arm.model,
        samples_requested=1,
        samples_used=0,
        answers=(),
        answer=None,
        agreement=0.0,
        cost=0.0,
        usage=Usage(),
        outcome="provider_error",
        error=str(exc) or type(exc).__name__,
    )
    t = c.ponder
    trace = t.model_copy(
        update={
            "chosen_arm": failed.arm,
            "attempts": (lost, *t.attempts),
            "escalations": t.escalations + 1,
        }
    )
    return replay(c.model_copy(update={"ponder": trace}))


def _trace(decision: Decision, attempt: Attempt, answered_by: str) -> Trace:
    return Trace(
        chosen_arm=decision.chosen,
        answered_by=answered_by,
        reason=decision.reason,
        difficulty=decision.difficulty,
        arms=arm_choices(decision),
        attempts=(attempt,),
        escalations=0,
        samples_used=1,
        cost=attempt.cost,
        max_cost=decision.max_cost,
    )


def _usage_estimate(msgs: list[dict[str, Any]], content: str) -> Usage:
    prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in msgs)
    completion = estimate_tokens(content)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _estimate(arm: Any, msgs: list[dict[str, Any]], content: str) -> float:
    u = _usage_estimate(msgs, content)
    return float(arm.price().cost(u.prompt_tokens, u.completion_tokens))
