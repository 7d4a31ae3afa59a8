"""The library face: ``Router`` decides, calls the provider, votes, escalates and accounts.

One request runs as: decide (the policy over the classifier's predictions) → reserve the
request's ceiling against the global budget → run the chosen arm → accept its answer or
escalate to the next arm the policy proposes while the ceiling allows → settle the budget
with the real cost → return an OpenAI-shaped completion with the trace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ponder._menu import Arm, Menu
from ponder.aggregators import AnswerExtractor, StoppingRule, extract_answer
from ponder.classifiers import DifficultyClassifier
from ponder.errors import BudgetExceededError, ConfigError, ProviderError, RequestError
from ponder.router._decide import ArmEstimate, Decider, Decision
from ponder.router._escalate import next_arm
from ponder.router._execute import ArmRun, Verifier, query_text, run_arm
from ponder.router._judge import Judge, ModelJudge
from ponder.router._llm import CallFailed, Sample, call, request_params
from ponder.router._settings import Settings
from ponder.router._stores import Cache, Ledger, MemoryCache, MemoryLedger
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

T = TypeVar("T")
GLOBAL = "global"


class Router:
    """Routes chat requests across a menu of arms (model, thinking, samples, aggregation).

    Build it once (loading the classifier takes a moment) and share it; it is safe to use
    from many tasks at once. ``complete`` is the blocking form of ``acomplete``.
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
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.menu = menu if menu is not None else self.settings.load_menu()
        if classifier is None:
            from ponder.classifiers import load_classifier, load_default_classifier

            model = self.settings.model
            classifier = load_classifier(model) if model else load_default_classifier()
        self.verifier = verifier
        self._keys = _provider_keys(self.menu)
        if judge is None and self.settings.judge is not None:
            j = self.settings.judge
            Menu(arms=(j,)).check_prices()  # an unpriced judge fails now, not mid-request
            judge = ModelJudge(
                j,
                api_key=_provider_keys(Menu(arms=(j,))).get(j.label),
                timeout=self.settings.timeout,
                num_retries=self.settings.num_retries,
            )
        self.judge = judge
        self.extractor = extractor
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger()
        self.cache: Cache = cache if cache is not None else MemoryCache()
        self._decider = Decider(
            classifier, self.menu, adaptive_confidence=self.settings.adaptive_confidence
        )
        self._arms = {a.label: a for a in self.menu.arms}
        self._rule = StoppingRule(confidence=self.settings.adaptive_confidence)
        for arm in self.menu.arms:
            if arm.samples > self.settings.max_samples:
                raise ConfigError(
                    f"arm '{arm.label}' draws up to {arm.samples} samples, over the "
                    f"max_samples limit of {self.settings.max_samples} per request"
                )
            if arm.aggregation == "best_of_n" and verifier is None and judge is None:
                raise ConfigError(
                    f"arm '{arm.label}' picks best-of-{arm.samples} by a verifier or a judge "
                    "model; pass Router(verifier=...), set 'judge' in the config, or use "
                    "aggregation 'majority'"
                )

    @classmethod
    def from_config(
        cls, config: str | Path | Settings | None = None, **extensions: Any
    ) -> Router:
        """A router from a YAML/TOML config file, a :class:`Settings`, or (``None``) the
        environment alone. ``extensions`` go to the constructor (``verifier=...``, ...)."""
        if config is None:
            settings = Settings.from_env()
        elif isinstance(config, Settings):
            settings = config
        else:
            settings = Settings.from_file(config)
        return cls(settings, **extensions)

    def route(
        self,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        max_cost: float | None = None,
        lam: float | None = None,
    ) -> Decision:
        """The routing decision for ``messages``, without calling anything."""
        text = query_text(_messages(messages))
        return self._decide(text, max_cost, lam)

    def complete(
        self, messages: Sequence[Mapping[str, Any]] | str, **kwargs: Any
    ) -> Completion:
        """Blocking :meth:`acomplete`."""
        return _run_sync(self.acomplete(messages, **kwargs))

    async def acomplete(
        self,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        max_cost: float | None = None,
        lam: float | None = None,
        budget_key: str | None = None,
        tenant: str = "",
        cache: bool = True,
        **openai_kwargs: Any,
    ) -> Completion:
        """Answer ``messages`` (OpenAI chat format, or a bare string as one user turn).

        ``max_cost`` and ``lam`` override the menu's per request. The global budget (if
        set) and, with ``budget_key``, that key's own total are charged the request's real
        cost. Other keyword arguments are OpenAI parameters passed to every sample
        (``temperature``, ``max_tokens``, ...); ``model``, ``n`` and ``stream`` belong to
        the router and are ignored.
        """
        msgs = _messages(messages)
        text = query_text(msgs)
        decision = self._decide(text, max_cost, lam)
        key = _cache_key(tenant, msgs, openai_kwargs, decision) if cache else None
        ttl = self.settings.cache_ttl
        if key is not None and ttl > 0:
            hit = await self.cache.get(key)
            if hit is not None:
                return _from_cache(hit)
        reserve = self._reservation(decision)
        await self._reserve(GLOBAL, reserve, self.settings.budget)
        try:
            completion = await self._run(msgs, text, decision, openai_kwargs)
        except BaseException:
            await self.ledger.adjust(_budget_key(GLOBAL), -reserve, None)
            raise
        await self.ledger.adjust(_budget_key(GLOBAL), completion.ponder.cost - reserve, None)
        if budget_key is not None:
            await self.ledger.adjust(_budget_key(budget_key), completion.ponder.cost, None)
        if key is not None and ttl > 0:
            await self.cache.set(key, completion.model_dump_json().encode(), ttl)
        return completion

    def _decide(self, text: str, max_cost: float | None, lam: float | None) -> Decision:
        if not text.strip():
            raise RequestError("the request has no user message text to route")
        if max_cost is not None and not max_cost > 0:
            raise RequestError(f"max_cost must be a positive number of USD, got {max_cost}")
        if lam is not None and not lam >= 0:
            raise RequestError(f"lam must be >= 0, got {lam}")
        ceiling = max_cost if max_cost is not None else self.settings.max_cost
        return self._decider.decide(
            text, max_cost=ceiling, lam=lam if lam is not None else self.settings.lam
        )

    def _reservation(self, d: Decision) -> float:
        """What to hold against the budget while the request runs: its ceiling, or without
        one, the chosen arm and as many escalations at the dearest arm's expected cost."""
        if d.max_cost is not None:
            return d.max_cost
        chosen = next(e for e in d.arms if e.arm == d.chosen)
        dearest = max(e.expected_cost for e in d.arms)
        return chosen.expected_cost + self.settings.max_escalations * dearest

    async def _reserve(self, key: str, amount: float, limit: float | None) -> None:
        if limit is None:
            await self.ledger.adjust(_budget_key(key), amount, None)
            return
        total = await self.ledger.adjust(_budget_key(key), amount, limit)
        if total is None:
            spent = await self.ledger.adjust(_budget_key(key), 0.0, None) or 0.0
            raise BudgetExceededError(
                f"the {key} budget of ${limit:g} has ${max(limit - spent, 0):.6f} left, less "
                f"than this request may cost (${amount:.6f})",
                budget=limit,
                spent=spent,
            )

    async def _run(
        self,
        msgs: list[dict[str, Any]],
        text: str,
        decision: Decision,
        openai_kwargs: Mapping[str, Any],
    ) -> Completion:
        s = self.settings
        estimates = {e.arm: e for e in decision.arms}
        current: ArmEstimate | None = estimates[decision.chosen]
        attempts: list[Attempt] = []
        runs: list[tuple[Arm, ArmRun]] = []
        spent, used, stopped = 0.0, 0, None
        last_failure: CallFailed | None = None
        while current is not None:
            arm = self._arms[current.arm]
            run = await run_arm(
                arm,
                self._sampler(arm, msgs, openai_kwargs),
                query=text,
                limit=s.max_samples - used,
                rule=self._rule,
                extract=self.extractor,
                verifier=self.verifier,
                judge=self.judge,
            )
            outcome = self._judge(run)
            attempts.append(_attempt(arm, run, outcome))
            runs.append((arm, run))
            spent += run.cost
            used += len(run.samples) + len(run.failures)
            if run.failures:
                last_failure = run.failures[-1]
            if outcome == "accepted":
                stopped = None
                break
            if len(attempts) > s.max_escalations:
                stopped = "max_escalations"
                break
            if used >= s.max_samples:
                stopped = "sample_limit"
                break
            tried = {a.arm for a in attempts}
            after = current
            current, stopped = next_arm(
                decision,
                tried,
                spent=spent,
                after=after,
                must_improve=outcome != "provider_error",
            )
        answered = [(arm, run) for arm, run in runs if run.chosen is not None]
        if not answered:
            f = last_failure
            raise ProviderError(
                f"every arm tried failed at the provider ({', '.join(a.arm for a in attempts)})"
                + (f"; last error: {f}" if f else ""),
                status=f.status if f else None,
                timeout=f.timeout if f else False,
            )
        arm, run = _final(answered, attempts)
        chosen = run.chosen
        assert chosen is not None
        usage = sum((a.usage for a in attempts), Usage())
        trace = Trace(
            chosen_arm=decision.chosen,
            answered_by=arm.label,
            reason=decision.reason,
            difficulty=decision.difficulty,
            arms=tuple(
                ArmChoice(
                    arm=e.arm, p_success=e.p_success, expected_cost=e.expected_cost, fits=e.fits
                )
                for e in decision.arms
            ),
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
            usage=usage,
            ponder=trace,
        )

    def _judge(self, run: ArmRun) -> Outcome:
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

    def _sampler(
        self, arm: Arm, msgs: list[dict[str, Any]], openai_kwargs: Mapping[str, Any]
    ) -> Any:
        params = request_params(arm, openai_kwargs)
        s = self.settings
        key = self._keys.get(arm.label)

        async def one() -> Sample:
            return await call(
                arm, msgs, params, api_key=key, timeout=s.timeout, num_retries=s.num_retries
            )

        return one

    async def spent(self, key: str = GLOBAL) -> float:
        """Total charged to ``key`` (the global budget by default), including reservations of
        requests still running."""
        return await self.ledger.adjust(_budget_key(key), 0.0, None) or 0.0


def _final(
    answered: list[tuple[Arm, ArmRun]], attempts: list[Attempt]
) -> tuple[Arm, ArmRun]:
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


def _messages(messages: Sequence[Mapping[str, Any]] | str) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if not isinstance(messages, Sequence) or not messages:
        raise RequestError("messages must be a non-empty list of {'role', 'content'} objects")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise RequestError(f"messages[{i}] must be an object with a string 'role'")
        out.append(dict(m))
    return out


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


def _budget_key(name: str) -> str:
    return f"ponder:budget:{{{name}}}"


def _cache_key(
    tenant: str, msgs: list[dict[str, Any]], params: Mapping[str, Any], d: Decision
) -> str | None:
    """A digest of everything that shapes the answer; ``None`` when it cannot be hashed."""
    try:
        blob = json.dumps(
            [msgs, dict(params), d.max_cost, d.lam, [e.arm for e in d.arms]],
            sort_keys=True,
            separators=(",", ":"),
        )
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256(blob.encode()).hexdigest()
    return f"ponder:cache:{{{tenant}}}:{digest}"


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
