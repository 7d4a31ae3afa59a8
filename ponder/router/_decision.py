"""What one routing decision holds: the estimate for every arm, and the arm chosen and why.

Frozen values, shared by the decider that makes them, the router that acts on them, the
escalation that walks them and ``ponder route`` that prints them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ArmEstimate:
    """One arm for one query. ``p_success`` is the arm's as configured (a vote's success
    for sampled arms); ``expected_cost`` is what the policy weighs (at the expected sample
    count for adaptive arms); ``worst_cost`` (all samples drawn, each with the arm's
    thinking and expected answer) is what must fit the ceiling: the router then caps each
    answer at what is left of the ceiling, so the ceiling, not this, bounds the spend."""

    arm: str
    p_success: float
    expected_cost: float
    utility: float
    fits: bool
    ability_source: str
    expected_samples: float = 1.0
    worst_cost: float = 0.0
    prompt_tokens: int = 0
    """The whole request's tokens as this arm's provider counts them (or an over-estimate);
    the router sizes the answer's ``max_tokens`` from it."""
    p_sample: float = math.nan
    """The classifier's predicted success of one sample (NaN: not predicted)."""
    serves: bool = True
    """Whether the arm can take the request (its parameters, tools, schema, images: see
    :mod:`ponder.router._abilities`); one that cannot never ``fits``, nor is escalated to."""
    budget: int = 1
    """Samples the arm may draw for this query: its ``samples``, or for an adaptive arm
    with a calibrated :class:`~ponder.policies.SamplingPolicy`, the query's budget (0: the
    vote is predicted hopeless, and escalation passes the arm by without drawing)."""


@dataclass(frozen=True)
class Estimates:
    """Per query and arm, ``[n, k]``: success, expected and worst-case cost, samples, and
    the one-sample success and sample budget behind them."""

    p_success: FloatArray
    expected_cost: FloatArray
    worst_cost: FloatArray
    expected_samples: FloatArray
    difficulty: FloatArray
    reasoning_need: FloatArray | None = None
    p_sample: FloatArray | None = None
    budget: npt.NDArray[np.int64] | None = None


@dataclass(frozen=True)
class Decision:
    """The arm chosen for one query and why, with what was predicted for every arm.

    ``chosen_arm`` is named as on :class:`~ponder.router.Trace`; ``chosen`` is its older,
    deprecated name."""

    chosen_arm: str
    reason: str
    difficulty: float
    reasoning_need: float | None
    """How much more a reasoning arm's logit gains on this query than a non-reasoning
    arm's (None when the model has not learned it)."""
    input_tokens: int
    lam: float
    max_cost: float | None
    arms: tuple[ArmEstimate, ...]

    @property
    def chosen(self) -> str:
        """Deprecated: :attr:`chosen_arm`, the name the trace uses."""
        warnings.warn(
            "Decision.chosen is deprecated; use Decision.chosen_arm (as on Trace)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.chosen_arm
