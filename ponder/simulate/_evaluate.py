"""Produce the router's predictions for a replay: held-out, cross-validated or saved model.

The simulator itself only replays (predictions, expected costs) against recorded outcomes;
this module makes sure those predictions never saw the rows they are scored on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from ponder._menu import Menu
from ponder._pricing import estimate_tokens
from ponder.classifiers import ArmProfile, DifficultyClassifier, table_arm_prices
from ponder.errors import MenuError
from ponder.outcomes import OutcomeTable
from ponder.policies import HullGuard
from ponder.simulate._progress import Step, StepCallback
from ponder.simulate._splits import grouped_kfold

FloatArray = npt.NDArray[np.float64]
MakeClassifier = Callable[[], DifficultyClassifier]
Progress = Callable[[str], None]


def _tokens(table: OutcomeTable) -> FloatArray:
    return np.array([estimate_tokens(p) for p in table.prompts], dtype=np.float64)


def price_table(table: OutcomeTable, menu: Menu | None, *, strict: bool = True) -> OutcomeTable:
    """Fill costs the table lacks from the menu's prices; error on arms left without a cost
    (unless not ``strict``: training can do without, replaying cannot).

    A cost filled in comes with the tokens it assumed (the prompt's estimate in, the arm's
    answer and thinking tokens out, per sample), where the table records none. Without them
    a price read back from the table (``table_arm_prices``) divides a reasoning arm's
    thousands of hidden tokens by a typical answer's length and makes it look ten times
    dearer per token than a menu says it is, which is what the price prior compares it to.
    """
    costs = table.costs.copy()
    input_tokens = table.input_tokens.copy()
    output_tokens = table.output_tokens.copy()
    if menu is not None:
        by_label = {a.label: a for a in menu.arms}
        tokens = _tokens(table)
        for j, name in enumerate(table.arms):
            arm = by_label.get(name)
            if arm is None:
                continue
            missing = np.isnan(costs[:, j])
            if missing.any():
                costs[missing, j] = arm.expected_cost(tokens)[missing]
                fill = missing & np.isnan(input_tokens[:, j]) & np.isnan(output_tokens[:, j])
                input_tokens[fill, j] = tokens[fill] * arm.samples
                output_tokens[fill, j] = (arm.output_tokens + arm.thinking_tokens) * arm.samples
    unpriced = [a for j, a in enumerate(table.arms) if np.isnan(costs[:, j]).all()]
    if unpriced and strict:
        raise MenuError(
            f"no cost for arm(s) {', '.join(unpriced)}: the outcome table records none; "
            "pass --menu with a price for each (input_price/output_price or a litellm model)"
        )
    return dataclasses.replace(
        table, costs=costs, input_tokens=input_tokens, output_tokens=output_tokens
    )


def expected_costs(train: OutcomeTable, test: OutcomeTable) -> FloatArray:
    """What the router believes each arm costs before calling it: the arm's mean cost in
    training data (both tables must already be priced)."""
    mean = np.array(
        [np.nanmean(train.costs[:, train.arm_index(a)]) for a in test.arms], dtype=np.float64
    )
    return np.broadcast_to(mean, (test.n_queries, test.n_arms)).copy()


PREDICT_BATCH = 8192
"""Queries featurized and predicted at once: memory stays flat whatever the table's size
(the arm-aware trees read a float32 row per query and trained arm: 10 arms x 100k queries
was a 0.6 GB matrix, and twice that while it was built)."""


def predict_saved(
    clf: DifficultyClassifier, test: OutcomeTable, batch: int = PREDICT_BATCH
) -> FloatArray:
    """P(success) from a saved model; arms it was not trained on get a price prior."""
    prices = table_arm_prices(test)
    profiles: list[str | ArmProfile] = [
        a if a in clf.arm_names else clf.profile(a, price_per_mtok=float(prices[j]))
        for j, a in enumerate(test.arms)
    ]
    prompts = list(test.prompts)
    out = np.empty((len(prompts), len(profiles)), dtype=np.float64)
    for start in range(0, len(prompts), batch):
        chunk = prompts[start : start + batch]
        out[start : start + len(chunk)] = clf.predict(chunk, arms=profiles).p_success
    return out


def predict_holdout(
    train: OutcomeTable, test: OutcomeTable, make: MakeClassifier, progress: Progress
) -> FloatArray:
    return predict_guarded(train, test, make, progress)[0]


def predict_guarded(
    train: OutcomeTable, test: OutcomeTable, make: MakeClassifier, progress: Progress
) -> tuple[FloatArray, HullGuard | None]:
    """Held-out P(success), and the hull guard of the model that predicted it (fitted on
    ``train`` alone), which the simulator applies as the live router would (None from a
    classifier that has none)."""
    clf = make().fit(train, progress=progress)
    return predict_saved(clf, test), getattr(clf, "hull_guard_", None)


def predict_cross_validated(
    table: OutcomeTable,
    make: MakeClassifier,
    k: int,
    *,
    by_task: bool = False,
    seed: int = 0,
    progress: Progress,
    steps: StepCallback | None = None,
    guards: list[HullGuard | None] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Out-of-fold P(success) and expected costs for every row (folds grouped by id or task).

    ``guards``, when given, is filled with each row's hull guard (that of the fold model
    which predicted it), for :func:`~ponder.simulate.simulate` to apply.

    ``progress`` gets the classifier's messages, prefixed with the fold; with ``steps``, the
    folds are reported there as a :class:`Step` each and the messages go through bare, so a
    display shows the fold once, as a bar, instead of in every line.
    """
    groups = list(table.tasks) if by_task else None
    if by_task and len(set(table.tasks)) < k:
        raise ValueError(
            f"--cv {k} grouped by task needs at least {k} tasks; the table has "
            f"{len(set(table.tasks))}"
        )
    p = np.full((table.n_queries, table.n_arms), np.nan)
    cost = np.full((table.n_queries, table.n_arms), np.nan)
    for f, (tr, te) in enumerate(grouped_kfold(list(table.ids), k, groups=groups, seed=seed)):
        train, test = table.take(tr), table.take(te)
        if steps is not None:
            steps(
                Step("cross-validation", f, k, f"fold {f + 1}/{k}: training on {len(tr)} queries")
            )
            say = progress
        else:
            progress(f"fold {f + 1}/{k}: training on {len(tr)} queries")

            def say(msg: str, f: int = f) -> None:
                progress(f"fold {f + 1}/{k}: {msg}")

        p[te], guard = predict_guarded(train, test, make, say)
        cost[te] = expected_costs(train, test)
        if guards is not None:
            if not guards:
                guards.extend([None] * table.n_queries)
            for i in te:
                guards[i] = guard
    if steps is not None:
        steps(Step("cross-validation", k, k, "done"))
    return p, cost
