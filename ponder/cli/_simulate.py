from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ponder.cli._common import (
    check_folds_by,
    import_lightgbm_alone,
    one_line_errors,
    out_console,
    usd,
)
from ponder.cli._progress import progress_display

if TYPE_CHECKING:
    from rich.table import Table

    from ponder.simulate import Holes, Report, SampledArmReport, VoteArms


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
    folds_by: Annotated[
        str,
        typer.Option(
            help="What each trained model's own cross-validation holds out, as in ponder train: "
            "'clusters' (default), 'tasks' or 'queries'. With --cv --group-by-task, compare "
            "clusters and tasks on tasks the model has not seen."
        ),
    ] = "clusters",
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the frontier plot (PNG) here.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed for folds.")] = 0,
    complete_only: Annotated[
        bool,
        typer.Option(
            "--complete-only",
            help="Replay only queries with every arm measured (default: each query over the "
            "arms measured on it).",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress or notes on stderr; only errors, skipped rows and results.",
        ),
    ] = False,
) -> None:
    """Replay an outcome table through ponder and the baselines, without calling any model.

    Traces each policy's cost/quality frontier and prints AIQ, the share of the gap between
    random mixing and the oracle that each closes, and the cost at which each first matches
    the best single arm. Queries with unmeasured arms are replayed over the arms measured on
    them; the report says where arms were missing.
    """
    from ponder._menu import Menu
    from ponder.classifiers import DifficultyClassifier, load_classifier
    from ponder.outcomes import LoadResult, load_outcomes
    from ponder.policies import HullGuard
    from ponder.simulate import (
        add_vote_arms,
        expected_costs,
        predict_cross_validated,
        predict_saved,
        price_table,
        vote_arms_of,
    )
    from ponder.simulate import simulate as run_simulation

    for path in (data, test):  # a typo in a name is the likelier mistake: say it first
        if path is not None and not path.exists():
            raise FileNotFoundError(f"{path}: file not found")
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
    check_folds_by(folds_by)
    if folds_by != "clusters" and model is not None and cv is None:
        raise ValueError("--folds-by sets how a model is trained; --model trains none (use --cv)")
    the_menu = Menu.load(menu) if menu else None
    if model is not None and cv is None:
        import_lightgbm_alone()  # only predicting: LightGBM's scikit-learn side is dead weight

    def note(load: LoadResult) -> None:
        if not quiet or load.report.skipped:
            typer.echo(load.report.summary(), err=True)

    loaded = load_outcomes(data)
    note(loaded)
    table = price_table(loaded.table, the_menu)
    if complete_only and test is None and not table.measured.all(axis=1).any():
        raise ValueError("no query has every arm measured; nothing to simulate")

    def make(sampling: bool = True) -> DifficultyClassifier:
        # Cross-validation's fold models predict only: their sampling calibrations would
        # be thrown away.
        return DifficultyClassifier(
            backend=backend,  # type: ignore[arg-type]
            folds_by=folds_by,  # type: ignore[arg-type]
            seed=seed,
            sampling=sampling,
        )

    sampling = None
    guards: list[HullGuard | None] = []
    guard: HullGuard | list[HullGuard | None] | None = guards
    with progress_display("", quiet=quiet) as shown:
        if cv is not None:
            p, cost = predict_cross_validated(
                table,
                lambda: make(sampling=False),
                cv,
                by_task=group_by_task,
                seed=seed,
                progress=shown.say,
                steps=shown.step,
                guards=guards,
            )
            replay = table
        elif test is not None:
            t = load_outcomes(test)
            note(t)
            replay = price_table(t.table, the_menu).select_arms(
                [a for a in t.table.arms if a in table.arms]
            )
            if replay.n_arms == 0:
                raise ValueError("DATA and --test share no arm")
            clf = (
                load_classifier(model)
                if model is not None
                else make().fit(table, progress=shown.say)
            )
            shown.say("predicting")
            p = predict_saved(clf, replay)
            sampling, guard = clf.sampling_, clf.hull_guard_
            cost = expected_costs(table, replay)
        else:
            assert model is not None
            replay = table
            shown.say("predicting")
            clf = load_classifier(model)
            p = predict_saved(clf, replay)
            sampling, guard = clf.sampling_, clf.hull_guard_
            cost = expected_costs(replay, replay)
        voted = None
        if cv is not None and the_menu is not None and vote_arms_of(the_menu, table):
            shown.say("replaying the menu's vote arms")
            voted = add_vote_arms(table, the_menu, p, cost, cv, seed=seed)
            replay, p, cost = voted.table, voted.p, voted.expected_cost
        shown.say("replaying")
        result = run_simulation(
            replay,
            p,
            cost,
            complete_only=complete_only,
            steps=shown.step,
            sampling=sampling,
            guard=guard or None,
        )

    print_report(result)
    if voted is not None:
        print_bought(voted, result)
    if report is not None:
        result.to_json(report)
        typer.echo(f"report written to {report}", err=True)
    if plot is not None:
        from ponder.simulate import plot_frontier

        plot_frontier(result, plot)
        typer.echo(f"plot written to {plot}", err=True)


def print_bought(voted: VoteArms, result: Report) -> None:
    """Where ponder bought votes: its choices at the cost of the best single arm and at
    half of it, per arm and per task."""
    import numpy as np
    from rich.table import Table

    from ponder.policies import calibrate_to_cost, default_cost_scale
    from ponder.simulate import bought_at

    con = out_console()
    best = result.summary.best_single_arm
    j = voted.table.arm_index(best)
    target = float(np.nanmean(voted.table.costs[:, j]))
    scale = default_cost_scale(voted.expected_cost)
    for share, what in ((1.0, f"the cost of {best}"), (0.5, f"half the cost of {best}")):
        lam = calibrate_to_cost(voted.p, voted.expected_cost, share * target, cost_scale=scale)
        b = bought_at(voted, lam, scale)
        t = Table(
            title=f"Where ponder bought votes, at {what} (lam {lam:.3g}): accuracy "
            f"{b.accuracy:.3f}, mean cost ${b.mean_cost:.5f} a query",
            title_justify="left",
        )
        t.add_column("task")
        for a in b.arms:
            t.add_column(a, justify="right")
        t.add_row("all", *[f"{x:.0%}" for x in b.share])
        for task, row in b.by_task.items():
            t.add_row(task, *[f"{x:.0%}" for x in row])
        con.print(t)
        drew = ", ".join(f"{k}: {v:.2f}" for k, v in b.vote_samples.items() if v == v)
        if drew:
            con.print(f"mean samples drawn where a vote was bought: {drew}")


def print_report(result: Report) -> None:
    from rich.table import Table

    best = result.summary.best_single_arm
    two_arms = len(result.arms) == 2
    lo, hi = result.summary.aiq_cost_range
    shown = {
        name: pol
        for name, pol in result.policies.items()
        if not name.startswith("arm:") or name == f"arm:{best}"
    }
    # A budget below every shown policy's cheapest point says nothing of any row: dropped.
    shares = [
        share
        for share in ("0.1", "0.25", "0.5")
        if any(pol.quality_at_share.get(share) is not None for pol in shown.values())
    ]
    t = Table(
        title=f"{result.n_queries} queries · best single arm: {best} "
        f"(quality {result.arms[best].quality:.3f}, ${result.arms[best].cost_per_query:.6f})",
        caption=f"AIQ: mean height of the policy's cost/quality frontier over {usd(lo)} to "
        f"{usd(hi)} a query; gap closed: where its AIQ lies from random mixing of the "
        "arms (0) to the oracle (1); cost to match best: the least cost at which it reaches "
        "the best single arm's quality, as a share of that arm's cost"
        + (
            "; q@X%: its quality at X% of that arm's cost (—: it cannot run that cheap)"
            if shares
            else ""
        ),
    )
    cols = ["policy", "AIQ", "gap closed", "cost to match best"]
    cols += [f"q@{float(share):.0%}" for share in shares]
    if two_arms:
        cols += ["APGR", "CPT(50%)", "CPT(80%)"]
    for c in cols:
        t.add_column(c, justify="left" if c == "policy" else "right")

    def num(x: float | None, fmt: str = "{:.3f}") -> str:
        return "—" if x is None else fmt.format(x)

    for name, pol in shown.items():
        single = name.startswith("arm:")
        filled = single and result.holes is not None and bool(result.holes.arms[best].stand_ins)
        match = result.summary.cost_share_to_match_best_single.get(name)
        row = [
            f"{name} *" if filled else name,
            num(pol.aiq),
            num(pol.gap_closed),
            "never" if match is None else f"{match:.0%}",
        ]
        row += [num(pol.quality_at_share.get(share)) for share in shares]
        if two_arms:
            row += [num(pol.apgr), num(pol.cpt_50, "{:.0%}"), num(pol.cpt_80, "{:.0%}")]
        t.add_row(*row)
    console = out_console()
    console.print(t)
    if result.holes is not None:
        for line in _holes_lines(result):
            console.print(line, highlight=False)
        console.print(_holes_table(result.holes))
    elif result.dropped_incomplete:
        console.print(
            f"{result.dropped_incomplete} queries left out: some arm unmeasured", highlight=False
        )
    if len(result.by_task) > 1:
        bt = Table(
            title="per task: ponder within each task, against that task's random mixing "
            "and oracle",
            caption="Each task's baseline mixes the arms by their quality on that task, so it "
            "already knows which arms suit the task; these figures measure telling queries "
            "of one task apart. The overall gap closed also counts telling tasks apart "
            "(spending on the tasks where dearer arms pay), so it can exceed every "
            "per-task one.",
        )
        for c in (
            "task",
            "queries",
            "best single arm",
            "AIQ ponder",
            "random",
            "oracle",
            "gap closed in task",
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
        if sampled.needed:
            console.print(_needed_table(arm, sampled))


_SHOWN_GAPS = 5
"""Most frequent sets of missing arms printed; the JSON report holds every one."""
_SHOWN_STAND_INS = 2
"""Arms named per filled-in arm; the rest are counted."""


def _holes_lines(result: Report) -> list[str]:
    holes = result.holes
    assert holes is not None
    lines = []
    if holes.rows_with_holes:
        lines.append(
            f"holes: {holes.rows_with_holes} of {result.n_queries} queries lack some arm; each "
            "policy chose among the arms measured on the query. Single arms (* above) and "
            "random mixing take the nearest-priced measured arm where theirs is missing."
        )
        arms = list(result.arms)
        for pat in holes.patterns[:_SHOWN_GAPS]:
            if 2 * len(pat.missing) > len(arms):  # name the shorter list
                only = [a for a in arms if a not in pat.missing]
                lines.append(f"  only {', '.join(only)} measured: {pat.n_queries} queries")
            else:
                lines.append(f"  missing {', '.join(pat.missing)}: {pat.n_queries} queries")
        if len(holes.patterns) > _SHOWN_GAPS:
            rest = sum(p.n_queries for p in holes.patterns[_SHOWN_GAPS:])
            lines.append(f"  {len(holes.patterns) - _SHOWN_GAPS} other gaps: {rest} queries")
    if holes.never_measured:
        lines.append(f"left out, never measured: {', '.join(holes.never_measured)}")
    if result.dropped_incomplete:
        lines.append(f"{result.dropped_incomplete} queries with no arm measured left out")
    return lines


def _holes_table(holes: Holes) -> Table:
    from rich.table import Table

    t = Table(title="arms with holes: their own numbers, on the queries that measured them")
    for c in ("arm", "measured", "quality", "cost/query", "stood in by"):
        t.add_column(c, justify="left" if c in ("arm", "stood in by") else "right")
    for arm, cov in holes.arms.items():
        if not cov.stand_ins:
            continue
        ranked = list(cov.stand_ins.items())  # most frequent first
        by = ", ".join(f"{a} ({n})" for a, n in ranked[:_SHOWN_STAND_INS])
        if len(ranked) > _SHOWN_STAND_INS:
            rest = ranked[_SHOWN_STAND_INS:]
            by += f", {len(rest)} others ({sum(n for _, n in rest)})"
        t.add_row(arm, str(cov.measured), f"{cov.quality:.3f}", f"${cov.cost_per_query:.6f}", by)
    return t


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


_WAYS = {
    "vote": "vote of N",
    "adaptive": "Beta rule",
    "exact": "can't be overtaken",
    "allocation": "budget + Dirichlet",
    "calibrated": "model's calibration",
}


def _needed_table(arm: str, sampled: SampledArmReport) -> Table:
    """Per way of sampling, the fewest mean samples within 0.5 points of vote@max."""
    from rich.table import Table

    top = sampled.policies[f"vote@{sampled.max_samples}"]
    t = Table(
        title=f"{arm}: samples to stay within 0.5 points of vote@{sampled.max_samples} "
        f"({top.quality:.3f})",
        caption="settings chosen on this table, except the model's calibration "
        "(bench/bench_samples.py chooses them out of fold); declined: no sample drawn, "
        "left to a stronger arm",
    )
    for c in ("way", "setting", "quality", "mean samples", "vs vote@max", "declined"):
        t.add_column(c, justify="left" if c in ("way", "setting") else "right")
    for name, need in sampled.needed.items():
        ratio = top.mean_samples / need.mean_samples if need.mean_samples > 0 else float("inf")
        t.add_row(
            _WAYS.get(name, name),
            need.setting,
            f"{need.quality:.3f}",
            f"{need.mean_samples:.2f}",
            f"{ratio:.1f}x fewer",
            f"{need.declined:.0%}",
        )
    return t
