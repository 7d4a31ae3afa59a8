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

import functools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ponder.aggregators import (
    CannotBeOvertaken,
    DirichletStop,
    LeadBy,
    SamplePlan,
    StopRule,
    next_draw,
)
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
        if self.gain <= 0 and self.floor <= 0:
            # Every query may draw all it can (budgets_from_curve's answer for any curve):
            # the curve, most of a decision's time with a stopping-rule-only policy, is moot.
            return np.full(np.shape(p1), most, dtype=np.int64)
        return budgets_from_curve(self.curve(p1, most), self.gain, self.floor)

    def samples(self, p1: float | None, most: int) -> int:
        """One query's budget (``None``: no prediction, the arm's mean stands in)."""
        return int(self.samples_many(np.nan if p1 is None else p1, most))


PRICE_GRID: FloatArray = np.linspace(0.0, 1.0, 11)
"""One-sample successes at which :func:`simulated_votes` runs a rule; others interpolate."""
PRICE_DRAWS = 160
"""Simulated queries per point of :data:`PRICE_GRID` (the same random draws at every point,
so the curves are smooth in the prior)."""


@functools.lru_cache(maxsize=256)
def simulated_votes(
    policy: SamplingPolicy, budget: int, batch: int = 1
) -> tuple[FloatArray, FloatArray]:
    """Mean samples drawn and P(the vote is right) of ``policy``'s rule within ``budget``,
    at each prior in :data:`PRICE_GRID`, by simulation from the model the rule assumes.

    Per simulated query the right answer's share is ``~ Beta(q kappa, (1 - q) kappa)`` and
    each wrong sample joins a wrong answer by a Chinese restaurant process of concentration
    ``gamma`` (the arm's fitted scatter): the :class:`~ponder.aggregators.DirichletStop`
    model, with the arm's calibrated ``kappa`` and ``gamma``. The draws are seeded, so a
    policy is always priced alike; cached per policy, budget and batch, since the router
    prices every query with the same few.
    """
    # beta.ppf is betaincinv; scipy.stats alone takes longer to import than ``ponder route``
    # takes to decide.
    from scipy.special import betaincinv

    rule = policy.rule()
    kappa, gamma = policy.budget.kappa, policy.gamma
    rng = np.random.default_rng(0)
    u_rate = rng.random(PRICE_DRAWS)
    u_right = rng.random((PRICE_DRAWS, budget))
    u_wrong = rng.random((PRICE_DRAWS, budget))
    mean_samples = np.zeros(PRICE_GRID.size)
    mean_right = np.zeros(PRICE_GRID.size)
    for g, q in enumerate(PRICE_GRID):
        if q <= 0.0 or q >= 1.0:
            rate = np.full(PRICE_DRAWS, float(q))
        else:
            rate = np.asarray(betaincinv(q * kappa, (1.0 - q) * kappa, u_rate), dtype=np.float64)
        drawn_total = right_total = 0
        for d in range(PRICE_DRAWS):
            drawn, right = _simulate_one(
                rule, budget, batch, float(q), gamma, rate[d], u_right[d], u_wrong[d]
            )
            drawn_total += drawn
            right_total += right
        mean_samples[g] = drawn_total / PRICE_DRAWS
        mean_right[g] = right_total / PRICE_DRAWS
    return mean_samples, mean_right


def _simulate_one(
    rule: StopRule,
    budget: int,
    batch: int,
    q: float,
    gamma: float,
    rate: float,
    u_right: FloatArray,
    u_wrong: FloatArray,
) -> tuple[int, bool]:
    """One simulated query: samples drawn by ``rule`` and whether its vote is right."""
    counts: list[int] = []  # votes per answer, in order of first appearance
    right_at: int | None = None
    wrong: list[int] = []  # indices into counts of the wrong answers
    n_wrong = drawn = 0
    while True:
        k = next_draw(rule, counts, drawn=drawn, budget=budget, batch=batch, p=q)
        if k == 0:
            break
        for s in range(drawn, drawn + k):
            if u_right[s] < rate:
                if right_at is None:
                    right_at = len(counts)
                    counts.append(0)
                counts[right_at] += 1
                continue
            new = gamma / (gamma + n_wrong)
            if u_wrong[s] < new:
                wrong.append(len(counts))
                counts.append(1)
            else:  # an old wrong answer, chosen in proportion to its votes
                x = (u_wrong[s] - new) / (1.0 - new) * n_wrong
                for j in wrong:
                    x -= counts[j]
                    if x < 0:
                        counts[j] += 1
                        break
                else:
                    counts[wrong[-1]] += 1
            n_wrong += 1
        drawn += k
    if right_at is None:
        return drawn, False
    top = max(counts)
    return drawn, counts.index(top) == right_at


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
class SamplingCalibration:
    """What cross-validation measured when the knobs were chosen, on ``n_queries``
    training queries with up to ``max_samples`` recorded samples: the accuracy of the vote
    over every recorded sample, and the chosen policy's out-of-fold accuracy, mean samples
    and share of queries given none (``within``: the accuracy it had to stay within).

    Not to be confused with :class:`ponder.router.Calibration`, the ``lam`` that meets a
    cost or quality target; this one was called ``Calibration`` too, a name kept as an
    alias for old code."""

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
    calibration: SamplingCalibration | None = None
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

    def stopping(self) -> str:
        """The rule :meth:`rule` returns, in words (for ``ponder route`` and reports)."""
        if self.margin > 0:
            return f"once the leader is {self.margin} votes ahead"
        if self.confidence >= 1.0:
            return "once the leader cannot be overtaken"
        return f"once the leader wins with confidence {self.confidence:g}"

    def plan(self, p1: float | None, most: int) -> SamplePlan:
        """What to draw for a query whose one-sample success is predicted ``p1``, when the
        arm may draw at most ``most``."""
        prior = float(self.budget.prior(np.nan if p1 is None else p1))
        return SamplePlan(self.budget.samples(p1, most), self.rule(), prior)

    def priced(
        self, p1: npt.ArrayLike, most: int, batch: int = 1
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        """Per query: the budget, the samples this policy's own rule is expected to draw
        within it, and the P(success) of the vote it returns, for one-sample success
        ``p1`` (NaN: unknown) when the arm may draw ``most``, ``batch`` at a time.

        What the router prices a calibrated vote arm at, and the simulator replays: the
        rule is run (through :func:`~ponder.aggregators.next_draw`, the live draw loop) on
        answers drawn from the model it was calibrated with (:func:`simulated_votes`), so
        a query the rule settles in two samples is priced at about two, and its success
        is the vote's, not one sample's. A query given no budget (hopeless) is expected to
        draw nothing; its P(success) is the whole vote's, so escalation sees what beats it.
        """
        p = np.asarray(p1, dtype=np.float64)
        budget = self.budget.samples_many(p, most)
        # The query's success as the classifier predicts it, not as the budget shrinks it:
        # a single call of the arm is priced at the same prediction, and the two must be
        # compared on one footing (shrunk, an easy query's vote would look worse than one
        # call of it).
        q = np.where(np.isfinite(p), np.clip(p, 0.0, 1.0), self.budget.mean)
        samples = np.zeros(q.shape)
        success = np.zeros(q.shape)
        none = budget == 0
        if none.any():
            votes = VoteModel(kappa=self.budget.kappa)
            success[none] = np.asarray(votes.p_vote(q[none], most), dtype=float)
        for b in np.unique(budget[budget > 0]):
            at = budget == b
            grid_samples, grid_success = simulated_votes(self, int(b), batch)
            samples[at] = np.interp(q[at], PRICE_GRID, grid_samples)
            success[at] = np.interp(q[at], PRICE_GRID, grid_success)
        return budget, samples, success

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
            calibration=None if cal is None else SamplingCalibration(**cal),
            margin=int(state.get("margin", 0)),
        )


ANY_ARM = "*"
"""The key, in a mapping of arms to sampling policies, of the policy for an adaptive arm that
has none of its own (the packaged model's: calibrated on permissive recorded samples, so a
menu's vote arm is drawn and priced by a rule shown to hold, not by a guess)."""


def policy_for(sampling: Mapping[str, SamplingPolicy], *names: str | None) -> SamplingPolicy | None:
    """The policy of the first of ``names`` that ``sampling`` holds, else its
    :data:`ANY_ARM` policy, else None."""
    for name in names:
        if name is not None and name in sampling:
            return sampling[name]
    return sampling.get(ANY_ARM)


Calibration = SamplingCalibration
"""The older name of :class:`SamplingCalibration`, kept so that code using it still runs."""

__all__ = [
    "ANY_ARM",
    "PRICE_GRID",
    "Calibration",
    "SampleBudget",
    "SamplingCalibration",
    "SamplingPolicy",
    "budgets_from_curve",
    "policy_for",
    "simulated_votes",
]
