"""The difficulty model shipped inside the package (see its DATACARD.md)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from ponder.classifiers._artifact import load_classifier
from ponder.classifiers._irt import DifficultyClassifier
from ponder.errors import ModelArtifactError

DEFAULT_MODEL_DIR = "models/default"


def default_model_path() -> Path:
    return Path(str(resources.files("ponder") / DEFAULT_MODEL_DIR))


@lru_cache(maxsize=1)
def load_default_classifier() -> DifficultyClassifier:
    path = default_model_path()
    if not (path / "manifest.json").is_file():
        raise ModelArtifactError(
            f"the default model is missing from {path}; reinstall ponder or pass --model DIR"
        )
    return load_classifier(path)
