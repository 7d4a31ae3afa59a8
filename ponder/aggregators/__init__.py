"""Combining several samples of one arm into one answer: extraction, voting, early stopping."""

from ponder.aggregators._adaptive import DEFAULT_RULE, StoppingRule, adaptive_vote
from ponder.aggregators._extract import (
    AnswerEquality,
    AnswerExtractor,
    answers_equal,
    extract_answer,
    normalize_answer,
)
from ponder.aggregators._stopping import (
    CannotBeOvertaken,
    DirichletStop,
    LeadBy,
    SamplePlan,
    StopRule,
    cannot_be_overtaken,
    correct_answer_posterior,
    lead,
    leader_win_probability,
    next_draw,
)
from ponder.aggregators._vote import (
    Aggregate,
    Aggregator,
    BestOfN,
    Clusters,
    FirstAnswer,
    MajorityVote,
)

__all__ = [
    "DEFAULT_RULE",
    "Aggregate",
    "Aggregator",
    "AnswerEquality",
    "AnswerExtractor",
    "BestOfN",
    "CannotBeOvertaken",
    "Clusters",
    "DirichletStop",
    "FirstAnswer",
    "LeadBy",
    "MajorityVote",
    "SamplePlan",
    "StopRule",
    "StoppingRule",
    "adaptive_vote",
    "answers_equal",
    "cannot_be_overtaken",
    "correct_answer_posterior",
    "extract_answer",
    "lead",
    "leader_win_probability",
    "next_draw",
    "normalize_answer",
]
