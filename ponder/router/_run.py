"""One request's attempts: run the chosen arm, judge its answer, escalate while allowed.

Kept apart from :class:`~ponder.router.Router` so the loop can be read (and tested) as one
piece: it knows arms, settings and the extension points, not budgets or caches.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ponder._menu import Arm
from ponder.aggregators import AnswerExtractor, StoppingRule
from ponder.errors import NoArmFitsError, ProviderError
from ponder.router._ceiling import capped_params
from ponder.router._deadline import passed
from ponder.router._decide import ArmEstimate, Decision
from ponder.router._escalate import next_arm
from ponder.router._execute import ArmRun, SampleCall, Verifier, run_arm
from ponder.router._judge import Judge
from ponder.router._llm import CallFailed, Sample, call
from ponder.router._settings import Settings
from ponder.router._trace import (
    ArmChoice,
    Attempt,
    Choice,
    Completion,
    Message,
    Outcome,
    Trace,
    Usage,
)


@dataclass(frozen=True)
class Runner:
    """Everything the attempt loop needs, fixed for the router's lifetime."""

    arms: Mapping[str, Arm]
    settings: Settings
    rule: StoppingRule
    extractor: AnswerExtractor
    verifier: Verifier | None
    judge: Judge | None
    keys: Mapping[str, str]
    tried: frozenset[str] = frozenset()
    """Arms this request has already tried elsewhere (a live stream that failed before any
    text), so that escalation does not go back to them."""

    async def run(
        self,
        msgs: list[dict[str, Any]],
        text: str,
        decision: Decision,
        openai_kwargs: Mapping[str, Any],
        deadline: float | None = None,
    ) -> Completion:
        """Attempts until one is accepted, escalation must stop or ``deadline`` (a
        ``time.monotonic()`` point) passes; the completion. No arm starts after the
        deadline, and a request that reaches it without an answer is a timeout."""
        s = self.settings
        estimates = {e.arm: e for e in decision.arms}
        current: ArmEstimate | None = estimates[decision.chosen]
        attempts: list[Attempt] = []
        runs: list[tuple[Arm, ArmRun]] = []
        spent, used, stopped = 0.0, 0, None
        failures: list[CallFailed] = []
        while current is not None:
            if passed(deadline):
                stopped = "deadline"
                break
            arm = self.arms[current.arm]
            # What is left of the ceiling bounds every sample this arm may draw.
            left = None if decision.max_cost is None else decision.max_cost - spent
            most = max(1, min(arm.samples, s.max_samples - used))
            try:
                params = capped_params(arm, openai_kwargs, current.prompt_tokens, left, most)
            except NoArmFitsError:
                if not attempts:
                    raise
                stopped = "ceiling"  # escalation checked the fit; rounding may still differ
                break
            run = await run_arm(
                arm,
                self.sampler(arm, msgs, params, deadline),
                query=text,
                limit=s.max_samples - used,
                rule=self.rule,
                extract=self.extractor,
                verifier=self.verifier,
                judge=self.judge,
            )
            outcome = self.outcome(run)
            attempts.append(_attempt(arm, run, outcome))
            runs.append((arm, run))
            spent += run.cost
            used += len(run.samples) + len(run.failures)
            failures.extend(run.failures)
            if outcome == "accepted":
                stopped = None
                break
            if len(attempts) > s.max_escalations:
                stopped = "max_escalations"
                break
            if used >= s.max_samples:
                stopped = "sample_limit"
                break
            current, stopped = next_arm(
                decision,
                {a.arm for a in attempts} | self.tried,
                spent=spent,
                after=current,
                must_improve=outcome != "provider_error",
            )
        answered = [(arm, run) for arm, run in runs if run.chosen is not None]
        if not answered:
            tried = ", ".join(a.arm for a in attempts) or "none"
            if stopped == "deadline" or passed(deadline):
                message = f"the request's deadline ({s.deadline:g} s) passed (arms tried: {tried})"
                raise provider_error(message, failures, out_of_time=True)
            raise provider_error(f"every arm tried failed at the provider ({tried})", failures)
        arm, run = _final(answered, attempts)
        chosen = run.chosen
        assert chosen is not None
        trace = Trace(
            chosen_arm=decision.chosen,
            answered_by=arm.label,
            reason=decision.reason,
            difficulty=decision.difficulty,
            arms=arm_choices(decision),
            attempts=tuple(attempts),
            escalations=len(attempts) - 1,
            samples_used=sum(a.samples_used for a in attempts),
            cost=spent,
            max_cost=decision.max_cost,
            stopped=stopped,
        )
        return Completion(
            id=f"chatcmpl-ponder-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=arm.model,
            choices=(
                Choice(
                    message=Message(content=chosen.content),
                    finish_reason=chosen.finish_reason or "stop",
                ),
            ),
            usage=sum((a.usage for a in attempts), Usage()),
            ponder=trace,
        )

    def outcome(self, run: ArmRun) -> Outcome:
        """Whether an arm's answer is good enough to stop, and if not, why."""
        if run.chosen is None:
            return "provider_error"
        if not run.chosen.content or run.chosen.finish_reason == "content_filter":
            return "refused"
        if run.verifier_score is not None:  # a verdict outranks agreement
            if run.verifier_score < self.settings.verify_threshold:
                return "verifier_failed"
            return "accepted"
        if run.judgement is not None and run.judgement.index is not None:
            return "accepted"  # a judge compares candidates; their agreement means little
        if run.aggregate.n > 1 and run.aggregate.agreement < self.settings.escalate_below:
            return "low_agreement"
        return "accepted"

    def provider_options(self, arm: Arm, deadline: float | None = None) -> dict[str, Any]:
        """The keyword arguments every provider call of ``arm`` takes from the settings,
        and the request's deadline."""
        s = self.settings
        return {
            "deadline": deadline,
            "api_key": self.keys.get(arm.label),
            "timeout": s.timeout,
            "num_retries": s.num_retries,
            "backoff": s.retry_backoff,
            "max_wait": s.retry_max_wait,
        }

    def sampler(
        self,
        arm: Arm,
        msgs: list[dict[str, Any]],
        params: Mapping[str, Any],
        deadline: float | None = None,
    ) -> SampleCall:
        """One provider call of ``arm`` with the request's parameters as the arm sends them
        (:func:`~ponder.router._ceiling.capped_params`), ended by the request's deadline."""
        options = self.provider_options(arm, deadline)

        async def one() -> Sample:
            return await call(arm, msgs, params, **options)

        return one


@dataclass(frozen=True)
class Plan:
    """One request, ready to run: what runs it, its messages and routed text, the decision,
    and the keys it is remembered and cached under (``None``: not remembered / not cached),
    each worked out once. ``started`` is when it was planned: the request's deadline counts
    from then, and a plan replaced for a fallback keeps it."""

    runner: Runner
    msgs: list[dict[str, Any]]
    text: str
    decision: Decision
    tenant: str
    openai_kwargs: Mapping[str, Any]
    memory_key: str | None
    cache_key: str | None
    started: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        """The ``time.monotonic()`` point by which the request must end."""
        return self.started + self.runner.settings.deadline


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


def provider_error(
    message: str, failures: list[CallFailed], *, out_of_time: bool = False
) -> ProviderError:
    """The error for a request whose every try failed. It is a timeout (a proxy's 504) when
    the request ran out of time, or when every failure was one: an arm that answered 500 or
    429 was reached, so a mix within the deadline is a bad gateway (502), not a slow one."""
    last = failures[-1] if failures else None
    return ProviderError(
        message + (f"; last error: {last}" if last else ""),
        status=last.status if last else None,
        timeout=out_of_time or (bool(failures) and all(f.timeout for f in failures)),
    )


def _final(answered: list[tuple[Arm, ArmRun]], attempts: list[Attempt]) -> tuple[Arm, ArmRun]:
    """The accepted answer if any; otherwise the last arm that answered (the strongest tried,
    since escalation only moves to arms predicted to do better)."""
    for (arm, run), att in zip(reversed(answered), reversed(attempts), strict=False):
        if att.outcome == "accepted":
            return arm, run
    return answered[-1]


def _attempt(arm: Arm, run: ArmRun, outcome: Outcome) -> Attempt:
    judged = run.judgement
    return Attempt(
        arm=arm.label,
        model=arm.model,
        samples_requested=arm.samples,
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
