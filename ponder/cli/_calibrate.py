from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ponder.cli._common import one_line_errors


def _read_queries(path: Path) -> list[str]:
    """An outcome table (.jsonl/.csv) or a plain text file with one query per line (blank
    lines and lines starting with ``#`` skipped, so a query list can say what it is)."""
    if path.suffix.lower() == ".txt":
        if path.is_dir():
            raise ValueError(f"{path}: is a directory, expected a file")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    from ponder.outcomes import load_outcomes

    return list(load_outcomes(path).table.prompts)


@one_line_errors
def calibrate(
    queries: Annotated[
        Path,
        typer.Argument(
            help="Sample of queries: .txt (one per line; # starts a comment line) or an "
            "outcome table."
        ),
    ],
    target_cost: Annotated[
        float | None, typer.Option(help="Target mean cost per query, USD.")
    ] = None,
    target_quality: Annotated[
        float | None, typer.Option(help="Target mean predicted success, in (0, 1].")
    ] = None,
    menu: Annotated[
        Path | None, typer.Option(help="Menu file; default: the packaged menu.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Model directory; default: the packaged model.")
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option(help="Per-request ceiling in USD (overrides the menu).")
    ] = None,
) -> None:
    """Find the cost weight `lam` that meets a target mean cost or quality on a query sample.

    Uses predictions only (no labels), so a sample of your own traffic will do. Put the printed
    `lam` in your menu.
    """
    from ponder._menu import Menu
    from ponder.classifiers import load_classifier, load_default_classifier
    from ponder.router import Decider
    from ponder.router import calibrate as run

    texts = _read_queries(queries)
    the_menu = Menu.load(menu) if menu else Menu.default()
    clf = load_classifier(model) if model else load_default_classifier()
    c = run(
        Decider(clf, the_menu),
        texts,
        target_cost=target_cost,
        target_quality=target_quality,
        max_cost=max_cost,
    )
    typer.echo(
        f"lam: {c.lam:.4g}  (on {c.n_queries} queries: mean cost ${c.mean_cost:.6f}, "
        f"mean predicted success {c.mean_p_success:.3f})"
    )
    for arm, share in c.share.items():
        typer.echo(f"  {arm}: {share:.1%}")
    if not c.met:
        typer.echo(
            "note: no lam meets the target on this sample; this is the closest it gets", err=True
        )
