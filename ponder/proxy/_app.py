"""The OpenAI-compatible proxy: an app factory whose lifespan owns the router.

``ponder/auto`` (and ``ponder/<profile>``) is routed; any other model the configuration
allows is passed through with the same budgets, cache and accounting. Every answer carries
the decision in ``x-ponder-*`` headers and in the body's ``ponder`` field.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ponder._version import __version__
from ponder.errors import PonderError
from ponder.proxy._auth import Authenticator, Principal
from ponder.proxy._bounds import bounded
from ponder.proxy._drain import Drain
from ponder.proxy._errors import ApiError, documented, from_ponder, install
from ponder.proxy._limits import BodyLimit
from ponder.proxy._metrics import Metrics, model_label
from ponder.proxy._stream import EventStream
from ponder.proxy._wire import ChatRequest, controls_from_headers, decision_headers
from ponder.router import Completion, RoutedStream, Router, Settings

log = logging.getLogger("ponder.proxy")


# Declares the Bearer scheme in the OpenAPI schema (clients and fuzzers learn to send the
# key); the header itself is checked by the Authenticator, with OpenAI-style errors.
_bearer = HTTPBearer(auto_error=False, description="a proxy key from api_keys")


async def _caller(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Runs before the body is validated: a caller without a key learns nothing more.
    Async because it does no I/O: FastAPI runs a plain function on its thread pool, a
    hand-off that cost about 0.5 ms of every request."""
    auth: Authenticator = request.app.state.auth
    return auth.authenticate(request.headers.get("authorization"))


Caller = Annotated[Principal, Depends(_caller)]


async def _metrics_reader(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """``/metrics`` shows every tenant's figures: see :meth:`Authenticator.authorize_metrics`."""
    auth: Authenticator = request.app.state.auth
    auth.authorize_metrics(request.headers.get("authorization"))


_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "description": "a chat.completion.chunk (JSON), an error object (JSON), or [DONE]",
        }
    },
}
PREFIX = "ponder/"
AUTO = "auto"


def create_app(
    settings: Settings | None = None,
    *,
    router: Router | None = None,
    body_timeout: float = 30.0,
    own_router: bool | None = None,
) -> FastAPI:
    """The proxy app. Settings are read once, here (from the environment when not given);
    the router is built when the app starts, unless one is passed in (tests, embedding).
    The app closes the router at shutdown when it built it, or when ``own_router``.
    ``body_timeout`` is how long a client may take to send a whole request body (408 after).
    """
    s = settings if settings is not None else (router.settings if router else Settings.from_env())
    auth = Authenticator(s)  # a bad key configuration fails now, not on the first request
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = router is None if own_router is None else own_router
        r = router if router is not None else await asyncio.to_thread(Router, s)
        app.state.router = r
        metrics.watch(r.store)  # its own counts, read at each scrape
        await asyncio.to_thread(r.warmup)  # litellm now, not on the first request
        try:
            yield
        finally:
            if own:
                await r.aclose()

    app = FastAPI(
        title="ponder",
        version=__version__,
        summary="OpenAI-compatible adaptive compute router",
        lifespan=lifespan,
    )
    _document(app)
    app.state.settings = s
    app.state.auth = auth
    app.state.metrics = metrics
    drain = app.state.drain = Drain()  # GracefulServer ends open streams through it
    install(app)
    profiles = (AUTO, *s.profiles)
    routed = {PREFIX + p for p in profiles}

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        r: Router = request.app.state.router
        store = r.store
        redis = None if store is None else await store.ping()
        return {
            "status": "ok" if redis is not False else "degraded",
            "version": __version__,
            "store": "memory" if store is None else "redis",
            "redis": redis,
        }

    @app.get("/metrics", response_class=PlainTextResponse, responses=documented(401))
    async def prometheus(_: Annotated[None, Depends(_metrics_reader)]) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", responses=documented(401))
    async def models(request: Request, _: Caller) -> dict[str, Any]:
        r: Router = request.app.state.router
        names = [PREFIX + p for p in profiles] + sorted(r.passthrough)
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": 0, "owned_by": "ponder"} for n in names
            ],
        }

    @app.post(
        "/v1/chat/completions",
        response_model=None,
        responses={
            200: {
                "model": Completion,
                "description": "The completion with its trace (or, with stream, its chunks)",
                "content": {"text/event-stream": {"schema": _SSE_EVENT}},
            },
            **documented(400, 401, 404, 408, 413, 429, 502, 503, 504),
        },
    )
    async def chat(
        request: Request,
        who: Caller,
        body: Annotated[ChatRequest, Body()],
    ) -> Response:
        started = time.perf_counter()
        kind = "routed" if body.model.startswith(PREFIX) else "passthrough"
        model = model_label(body.model, routed, request.app.state.router.passthrough)
        try:
            result = await _answer(request.app.state.router, body, request, who, profiles)
        except (ApiError, PonderError) as exc:
            status = exc.status if isinstance(exc, ApiError) else from_ponder(exc).status
            metrics.requests.labels(model, str(status)).inc()
            raise
        metrics.requests.labels(model, "200").inc()

        def done(c: Completion) -> None:
            metrics.latency.labels(kind).observe(time.perf_counter() - started)
            metrics.observe(c)

        if isinstance(result, RoutedStream):
            include = body.stream_options is not None and body.stream_options.include_usage
            headers = {
                "x-ponder-chosen": result.chosen_arm,
                "x-ponder-cache": "hit" if result.cache_hit else "miss",
                "x-ponder-stream": "live" if result.live else "replayed",
            }
            return EventStream(result, include, done, headers, drain)
        done(result)
        return JSONResponse(result.model_dump(mode="json"), headers=decision_headers(result))

    app.add_middleware(BodyLimit, max_bytes=s.max_body_bytes, read_timeout=body_timeout)
    return app


def _document(app: FastAPI) -> None:
    """Make ``/openapi.json`` say what the proxy does: FastAPI lists a 422 with its own body
    for every operation that validates input, but the proxy answers those with a 400 and an
    OpenAI error body (listed per operation), so the 422 is dropped."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _answer(
    router: Router,
    body: ChatRequest,
    request: Request,
    who: Principal,
    profiles: tuple[str, ...],
) -> Completion | RoutedStream:
    params = body.openai_params()
    ctl = controls_from_headers(request.headers, body.ponder)
    messages = body.message_dicts()
    if not body.model.startswith(PREFIX):
        limits = bounded(router.bounds(), ctl)
        common = _common(who, ctl.cache, limits.max_cost, params)
        if body.stream:
            return await router.astream(messages, model=body.model, **common)
        return await router.aforward(body.model, messages, **common)
    name = body.model[len(PREFIX) :]
    if name not in profiles:
        raise ApiError(
            404,
            f"no routing profile '{body.model}' (have: {', '.join(PREFIX + p for p in profiles)})",
            "invalid_request_error",
            "model_not_found",
        )
    profile = None if name == AUTO else name
    limits = bounded(router.bounds(profile), ctl)
    common = _common(who, ctl.cache, limits.max_cost, params)
    if body.stream:
        return await router.astream(messages, profile=profile, lam=limits.lam, **common)
    return await router.acomplete(messages, profile=profile, lam=limits.lam, **common)


def _common(
    who: Principal, cache: bool, max_cost: float | None, params: dict[str, Any]
) -> dict[str, Any]:
    """The router's keyword arguments every request takes: who pays, the ceiling, the
    cache switch and the OpenAI parameters."""
    return {
        "tenant": who.tenant,
        "budget_key": who.key_id,
        "budget_limit": who.budget,
        "cache": cache,
        "max_cost": max_cost,
        **params,
    }
