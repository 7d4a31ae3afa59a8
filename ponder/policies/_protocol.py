"""The policy extension point: from predicted success and expected cost to one arm per query.

A policy sees only what is known *before* any call: ``p[i, j]``, the predicted probability
that arm ``j`` answers query ``i`` well, and ``cost[i, j]``, the arm's expected cost in USD.
Keeping that signature narrow is what lets the simulator replay any policy against recorded
outcomes without ever calling a model.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NO_ARM = -1
"""What :meth:`Policy.choose` returns for a query no arm fits (e.g. under a cost ceiling)."""


@runtime_checkable
class Policy(Protocol):
    """Anything that picks one arm per query from predictions and expected costs."""

    def choose(self, p: FloatArray, cost: FloatArray) -> IntArray:
        """Arm index per query (shape ``[n]``), :data:`NO_ARM` (-1) where no arm fits.

        ``p`` has shape ``[n, k]``; ``cost`` has shape ``[n, k]`` or ``[k]`` (one expected
        cost per arm, the same for every query).
        """
        ...


def as_matrices(p: object, cost: object) -> tuple[FloatArray, FloatArray]:
    """Validate ``p`` ``[n, k]`` and broadcast ``cost`` (``[n, k]`` or ``[k]``) to it.

    Every policy calls this once so that a shape mistake fails loudly with the shapes in the
    message instead of broadcasting into a silently wrong answer.
    """
    pa = np.asarray(p, dtype=np.float64)
    ca = np.asarray(cost, dtype=np.float64)
    if pa.ndim != 2:
        raise ValueError(f"p must be a [n_queries, n_arms] matrix, got shape {pa.shape}")
    if pa.shape[1] == 0:
        raise ValueError(f"p has no arms (shape {pa.shape})")
    if ca.ndim == 1 and ca.shape[0] == pa.shape[1]:
        ca = np.broadcast_to(ca, pa.shape)
    elif ca.shape != pa.shape:
        raise ValueError(
            f"cost has shape {ca.shape}; expected {pa.shape} (like p) or ({pa.shape[1]},)"
        )
    if not np.isfinite(pa).all():
        raise ValueError("p contains NaN or infinite values")
    if not np.isfinite(ca).all():
        raise ValueError("cost contains NaN or infinite values; price every arm first")
    if (ca < 0).any():
        raise ValueError("cost contains negative values")
    return pa, ca
