"""Difficulty classifiers: from a query's text to P(success) for each arm."""

from ponder.classifiers._artifact import load_classifier, save_classifier
from ponder.classifiers._default import DEFAULT_MODEL_DIR, load_default_classifier
from ponder.classifiers._featurize import (
    Concat,
    Featurizer,
    FeaturizerSpec,
    HashedNgrams,
    StaticEmbedding,
    TextStats,
    build_featurizer,
    default_featurizer_spec,
)
from ponder.classifiers._irt import DifficultyClassifier, NotFittedError
from ponder.classifiers._prior import ArmPrior, table_arm_prices
from ponder.classifiers._protocol import (
    ArmProfile,
    Prediction,
    SuccessClassifier,
    check_prediction,
)
from ponder.classifiers._reasoning import reasoning_strength

__all__ = [
    "DEFAULT_MODEL_DIR",
    "ArmPrior",
    "ArmProfile",
    "Concat",
    "DifficultyClassifier",
    "Featurizer",
    "FeaturizerSpec",
    "HashedNgrams",
    "NotFittedError",
    "Prediction",
    "StaticEmbedding",
    "SuccessClassifier",
    "TextStats",
    "build_featurizer",
    "check_prediction",
    "default_featurizer_spec",
    "load_classifier",
    "load_default_classifier",
    "reasoning_strength",
    "save_classifier",
    "table_arm_prices",
]
