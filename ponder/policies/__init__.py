"""Routing policies: from predicted success and expected cost to the arm(s) to call."""

from ponder.policies._compute import DEFAULT_KAPPA, VoteModel, fit_kappa
from ponder.policies._hull_guard import HullGuard, fit_hull_guard
from ponder.policies._protocol import (
    NO_ARM,
    FloatArray,
    IntArray,
    Policy,
    as_matrices,
    check_choice,
)
from ponder.policies._sampling import (
    ANY_ARM,
    Calibration,
    SampleBudget,
    SamplingCalibration,
    SamplingPolicy,
    budgets_from_curve,
    policy_for,
)
from ponder.policies._sampling_fit import (
    CAUTION,
    WITHIN,
    Recorded,
    calibrate_any_arm,
    calibrate_sampling,
    fit_gamma,
    recorded_samples,
    within_reach,
)
from ponder.policies._utility import (
    UtilityPolicy,
    calibrate_to_cost,
    choose_by_utility,
    default_cost_scale,
    lambda_grid,
    top_lambda,
)

__all__ = [
    "ANY_ARM",
    "CAUTION",
    "DEFAULT_KAPPA",
    "NO_ARM",
    "WITHIN",
    "Calibration",
    "FloatArray",
    "HullGuard",
    "IntArray",
    "Policy",
    "Recorded",
    "SampleBudget",
    "SamplingCalibration",
    "SamplingPolicy",
    "UtilityPolicy",
    "VoteModel",
    "as_matrices",
    "budgets_from_curve",
    "calibrate_any_arm",
    "calibrate_sampling",
    "calibrate_to_cost",
    "check_choice",
    "choose_by_utility",
    "default_cost_scale",
    "fit_gamma",
    "fit_hull_guard",
    "fit_kappa",
    "lambda_grid",
    "policy_for",
    "recorded_samples",
    "top_lambda",
    "within_reach",
]
