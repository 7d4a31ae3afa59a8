"""Replay outcome tables through policies: cost/quality frontiers and the metrics on them."""

from ponder.simulate._baselines import Cascade, Oracle, RandomMix, SingleArm, random_mix_frontier
from ponder.simulate._evaluate import price_table
from ponder.simulate._metrics import (
    aiq,
    apgr,
    cost_to_reach,
    cpt,
    gap_closed,
    quality_at_cost,
    upper_frontier,
)
from ponder.simulate._report import Report
from ponder.simulate._simulate import simulate
from ponder.simulate._splits import grouped_kfold

__all__ = [
    "Cascade",
    "Oracle",
    "RandomMix",
    "Report",
    "SingleArm",
    "aiq",
    "apgr",
    "cost_to_reach",
    "cpt",
    "gap_closed",
    "grouped_kfold",
    "price_table",
    "quality_at_cost",
    "random_mix_frontier",
    "simulate",
    "upper_frontier",
]
