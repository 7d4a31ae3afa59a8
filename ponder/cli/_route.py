from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ponder.cli._common import import_lightgbm_alone, one_line_errors, usd

if TYPE_CHECKING:
    from ponder._menu import Arm, Menu
    from ponder.router import Decider, Decision


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
    from ponder.router import Decider

    if not query.strip():
        raise ValueError("the query is empty")
    import_lightgbm_alone()
    the_menu = Menu.load(menu) if menu else Menu.default()
    clf = load_classifier(model) if model else load_default_classifier()
    decider = Decider(clf, the_menu)
    d = decider.decide(query, max_cost=max_cost, lam=lam)
    if as_json:
        # ``chosen_arm`` as in the trace; ``chosen`` is the older key, kept for scripts.
        typer.echo(json.dumps({**asdict(d), "chosen": d.chosen_arm}, indent=2))
        return
    _print_table(d, the_menu, _sampling_lines(decider, clf))


def _sampling_lines(decider: Decider, clf: object) -> list[str]:
    """How each adaptive arm decides when to stop, and whose rule it is: its own
    calibration, the model's policy for any arm, or the uncalibrated Beta rule."""
    from ponder.policies import ANY_ARM

    own = getattr(clf, "sampling_", None) or {}
    lines = []
    for arm in decider.menu.arms:
        if not arm.adaptive:
            continue
        policy = decider.sampling.get(arm.label)
        if policy is None:
            rule = f"by the Beta rule at confidence {decider.adaptive_confidence:g} (uncalibrated)"
        else:
            whose = "the model's policy for any arm" if policy is own.get(ANY_ARM) else "calibrated"
            budget = ", within a budget set per query" if policy.budget.gain > 0 else ""
            rule = f"{policy.stopping()}{budget} ({whose})"
        lines.append(f"sampling: {arm.label} stops {rule}")
    return lines


def _thinking(arm: Arm) -> str:
    """How the arm thinks, as its menu entry says or as ponder assumes: the tokens priced."""
    if arm.thinking_budget is not None:
        return f"budget {arm.thinking_budget:,}"
    if arm.reasoning_effort is not None:
        return f"{arm.reasoning_effort} {arm.thinking_tokens:,}"
    if arm.thinking_tokens:
        return f"default {arm.thinking_tokens:,}"  # a model that reasons unasked
    return "—"


ARM_WIDTH = 28
"""The widest arm column (with the two-character mark) the route table keeps unfolded: the
other columns take up to 52 of 80 (a cost of eleven characters, the thinking budget wrapped)."""


def _print_table(d: Decision, menu: Menu, notes: list[str]) -> None:
    """The decision in 80 columns when piped (the terminal's width on one): names stay
    whole unless longer than ``ARM_WIDTH`` leaves room for, figures never fold; where each
    arm's ability comes from is said once under the table, and ``notes`` after the choice."""
    import shutil
    import sys

    from rich.console import Console
    from rich.table import Table

    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 80
    console = Console(width=width, highlight=False)
    arms = {a.label: a for a in menu.arms}
    need = "" if d.reasoning_need is None else f" · reasoning need {d.reasoning_need:+.2f}"
    table = Table(
        title=f"difficulty {d.difficulty:+.2f}{need} · {d.input_tokens:,} input tokens",
        box=None,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
    )
    longest = max(len(e.arm) for e in d.arms) + 2
    # A name is read whole: where the row is too wide, "budget 4,096" wraps at its space
    # first; only a name too long to leave the figures room folds.
    whole = longest <= ARM_WIDTH
    table.add_column("arm", no_wrap=whole, overflow="fold", min_width=min(longest, 16))
    table.add_column("thinking")
    for col in ("output", "success", "samples", "cost", "utility"):
        table.add_column(col, justify="right", no_wrap=True)
    for e in d.arms:
        arm = arms[e.arm]
        mark = "→ " if e.arm == d.chosen_arm else "  "
        samples = (
            f"{e.expected_samples:g}"
            if e.expected_samples == arm.samples
            else f"{e.expected_samples:.1f}/{arm.samples}"
        )
        table.add_row(
            mark + e.arm,
            _thinking(arm),
            f"{arm.output_tokens:,}",
            f"{e.p_success:.3f}",
            samples,
            usd(e.expected_cost) + ("" if e.fits else "*"),
            f"{e.utility:.3f}",
            style=None if e.fits else "dim",
        )
    console.print(table)
    console.print(
        "thinking, output: tokens per sample assumed in the price (menu: thinking_budget, "
        "output_tokens); success: P(success), of the vote for arms that sample; samples: "
        "expected/most drawn; cost: expected per request"
        + ("; *: over the ceiling" if not all(e.fits for e in d.arms) else "")
    )
    sources: dict[str, list[str]] = {}
    for e in d.arms:
        sources.setdefault(e.ability_source, []).append(e.arm)
    console.print("ability from: " + "; ".join(f"{k} ({', '.join(v)})" for k, v in sources.items()))
    console.print(f"chosen: [bold]{d.chosen_arm}[/bold] — {d.reason}")
    for note in notes:
        console.print(note)
