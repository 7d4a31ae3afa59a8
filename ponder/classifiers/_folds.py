"""Cross-validation folds that hold out *kinds* of query, not just queries.

Outcome tables come in families: a benchmark's template, a puzzle generator, a few-shot
block repeated on every row. With folds drawn query by query, every held-out query has
siblings in training, and a model that memorises the family looks excellent out of fold
and then fails on traffic of a kind it has not seen (on reasoning-gym, arm-aware models
chosen that way routed *worse* than the shared difficulty on held-out generators). So the
queries are clustered on their features and whole clusters are held out together: what
cross-validation then rewards is what carries over to new kinds of query.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

QUERIES_PER_CLUSTER = 60
MAX_CLUSTERS = 200


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
    sizes = np.bincount(labels, minlength=n_clusters)
    order = rng.permutation(n_clusters)
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_cluster = np.empty(n_clusters, dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for c in order:
        f = int(np.argmin(load))
        fold_of_cluster[c] = f
        load[f] += sizes[c]
    result: npt.NDArray[np.int64] = fold_of_cluster[labels]
    return result
