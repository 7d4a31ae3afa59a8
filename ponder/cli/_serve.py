from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ponder.cli._common import one_line_errors

if TYPE_CHECKING:
    from ponder.router import RedisStore


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
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the OpenAI-compatible proxy: point any OpenAI client at `http://HOST:PORT/v1`.

    Ask for model `ponder/auto` (or `ponder/<profile>`) to be routed; other allowed models are
    passed through. Clients authenticate with a proxy key (`api_keys` in the config, or
    `PONDER_API_KEYS`); provider keys stay on the server.
    """
    import uvicorn

    from ponder.proxy import create_app
    from ponder.proxy._auth import Authenticator
    from ponder.router import Router, Settings

    settings = Settings.from_file(config) if config else Settings.from_env()
    if redis_url is not None:
        settings = settings.model_copy(update={"redis_url": redis_url})
    if start_degraded is not None:
        settings = settings.model_copy(update={"start_degraded": start_degraded})
    Authenticator(settings)  # the keys first: a bad one fails before the model loads
    # The router is built here rather than in the app's startup, so that a bad menu, model
    # or Redis URL is one line and exit code 2, not uvicorn's traceback and exit code 3.
    router = Router(settings)
    if router.store is not None and not settings.start_degraded:
        # A wrong password or an unreachable Redis is one line now, not a 503 per request.
        asyncio.run(_check(router.store))
    app = create_app(settings, router=router, own_router=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


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
