from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ponder.cli._common import one_line_errors


@one_line_errors
def import_(
    name: Annotated[
        str | None, typer.Argument(help="Importer name (see --list).", show_default=False)
    ] = None,
    source: Annotated[
        Path | None, typer.Argument(help="The dataset folder, e.g. ../shared/data/llmrouter.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Canonical JSONL file to write.")
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="Part of the source, for importers that have parts.")
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the importers and exit.")] = False,
) -> None:
    """Convert a public routing dataset into a canonical outcome table (JSONL)."""
    from ponder.importers import IMPORTERS, import_rows
    from ponder.outcomes import write_jsonl

    if list_ or name is None:
        for imp in IMPORTERS.values():
            splits = f" [splits: {', '.join(imp.splits)}]" if imp.splits else ""
            typer.echo(f"{imp.name} ({imp.licence}; folder {imp.folder}){splits}")
            typer.echo(f"    {imp.description}")
        return
    if source is None or out is None:
        raise ValueError("give the dataset folder and --out FILE")
    n = write_jsonl(import_rows(name, source, split), out)
    typer.echo(f"wrote {n} queries to {out}")
