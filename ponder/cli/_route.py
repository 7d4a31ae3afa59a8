from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ponder.cli._common import import_lightgbm_alone, one_line_errors, out_console, usd


@one_line_errors
def route(
    query: Annotated[str, typer.Argument(help="The query text to route.")],
    menu: Annotated[
        Path | None, typer.Option(help="Menu file (YAML/TOML); default: the packaged menu.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Model directory; default: the packaged model.")
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option(help="Per-request cost ceiling in USD (overrides the menu).")
    ] = None,
    lam: Annotated[
        float | None,
        typer.Option(help="Cost weight: 0 buys the best quality; higher saves more."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Explain the routing decision for one query, without calling any model.

    Shows the predicted difficulty (hard for every arm) and reasoning need (how much more an
    arm that thinks gains on it), each arm's success probability (of its vote, for arms that
    sample several times), expected samples and cost, the chosen arm and why.
    """
    from ponder._menu import Menu
    from ponder.classifiers import load_classifier, load_default_classifier
    from ponder.router import decide

    if not query.strip():
        raise ValueError("the query is empty")
    import_lightgbm_alone()
    the_menu = Menu.load(menu) if menu else Menu.default()
    clf = load_classifier(model) if model else load_default_classifier()
    d = decide(query, clf, the_menu, max_cost=max_cost, lam=lam)
    if as_json:
        # ``chosen_arm`` as in the trace; ``chosen`` is the older key, kept for scripts.
        typer.echo(json.dumps({**asdict(d), "chosen": d.chosen_arm}, indent=2))
        return
    from rich.table import Table

    need = "" if d.reasoning_need is None else f" · reasoning need {d.reasoning_need:+.2f}"
    table = Table(title=f"difficulty {d.difficulty:+.2f}{need} · {d.input_tokens} input tokens")
    for col in ("arm", "P(success)", "samples", "expected cost", "utility", "ability from"):
        table.add_column(col, justify="left" if col in ("arm", "ability from") else "right")
    for e in d.arms:
        mark = "→ " if e.arm == d.chosen_arm else "  "
        style = None if e.fits else "dim"
        cost = usd(e.expected_cost) + ("" if e.fits else " (over ceiling)")
        worst = the_menu.arms[[a.label for a in the_menu.arms].index(e.arm)].samples
        samples = (
            f"{e.expected_samples:g}"
            if e.expected_samples == worst
            else (f"{e.expected_samples:.1f} of {worst}")
        )
        table.add_row(
            mark + e.arm,
            f"{e.p_success:.3f}",
            samples,
            cost,
            f"{e.utility:.3f}",
            e.ability_source,
            style=style,
        )
    console = out_console()
    console.print(table)
    console.print(f"chosen: [bold]{d.chosen_arm}[/bold] — {d.reason}")
