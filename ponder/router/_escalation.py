"""The escalation loop: run an arm, judge its answer, move to a better arm while allowed.

Escalation asks the same policy again over what is left: the arms not yet tried whose
worst-case cost (every sample drawn) fits in what remains of the request's ceiling. After a
weak answer only arms predicted to do better qualify (a sideways move buys nothing); after a
provider failure any remaining arm will do, since the point is to get an answer at all. An
adaptive arm whose calibrated sample budget for the query is 0 (its vote is predicted
hopeless) is passed by without drawing, to the next better arm, when one is allowed.

A request that offers tools is answered by one sample of each arm tried: votes are over the
answers extracted from free text, and a tool call is not free text (two samples calling one
tool with differently worded arguments would disagree, and the caller runs one call, not a
vote). A sampled or adaptive arm so serves a tool request as a single-sample arm would;
escalation still moves on after a refusal or a provider failure. Arms that cannot take the
request (its parameters, tools, schema, images) are never escalated to.

The loop knows arms, settings and the extension points, not budgets, caches or streams:
:mod:`ponder.router._pipeline` holds and settles around it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ponder._menu import Arm
from ponder.aggregators import AnswerExtractor, SamplePlan, StopRule
from ponder.errors import NoArmFitsError, ProviderError
from ponder.policies import SamplingPolicy
from ponder.router._arm import ArmRun, SampleCall, Verifier, run_arm
from ponder.router._ceiling import Ceiling
from ponder.router._completions import completion, declined_attempt, run_attempt
from ponder.router._deadline import passed
from ponder.router._decision import ArmEstimate, Decision
from ponder.router._judge import Judge
from ponder.router._llm import CallFailed, Sample, call
from ponder.router._settings import Settings
from ponder.router._trace import Attempt, Completion, Outcome


@dataclass(frozen=True)
class Route:
    """What one request's attempts run over: its messages and routed text, the decision,
    the arms it may use and their provider keys (the router's menu, or one pass-through
    model), where to start, and the ``time.monotonic()`` point by which it must end."""

    msgs: list[dict[str, Any]]
    text: str
    decision: Decision
    arms: Mapping[str, Arm]
    keys: Mapping[str, str]
    openai_kwargs: Mapping[str, Any]
    deadline: float | None
    start: str
    """The arm tried first: the decision's, unless a live stream already failed on it."""


@dataclass(frozen=True)
class Escalation:
    """The attempt loop's fixed parts: settings, stopping rule, extractor, verifier, judge,
    and the calibrated sampling policies of adaptive arms (by label). ``rule`` stops the
    adaptive arms without a policy (the Beta rule at ``adaptive_confidence``)."""

    settings: Settings
    rule: StopRule
    extractor: AnswerExtractor
    verifier: Verifier | None
    judge: Judge | None
    sampling: Mapping[str, SamplingPolicy] = field(default_factory=dict)

    def sample_plan(self, arm: Arm, estimate: ArmEstimate, limit: int) -> SamplePlan:
        """What ``arm`` may draw for this query with ``limit`` samples left to the request:
        its calibrated policy's plan for an adaptive arm that has one, else everything it
        allows, stopped (when adaptive) by ``rule``."""
        most = max(1, min(arm.samples, limit))
        policy = self.sampling.get(arm.label) if arm.adaptive else None
        if policy is None:
            return SamplePlan(most, self.rule)
        p1 = None if math.isnan(estimate.p_sample) else estimate.p_sample
        return policy.plan(p1, most)

    async def run(self, route: Route, before: tuple[Attempt, ...] = ()) -> Completion:
        """Attempts until one is accepted, escalation must stop or the deadline passes; the
        completion. No arm starts after the deadline, and a request that reaches it without
        an answer is a timeout. ``before``: attempts already made elsewhere (a live stream
        that failed before any text); the loop does not go back to their arms, and the
        trace lists them first."""
        s, decision, deadline = self.settings, route.decision, route.deadline
        ceiling = Ceiling(decision.max_cost)
        estimates = {e.arm: e for e in decision.arms}
        current: ArmEstimate | None = estimates[route.start]
        attempts: list[Attempt] = []
        runs: list[tuple[Arm, ArmRun]] = []
        spent, used, stopped = 0.0, 0, None
        failures: list[CallFailed] = []
        tried = {a.arm for a in before}
        single = one_sample(route.openai_kwargs)
        while current is not None:
            if passed(deadline):
                stopped = "deadline"
                break
            arm = route.arms[current.arm]
            # What is left of the ceiling bounds every sample this arm may draw.
            most = 1 if single else max(1, min(arm.samples, s.max_samples - used))
            try:
                params = ceiling.capped_params(
                    arm, route.openai_kwargs, current.prompt_tokens, spent=spent, samples=most
                )
            except NoArmFitsError:
                if not attempts:
                    raise
                stopped = "ceiling"  # escalation checked the fit; rounding may still differ
                break
            plan = self.sample_plan(arm, current, s.max_samples - used)
            if single:  # one sample serves a tool request (see the module docstring)
                plan = SamplePlan(1, self.rule)
            if plan.budget == 0:
                # Predicted hopeless: pass it by for a better arm, as a weak answer would,
                # if escalation may go on; otherwise it answers once.
                better, _ = next_arm(
                    decision,
                    {a.arm for a in attempts} | tried | {current.arm},
                    spent=spent,
                    after=current,
                    must_improve=True,
                )
                if better is not None and len(attempts) < s.max_escalations:
                    attempts.append(declined_attempt(arm))
                    current = better
                    continue
                plan = dataclasses.replace(plan, budget=1)
            run = await run_arm(
                arm,
                self.sampler(arm, route, params),
                query=route.text,
                plan=plan,
                extract=self.extractor,
                verifier=self.verifier,
                judge=self.judge,
            )
            outcome = self.outcome(run)
            calibrated = arm.adaptive and arm.label in self.sampling
            requested = plan.budget if calibrated or single else None
            attempts.append(run_attempt(arm, run, outcome, requested))
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
                {a.arm for a in attempts} | tried,
                spent=spent,
                after=current,
                must_improve=outcome != "provider_error",
            )
        answered = [(arm, run) for arm, run in runs if run.chosen is not None]
        if not answered:
            names = ", ".join(a.arm for a in attempts) or "none"
            if stopped == "deadline" or passed(deadline):
                message = f"the request's deadline ({s.deadline:g} s) passed (arms tried: {names})"
                raise provider_error(message, failures, out_of_time=True)
            raise provider_error(f"every arm tried failed at the provider ({names})", failures)
        arm, run = _final(answered, attempts)
        chosen = run.chosen
        assert chosen is not None
        return completion(
            decision,
            (*before, *attempts),
            arm,
            chosen.content,
            chosen.finish_reason or ("tool_calls" if chosen.tool_calls else "stop"),
            stopped=stopped,
            tool_calls=chosen.tool_calls,
        )

    def outcome(self, run: ArmRun) -> Outcome:
        """Whether an arm's answer is good enough to stop, and if not, why."""
        if run.chosen is None:
            return "provider_error"
        said = run.chosen.content or run.chosen.tool_calls
        if not said or run.chosen.finish_reason == "content_filter":
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

    def provider_options(
        self, arm: Arm, keys: Mapping[str, str], deadline: float | None
    ) -> dict[str, Any]:
        """The keyword arguments every provider call of ``arm`` takes from the settings,
        and the request's deadline."""
        s = self.settings
        return {
            "deadline": deadline,
            "api_key": keys.get(arm.label),
            "timeout": s.timeout,
            "num_retries": s.num_retries,
            "backoff": s.retry_backoff,
            "max_wait": s.retry_max_wait,
        }

    def sampler(self, arm: Arm, route: Route, params: Mapping[str, Any]) -> SampleCall:
        """One provider call of ``arm`` with the request's parameters as the arm sends them
        (:meth:`~ponder.router._ceiling.Ceiling.capped_params`), ended by the request's deadline."""
        options = self.provider_options(arm, route.keys, route.deadline)
        msgs = route.msgs

        async def one() -> Sample:
            return await call(arm, msgs, params, **options)

        return one


def next_arm(
    decision: Decision,
    tried: Collection[str],
    *,
    spent: float,
    after: ArmEstimate,
    must_improve: bool,
) -> tuple[ArmEstimate | None, str | None]:
    """The next arm by the policy's utility, or ``None`` with the reason there is none
    (``ceiling``: better arms exist but do not fit; ``no_better_arm``: none exist)."""
    ceiling = Ceiling(decision.max_cost)
    untried = [e for e in decision.arms if e.serves and e.arm not in tried]
    if must_improve:
        untried = [e for e in untried if e.p_success > after.p_success]
    if not untried:
        return None, "no_better_arm"
    fits = [e for e in untried if ceiling.fits(e.worst_cost, spent)]
    if not fits:
        return None, "ceiling"
    best = max(fits, key=lambda e: (e.utility, -e.expected_cost))
    return best, None


def one_sample(params: Mapping[str, Any]) -> bool:
    """Whether a request is answered by one sample per arm: it offers tools (see the
    module docstring)."""
    return params.get("tools") is not None


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
