from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ponder.cli._common import one_line_errors, status

if TYPE_CHECKING:
    from rich.table import Table

    from ponder.simulate._report import Report, SampledArmReport


@one_line_errors
def simulate(
    data: Annotated[Path, typer.Argument(help="Outcome table to replay (.jsonl or wide .csv).")],
    test: Annotated[
        Path | None,
        typer.Option(help="Held-out outcome table: train on DATA, replay TEST."),
    ] = None,
    cv: Annotated[
        int | None, typer.Option(help="K-fold cross-validation on DATA (grouped by id).")
    ] = None,
    group_by_task: Annotated[
        bool, typer.Option("--group-by-task", help="With --cv: keep each task in one fold.")
    ] = False,
    model: Annotated[
        Path | None,
        typer.Option(help="A saved model: with no --test/--cv, DATA is its test set."),
    ] = None,
    menu: Annotated[
        Path | None, typer.Option(help="Menu with prices for arms whose cost is not recorded.")
    ] = None,
    backend: Annotated[str, typer.Option(help="'lightgbm' or 'logistic'.")] = "lightgbm",
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the frontier plot (PNG) here.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed for folds.")] = 0,
) -> None:
    """Replay an outcome table through ponder and the baselines, without calling any model.

    Traces each policy's cost/quality frontier and prints AIQ, the share of the gap between
    random mixing and the oracle that each closes, and the cost at which each first matches
    the best single arm.
    """
    from ponder._menu import Menu
    from ponder.classifiers import DifficultyClassifier, load_classifier
    from ponder.outcomes import load_outcomes
    from ponder.simulate._evaluate import (
        expected_costs,
        predict_cross_validated,
        predict_holdout,
        predict_saved,
        price_table,
    )
    from ponder.simulate._simulate import simulate as run_simulation

    if test is not None and cv is not None:
        raise ValueError("give --test or --cv, not both")
    if cv is not None and cv < 2:
        raise ValueError("--cv must be at least 2")
    if seed < 0:
        raise ValueError("--seed must be >= 0")
    if test is None and cv is None and model is None:
        raise ValueError("give --test DATA, --cv K, or --model DIR (to evaluate a saved model)")
    if backend not in ("lightgbm", "logistic"):
        raise ValueError(f"--backend must be 'lightgbm' or 'logistic', not '{backend}'")
    the_menu = Menu.load(menu) if menu else None

    loaded = load_outcomes(data)
    typer.echo(loaded.report.summary(), err=True)
    table = price_table(loaded.table, the_menu)

    def make() -> DifficultyClassifier:
        return DifficultyClassifier(backend=backend, seed=seed)  # type: ignore[arg-type]

    with status("simulating") as say:
        if cv is not None:
            p, cost = predict_cross_validated(
                table, make, cv, by_task=group_by_task, seed=seed, progress=say
            )
            replay = table
        elif test is not None:
            t = load_outcomes(test)
            typer.echo(t.report.summary(), err=True)
            replay = price_table(t.table, the_menu).select_arms(
                [a for a in t.table.arms if a in table.arms]
            )
            if replay.n_arms == 0:
                raise ValueError("DATA and --test share no arm")
            if model is not None:
                p = predict_saved(load_classifier(model), replay)
            else:
                p = predict_holdout(table, replay, make, say)
            cost = expected_costs(table, replay)
        else:
            assert model is not None
            replay = table
            p = predict_saved(load_classifier(model), replay)
            cost = expected_costs(replay, replay)
        say("replaying")
        result = run_simulation(replay, p, cost)

    print_report(result)
    if report is not None:
        result.to_json(report)
        typer.echo(f"report written to {report}", err=True)
    if plot is not None:
        from ponder.simulate._plot import plot_frontier

        plot_frontier(result, plot)
        typer.echo(f"plot written to {plot}", err=True)


def print_report(result: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    best = result.summary.best_single_arm
    two_arms = len(result.arms) == 2
    t = Table(
        title=f"{result.n_queries} queries · best single arm: {best} "
        f"(quality {result.arms[best].quality:.3f}, ${result.arms[best].cost_per_query:.6f})"
    )
    cols = ["policy", "AIQ", "gap closed", "cost to match best", "q@10%", "q@25%", "q@50%"]
    if two_arms:
        cols += ["APGR", "CPT(50%)", "CPT(80%)"]
    for c in cols:
        t.add_column(c, justify="left" if c == "policy" else "right")

    def num(x: float | None, fmt: str = "{:.3f}") -> str:
        return "—" if x is None else fmt.format(x)

    for name, pol in result.policies.items():
        if name.startswith("arm:") and name != f"arm:{best}":
            continue
        single = name.startswith("arm:")  # one point: AIQ and gap closed would mislead
        row = [
            name,
            "—" if single else num(pol.aiq),
            "—" if single else num(pol.gap_closed),
            num(result.summary.cost_share_to_match_best_single.get(name), "{:.0%}"),
            num(pol.quality_at_share.get("0.1")),
            num(pol.quality_at_share.get("0.25")),
            num(pol.quality_at_share.get("0.5")),
        ]
        if two_arms:
            row += [num(pol.apgr), num(pol.cpt_50, "{:.0%}"), num(pol.cpt_80, "{:.0%}")]
        t.add_row(*row)
    console = Console()
    console.print(t)
    if len(result.by_task) > 1:
        bt = Table(title="per task")
        for c in (
            "task",
            "queries",
            "best single arm",
            "AIQ ponder",
            "random",
            "oracle",
            "gap closed",
        ):
            bt.add_column(c, justify="left" if c in ("task", "best single arm") else "right")
        for task, sec in sorted(result.by_task.items()):
            pols = sec.policies
            bt.add_row(
                task,
                str(sec.n_queries),
                sec.summary.best_single_arm,
                num(pols["ponder"].aiq),
                num(pols["random"].aiq),
                num(pols["oracle"].aiq),
                num(pols["ponder"].gap_closed),
            )
        console.print(bt)
    for arm, sampled in result.samples.items():
        console.print(_samples_table(arm, sampled))


_SHOWN_VOTES = (1, 2, 3, 5, 10, 20, 40)
"""Vote sizes printed (with the largest recorded); the JSON report holds every one."""


def _samples_table(arm: str, sampled: SampledArmReport) -> Table:
    from rich.table import Table

    skipped = f", {sampled.skipped} without samples" if sampled.skipped else ""
    t = Table(
        title=f"samples of {arm}: {sampled.n_queries} queries, "
        f"up to {sampled.max_samples} samples{skipped}"
    )
    for c in ("policy", "quality", "mean samples", "cost/query"):
        t.add_column(c, justify="left" if c == "policy" else "right")
    for name, pol in sampled.policies.items():
        vote = pol.confidence is None
        if vote and pol.n not in _SHOWN_VOTES and pol.n != sampled.max_samples:
            continue
        cost = "—" if pol.cost_per_query is None else f"${pol.cost_per_query:.6f}"
        t.add_row(name, f"{pol.quality:.3f}", f"{pol.mean_samples:.2f}", cost)
    return t
