"""The library face: ``Router`` decides, calls the provider, votes, escalates and accounts.

One request runs as: decide (the policy over the classifier's predictions, or the arm this
query needed last time) → hold the request's ceiling against its budgets → run the chosen
arm, escalating while the ceiling allows (:mod:`ponder.router._run`) → settle the budgets
with the real cost → remember an escalation, record feedback, cache the answer → return an
OpenAI-shaped completion with the trace.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import time
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ponder._menu import Arm, Menu
from ponder.aggregators import AnswerExtractor, StoppingRule, extract_answer
from ponder.classifiers import DifficultyClassifier
from ponder.errors import (
    ConfigError,
    NoArmFitsError,
    RequestError,
    StoreUnavailable,
    UnknownModelError,
)
from ponder.router._accounting import GLOBAL, Budgets, Hold, reservation
from ponder.router._args import as_messages, check_controls, check_json, check_number
from ponder.router._ceiling import acount_prompts, answer_tokens, count_prompts, least_output
from ponder.router._decide import ArmEstimate, Decider, Decision
from ponder.router._digests import Digests
from ponder.router._execute import Verifier, query_text
from ponder.router._judge import Judge, ModelJudge
from ponder.router._offload import sized
from ponder.router._run import Plan, Runner
from ponder.router._settings import Settings
from ponder.router._stores import (
    AttemptRecord,
    Cache,
    Feedback,
    FeedbackEvent,
    Ledger,
    MemoryCache,
    MemoryFeedback,
    MemoryLedger,
)
from ponder.router._streaming import RoutedStream
from ponder.router._trace import Completion, Usage

T = TypeVar("T")
log = logging.getLogger("ponder")


class Router:
    """Routes chat requests across a menu of arms (model, thinking, samples, aggregation).

    Build it once (loading the classifier takes a moment) and share it; it is safe to use
    from many tasks at once. ``complete`` is the blocking form of ``acomplete``. State that
    outlives a request (budgets, cache, escalation memory, feedback) lives in Redis when
    ``settings.redis_url`` is set, else in this process; pass stores explicitly to share
    or replace them.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        menu: Menu | None = None,
        classifier: DifficultyClassifier | None = None,
        verifier: Verifier | None = None,
        judge: Judge | None = None,
        extractor: AnswerExtractor = extract_answer,
        ledger: Ledger | None = None,
        cache: Cache | None = None,
        memory: Cache | None = None,
        feedback: Feedback | None = None,
    ) -> None:
        s = self.settings = settings if settings is not None else Settings.from_env()
        self.menu = menu if menu is not None else s.load_menu()
        if classifier is None:
            from ponder.classifiers import load_classifier, load_default_classifier

            classifier = load_classifier(s.model) if s.model else load_default_classifier()
        keys = _provider_keys(self.menu)
        if judge is None and s.judge is not None:
            j = Menu(arms=(s.judge,))
            j.check_prices()  # an unpriced judge fails now, not mid-request
            judge = ModelJudge(
                s.judge,
                api_key=_provider_keys(j).get(s.judge.label),
                timeout=s.timeout,
                num_retries=s.num_retries,
                retry_backoff=s.retry_backoff,
                retry_max_wait=s.retry_max_wait,
            )
        _check_arms(self.menu, s, verifier, judge)
        self.store: Any = None
        if s.redis_url is not None and None in (ledger, cache, memory, feedback):
            from ponder.router._redis import RedisStore

            self.store = RedisStore(s.redis_url)
        default = self.store
        self.ledger: Ledger = ledger or default or MemoryLedger()
        self.cache: Cache = cache or default or MemoryCache()
        self.memory: Cache = memory or default or MemoryCache()
        self.feedback: Feedback = feedback or default or MemoryFeedback()
        # Keys in a Redis this router opened may be shared with replicas: they must agree.
        shared = default is not None and None in (cache, memory)
        self.digests = Digests.from_settings(s, shared=shared)
        self.budgets = Budgets(self.ledger, fail_open=s.budget_fail_open)
        self._decider = Decider(classifier, self.menu, adaptive_confidence=s.adaptive_confidence)
        self._runner = Runner(
            arms={a.label: a for a in self.menu.arms},
            settings=s,
            rule=StoppingRule(confidence=s.adaptive_confidence),
            extractor=extractor,
            verifier=verifier,
            judge=judge,
            keys=keys,
        )
        self.verifier = verifier
        self.judge = judge
        self.passthrough = _passthrough_arms(self.menu, s.passthrough)
        self._passthrough_keys = _provider_keys(Menu(arms=tuple(self.passthrough.values())))

    @classmethod
    def from_config(cls, config: str | Path | Settings | None = None, **extensions: Any) -> Router:
        """A router from a YAML/TOML config file, a :class:`Settings`, or (``None``) the
        environment alone. ``extensions`` go to the constructor (``verifier=...``, ...)."""
        if config is None:
            settings = Settings.from_env()
        elif isinstance(config, Settings):
            settings = config
        else:
            settings = Settings.from_file(config)
        return cls(settings, **extensions)

    async def aclose(self) -> None:
        """Close the Redis connection pool, if this router opened one, once the
        settlements of abandoned streams still running have reached the ledger."""
        await self.budgets.drain()
        if self.store is not None:
            await self.store.aclose()

    def route(
        self,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        max_cost: float | None = None,
        lam: float | None = None,
    ) -> Decision:
        """The routing decision for ``messages``, without calling anything (and without
        escalation memory, which needs the store)."""
        msgs = as_messages(messages)
        tokens = count_prompts([a.model for a in self.menu.arms], msgs)
        return self._decide(query_text(msgs), max_cost, lam, tokens, None)

    def complete(self, messages: Sequence[Mapping[str, Any]] | str, **kwargs: Any) -> Completion:
        """Blocking :meth:`acomplete`."""
        return _run_sync(self.acomplete(messages, **kwargs))

    async def acomplete(
        self,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        max_cost: float | None = None,
        lam: float | None = None,
        tenant: str = "",
        budget_key: str | None = None,
        budget_limit: float | None = None,
        cache: bool = True,
        **openai_kwargs: Any,
    ) -> Completion:
        """Answer ``messages`` (OpenAI chat format, or a bare string as one user turn).

        ``max_cost`` and ``lam`` override the settings and menu per request. ``tenant``
        scopes the cache and escalation memory. The request is held against the global
        budget and, with ``budget_key``, that key's own (limited to ``budget_limit``).
        Other keyword arguments are OpenAI parameters passed to every sample
        (``temperature``, ``max_tokens``, ...); ``model``, ``n`` and ``stream`` belong to
        the router and are ignored.
        """
        plan = await self._plan(None, messages, max_cost, lam, tenant, cache, openai_kwargs)
        return await self._serve(plan, self._limits(budget_key, budget_limit))

    async def aforward(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        max_cost: float | None = None,
        tenant: str = "",
        budget_key: str | None = None,
        budget_limit: float | None = None,
        cache: bool = True,
        **openai_kwargs: Any,
    ) -> Completion:
        """Send ``messages`` to ``model`` as they are (no routing, one sample), with the
        same budgets, cache and trace as a routed request. ``model`` must be a menu
        model or listed in ``settings.passthrough``."""
        if not isinstance(model, str):
            raise RequestError(f"model must be a string, not {type(model).__name__}")
        plan = await self._plan(model, messages, max_cost, None, tenant, cache, openai_kwargs)
        return await self._serve(plan, self._limits(budget_key, budget_limit))

    async def astream(
        self,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        model: str | None = None,
        max_cost: float | None = None,
        lam: float | None = None,
        tenant: str = "",
        budget_key: str | None = None,
        budget_limit: float | None = None,
        cache: bool = True,
        **openai_kwargs: Any,
    ) -> RoutedStream:
        """:meth:`acomplete` (or, with ``model``, :meth:`aforward`) as a stream.

        Errors before any text (bad request, budget, every arm failing) raise here, so a
        server can still answer with an error status; the returned stream's ``events``
        are the text pieces and, last, the :class:`Completion` with its trace. Read them
        to the end or call its ``aclose()``: until then a live stream holds its ceiling.
        """
        from ponder.router._streaming import open_stream

        if model is not None and not isinstance(model, str):
            raise RequestError(f"model must be a string, not {type(model).__name__}")
        plan = await self._plan(model, messages, max_cost, lam, tenant, cache, openai_kwargs)
        return await open_stream(self, plan, self._limits(budget_key, budget_limit))

    async def spent(self, key: str | None = None) -> float:
        """Total charged to the global budget, or to ``key``'s, including the reservations
        of requests still running."""
        return await self.budgets.spent(GLOBAL if key is None else f"key:{key}")

    async def _plan(
        self,
        model: str | None,
        messages: Sequence[Mapping[str, Any]] | str,
        max_cost: float | None,
        lam: float | None,
        tenant: str,
        cache: bool,
        openai_kwargs: Mapping[str, Any],
    ) -> Plan:
        """What to run: the router's arms and decision, or one pass-through model.

        Checks every argument first: a wrong one must be a :class:`RequestError` here, not a
        ``TypeError`` deep in the classifier or a provider error from litellm."""
        check_controls(max_cost, lam)
        if not isinstance(tenant, str):
            raise RequestError(f"tenant must be a string, not {type(tenant).__name__}")
        if not isinstance(cache, bool):
            raise RequestError(f"cache must be True or False, not {cache!r}"[:200])
        check_json("OpenAI parameters", dict(openai_kwargs))
        msgs = as_messages(messages)
        text = query_text(msgs)
        answer = answer_tokens(openai_kwargs)
        if model is None:
            counts = await acount_prompts([a.model for a in self.menu.arms], msgs)
            mkey = self.digests.memory_key(tenant, text)
            decided = await sized(len(text), self._decide, text, max_cost, lam, counts, answer)
            decision = await self._remembered(decided, mkey)
            ckey = self._cache_key(tenant, msgs, openai_kwargs, decision, cache)
            return Plan(self._runner, msgs, text, decision, tenant, openai_kwargs, mkey, ckey)
        arm = self.passthrough.get(model)
        if arm is None:
            raise UnknownModelError(
                f"model '{model}' is neither a routing profile nor a pass-through model "
                f"(pass-through: {', '.join(sorted(self.passthrough)) or 'none'})"
            )
        ceiling = max_cost if max_cost is not None else self.ceiling
        tokens = (await acount_prompts([arm.model], msgs))[arm.model]
        worst = float(arm.price().cost(tokens, least_output(arm, answer)))
        if ceiling is not None and worst > ceiling:
            raise NoArmFitsError(
                f"'{model}' may cost ${worst:.6f} ({tokens} prompt tokens and a short "
                f"answer), over the ceiling of ${ceiling:.6f}"
            )
        est = ArmEstimate(model, math.nan, worst, 0.0, True, "pass-through", 1.0, worst, tokens)
        decision = Decision(model, "pass-through", 0.0, None, tokens, 0.0, ceiling, (est,))
        runner = dataclasses.replace(self._runner, arms={model: arm}, keys=self._passthrough_keys)
        ckey = self._cache_key(tenant, msgs, openai_kwargs, decision, cache)
        return Plan(runner, msgs, text, decision, tenant, openai_kwargs, None, ckey)

    def _limits(
        self, budget_key: str | None, budget_limit: float | None
    ) -> list[tuple[str, float | None]]:
        limits: list[tuple[str, float | None]] = [(GLOBAL, self.settings.budget)]
        if budget_key is not None and not isinstance(budget_key, str):
            raise RequestError(f"budget_key must be a string, not {type(budget_key).__name__}")
        check_number("budget_limit", budget_limit, positive=True)
        if budget_key is not None:
            limits.append((f"key:{budget_key}", budget_limit))
        return limits

    def _cache_key(
        self,
        tenant: str,
        msgs: list[dict[str, Any]],
        openai_kwargs: Mapping[str, Any],
        decision: Decision,
        cache: bool,
    ) -> str | None:
        if not cache or self.settings.cache_ttl <= 0:
            return None
        return self.digests.cache_key(tenant, msgs, openai_kwargs, decision)

    async def _cached(self, plan: Plan) -> Completion | None:
        key = plan.cache_key
        hit = None if key is None else await self._get(self.cache, key, "cache")
        return None if hit is None else _from_cache(hit)

    async def _hold(self, decision: Decision, limits: list[tuple[str, float | None]]) -> Hold:
        return await self.budgets.hold(reservation(decision, self.settings.max_escalations), limits)

    async def _serve(self, plan: Plan, limits: list[tuple[str, float | None]]) -> Completion:
        """Cache lookup, budget hold, the attempts, settlement and bookkeeping."""
        hit = await self._cached(plan)
        if hit is not None:
            return hit
        hold = await self._hold(plan.decision, limits)
        try:
            completion = await plan.runner.run(
                plan.msgs, plan.text, plan.decision, plan.openai_kwargs, plan.deadline
            )
        except BaseException:
            await self.budgets.release(hold)
            raise
        await self.budgets.settle(hold, completion.ponder.cost)
        await self._after(completion, plan)
        return completion

    @property
    def ceiling(self) -> float | None:
        """The operator's per-request ceiling: the settings', else the menu's."""
        s = self.settings.max_cost
        return s if s is not None else self.menu.max_cost

    def _decide(
        self,
        text: str,
        max_cost: float | None,
        lam: float | None,
        tokens: Mapping[str, int],
        answer: int | None,
    ) -> Decision:
        """The decision over the whole request (``tokens``: its prompt tokens per model)."""
        if not text.strip():
            raise RequestError("the request has no user message text to route")
        check_controls(max_cost, lam)
        return self._decider.decide(
            text,
            max_cost=max_cost if max_cost is not None else self.ceiling,
            lam=lam if lam is not None else self.settings.lam,
            prompt_tokens=[tokens[a.model] for a in self.menu.arms],
            answer_tokens=answer,
        )

    async def _remembered(self, decision: Decision, key: str) -> Decision:
        """Start at the arm this query escalated to last time, if it still fits."""
        if self.settings.memory_ttl <= 0:
            return decision
        hit = await self._get(self.memory, key, "escalation memory")
        if hit is None:
            return decision
        arm = hit.decode(errors="replace")
        est = next((e for e in decision.arms if e.arm == arm and e.fits), None)
        if est is None or arm == decision.chosen:
            return decision
        reason = f"remembered: this query needed '{arm}' last time ({decision.reason})"
        return dataclasses.replace(decision, chosen=arm, reason=reason)

    async def _after(self, c: Completion, plan: Plan) -> None:
        """Remember an escalation, cache the answer, record feedback: all best effort."""
        tenant, text, mkey, ckey = plan.tenant, plan.text, plan.memory_key, plan.cache_key
        s, t = self.settings, c.ponder
        accepted = t.attempts[-1].outcome == "accepted"
        # Only a weak answer says the query needs a stronger arm; a provider failure says
        # nothing about the query, and remembering it would send the query to a dearer arm
        # for memory_ttl after one transient fault.
        needed = any(a.outcome not in ("accepted", "provider_error") for a in t.attempts[:-1])
        if mkey is not None and s.memory_ttl > 0 and accepted and needed:
            await self._set(self.memory, mkey, t.answered_by.encode(), s.memory_ttl, "memory")
        if ckey is not None:
            await self._set(self.cache, ckey, c.model_dump_json().encode(), s.cache_ttl, "cache")
        if s.feedback:
            event = FeedbackEvent(
                id=c.id,
                ts=time.time(),
                tenant=tenant,
                query=text if s.feedback_text else "",
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


def _passthrough_arms(menu: Menu, extra: Sequence[str]) -> dict[str, Arm]:
    """One plain arm per model a client may name directly: the menu's models (keeping
    their endpoint, key and prices, not their thinking or sampling) and ``extra``."""
    arms: dict[str, Arm] = {}
    for a in menu.arms:
        arms.setdefault(
            a.model,
            Arm(
                model=a.model,
                input_price=a.input_price,
                output_price=a.output_price,
                output_tokens=a.output_tokens,
                api_base=a.api_base,
                api_key_env=a.api_key_env,
            ),
        )
    for model in extra:
        if model not in arms:
            arm = Arm(model=model)
            arm.price()  # an unpriced model could not be charged to a budget: refuse it now
            arms[model] = arm
    return arms


def _check_arms(menu: Menu, s: Settings, verifier: Verifier | None, judge: Judge | None) -> None:
    for arm in menu.arms:
        if arm.samples > s.max_samples:
            raise ConfigError(
                f"arm '{arm.label}' draws up to {arm.samples} samples, over the "
                f"max_samples limit of {s.max_samples} per request"
            )
        if arm.aggregation == "best_of_n" and verifier is None and judge is None:
            raise ConfigError(
                f"arm '{arm.label}' picks best-of-{arm.samples} by a verifier or a judge "
                "model; pass Router(verifier=...), set 'judge' in the config, or use "
                "aggregation 'majority'"
            )


def _provider_keys(menu: Menu) -> dict[str, str]:
    """Provider keys named by ``api_key_env``, read once; a missing variable is an error
    now rather than an authentication failure on the first request."""
    keys: dict[str, str] = {}
    for arm in menu.arms:
        if arm.api_key_env is None:
            continue
        value = os.environ.get(arm.api_key_env)
        if not value:
            raise ConfigError(
                f"arm '{arm.label}': environment variable {arm.api_key_env} is not set"
            )
        keys[arm.label] = value
    return keys


def _from_cache(blob: bytes) -> Completion:
    c = Completion.model_validate_json(blob)
    trace = c.ponder.model_copy(update={"cache_hit": True, "cost": 0.0})
    return c.model_copy(update={"ponder": trace, "usage": Usage()})


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, also from inside a running event loop (a notebook),
    where ``asyncio.run`` is not allowed: then it runs on a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
