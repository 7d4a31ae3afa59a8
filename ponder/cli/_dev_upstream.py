from __future__ import annotations

from typing import Annotated

import typer

from ponder.cli._common import listen, one_line_errors

DEFAULT_PORT = 8001
"""Where ``examples/local.yaml`` looks for it: next to ``ponder serve``'s 8000."""


@one_line_errors
def dev_upstream(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)
    ] = DEFAULT_PORT,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Run a tiny OpenAI-wire server, so `ask`, `serve` and the library can be tried **without
    provider keys**.

    It answers chat completions (streamed or not, with `usage`) for any model name:
    arithmetic is worked out, `Is N prime?` answered, anything else echoed. The arms of
    `examples/local.yaml` point at it (litellm's `hosted_vllm/` provider, `api_base`
    `http://127.0.0.1:8001/v1`).
    """
    sock = listen(host, port)
    import uvicorn

    from ponder.devserver import create_app

    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"dev upstream on http://{shown}:{bound}/v1 (Ctrl-C to stop)", err=True)
    config = uvicorn.Config(create_app(), log_level=log_level, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
