"""Cross-validation folds that hold out *kinds* of query, not just queries.

Outcome tables come in families: a benchmark's template, a puzzle generator, a few-shot
block repeated on every row. With folds drawn query by query, every held-out query has
siblings in training, and a model that memorises the family looks excellent out of fold
and then fails on traffic of a kind it has not seen (on reasoning-gym, arm-aware models
chosen that way routed *worse* than the shared difficulty on held-out generators). So the
queries are clustered on their features and whole clusters are held out together: what
cross-validation then rewards is what carries over to new kinds of query.

Where the table names its kinds (the outcome rows' ``task``), those can be held out
instead: a whole benchmark or puzzle category at a time, which is what traffic of a kind the
table does not have looks like. Clusters of features split a task's template across folds
as often as not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

QUERIES_PER_CLUSTER = 60
MAX_CLUSTERS = 200


MIN_TASKS_PER_FOLD = 2
"""Task folds need at least this many distinct tasks per fold; with fewer, one task would
be most of a fold and the folds' sizes would swing with it."""


def task_folds(tasks: Sequence[str], k: int, seed: int) -> npt.NDArray[np.int64] | None:
    """The fold (0..k-1) of each query, whole tasks at a time (largest first into the
    lightest fold); None when there are fewer than ``MIN_TASKS_PER_FOLD * k`` tasks."""
    names, labels = np.unique(np.asarray(tasks, dtype=object).astype(str), return_inverse=True)
    if len(names) < MIN_TASKS_PER_FOLD * k:
        return None
    return _place(labels.astype(np.int64), len(names), k, np.random.default_rng(seed))


def clustered_folds(X: npt.NDArray[np.float32], k: int, seed: int) -> npt.NDArray[np.int64]:
    """The fold (0..k-1) of each query: clusters of similar queries (k-means on the
    standardised features), placed whole into folds, largest first into the lightest fold.
    Falls back to a random split when there are too few queries to cluster."""
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    n_clusters = min(MAX_CLUSTERS, n // QUERIES_PER_CLUSTER)
    if n_clusters < 2 * k:
        out: npt.NDArray[np.int64] = rng.permutation(n) % k
        return out
    from sklearn.cluster import MiniBatchKMeans

    Xd = X.astype(np.float64)
    Xs = (Xd - Xd.mean(axis=0)) / (Xd.std(axis=0) + 1e-6)
    labels = MiniBatchKMeans(
        n_clusters=n_clusters, random_state=seed, n_init=3, batch_size=2048
    ).fit_predict(Xs)
    return _place(labels.astype(np.int64), n_clusters, k, rng)


def _place(
    labels: npt.NDArray[np.int64], n_groups: int, k: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Whole groups into ``k`` folds, largest first into the lightest (ties in random order)."""
    sizes = np.bincount(labels, minlength=n_groups)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for c in order:
        f = int(np.argmin(load))
        fold_of_group[c] = f
        load[f] += sizes[c]
    result: npt.NDArray[np.int64] = fold_of_group[labels]
    return result
