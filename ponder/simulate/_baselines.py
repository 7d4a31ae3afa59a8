"""Reference policies every router is compared against in the simulator.

* :class:`SingleArm` - always the same arm: what you do without a router.
* :class:`Oracle` - the per-query best arm in hindsight (true scores): the ceiling.
* :class:`RandomMix` - mixing single arms at random in the right proportions: the floor a
  router must beat, since it is reachable at any cost with no classifier at all.
* :class:`Cascade` - try arms from cheap to dear and stop once one is predicted good enough:
  the other common router design, paying for every arm it tries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ponder.policies import FloatArray, IntArray, as_matrices, choose_by_utility, default_cost_scale
from ponder.simulate._metrics import upper_frontier


@dataclass(frozen=True)
class SingleArm:
    """Always arm ``j``."""

    j: int

    def choose(self, p: FloatArray, cost: FloatArray) -> IntArray:
        pa, _ = as_matrices(p, cost)
        if not 0 <= self.j < pa.shape[1]:
            raise ValueError(f"arm index {self.j} is out of range for {pa.shape[1]} arms")
        return np.full(pa.shape[0], self.j, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Oracle:
    """Per query, ``argmax true_score - lam * cost / cost_scale`` (ties to the cheaper arm).

    Holds the true ``scores`` ``[n, k]`` and ignores the predictions passed to
    :meth:`choose`; give it the *true* per-query costs, which the oracle knows too. At
    ``lam = 0`` it takes the cheapest arm with the best score, the most quality any router
    can reach at the least cost; sweeping ``lam`` traces the best achievable frontier.
    """

    scores: FloatArray
    lam: float = 0.0
    cost_scale: float | None = None

    def choose(self, p: FloatArray, cost: FloatArray) -> IntArray:
        s, ca = as_matrices(self.scores, cost)
        if np.shape(p) != s.shape:
            raise ValueError(f"p has shape {np.shape(p)}, the oracle's scores {s.shape}")
        scale = self.cost_scale or default_cost_scale(ca)
        return choose_by_utility(s, ca, self.lam, scale)


def random_mix_frontier(
    mean_cost: npt.ArrayLike, mean_quality: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Frontier of random mixing: the upper convex hull of the single-arm points.

    Sending each query to arm ``a`` with probability ``w`` and to arm ``b`` otherwise costs
    and scores the ``w``-weighted average of the two arms, so every point on the segment
    between two arms is reachable without looking at the query. The hull of those segments
    is what a router must beat to be worth its classifier.
    """
    return upper_frontier(mean_cost, mean_quality)


@dataclass(frozen=True)
class RandomMix:
    """Random mixing of single arms given their mean costs and qualities.

    Not a per-query policy: it has no ``choose``; its frontier is
    :func:`random_mix_frontier`, and :meth:`weights` says how to realise a point of it.
    """

    mean_cost: tuple[float, ...]
    mean_quality: tuple[float, ...]

    def frontier(self) -> tuple[FloatArray, FloatArray]:
        return random_mix_frontier(self.mean_cost, self.mean_quality)

    def weights(self, budget: float) -> FloatArray:
        """Probability of each arm so the mix spends ``budget`` per query at the best quality.

        Mixes the two hull arms around the budget; a budget past the last hull arm uses that
        arm alone, and one below the cheapest arm is a ``ValueError``.
        """
        hc, hq = self.frontier()
        if budget < hc[0]:
            raise ValueError(f"budget {budget} is below the cheapest arm ({hc[0]})")
        w = np.zeros(len(self.mean_cost))
        arms = [self._arm_at(float(c), float(q)) for c, q in zip(hc, hq, strict=True)]
        hi = int(np.searchsorted(hc, budget))
        if hi >= hc.size:
            w[arms[-1]] = 1.0
        elif hc[hi] == budget or hi == 0:
            w[arms[hi]] = 1.0
        else:
            t = (budget - hc[hi - 1]) / (hc[hi] - hc[hi - 1])
            w[arms[hi - 1]] += 1.0 - t
            w[arms[hi]] += t
        return w

    def _arm_at(self, c: float, q: float) -> int:
        for j, (cj, qj) in enumerate(zip(self.mean_cost, self.mean_quality, strict=True)):
            if cj == c and qj == q:
                return j
        raise AssertionError("hull vertex is not an arm")  # pragma: no cover


@dataclass(frozen=True)
class Cascade:
    """Try arms in ``order``; stop at the first predicted to succeed with ``p >= threshold``.

    The last arm of ``order`` answers when none qualifies. Every arm tried is paid for, and
    the quality is the true score of the arm that answered. ``order`` defaults to ascending
    mean cost of the ``cost`` given to :meth:`run`. Because it returns what it spent rather
    than one arm, it has :meth:`run` instead of ``choose``.
    """

    threshold: float
    order: Sequence[int] | None = None

    def resolve_order(self, cost: FloatArray) -> IntArray:
        """The arm order actually used (cheapest mean cost first unless given)."""
        if self.order is not None:
            order = np.asarray(self.order, dtype=np.int64)
            k = np.shape(cost)[-1]
            if order.size == 0 or order.min() < 0 or order.max() >= k:
                raise ValueError(f"order {list(order)} must hold arm indices in [0, {k})")
            return order
        means = np.asarray(cost, dtype=np.float64)
        means = means.mean(axis=0) if means.ndim == 2 else means
        return np.argsort(means, kind="stable").astype(np.int64)

    def stops(self, p: FloatArray, order: IntArray | None) -> IntArray:
        """Position in ``order`` at which each query stops (vectorised first-hit search).

        ``order=None`` means the columns of ``p`` are already in cascade order.
        """
        hit = (p if order is None else p[:, order]) >= self.threshold
        hit[:, -1] = True
        return hit.argmax(axis=1).astype(np.int64)

    def run(
        self, p: FloatArray, cost: FloatArray, scores_true: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Quality per query and cost per query (sum over every arm tried).

        ``cost`` is what each call is charged: pass the true per-query costs to replay an
        outcome table, or expected costs to estimate.
        """
        pa, ca = as_matrices(p, cost)
        s = np.asarray(scores_true, dtype=np.float64)
        if s.shape != pa.shape:
            raise ValueError(f"scores_true has shape {s.shape}, expected {pa.shape} like p")
        order = self.resolve_order(ca)
        stop = self.stops(pa, order)
        rows = np.arange(pa.shape[0])
        spent = np.cumsum(ca[:, order], axis=1)[rows, stop]
        return s[rows, order[stop]], spent
