"""One request's way through the router, as stages: look up the cache, plan (decide, or
recall the arm this query needed last time), hold the ceiling against the budgets, run the
attempts with escalation, settle the budgets at the real cost, record (memory, cache,
feedback).

The blocking, async and streaming faces of :class:`~ponder.router.Router` are shells over
:meth:`Pipeline.answer` and :func:`~ponder.router._streaming.open_stream`, which use the
same stages; each stage is a public method so that a stage can be read, and tested, alone.
Nothing here changes per request: a request's state is its :class:`Request` and
:class:`Plan`, passed along.

The pipeline alone holds, settles and releases budgets (:meth:`Pipeline.held`): a hold is
ended exactly once, and in a task of its own, so that no exception and no cancellation of
the caller (a client going away, a timeout around the call) leaves a ceiling held.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from ponder._menu import Arm, Menu
from ponder.errors import (
    NoArmFitsError,
    RequestError,
    StoreUnavailable,
    UnknownModelError,
    UnsupportedParameterError,
)
from ponder.feedback import AttemptRecord, Feedback, FeedbackEvent
from ponder.router._abilities import cannot_take, servable
from ponder.router._budgets import Budgets, Hold
from ponder.router._ceiling import Ceiling, acount_prompts, least_output
from ponder.router._decide import Decider
from ponder.router._decision import ArmEstimate, Decision
from ponder.router._escalation import Escalation, Route
from ponder.router._offload import sized
from ponder.router._request import Request
from ponder.router._settings import Settings
from ponder.router._stores import Cache, Digests
from ponder.router._trace import Attempt, Completion, Usage

log = logging.getLogger("ponder")


@dataclass(frozen=True)
class Plan:
    """A request ready to run: the route its attempts take, and the keys it is remembered
    and cached under (``None``: not remembered / not cached), each worked out once."""

    request: Request
    route: Route
    memory_key: str | None
    cache_key: str | None

    @property
    def decision(self) -> Decision:
        return self.route.decision

    @property
    def ceiling(self) -> Ceiling:
        return Ceiling(self.route.decision.max_cost)


class Holding:
    """A request's hold on its budgets, ended exactly once: settled at what the request
    cost, or released when it spent nothing it knows of. Either runs detached
    (:meth:`~ponder.router._budgets.Budgets.settle_detached`), so a cancellation of the
    caller cannot cut it short; a second end does nothing."""

    def __init__(self, budgets: Budgets, hold: Hold) -> None:
        self.budgets = budgets
        self.hold = hold
        self.ended = False

    async def settle(self, cost: float, then: Callable[[], Awaitable[None]] | None = None) -> None:
        """Replace the hold by ``cost`` (then run ``then``, e.g. close the provider's
        stream), unless the hold has already ended."""
        if self.ended:
            return
        self.ended = True
        await self.budgets.settle_detached(self.hold, cost, then)

    async def release(self, then: Callable[[], Awaitable[None]] | None = None) -> None:
        """Give the whole hold back (settle at nothing)."""
        await self.settle(0.0, then)


@dataclass(frozen=True)
class Pipeline:
    """The stages, and what they share for the router's lifetime."""

    settings: Settings
    menu: Menu
    decider: Decider
    escalation: Escalation
    budgets: Budgets
    cache: Cache
    memory: Cache
    feedback: Feedback
    digests: Digests
    keys: Mapping[str, str]
    """Provider keys of the menu's arms, by label."""
    passthrough: Mapping[str, Arm]
    """The models a client may name directly, each as a plain one-sample arm."""
    passthrough_keys: Mapping[str, str]

    @functools.cached_property
    def arms(self) -> Mapping[str, Arm]:
        """The menu's arms by label, built once rather than per request."""
        return {a.label: a for a in self.menu.arms}

    @functools.cached_property
    def models(self) -> tuple[str, ...]:
        """The menu's models in arm order: what each request's prompt is counted for."""
        return tuple(a.model for a in self.menu.arms)

    async def answer(self, request: Request) -> Completion:
        """The whole pipeline: a cached answer, or plan and serve."""
        key = self.cache_key(request)
        hit = await self.lookup(key)
        if hit is not None:
            return hit
        return await self.serve(await self.plan(request, key))

    async def serve(self, plan: Plan, before: tuple[Attempt, ...] = ()) -> Completion:
        """Hold, run the attempts, settle and record. ``before``: attempts a live stream
        already made (see :meth:`Escalation.run`)."""
        async with self.held(plan) as holding:
            completion = await self.escalation.run(plan.route, before)
            await holding.settle(completion.ponder.cost)
        await self.record(completion, plan)
        return completion

    @contextlib.asynccontextmanager
    async def held(self, plan: Plan) -> AsyncIterator[Holding]:
        """The plan's hold for the duration of the block, released if the block raises
        anything, cancellation included. A block that ends normally has settled the hold,
        or handed it on to what will (a live stream's events)."""
        holding = Holding(self.budgets, await self.hold(plan))
        try:
            yield holding
        except BaseException:
            await holding.release()
            raise

    # -- stages -------------------------------------------------------------------------

    def cache_key(self, request: Request) -> str | None:
        """The request's cache key: everything that shapes the answer, none of it the
        prediction, so the cache is looked up before the classifier runs."""
        if not request.cache or self.settings.cache_ttl <= 0:
            return None
        if request.model is None:
            lam, arms = request.bounds.lam, list(self.menu.labels)
        else:
            lam, arms = 0.0, [request.model]
        return self.digests.cache_key(
            request.tenant, request.msgs, request.openai_kwargs, request.bounds.max_cost, lam, arms
        )

    async def lookup(self, key: str | None) -> Completion | None:
        """The cached answer under ``key``, charged at nothing."""
        hit = None if key is None else await self._get(self.cache, key, "cache")
        return None if hit is None else _from_cache(hit)

    def decide(
        self,
        request: Request,
        tokens: Mapping[str, int],
        serves: Sequence[bool] | None = None,
    ) -> Decision:
        """The policy's choice for a routed request (``tokens``: its prompt tokens as each
        model counts them; ``serves``: which arms can take it, see :meth:`servable`)."""
        if not request.text.strip():
            raise RequestError("the request has no user message text to route")
        return self.decider.decide(
            request.text,
            max_cost=request.bounds.max_cost,
            lam=request.bounds.lam,
            prompt_tokens=[tokens[a.model] for a in self.menu.arms],
            answer_tokens=request.answer_tokens,
            serves=serves,
        )

    def servable(self, request: Request) -> tuple[bool, ...] | None:
        """Which of the menu's arms can take ``request`` (``None``: all, it asks nothing
        an arm may lack); :class:`UnsupportedParameterError` when none can."""
        if not request.openai_kwargs and not request.needs:
            return None
        ok, why = servable(self.menu.arms, request.openai_kwargs, request.needs)
        if not any(ok):
            raise UnsupportedParameterError(f"no arm can take this request: {'; '.join(why)}")
        return ok

    async def plan(self, request: Request, cache_key: str | None) -> Plan:
        """What to run: the router's arms and decision (or the arm this query needed last
        time), or one pass-through model."""
        deadline = request.started + self.settings.deadline
        msgs, text = request.msgs, request.text
        if request.model is None:
            serves = self.servable(request)
            counts = await acount_prompts(self.models, request.prompt)
            decided = await sized(len(text), self.decide, request, counts, serves)
            mkey = self.digests.memory_key(request.tenant, text)
            decision = await self.remembered(decided, mkey)
            route = Route(
                msgs,
                text,
                decision,
                self.arms,
                self.keys,
                request.openai_kwargs,
                deadline,
                decision.chosen_arm,
            )
            return Plan(request, route, mkey, cache_key)
        model = request.model
        arm = self.passthrough.get(model)
        if arm is None:
            raise UnknownModelError(
                f"model '{model}' is neither a routing profile nor a pass-through model "
                f"(pass-through: {', '.join(sorted(self.passthrough)) or 'none'})"
            )
        refused = cannot_take(arm, request.openai_kwargs, request.needs)
        if refused is not None:
            raise UnsupportedParameterError(refused)
        ceiling = request.bounds.max_cost
        tokens = (await acount_prompts([arm.model], request.prompt))[arm.model]
        worst = float(arm.price().cost(tokens, least_output(arm, request.answer_tokens)))
        if not Ceiling(ceiling).fits(worst):
            raise NoArmFitsError(
                f"'{model}' may cost ${worst:.6f} ({tokens} prompt tokens and a short "
                f"answer), over the ceiling of ${ceiling:.6f}"
            )
        est = ArmEstimate(model, math.nan, worst, 0.0, True, "pass-through", 1.0, worst, tokens)
        decision = Decision(model, "pass-through", 0.0, None, tokens, 0.0, ceiling, (est,))
        route = Route(
            msgs,
            text,
            decision,
            {model: arm},
            self.passthrough_keys,
            request.openai_kwargs,
            deadline,
            model,
        )
        return Plan(request, route, None, cache_key)

    async def remembered(self, decision: Decision, key: str) -> Decision:
        """Start at the arm this query escalated to last time, if it still fits."""
        if self.settings.memory_ttl <= 0:
            return decision
        hit = await self._get(self.memory, key, "escalation memory")
        if hit is None:
            return decision
        arm = hit.decode(errors="replace")
        est = next((e for e in decision.arms if e.arm == arm and e.fits), None)
        if est is None or arm == decision.chosen_arm:
            return decision
        reason = f"remembered: this query needed '{arm}' last time ({decision.reason})"
        return dataclasses.replace(decision, chosen_arm=arm, reason=reason)

    async def hold(self, plan: Plan) -> Hold:
        """Reserve what the request may spend on every budget it draws on; a caller
        cancelled on the way holds nothing."""
        amount = plan.ceiling.reserve(
            plan.decision.arms, plan.route.start, self.settings.max_escalations
        )
        return await self.budgets.hold_detached(amount, plan.request.limits, arm=plan.route.start)

    async def record(self, c: Completion, plan: Plan) -> None:
        """Remember an escalation, cache the answer, record feedback: all best effort."""
        s, t = self.settings, c.ponder
        accepted = t.attempts[-1].outcome == "accepted"
        # Only a weak answer says the query needs a stronger arm; a provider failure says
        # nothing about the query, and remembering it would send the query to a dearer arm
        # for memory_ttl after one transient fault.
        needed = any(a.outcome not in ("accepted", "provider_error") for a in t.attempts[:-1])
        mkey, ckey = plan.memory_key, plan.cache_key
        if mkey is not None and s.memory_ttl > 0 and accepted and needed:
            await self._set(self.memory, mkey, t.answered_by.encode(), s.memory_ttl, "memory")
        if ckey is not None:
            await self._set(self.cache, ckey, c.model_dump_json().encode(), s.cache_ttl, "cache")
        if s.feedback:
            await self._publish(c, plan.request)

    async def _publish(self, c: Completion, request: Request) -> None:
        t = c.ponder
        event = FeedbackEvent(
            id=c.id,
            ts=time.time(),
            tenant=request.tenant,
            query=request.text if self.settings.feedback_text else "",
            chosen_arm=t.chosen_arm,
            answered_by=t.answered_by,
            attempts=tuple(
                AttemptRecord(
                    arm=a.arm,
                    outcome=a.outcome,
                    samples=a.samples_used,
                    agreement=a.agreement,
                    cost=a.cost,
                )
                for a in t.attempts
            ),
            cost=t.cost,
            p_success={a.arm: a.p_success for a in t.arms if a.p_success is not None},
        )
        try:
            await self.feedback.publish(event)
        except StoreUnavailable as exc:
            log.warning("feedback not recorded: %s", exc)

    async def _get(self, store: Cache, key: str, what: str) -> bytes | None:
        """A store read that degrades to a miss when the store is away."""
        try:
            return await store.get(key)
        except StoreUnavailable as exc:
            log.warning("%s bypassed: %s", what, exc)
            return None

    async def _set(self, store: Cache, key: str, value: bytes, ttl: float, what: str) -> None:
        try:
            await store.set(key, value, ttl)
        except StoreUnavailable as exc:
            log.warning("%s not written: %s", what, exc)


def _from_cache(blob: bytes) -> Completion:
    c = Completion.model_validate_json(blob)
    trace = c.ponder.model_copy(update={"cache_hit": True, "cost": 0.0})
    return c.model_copy(update={"ponder": trace, "usage": Usage()})
