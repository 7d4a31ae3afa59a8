from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ponder.cli._common import check_folds_by, one_line_errors
from ponder.cli._progress import progress_display


@one_line_errors
def train(
    data: Annotated[
        list[str],
        typer.Argument(
            help="Outcome tables (.jsonl canonical or .csv wide), or a Redis URL "
            "(redis://host:6379/0) to read the proxy's feedback stream."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the model to.")],
    backend: Annotated[
        str, typer.Option(help="'lightgbm' (default) or 'logistic' (the simple baseline).")
    ] = "lightgbm",
    folds: Annotated[
        int, typer.Option(help="Cross-validation folds used to tune and calibrate.")
    ] = 5,
    folds_by: Annotated[
        str,
        typer.Option(
            help="What each fold holds out: 'clusters' of similar queries (default), whole "
            "'tasks' (the rows' task labels; for traffic of kinds the tables lack, at the cost "
            "of gains within known tasks), or 'queries' at random."
        ),
    ] = "clusters",
    seed: Annotated[int, typer.Option(help="Random seed (folds, bagging).")] = 0,
    menu: Annotated[
        Path | None,
        typer.Option(
            help="Menu with prices for arms whose cost the tables do not record: the choice of "
            "arm model is judged by routing over cost weights, which needs prices."
        ),
    ] = None,
    published: Annotated[
        Path | None,
        typer.Option(
            help="Also fit the absolute scale: published benchmark scores, their items and the "
            "anchor tables, read from a data folder laid out like ../shared/data (published/, "
            "benchmark-items/, mmlu-pro/, reasoning-gym/, vicuna80/, qlora80/). Menu arms of the "
            "models it knows (gpt-5 at an effort, Claude with thinking) then need no logs.",
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress or notes on stderr; only errors and skipped rows."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a model already in --out.")
    ] = False,
) -> None:
    """Train a difficulty classifier on outcome tables and save it to a directory.

    The model learns one difficulty per query shared by all arms, plus each arm's ability, so
    tables with different arms can be trained on together. A Redis URL adds the feedback the
    proxy recorded (requests kept with their text; the router's verdicts as scores).
    """
    from ponder._menu import Menu
    from ponder.classifiers import (
        FOLDS_BY,
        SCALE_SOURCES,
        DifficultyClassifier,
        save_classifier,
    )
    from ponder.outcomes import LoadReport, OutcomeTable, load_many
    from ponder.policies import ANY_ARM
    from ponder.router import read_feedback, redact_url
    from ponder.simulate import price_table

    if backend not in ("lightgbm", "logistic"):
        raise ValueError(f"--backend must be 'lightgbm' or 'logistic', not '{backend}'")
    if folds < 2:
        raise ValueError("--folds must be at least 2")
    check_folds_by(folds_by)
    if seed < 0:
        raise ValueError("--seed must be >= 0")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        # Minutes of training must not silently replace a model someone relies on.
        raise ValueError(f"--out {out}: already holds files; pass --force to replace them")
    files = [d for d in data if "://" not in d]
    urls = [d for d in data if "://" in d]
    tables: list[OutcomeTable] = []
    reports: list[LoadReport] = []
    if files:
        table, reports = load_many(files)
        tables.append(table)
    for url in urls:
        import asyncio

        from ponder.feedback import feedback_table

        events = asyncio.run(read_feedback(url))
        fb, report = feedback_table(events, source=redact_url(url))
        tables.append(fb)
        reports.append(report)
    table = OutcomeTable.concat(tables)
    if menu is not None:
        table = price_table(table, Menu.load(menu), strict=False)
    for r in reports:
        if not quiet or r.skipped:
            typer.echo(r.summary(), err=True)
    clf = DifficultyClassifier(
        backend=backend,  # type: ignore[arg-type]
        cv_folds=folds,
        folds_by=folds_by,  # type: ignore[arg-type]
        seed=seed,
    )
    if published is not None and not (published / "published" / "scores.csv").is_file():
        raise ValueError(f"--published {published}: no published/scores.csv under it")
    with progress_display("training", quiet=quiet) as shown:
        clf.fit(table, progress=shown.say)
        if published is not None:
            from ponder.classifiers import fit_scale

            clf.attach_scale(fit_scale(published, clf.featurizer_, progress=shown.say))
    sources = [Path(f).name for f in files] + [redact_url(u) for u in urls]
    if published is not None:
        sources += list(SCALE_SOURCES)
    save_classifier(clf, out, sources=sources)
    m = clf.metrics_
    typer.echo(
        f"trained on {int(m['n_queries'])} queries, {int(m['n_observations'])} outcomes, "
        f"{len(clf.arms_)} arms; out-of-fold log loss {m['oof_log_loss']:.4f} "
        f"(per-arm base rate {m['baseline_log_loss']:.4f}); saved to {out}"
    )
    kind = clf.params_["arm_model"]
    gains = {k: v for k, v in m.items() if k.startswith("oof_routing_gain_")}
    mine = [v for k, v in gains.items() if k.startswith(f"oof_routing_gain_{kind}")]
    chosen = max(mine, default=None)
    if chosen is not None:
        held_out = FOLDS_BY.get(str(clf.params_.get("folds_by")), FOLDS_BY["clusters"])
        shrink = float(clf.params_.get("arm_shrink", 1.0))
        part = "" if shrink == 1.0 else f" ({shrink:g} of its step from the shared difficulty)"
        typer.echo(
            f"arm model: {kind}{part}, routing gain {chosen:.3f} on held-out {held_out} "
            f"(shared difficulty alone {gains.get('oof_routing_gain_shared', float('nan')):.3f})"
            + ("; reasoning trait learned" if clf.reasoning_ is not None else "")
        )
    for arm, policy in getattr(clf, "sampling_", {}).items():
        cal = policy.calibration
        if cal is None:
            continue
        who = "any other adaptive arm" if arm == ANY_ARM else arm
        typer.echo(
            f"sampling of {who}: {cal.mean_samples:.2f} samples a query out of fold, accuracy "
            f"{cal.accuracy:.3f} (the vote over all {cal.max_samples}: {cal.vote_accuracy:.3f}); "
            f"trust {policy.budget.trust:g}, confidence {policy.confidence:g}"
        )
