"""Difficulty classifiers: from a query's text to P(success) for each arm."""

from ponder.classifiers._arm_keys import arm_key
from ponder.classifiers._artifact import load_classifier, save_classifier
from ponder.classifiers._cold_start import PublishedScoreError, place_arm
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
from ponder.classifiers._irt import FOLDS_BY, DifficultyClassifier, NotFittedError
from ponder.classifiers._prior import ArmPrior, table_arm_prices
from ponder.classifiers._protocol import (
    ArmProfile,
    Prediction,
    SuccessClassifier,
    check_prediction,
)
from ponder.classifiers._reasoning import reasoning_strength
from ponder.classifiers._scale import AbsoluteScale, ScaleArm
from ponder.classifiers._scale_data import SCALE_SOURCES, fit_scale

__all__ = [
    "DEFAULT_MODEL_DIR",
    "FOLDS_BY",
    "SCALE_SOURCES",
    "AbsoluteScale",
    "ArmPrior",
    "ArmProfile",
    "Concat",
    "DifficultyClassifier",
    "Featurizer",
    "FeaturizerSpec",
    "HashedNgrams",
    "NotFittedError",
    "Prediction",
    "PublishedScoreError",
    "ScaleArm",
    "StaticEmbedding",
    "SuccessClassifier",
    "TextStats",
    "arm_key",
    "build_featurizer",
    "check_prediction",
    "default_featurizer_spec",
    "fit_scale",
    "load_classifier",
    "load_default_classifier",
    "place_arm",
    "reasoning_strength",
    "save_classifier",
    "table_arm_prices",
]
