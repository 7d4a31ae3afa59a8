"""The library face: ``Router`` builds the pipeline once and answers through it.

A request is checked once (:mod:`ponder.router._request`), then goes through the stages
of :mod:`ponder.router._pipeline`: the cache, the decision (or the arm this query needed
last time), a hold on its budgets, the attempts with escalation, settlement and the
records. ``complete``, ``acomplete``, ``aforward`` and ``astream`` are shells over it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ponder._menu import Arm, Menu
from ponder.aggregators import AnswerExtractor, StoppingRule, extract_answer
from ponder.classifiers import SuccessClassifier
from ponder.errors import ConfigError, RequestError, UnknownModelError
from ponder.feedback import Feedback, MemoryFeedback
from ponder.policies import Policy, SamplingPolicy
from ponder.router._arm import Verifier
from ponder.router._budgets import GLOBAL, Budgets
from ponder.router._ceiling import count_prompts
from ponder.router._decide import Decider
from ponder.router._decision import Decision
from ponder.router._escalation import Escalation
from ponder.router._judge import Judge, ModelJudge
from ponder.router._pipeline import Pipeline
from ponder.router._request import Bounds, Request, parse_request
from ponder.router._settings import Settings
from ponder.router._stores import Cache, Digests, Ledger, MemoryCache, MemoryLedger
from ponder.router._streaming import RoutedStream, open_stream
from ponder.router._sync import SyncLoop
from ponder.router._trace import Completion


class Router:
    """Routes chat requests across a menu of arms (model, thinking, samples, aggregation).

    Build it once (loading the classifier takes a moment) and share it; it is safe to use
    from many tasks at once. ``complete`` is the blocking form of ``acomplete``. State that
    outlives a request (budgets, cache, escalation memory, feedback) lives in Redis when
    ``settings.redis_url`` is set, else in this process; pass stores explicitly to share
    or replace them. ``classifier`` and ``policy`` replace the packaged model and the
    utility rule: ``policy`` then picks the first arm among those that fit the ceiling,
    and ``lam`` only ranks the arms escalation tries next (as :class:`Decider` says). What
    either returns is checked, and a bad answer raises
    :class:`~ponder.errors.ExtensionError` naming its class.
    ``sampling`` gives adaptive arms their calibrated sample budgets and stopping rule (by
    arm label, or the trained arm's name); by default a
    :class:`~ponder.classifiers.DifficultyClassifier`'s own (``sampling_``, calibrated by
    ``ponder train`` on recorded samples). Adaptive arms without one stop by the Beta rule
    at ``adaptive_confidence``.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        menu: Menu | None = None,
        classifier: SuccessClassifier | None = None,
        policy: Policy | None = None,
        verifier: Verifier | None = None,
        judge: Judge | None = None,
        extractor: AnswerExtractor = extract_answer,
        ledger: Ledger | None = None,
        cache: Cache | None = None,
        memory: Cache | None = None,
        feedback: Feedback | None = None,
        sampling: Mapping[str, SamplingPolicy] | None = None,
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

            self.store = RedisStore(s.redis_url, settle_wait=s.settle_wait)
        default = self.store
        self.ledger: Ledger = ledger or default or MemoryLedger()
        self.cache: Cache = cache or default or MemoryCache()
        self.memory: Cache = memory or default or MemoryCache()
        self.feedback: Feedback = feedback or default or MemoryFeedback()
        # Keys in a Redis this router opened may be shared with replicas: they must agree.
        shared = default is not None and None in (cache, memory)
        self.digests = Digests.from_settings(s, shared=shared)
        self.budgets = Budgets(
            self.ledger, fail_open=s.budget_fail_open, lease=s.deadline + s.lease_margin
        )
        self.decider = Decider(  # sampling None: the classifier's own policies
            classifier,
            self.menu,
            policy=policy,
            adaptive_confidence=s.adaptive_confidence,
            sampling=sampling,
        )
        self.verifier = verifier
        self._sync = SyncLoop()
        self.judge = judge
        self.passthrough: Mapping[str, Arm] = _passthrough_arms(self.menu, s.passthrough)
        self.pipeline = Pipeline(
            settings=s,
            menu=self.menu,
            decider=self.decider,
            escalation=Escalation(
                settings=s,
                rule=StoppingRule(confidence=s.adaptive_confidence),
                extractor=extractor,
                verifier=verifier,
                judge=judge,
                sampling=self.decider.sampling,
            ),
            budgets=self.budgets,
            cache=self.cache,
            memory=self.memory,
            feedback=self.feedback,
            digests=self.digests,
            keys=keys,
            passthrough=self.passthrough,
            passthrough_keys=_provider_keys(Menu(arms=tuple(self.passthrough.values()))),
        )

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

    @classmethod
    def from_file(cls, path: str | Path, **extensions: Any) -> Router:
        """A router from a YAML/TOML config file: the verb of :meth:`Settings.from_file`
        and :meth:`~ponder.Menu.from_file` (:meth:`from_config` also takes settings)."""
        return cls(Settings.from_file(path), **extensions)

    def warmup(self) -> None:
        """Import the provider layer (litellm takes seconds) now rather than on the first
        request, and price the votes of calibrated adaptive arms (a simulation per sample
        budget, cached; see :meth:`~ponder.policies.SamplingPolicy.priced`). ``ponder
        serve`` does this at start-up; a script can call it once."""
        import numpy as np

        from ponder.router._llm import litellm

        litellm()
        every = np.linspace(0.0, 1.0, 201)  # predictions reaching every budget the arm gives
        for arm in self.menu.arms:
            policy = self.decider.sampling.get(arm.label)
            if policy is not None:
                policy.priced(every, arm.samples, arm.batch)

    async def aclose(self) -> None:
        """Close the Redis connection pool, if this router opened one, once the
        settlements of abandoned streams still running have reached the ledger."""
        await self.budgets.drain()
        if self.store is not None:
            await self.store.aclose()

    @property
    def ceiling(self) -> float | None:
        """The operator's per-request ceiling: the settings', else the menu's."""
        s = self.settings.max_cost
        return s if s is not None else self.menu.max_cost

    @property
    def profiles(self) -> tuple[str, ...]:
        """The routing profiles the settings name (each served as ``ponder/<name>``)."""
        return tuple(self.settings.profiles)

    def bounds(self, profile: str | None = None) -> Bounds:
        """The operator's ceiling and ``lam`` for ``profile`` (``None``: the defaults): the
        profile's, else the settings', else the menu's."""
        s = self.settings
        ceiling = self.ceiling
        lam = s.lam if s.lam is not None else self.menu.lam
        if profile is None:
            return Bounds(ceiling, lam)
        p = s.profiles.get(profile) if isinstance(profile, str) else None
        if p is None:
            raise UnknownModelError(
                f"no routing profile {profile!r} (have: {', '.join(s.profiles) or 'none'})"[:300]
            )
        return Bounds(
            p.max_cost if p.max_cost is not None else ceiling,
            p.lam if p.lam is not None else lam,
        )

    def route(
        self,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        max_cost: float | None = None,
        lam: float | None = None,
        profile: str | None = None,
    ) -> Decision:
        """The routing decision for ``messages``, without calling anything (and without
        escalation memory, which needs the store)."""
        request = self._request(messages, None, profile, max_cost=max_cost, lam=lam)
        tokens = count_prompts(self.pipeline.models, request.msgs)
        return self.pipeline.decide(request, tokens)

    def complete(self, messages: Sequence[Mapping[str, Any]] | str, **kwargs: Any) -> Completion:
        """Blocking :meth:`acomplete`."""
        return self._sync.run(self.acomplete(messages, **kwargs))

    def close(self) -> None:
        """Blocking :meth:`aclose`, for a router used through :meth:`complete`: also stops
        the event loop those calls share (their provider connections with it)."""
        self._sync.close(self.aclose())

    async def acomplete(
        self,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        max_cost: float | None = None,
        lam: float | None = None,
        profile: str | None = None,
        tenant: str = "",
        budget_key: str | None = None,
        budget_limit: float | None = None,
        cache: bool = True,
        **openai_kwargs: Any,
    ) -> Completion:
        """Answer ``messages`` (OpenAI chat format, or a bare string as one user turn).

        ``max_cost`` and ``lam`` override, per request, those of ``profile`` (one of the
        settings' ``profiles``), else the settings', else the menu's. ``tenant`` scopes the
        cache and escalation memory. The request is held against the global budget and,
        with ``budget_key``, that key's own (limited to ``budget_limit``). Other keyword
        arguments are OpenAI parameters passed to every sample (``temperature``,
        ``max_tokens``, ``tools``, ``response_format``...), checked as the proxy checks
        them (:mod:`ponder._openai_params`): one ponder does not know, or one the router
        sets itself (``model``, ``n``, ``stream``), is refused with
        :class:`~ponder.errors.UnsupportedParameterError`, never dropped. A request that
        offers tools is routed among the arms that support them and answered by one
        sample per arm tried (votes are over free text, see
        :mod:`ponder.router._escalation`); its calls are in
        ``choices[0].message.tool_calls``.
        """
        request = self._request(
            messages,
            None,
            profile,
            max_cost=max_cost,
            lam=lam,
            tenant=tenant,
            budget_key=budget_key,
            budget_limit=budget_limit,
            cache=cache,
            openai_kwargs=openai_kwargs,
        )
        return await self.pipeline.answer(request)

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
        request = self._request(
            messages,
            model,
            None,
            max_cost=max_cost,
            tenant=tenant,
            budget_key=budget_key,
            budget_limit=budget_limit,
            cache=cache,
            openai_kwargs=openai_kwargs,
            forward=True,
        )
        return await self.pipeline.answer(request)

    async def astream(
        self,
        messages: Sequence[Mapping[str, Any]] | str,
        *,
        model: str | None = None,
        max_cost: float | None = None,
        lam: float | None = None,
        profile: str | None = None,
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
        request = self._request(
            messages,
            model,
            profile,
            max_cost=max_cost,
            lam=lam,
            tenant=tenant,
            budget_key=budget_key,
            budget_limit=budget_limit,
            cache=cache,
            openai_kwargs=openai_kwargs,
            forward=model is not None,
        )
        return await open_stream(self.pipeline, request)

    async def spent(self, key: str | None = None) -> float:
        """Total charged to the global budget, or to ``key``'s, including the reservations
        of requests still running."""
        return await self.budgets.spent(GLOBAL if key is None else f"key:{key}")

    def _request(
        self,
        messages: Sequence[Mapping[str, Any]] | str,
        model: str | None,
        profile: str | None,
        *,
        forward: bool = False,
        **arguments: Any,
    ) -> Request:
        """The request, checked, with the profile's bounds (a pass-through has no profile,
        and no ``lam``: it is not routed)."""
        if forward and not isinstance(model, str):
            raise RequestError(f"model must be a string, not {type(model).__name__}")
        return parse_request(
            messages,
            operator=self.bounds(profile),
            model=model,
            budget=self.settings.budget,
            **arguments,
        )


def _passthrough_arms(menu: Menu, extra: Sequence[str]) -> dict[str, Arm]:
    """One plain arm per model a client may name directly: the menu's models (keeping
    their endpoint, key and prices, not their thinking or sampling), the menu's arms by
    their own names (the name a user reads in the menu, ``route`` and the trace: one
    sample, with the arm's thinking), and ``extra``."""
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
                supports=a.supports,
            ),
        )
    for a in menu.arms:
        if a.label not in arms:
            arms[a.label] = Arm(
                model=a.model,
                name=a.label,
                thinking_budget=a.thinking_budget,
                reasoning_effort=a.reasoning_effort,
                input_price=a.input_price,
                output_price=a.output_price,
                output_tokens=a.output_tokens,
                reasoning=a.reasoning,
                api_base=a.api_base,
                api_key_env=a.api_key_env,
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
