"""The packaged model's sampling policy for any arm is what ``tools/attach_sampling.py``
calibrates from the permissive recorded samples (skipped without ``../shared/data``), and it
gives up nothing against the vote over every sample where it was calibrated."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from ponder.classifiers import load_default_classifier
from ponder.policies import ANY_ARM

ROOT = Path(__file__).resolve().parents[2]


def _shared() -> Path:
    env = os.environ.get("PONDER_SHARED")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def test_the_shipped_policy_is_rebuilt_from_the_permissive_samples() -> None:
    folder = _shared() / "qwen-math-sampled"
    if not folder.is_dir():
        pytest.skip(f"shared data not found at {folder}")
    spec = importlib.util.spec_from_file_location(
        "attach_sampling", ROOT / "tools" / "attach_sampling.py"
    )
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rebuilt = tool.build(_shared())
    shipped = load_default_classifier().sampling_[ANY_ARM]
    assert rebuilt.to_state() == shipped.to_state()  # deterministic: the same figures


def test_the_shipped_policy_keeps_the_votes_accuracy_where_it_was_calibrated() -> None:
    cal = load_default_classifier().sampling_[ANY_ARM].calibration
    assert cal is not None
    assert cal.accuracy >= cal.vote_accuracy - cal.within
    assert cal.mean_samples < cal.max_samples  # and it draws fewer
