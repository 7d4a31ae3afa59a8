"""Save and load a fitted classifier as a directory: a JSON manifest plus the booster text.

No pickle: a model directory is plain text a person can read and diff, it loads across
Python and library versions, and loading one runs no code from the file.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ponder._version import __version__
from ponder.classifiers._arm_linear import PerArmLinear
from ponder.classifiers._difficulty import ArmResidual, BoostedEasiness, LinearEasiness
from ponder.classifiers._featurize import FeaturizerSpec, build_featurizer
from ponder.classifiers._interaction import LowRankInteraction
from ponder.classifiers._irt import DifficultyClassifier
from ponder.classifiers._lexical import LexicalHead
from ponder.classifiers._prior import ArmPrior
from ponder.classifiers._protocol import ArmProfile
from ponder.classifiers._reasoning import reasoning_strength
from ponder.classifiers._scale import AbsoluteScale
from ponder.errors import ModelArtifactError
from ponder.policies import HullGuard, SamplingPolicy

FORMAT = "ponder-classifier"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BOOSTER = "booster.txt"
RESIDUAL = "residual.txt"
SCALE = "scale.json"
# Featurized at save and again at load: a model trained on one embedding must not silently
# read features from another (say, a rebuilt packaged embedding).
_PROBE = "Probe: is 17 a prime number? Write a short Python function to check."


def _probe(clf: DifficultyClassifier) -> list[float]:
    return [round(float(v), 4) for v in clf.featurizer_.transform([_PROBE])[0]]


def save_classifier(
    clf: DifficultyClassifier, path: str | Path, *, sources: list[str] | None = None
) -> Path:
    """Write a fitted classifier to the directory ``path`` (made if missing) and return it.

    The directory holds ``manifest.json`` (parameters, arm profiles, prior, metrics,
    sampling policies, and a probe of the featurizer's output) and LightGBM's text files,
    each with its digest in the manifest, so :func:`load_classifier` can refuse a file
    that was truncated or edited. ``sources`` (e.g. the outcome files) are recorded
    beside the training data's hash. Raises :class:`NotFittedError` for an unfitted one.
    """
    clf._check_fitted()
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ponder_version": __version__,
        "backend": clf.backend,
        "params": clf.params_,
        "featurizer": clf.featurizer_spec_.model_dump(mode="json"),
        "featurizer_probe": _probe(clf),
        "arms": [
            {
                "name": a.name,
                "ability": a.ability,
                "discrimination": a.discrimination,
                "reasoning": a.reasoning,
            }
            for a in clf.arms_
        ],
        "prior": {
            "intercept": clf.prior_.intercept,
            "slope": clf.prior_.slope,
            "discrimination": clf.prior_.discrimination,
            "n_arms": clf.prior_.n_arms,
            "reasoning": clf.prior_.reasoning,
        },
        "easiness": clf.easiness_.state(),
        "arm_linear": (
            clf.arm_model_.state() if isinstance(clf.arm_model_, PerArmLinear) else None
        ),
        "arm_lowrank": (
            clf.arm_model_.state() if isinstance(clf.arm_model_, LowRankInteraction) else None
        ),
        "arm_lexical": (
            clf.arm_model_.state() if isinstance(clf.arm_model_, LexicalHead) else None
        ),
        "reasoning_head": None if clf.reasoning_ is None else clf.reasoning_.state(),
        # Legacy trees grew from per-arm base rates (kept here); current ones from the
        # shared logit (null).
        "arm_base": (
            clf.arm_model_.base_.tolist()
            if isinstance(clf.arm_model_, ArmResidual) and clf.arm_model_.base_.size
            else None
        ),
        "training": {"data_hash": clf.data_hash_, "sources": sources or []},
        "metrics": clf.metrics_,
        # Calibrated sampling per arm with recorded samples (absent from older models,
        # whose adaptive arms keep the Beta rule).
        "sampling": {arm: policy.to_state() for arm, policy in clf.sampling_.items()},
        # Where routing fell below the single-arm hull out of fold (absent from older
        # models, which route everywhere).
        "hull_guard": None if clf.hull_guard_ is None else clf.hull_guard_.to_state(),
    }
    files: dict[str, str] = {}
    if isinstance(clf.arm_model_, ArmResidual):
        files[RESIDUAL] = _write(out / RESIDUAL, clf.arm_model_.model_string())
    elif (out / RESIDUAL).exists():
        (out / RESIDUAL).unlink()
    if isinstance(clf.easiness_, BoostedEasiness):
        files[BOOSTER] = _write(out / BOOSTER, clf.easiness_.model_string())
    # The absolute scale in a file of its own, compact: its item traits are thousands of
    # numbers that would bury the manifest a person reads.
    if clf.scale_ is not None:
        files[SCALE] = _write(out / SCALE, json.dumps(clf.scale_.state(), separators=(",", ":")))
    elif (out / SCALE).exists():
        (out / SCALE).unlink()
    manifest["files"] = files
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out


def _write(path: Path, text: str) -> str:
    data = text.encode("utf-8")
    path.write_bytes(data)
    return "sha256:" + hashlib.sha256(data).hexdigest()


_TREE_SIZES = re.compile(rb"^tree_sizes=([0-9 ]*)$", re.M)


def _model_text(path: Path, digest: Any) -> str:
    """A LightGBM model file's text, checked before LightGBM sees it.

    LightGBM trusts the ``tree_sizes`` in the header and reads that many bytes per tree,
    past the end of a truncated file, and it aborts on a garbled tree: either way the whole
    process dies (a segmentation fault, or ``terminate called``) instead of raising. So the
    trees must add up to the header's sizes, and the file must match the digest the
    manifest recorded when it was saved (models saved before digests were kept have none).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelArtifactError(f"{path}: cannot read ({exc.strerror or exc})") from None
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if isinstance(digest, str) and digest.startswith("sha256:") and actual != digest:
        raise ModelArtifactError(
            f"{path}: does not match the digest in {MANIFEST} (corrupt or edited); "
            "restore it or retrain with `ponder train`"
        )
    if data.strip():
        sizes = _TREE_SIZES.search(data)
        total = sum(int(x) for x in sizes.group(1).split()) if sizes else 0
        first = data.find(b"\nTree=") + 1 if total else data.find(b"end of trees")
        if sizes is None or first <= 0 or not data.startswith(b"end of trees", first + total):
            raise ModelArtifactError(
                f"{path}: truncated or corrupt (its trees do not add up to the sizes in its "
                "header); restore it or retrain with `ponder train`"
            )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelArtifactError(f"{path}: not UTF-8 text") from None


def _checked_text(path: Path, digest: Any) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelArtifactError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ModelArtifactError(
            f"{path}: does not match the digest in {MANIFEST} (corrupt or edited); "
            "restore it or retrain with `ponder train`"
        )
    return data.decode("utf-8")


def load_classifier(path: str | Path) -> DifficultyClassifier:
    """Read a classifier written by :func:`save_classifier` (``ponder train``), fitted and
    ready to predict.

    Everything is checked before use: the manifest's format and version, each model
    file's digest and tree sizes (LightGBM would crash the process on a corrupt file
    rather than raise), and that the featurizer still gives the features the model was
    trained on. Any failure raises :class:`~ponder.errors.ModelArtifactError` saying what
    to do; no code in the directory is run.
    """
    root = Path(path)
    mfile = root / MANIFEST
    if not mfile.is_file():
        raise ModelArtifactError(f"{root}: not a ponder model directory (no {MANIFEST})")
    try:
        m = json.loads(mfile.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelArtifactError(f"{mfile}: unreadable manifest ({exc})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ModelArtifactError(f"{mfile}: not a {FORMAT} manifest")
    if m.get("format_version") != FORMAT_VERSION:
        raise ModelArtifactError(
            f"{mfile}: format version {m.get('format_version')} is not supported "
            f"(this ponder reads version {FORMAT_VERSION}); retrain with `ponder train`"
        )
    files: dict[str, Any] = m["files"] if isinstance(m.get("files"), dict) else {}
    try:
        clf = DifficultyClassifier(backend=m["backend"])
        clf.featurizer_spec_ = FeaturizerSpec.model_validate(m["featurizer"])
        clf.params_ = dict(m["params"])
        clf.arms_ = tuple(
            ArmProfile(
                a["name"],
                float(a["ability"]),
                float(a["discrimination"]),
                "trained",
                a["name"],
                reasoning=float(a.get("reasoning", reasoning_strength(a["name"]))),
            )
            for a in m["arms"]
        )
        clf.prior_ = ArmPrior(**m["prior"])
        clf.metrics_ = dict(m.get("metrics", {}))
        sampling = m.get("sampling") or {}
        if not isinstance(sampling, dict):
            raise TypeError("sampling must be a mapping of arm to policy")
        clf.sampling_ = {str(a): SamplingPolicy.from_state(st) for a, st in sampling.items()}
        guard = m.get("hull_guard")
        clf.hull_guard_ = None if guard is None else HullGuard.from_state(guard)
        clf.data_hash_ = str(m["training"]["data_hash"])
        if m["backend"] == "lightgbm":
            booster = root / BOOSTER
            if not booster.is_file():
                raise ModelArtifactError(f"{root}: {BOOSTER} is missing")
            clf.easiness_ = BoostedEasiness.from_state(
                m["easiness"], _model_text(booster, files.get(BOOSTER))
            )
        else:
            clf.easiness_ = LinearEasiness.from_state(m["easiness"])
        head = m.get("reasoning_head")
        clf.reasoning_ = None if head is None else LowRankInteraction.from_state(head)
        kind = clf.params_.get("arm_model", "shared")
        clf.arm_shrink_ = float(clf.params_.get("arm_shrink", 1.0))
        if kind == "trees":
            residual = root / RESIDUAL
            if not residual.is_file():
                raise ModelArtifactError(f"{root}: {RESIDUAL} is missing")
            trees = ArmResidual.from_string(_model_text(residual, files.get(RESIDUAL)))
            base = m.get("arm_base")
            trees.base_ = np.zeros(0) if base is None else np.asarray(base, dtype=np.float64)
            clf.arm_model_ = trees
        elif kind == "linear":
            clf.arm_model_ = PerArmLinear.from_state(m["arm_linear"])
        elif kind == "lowrank":
            clf.arm_model_ = LowRankInteraction.from_state(m["arm_lowrank"])
        elif kind == "lexical":
            clf.arm_model_ = LexicalHead.from_state(m["arm_lexical"])
        elif kind == "shared":
            clf.arm_model_ = None
        else:
            raise ModelArtifactError(f"{mfile}: unknown arm model '{kind}'")
        if SCALE in files:
            text = _checked_text(root / SCALE, files[SCALE])
            clf.attach_scale(AbsoluteScale.from_state(json.loads(text)))
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        if isinstance(exc, ModelArtifactError):
            raise
        raise ModelArtifactError(f"{mfile}: malformed manifest ({exc!r})") from None
    except Exception as exc:  # LightGBMError, without importing lightgbm to name it
        if not type(exc).__module__.startswith("lightgbm"):
            raise
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelArtifactError(f"{root}: LightGBM cannot read the model ({reason})") from None
    clf.featurizer_ = build_featurizer(clf.featurizer_spec_)
    expected = m.get("featurizer_probe")
    if expected is not None:
        got = _probe(clf)
        if (
            len(got) != len(expected)
            or max(abs(a - b) for a, b in zip(got, expected, strict=True)) > 2e-3
        ):
            raise ModelArtifactError(
                f"{root}: the featurizer gives different features from the ones this model was "
                "trained on (was the packaged embedding rebuilt?); retrain with `ponder train`"
            )
    return clf
