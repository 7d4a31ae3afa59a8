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

from ponder.errors import ExtensionError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NO_ARM = -1
"""What :meth:`Policy.choose` returns for a query no arm fits (e.g. under a cost ceiling)."""


@runtime_checkable
class Policy(Protocol):
    """Anything that picks one arm per query from predictions and expected costs.

    In the router, a policy sees only the arms that fit the request's ceiling, and the
    index it returns refers to those, not to the menu.
    """

    def choose(self, p: FloatArray, cost: FloatArray) -> IntArray:
        """Arm index per query (shape ``[n]``, integers), :data:`NO_ARM` (-1) where no arm
        fits.

        ``p`` has shape ``[n, k]``; ``cost`` has shape ``[n, k]`` or ``[k]`` (one expected
        cost per arm, the same for every query). The index is a column of the ``p`` and
        ``cost`` given, not a position in the menu: the router passes only the arms that
        fit the request's ceiling, in menu order, so under a ceiling column 0 is the first
        arm that fits, which need not be the menu's first. The router checks what comes
        back (:func:`check_choice`) and names the policy's class when it is not an
        integer index in ``[-1, k)``.
        """
        ...


def check_choice(policy: object, choice: object, n_queries: int, n_arms: int) -> IntArray:
    """``choice``, what ``policy.choose`` returned for ``n_queries`` queries and ``n_arms``
    arms, checked before anything indexes with it: one integer per query, each an arm
    index in ``[0, n_arms)`` or :data:`NO_ARM`.

    Raises :class:`~ponder.errors.ExtensionError` naming ``policy``'s class, rather than
    the bare ``IndexError`` (or a silently wrong arm, for an index below -1) it would be.
    """

    def bad(message: str) -> ExtensionError:
        return ExtensionError(policy, "choose", message)

    c = np.asarray(choice)
    if c.shape != (n_queries,):
        raise bad(
            f"returned {type(choice).__name__} of shape {c.shape}; expected ({n_queries},): "
            "one arm index per query"
        )
    if c.dtype.kind not in "iu":
        raise bad(f"returned {c.dtype} values {c.tolist()}; expected integer arm indices")
    wrong = (c < NO_ARM) | (c >= n_arms)
    if wrong.any():
        i = int(np.argmax(wrong))
        raise bad(
            f"returned arm index {int(c[i])} for query {i}; expected 0..{n_arms - 1} (a "
            f"column of the {n_arms} arms it was given: those that fit the ceiling) or "
            f"NO_ARM ({NO_ARM})"
        )
    return c.astype(np.int64, copy=False)


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
