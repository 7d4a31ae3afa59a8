"""How many samples one query deserves, and when to stop drawing them.

Compute-optimal sampling (Snell et al. 2024; Damani et al. 2024): the classifier already
predicts, per query, the success of one sample of each arm; the vote model turns that into
the success of a vote of ``n``. A query the arm is near-certain of gains nothing from a
second sample, a query it is predicted to miss whatever it draws gains nothing from any (a
stronger arm should take it), and only queries in between are worth a vote. So a query's
budget is the fewest samples whose predicted vote success is within ``gain`` of drawing all
the arm allows, none when even that is below ``floor``; within the budget the
:class:`~ponder.aggregators.DirichletStop` rule stops once the vote is settled.

A :class:`SamplingPolicy` holds one arm's calibrated knobs (chosen by cross-validation on
recorded samples, :func:`~ponder.policies.calibrate_sampling`) and turns a prediction into
a :class:`~ponder.aggregators.SamplePlan`: the live router and the simulator both draw by
that plan, so they spend alike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ponder.aggregators import CannotBeOvertaken, DirichletStop, LeadBy, SamplePlan, StopRule
from ponder.policies._compute import VoteModel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_SLACK = 1e-12


@dataclass(frozen=True)
class SampleBudget:
    """The per-query sample budget from the classifier's per-sample success ``p1``.

    ``p1`` is first shrunk towards the arm's ``mean`` by ``trust`` (0: every query gets
    the same budget; 1: the prediction as it is), since a classifier trained on a few
    hundred queries knows less than its probabilities say. The vote model with ``kappa``
    (fitted on the shrunk predictions) then gives the predicted success of a vote of each
    size; the budget is the smallest size within ``gain`` of the largest allowed (``gain``
    0: the largest), or 0 when the largest is predicted below ``floor`` (hopeless:
    escalate instead of drawing).
    """

    kappa: float
    gain: float = 0.0
    floor: float = 0.0
    trust: float = 1.0
    mean: float = 0.5

    def __post_init__(self) -> None:
        if not (self.kappa > 0 and math.isfinite(self.kappa)):
            raise ValueError(f"kappa must be a positive number, got {self.kappa}")
        if not (0.0 <= self.gain <= 1.0 and 0.0 <= self.floor <= 1.0):
            raise ValueError("gain and floor must be in [0, 1]")
        if not (0.0 <= self.trust <= 1.0 and 0.0 <= self.mean <= 1.0):
            raise ValueError("trust and mean must be in [0, 1]")

    def prior(self, p1: npt.ArrayLike) -> FloatArray:
        """The prediction as the budget and the stopping rule use it (NaN: the mean)."""
        p = np.asarray(p1, dtype=np.float64)
        p = np.where(np.isfinite(p), np.clip(p, 0.0, 1.0), self.mean)
        return np.asarray(self.mean + self.trust * (p - self.mean))

    def curve(self, p1: npt.ArrayLike, most: int) -> FloatArray:
        """Predicted success of a vote of 1 .. ``most`` samples: shape ``(*p1.shape, most)``."""
        prior = self.prior(p1)
        votes = VoteModel(kappa=self.kappa)
        return np.stack([votes.p_vote(prior, n) for n in range(1, most + 1)], axis=-1)

    def samples_many(self, p1: npt.ArrayLike, most: int) -> IntArray:
        """The budget of each query (0 .. ``most``)."""
        if most < 1:
            raise ValueError(f"most must be >= 1, got {most}")
        return budgets_from_curve(self.curve(p1, most), self.gain, self.floor)

    def samples(self, p1: float | None, most: int) -> int:
        """One query's budget (``None``: no prediction, the arm's mean stands in)."""
        return int(self.samples_many(np.nan if p1 is None else p1, most))


def budgets_from_curve(curve: FloatArray, gain: float, floor: float) -> IntArray:
    """Budgets from predicted vote successes ``curve[..., n - 1]`` (see
    :meth:`SampleBudget.samples_many`); apart so that calibration can draw the curve once
    and read it at every ``gain`` and ``floor``."""
    most = curve.shape[-1]
    full = curve[..., -1:]
    if gain > 0:
        budget = np.argmax(full - curve <= gain + _SLACK, axis=-1) + 1
    else:
        budget = np.full(curve.shape[:-1], most)
    return np.asarray(np.where(full[..., 0] < floor, 0, budget), dtype=np.int64)


@dataclass(frozen=True)
class Calibration:
    """What cross-validation measured when the knobs were chosen, on ``n_queries``
    training queries with up to ``max_samples`` recorded samples: the accuracy of the vote
    over every recorded sample, and the chosen policy's out-of-fold accuracy, mean samples
    and share of queries given none (``within``: the accuracy it had to stay within)."""

    n_queries: int
    max_samples: int
    folds: int
    vote_accuracy: float
    accuracy: float
    mean_samples: float
    skipped: float
    within: float


@dataclass(frozen=True)
class SamplingPolicy:
    """One arm's way of spending samples: a :class:`SampleBudget` per query and the
    :class:`~ponder.aggregators.DirichletStop` rule at ``confidence`` within it (1: only
    stop when the leader cannot be overtaken), or, when ``margin`` is set, the
    :class:`~ponder.aggregators.LeadBy` rule at that margin (calibration keeps whichever of
    the two is cheaper out of fold). ``gamma`` is how wrong answers scatter."""

    budget: SampleBudget
    confidence: float = 1.0
    gamma: float = 1.0
    calibration: Calibration | None = None
    margin: int = 0
    """Votes the leader must be ahead by to stop (0: the Dirichlet rule at ``confidence``)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence <= 1.0:
            raise ValueError(f"confidence must be in (0, 1], got {self.confidence}")
        if not (self.gamma > 0 and math.isfinite(self.gamma)):
            raise ValueError(f"gamma must be a positive number, got {self.gamma}")
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")

    def rule(self) -> StopRule:
        if self.margin > 0:
            return LeadBy(self.margin)
        if self.confidence >= 1.0:
            return CannotBeOvertaken()
        b = self.budget
        return DirichletStop(self.confidence, b.kappa, self.gamma, b.mean)

    def plan(self, p1: float | None, most: int) -> SamplePlan:
        """What to draw for a query whose one-sample success is predicted ``p1``, when the
        arm may draw at most ``most``."""
        prior = float(self.budget.prior(np.nan if p1 is None else p1))
        return SamplePlan(self.budget.samples(p1, most), self.rule(), prior)

    def to_state(self) -> dict[str, Any]:
        """Plain JSON for a model artifact."""
        state: dict[str, Any] = {
            "budget": asdict(self.budget),
            "confidence": self.confidence,
            "gamma": self.gamma,
        }
        if self.calibration is not None:
            state["calibration"] = asdict(self.calibration)
        if self.margin:
            state["margin"] = self.margin
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SamplingPolicy:
        cal = state.get("calibration")
        return cls(
            budget=SampleBudget(**{k: float(v) for k, v in state["budget"].items()}),
            confidence=float(state["confidence"]),
            gamma=float(state["gamma"]),
            calibration=None if cal is None else Calibration(**cal),
            margin=int(state.get("margin", 0)),
        )


__all__ = [
    "Calibration",
    "SampleBudget",
    "SamplingPolicy",
    "budgets_from_curve",
]
