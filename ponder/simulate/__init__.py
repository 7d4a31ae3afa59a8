"""Replay outcome tables through policies: cost/quality frontiers and the metrics on them."""

from ponder.simulate._baselines import Cascade, Oracle, RandomMix, SingleArm, random_mix_frontier
from ponder.simulate._evaluate import (
    expected_costs,
    predict_cross_validated,
    predict_holdout,
    predict_saved,
    price_table,
)
from ponder.simulate._metrics import (
    aiq,
    apgr,
    cost_to_reach,
    cpt,
    gap_closed,
    quality_at_cost,
    upper_frontier,
)
from ponder.simulate._plot import plot_frontier
from ponder.simulate._progress import Step, StepCallback
from ponder.simulate._report import Holes, Report, SampledArmReport
from ponder.simulate._simulate import simulate
from ponder.simulate._splits import grouped_kfold
from ponder.simulate._vote_arms import Bought, VoteArms, add_vote_arms, bought_at, vote_arms_of

__all__ = [
    "Bought",
    "Cascade",
    "Holes",
    "Oracle",
    "RandomMix",
    "Report",
    "SampledArmReport",
    "SingleArm",
    "Step",
    "StepCallback",
    "VoteArms",
    "add_vote_arms",
    "aiq",
    "apgr",
    "bought_at",
    "cost_to_reach",
    "cpt",
    "expected_costs",
    "gap_closed",
    "grouped_kfold",
    "plot_frontier",
    "predict_cross_validated",
    "predict_holdout",
    "predict_saved",
    "price_table",
    "quality_at_cost",
    "random_mix_frontier",
    "simulate",
    "upper_frontier",
    "vote_arms_of",
]
