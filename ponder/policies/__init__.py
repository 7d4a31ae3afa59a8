"""Routing policies: from predicted success and expected cost to the arm(s) to call."""

from ponder.policies._compute import DEFAULT_KAPPA, VoteModel
from ponder.policies._protocol import NO_ARM, FloatArray, IntArray, Policy, as_matrices
from ponder.policies._utility import (
    UtilityPolicy,
    calibrate_to_cost,
    calibrate_to_quality,
    choose_by_utility,
    default_cost_scale,
    lambda_grid,
    top_lambda,
)

__all__ = [
    "DEFAULT_KAPPA",
    "NO_ARM",
    "FloatArray",
    "IntArray",
    "Policy",
    "UtilityPolicy",
    "VoteModel",
    "as_matrices",
    "calibrate_to_cost",
    "calibrate_to_quality",
    "choose_by_utility",
    "default_cost_scale",
    "lambda_grid",
    "top_lambda",
]
