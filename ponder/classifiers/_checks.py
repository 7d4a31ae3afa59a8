"""Checks at the classifier's edges: what ``fit`` is given, and prior predictions that
cannot be right.

Without them a wrong argument fails far from its cause (``'LoadResult' object has no
attribute 'scores'``), a small table dies inside LightGBM (``Check failed:
(train_data->num_features()) > (0)``), and an arm the model never saw can be predicted
certain to succeed, silently.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ponder.classifiers._protocol import ArmProfile
from ponder.errors import PriorWarning, TrainingDataError
from ponder.outcomes import OutcomeTable

LIGHTGBM_MIN_SPLIT = 20
"""Queries LightGBM needs before it will split on a feature: twice the ``min_data_in_leaf``
of the shared difficulty's trees. Fewer, and it drops every feature and stops."""

SATURATED = 1e-3
"""A prior P(success) closer than this to 0 or 1 is not a prediction but an artefact: an
arm without logs of its own cannot be known that well."""


def min_queries(backend: str, cv_folds: int, n_queries: int) -> int:
    """Measured queries the backend needs: for LightGBM, enough that every
    cross-validation fold still trains on :data:`LIGHTGBM_MIN_SPLIT` (the logistic
    backend fits on any number)."""
    if backend != "lightgbm":
        return 1
    k = max(2, min(cv_folds, n_queries))
    return math.ceil(LIGHTGBM_MIN_SPLIT * k / (k - 1))


def check_training_table(table: object, backend: str, cv_folds: int) -> OutcomeTable:
    """``table`` if a classifier can be trained on it, else :class:`TrainingDataError`
    saying what is wrong and what to pass instead."""
    if not isinstance(table, OutcomeTable):
        inner = getattr(table, "table", None)
        if isinstance(inner, OutcomeTable):
            raise TrainingDataError(
                f"fit() takes an OutcomeTable, not a {type(table).__name__}: pass its "
                "table, as in fit(load_outcomes(path).table)"
            )
        raise TrainingDataError(
            f"fit() takes an OutcomeTable, not {type(table).__name__} "
            "(read one with ponder.outcomes.load_outcomes(path).table)"
        )
    measured = ~np.isnan(table.scores)
    n = int(measured.any(axis=1).sum())
    if n == 0:
        raise TrainingDataError("the outcome table has no measured (query, arm) pair")
    need = min_queries(backend, cv_folds, n)
    if n < need:
        raise TrainingDataError(
            f"the outcome table has {n} queries with measured outcomes; the {backend} "
            f"backend needs at least {need} (every one of its cross-validation folds trains "
            f"LightGBM, which splits on no fewer than {LIGHTGBM_MIN_SPLIT} queries): record "
            "more outcomes, or fit with backend='logistic'"
        )
    y = table.scores[measured]
    if backend == "logistic" and not ((y > 0).any() and (y < 1).any()):
        raise TrainingDataError(
            f"every measured outcome scores {float(y[0]):g}: a logistic model needs both "
            "successes and failures to tell easy queries from hard ones"
        )
    return table


def no_features(exc: Exception, n_queries: int) -> TrainingDataError | None:
    """LightGBM's refusal to train on features it cannot split, in plain words (None for
    any other error). It happens above :func:`min_queries` too, when the queries'
    features barely vary (many identical prompts) or a fold is left with few queries."""
    if not type(exc).__module__.startswith("lightgbm") or "num_features" not in str(exc):
        return None
    return TrainingDataError(
        f"LightGBM found no query feature it could split on ({n_queries} queries): the "
        "table has too few queries, or too few distinct ones, for each cross-validation "
        "fold to learn from; record more varied outcomes, or fit with backend='logistic'"
    )


def warn_if_prior_saturates(profiles: Sequence[ArmProfile], p: npt.NDArray[np.float64]) -> None:
    """Warn (:class:`~ponder.errors.PriorWarning`) when an arm placed by the price prior,
    not by logs of its own, is predicted P(success) of about 0 or 1: the prior was fitted
    on too few outcomes or arms to place it, and such an arm would always (or never) win."""
    # Every arm's predictions first: two reductions, on every prediction with an arm
    # that has no logs (each of the packaged menu's); the rest only when one saturates.
    if p.size == 0 or (p.min() >= SATURATED and p.max() <= 1 - SATURATED):
        return
    cols = [j for j, a in enumerate(profiles) if a.source in ("prior", "price prior")]
    if not cols:
        return
    sub = p[:, cols]
    bad = np.any((sub < SATURATED) | (sub > 1 - SATURATED), axis=0)
    names = [profiles[cols[i]].name for i in np.flatnonzero(bad)]
    warnings.warn(
        f"arm(s) {', '.join(names)} are not in the model's training data, and its price "
        "prior predicts them a P(success) of about 0 or 1: the model was trained on too "
        "few outcomes or priced arms to place them; train on outcomes that include them, "
        "or give them ability: or like: in the menu",
        PriorWarning,
        stacklevel=3,
    )
