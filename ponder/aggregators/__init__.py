"""Combining several samples of one arm into one answer: extraction, voting, early stopping."""

from ponder.aggregators._adaptive import DEFAULT_RULE, StoppingRule, adaptive_vote
from ponder.aggregators._extract import (
    AnswerEquality,
    AnswerExtractor,
    answers_equal,
    extract_answer,
    normalize_answer,
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
    "Clusters",
    "FirstAnswer",
    "MajorityVote",
    "StoppingRule",
    "adaptive_vote",
    "answers_equal",
    "extract_answer",
    "normalize_answer",
]
