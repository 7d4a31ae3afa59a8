from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ponder.cli._common import import_lightgbm_alone, listen, one_line_errors
from ponder.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ponder.router import RedisStore, Settings

WORKER_ENV = "_PONDER_SERVE_WORKER"
"""How ``ponder serve --workers N`` tells each worker process where its settings come from:
JSON of the config file's path and the command line's overrides, read by
:func:`worker_app`. Not a ``PONDER_*`` variable, so settings never read it as a field.
Settings themselves are not passed (their secrets would land in the environment): each
worker reads them as the parent did, from the same file and the same environment."""


@one_line_errors
def serve(
    config: Annotated[
        Path | None,
        typer.Option(help="Router config (YAML/TOML): menu, api_keys, budgets, profiles..."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    redis_url: Annotated[
        str | None,
        typer.Option(
            help="Redis for budgets, cache, escalation memory and feedback, shared by "
            "replicas (e.g. redis://localhost:6379/0); default: in-process."
        ),
    ] = None,
    start_degraded: Annotated[
        bool | None,
        typer.Option(
            "--start-degraded/--no-start-degraded",
            help="Start even if Redis does not take a write now (wrong password, "
            "unreachable, out of memory), serving as during an outage until it does; "
            "default: the setting start_degraded, else exit with code 2.",
            show_default=False,
        ),
    ] = None,
    shutdown_grace: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds to let requests finish after SIGTERM before open streams end "
            "with an error event; default: the setting shutdown_grace (10).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes on one port. More than 1 needs Redis (--redis-url), "
            "where the workers share budgets, the cache and escalation memory.",
        ),
    ] = 1,
) -> None:
    """Run the OpenAI-compatible proxy: point any OpenAI client at `http://HOST:PORT/v1`.

    Ask for model `ponder/auto` (or `ponder/<profile>`) to be routed; other allowed models are
    passed through. Clients authenticate with a proxy key (`api_keys` in the config, or
    `PONDER_API_KEYS`); provider keys stay on the server.
    """
    sock = listen(host, port)  # a port in use is one line, before the model loads
    import uvicorn

    from ponder.proxy import STREAM_END, Authenticator, GracefulServer, create_app
    from ponder.router import Router

    source: dict[str, Any] = {
        "config": None if config is None else str(config.resolve()),
        "redis_url": redis_url,
        "start_degraded": start_degraded,
        "shutdown_grace": shutdown_grace,
    }
    settings = _settings(source)
    if workers > 1 and settings.redis_url is None:
        # In-process ledgers and caches would be one per worker: each would let the whole
        # budget through, and a cached answer would be a miss on every other worker.
        raise ConfigError(
            f"--workers {workers} needs Redis (--redis-url or redis_url), where the workers "
            "share budgets and the cache; without it, run one worker"
        )
    Authenticator(settings)  # the keys first: a bad one fails before the model loads
    import_lightgbm_alone()  # serving never needs LightGBM's scikit-learn estimators
    # The router is built here rather than in the app's startup, so that a bad menu, model
    # or Redis URL is one line and exit code 2, not uvicorn's traceback and exit code 3.
    router = Router(settings)
    if router.store is not None and not settings.start_degraded:
        # A wrong password or an unreachable Redis is one line now, not a 503 per request.
        asyncio.run(_check(router.store))
    if workers > 1:
        # uvicorn starts each worker from an import string; each builds its own router in
        # the app's lifespan from the same settings. This one only checked that they load.
        del router
        sock.close()  # uvicorn's parent binds its own; this one only proved the port free
        os.environ[WORKER_ENV] = json.dumps(source)
        _announce(host, port, workers)
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level=log_level,
            # Each worker lets requests finish for the grace, ends its open streams with an
            # error event (worker_app arms its drain), then cancels what is left.
            timeout_graceful_shutdown=settings.shutdown_grace + STREAM_END,  # type: ignore[arg-type]
        )
        return
    app = create_app(settings, router=router, own_router=True)
    sock.listen(2048)  # connections queue from now on, so the address printed next works
    _announce(host, sock.getsockname()[1], workers)
    uvicorn_config = uvicorn.Config(app, log_level=log_level)
    drain = app.state.drain.begin  # ends open streams with an error event once grace is over
    GracefulServer(uvicorn_config, settings.shutdown_grace, drain).run(sockets=[sock])


def _announce(host: str, port: int, workers: int) -> None:
    """Say where clients reach the proxy, whatever uvicorn's log level: uvicorn says so only
    when it binds the socket itself, and not at all below ``info``."""
    shown = f"[{host}]" if ":" in host else host
    who = "" if workers == 1 else f" ({workers} workers)"
    typer.echo(f"ponder serve: listening on http://{shown}:{port}/v1{who}", err=True)


def _settings(source: dict[str, Any]) -> Settings:
    """The settings ``ponder serve`` runs with: the config file (or ``PONDER_*`` variables
    alone), then the command line's overrides."""
    from ponder.router import Settings

    config = source.get("config")
    settings = Settings.from_file(config) if config else Settings.from_env()
    names = ("redis_url", "start_degraded", "shutdown_grace")
    overrides = {k: source[k] for k in names if source.get(k) is not None}
    return settings.model_copy(update=overrides) if overrides else settings


def worker_app() -> FastAPI:
    """The app of one ``ponder serve --workers N`` worker (uvicorn's factory), with the
    settings its parent process ran with."""
    from ponder.proxy import create_app

    import_lightgbm_alone()
    raw = os.environ.get(WORKER_ENV)
    if raw is None:
        raise ConfigError(f"{WORKER_ENV} is not set: start workers with ponder serve --workers")
    settings = _settings(json.loads(raw))
    app = create_app(settings)
    # uvicorn builds this worker's server, which has installed its signal handlers by now:
    # open streams end with an error event once the grace after SIGTERM is over.
    app.state.drain.after_signal(settings.shutdown_grace)
    return app


async def _check(store: RedisStore) -> None:
    """Raise ``StoreUnavailable`` unless Redis takes a write; the pool opened for the check
    closes with its event loop (the server runs in another)."""
    from ponder.errors import StoreUnavailable

    try:
        await store.check()
    except StoreUnavailable as exc:
        raise StoreUnavailable(
            f"{exc} (at start-up; fix redis_url, or pass --start-degraded to serve without "
            "Redis until it answers)"
        ) from None
    finally:
        await store.aclose()
