from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ponder.cli._common import one_line_errors, status


@one_line_errors
def train(
    data: Annotated[
        list[Path], typer.Argument(help="Outcome tables (.jsonl canonical or .csv wide).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the model to.")],
    backend: Annotated[
        str, typer.Option(help="'lightgbm' (default) or 'logistic' (the simple baseline).")
    ] = "lightgbm",
    folds: Annotated[
        int, typer.Option(help="Cross-validation folds used to tune and calibrate.")
    ] = 5,
    seed: Annotated[int, typer.Option(help="Random seed (folds, bagging).")] = 0,
) -> None:
    """Train a difficulty classifier on outcome tables and save it to a directory.

    The model learns one difficulty per query shared by all arms, plus each arm's ability, so
    tables with different arms can be trained on together.
    """
    from ponder.classifiers import DifficultyClassifier, save_classifier
    from ponder.outcomes import load_many

    if backend not in ("lightgbm", "logistic"):
        raise ValueError(f"--backend must be 'lightgbm' or 'logistic', not '{backend}'")
    if folds < 2:
        raise ValueError("--folds must be at least 2")
    table, reports = load_many(data)
    for r in reports:
        typer.echo(r.summary(), err=True)
    clf = DifficultyClassifier(backend=backend, cv_folds=folds, seed=seed)  # type: ignore[arg-type]
    with status("training") as say:
        clf.fit(table, progress=say)
    save_classifier(clf, out, sources=[p.name for p in data])
    m = clf.metrics_
    typer.echo(
        f"trained on {int(m['n_queries'])} queries, {int(m['n_observations'])} outcomes, "
        f"{len(clf.arms_)} arms; out-of-fold log loss {m['oof_log_loss']:.4f} "
        f"(per-arm base rate {m['baseline_log_loss']:.4f}); saved to {out}"
    )
