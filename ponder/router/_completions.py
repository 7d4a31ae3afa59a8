"""How a routed request's result is put together: attempts, the trace, the completion.

Every way a request can end (answered by the escalation loop, streamed live, replayed after
a stream that failed before any text) builds its result here, so the trace a client reads
has one shape whichever path produced it.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence

from ponder._menu import Arm
from ponder.router._arm import ArmRun
from ponder.router._decision import Decision
from ponder.router._trace import (
    ArmChoice,
    Attempt,
    Choice,
    Completion,
    Message,
    Outcome,
    ToolCall,
    Trace,
    Usage,
)


def new_id() -> str:
    return f"chatcmpl-ponder-{uuid.uuid4().hex}"


def arm_choices(decision: Decision) -> tuple[ArmChoice, ...]:
    """Each arm as the policy saw it, for the trace (a pass-through has no prediction)."""
    return tuple(
        ArmChoice(
            arm=e.arm,
            p_success=None if math.isnan(e.p_success) else e.p_success,
            expected_cost=e.expected_cost,
            fits=e.fits,
        )
        for e in decision.arms
    )


def run_attempt(arm: Arm, run: ArmRun, outcome: Outcome, requested: int | None = None) -> Attempt:
    """One arm's run as the trace records it (a judge's tokens count in its usage);
    ``requested``: the query's sample budget, when a calibration set one."""
    judged = run.judgement
    return Attempt(
        arm=arm.label,
        model=arm.model,
        samples_requested=arm.samples if requested is None else requested,
        samples_used=len(run.samples),
        answers=run.answers,
        answer=run.aggregate.answer,
        agreement=run.aggregate.agreement,
        verifier_score=run.verifier_score,
        cost=run.cost,
        usage=sum((s.usage for s in run.samples), judged.usage if judged else Usage()),
        outcome=outcome,
        error=str(run.failures[-1]) if run.failures else (judged.error if judged else None),
    )


def streamed_attempt(arm: Arm, content: str, usage: Usage, cost: float) -> Attempt:
    """A live stream's one sample: accepted if it said anything."""
    return Attempt(
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


def declined_attempt(arm: Arm) -> Attempt:
    """An adaptive arm passed by without drawing: its calibrated budget for the query was
    0, the vote predicted hopeless."""
    return _empty_attempt(arm, requested=0, outcome="declined")


def failed_attempt(arm: Arm, error: str) -> Attempt:
    """An arm that failed at the provider before it produced anything."""
    return _empty_attempt(arm, requested=1, outcome="provider_error", error=error)


def _empty_attempt(
    arm: Arm, *, requested: int, outcome: Outcome, error: str | None = None
) -> Attempt:
    """An attempt that drew no answer and cost nothing."""
    return Attempt(
        arm=arm.label,
        model=arm.model,
        samples_requested=requested,
        samples_used=0,
        answers=(),
        answer=None,
        agreement=0.0,
        cost=0.0,
        usage=Usage(),
        outcome=outcome,
        error=error,
    )


def completion(
    decision: Decision,
    attempts: Sequence[Attempt],
    answered_by: Arm,
    content: str | None,
    finish_reason: str | None,
    *,
    stopped: str | None = None,
    id: str | None = None,
    created: int | None = None,
    tool_calls: Sequence[ToolCall] = (),
) -> Completion:
    """The OpenAI-shaped completion and its trace: ``usage`` and ``cost`` sum every
    attempt, so they match what was paid for."""
    trace = Trace(
        chosen_arm=decision.chosen_arm,
        answered_by=answered_by.label,
        reason=decision.reason,
        difficulty=decision.difficulty,
        arms=arm_choices(decision),
        attempts=tuple(attempts),
        escalations=len(attempts) - 1,
        samples_used=sum(a.samples_used for a in attempts),
        cost=sum(a.cost for a in attempts),
        max_cost=decision.max_cost,
        stopped=stopped,
    )
    return Completion(
        id=id or new_id(),
        created=created if created is not None else int(time.time()),
        model=answered_by.model,
        choices=(
            Choice(
                message=Message(content=content, tool_calls=tuple(tool_calls) or None),
                finish_reason=finish_reason,
            ),
        ),
        usage=sum((a.usage for a in attempts), Usage()),
        ponder=trace,
    )
