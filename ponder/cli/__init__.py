"""The ``ponder`` command line: thin over the library, fast to start (heavy imports are lazy)."""

from __future__ import annotations

import typer

from ponder.cli._ask import ask
from ponder.cli._calibrate import calibrate
from ponder.cli._dev_upstream import dev_upstream
from ponder.cli._help import Command, Group
from ponder.cli._import import import_
from ponder.cli._route import route
from ponder.cli._serve import serve
from ponder.cli._simulate import simulate
from ponder.cli._train import train

app = typer.Typer(
    name="ponder",
    help="Adaptive compute router for LLMs: train a difficulty model, replay outcome tables, "
    "explain routing decisions, answer through the router, and serve an OpenAI-compatible "
    "proxy. Everything but `ask` and `serve` runs offline; `dev-upstream` is a local stand-in "
    "for providers.",
    cls=Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        from ponder._version import __version__

        typer.echo(f"ponder {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Adaptive compute router for LLMs."""


app.command(cls=Command)(train)
app.command(cls=Command)(simulate)
app.command(cls=Command)(route)
app.command(cls=Command)(calibrate)
app.command(cls=Command)(ask)
app.command(cls=Command)(serve)
app.command(cls=Command, name="dev-upstream")(dev_upstream)
app.command(cls=Command, name="import")(import_)


def main() -> None:
    app()


__all__ = ["app", "main"]
