from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ponder.cli._common import one_line_errors


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
    Authenticator(settings)  # the keys first: a bad one fails before the model loads
    # The router is built here rather than in the app's startup, so that a bad menu, model
    # or Redis URL is one line and exit code 2, not uvicorn's traceback and exit code 3.
    router = Router(settings)
    app = create_app(settings, router=router, own_router=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
