"""The classifier extension point: from query texts to P(success) per arm."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ponder.classifiers._scale import ScaleArm
from ponder.errors import ExtensionError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ArmProfile:
    """An arm as the item-response model sees it: P(success) = sigmoid(a * (ability - d)).

    ``source`` says where the numbers come from: ``trained`` (fitted on outcome rows of this
    arm), ``published`` (placed on the absolute scale by published benchmark scores, the
    model's own or the menu's), ``prior`` (predicted from its price before any log exists) or
    ``given`` (set by the user in the menu).
    """

    name: str
    ability: float
    discrimination: float
    source: str = "trained"
    residual_arm: str | None = None
    """The trained arm whose per-arm corrections apply (its own name, or the one it is like)."""
    reasoning: float = 0.0
    """How strongly the arm reasons before answering, 0-1 (see ``reasoning_strength``): what
    an arm without logs of its own gains on queries that need reasoning."""
    scale: ScaleArm | None = None
    """The arm on the absolute scale (knowledge and reasoning, from published scores): when
    set, its P(success) comes from the scale, not from ``ability`` and ``discrimination``."""


@dataclass(frozen=True)
class Prediction:
    """Predictions for ``n`` queries and the ``k`` arms asked about.

    ``difficulty`` is on the latent logit scale (higher = harder), shared by every arm;
    ``p_success[i, j]`` is the calibrated probability that arm ``j`` answers query ``i`` well.
    ``reasoning_need`` (when the model learned it) is how much more a reasoning arm's logit
    gains on the query than a non-reasoning one's: near 0 for a lookup or a chat request,
    large for a multi-step puzzle.
    """

    arms: tuple[ArmProfile, ...]
    difficulty: FloatArray
    p_success: FloatArray
    reasoning_need: FloatArray | None = None

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    @classmethod
    def from_probabilities(
        cls,
        p_success: npt.ArrayLike,
        arms: Sequence[str | ArmProfile],
        *,
        difficulty: npt.ArrayLike | None = None,
        reasoning_need: npt.ArrayLike | None = None,
    ) -> Prediction:
        """A prediction from plain probabilities, ``[n_queries, n_arms]`` in the order of
        ``arms`` (pass on the ``arms`` that ``predict`` was asked about).

        For a classifier that is not an item-response model (keywords, an LLM judge, a
        lookup table): arms given by name get a profile with no ability or discrimination
        (NaN, source ``classifier``). Without ``difficulty``, a query's difficulty is minus
        the logit of its mean P(success) over the arms, so a query every arm is likely to
        fail reads as hard, on the same scale as the packaged model's.
        """
        p = np.asarray(p_success, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != len(arms):
            raise ValueError(
                f"p_success has shape {p.shape}; expected (n_queries, {len(arms)}): "
                "one row per query, one column per arm"
            )
        profiles = tuple(
            a if isinstance(a, ArmProfile) else ArmProfile(str(a), math.nan, math.nan, "classifier")
            for a in arms
        )
        if difficulty is None:
            mean = np.clip(p.mean(axis=1), 1e-6, 1 - 1e-6) if p.shape[1] else np.full(len(p), 0.5)
            d = np.log((1 - mean) / mean)
        else:
            d = np.asarray(difficulty, dtype=np.float64)
        need = None if reasoning_need is None else np.asarray(reasoning_need, dtype=np.float64)
        return cls(profiles, d, p, need)


@runtime_checkable
class SuccessClassifier(Protocol):
    """Anything that predicts, per query, how likely each arm is to answer it well."""

    def predict(
        self, texts: Sequence[str], arms: Sequence[str | ArmProfile] | None = None
    ) -> Prediction: ...


def check_prediction(
    clf: object, pred: object, n_queries: int, arms: Sequence[str]
) -> Prediction:
    """``pred``, what ``clf.predict`` returned for ``n_queries`` texts and ``arms`` (by
    name, in the order asked), checked before anything uses it: a :class:`Prediction`
    whose P(success) is ``[n_queries, len(arms)]``, finite and within [0, 1], whose
    difficulty (and reasoning need, if any) has one finite value per query, and whose arms,
    when it names them, are the ones asked in that order.

    Raises :class:`~ponder.errors.ExtensionError` naming ``clf``'s class: a bad custom
    classifier is then found where it answered, not in a numpy error deep in the router.
    Returns the prediction with its arrays as float64.
    """

    def bad(message: str) -> ExtensionError:
        return ExtensionError(clf, "predict", message)

    if not isinstance(pred, Prediction):
        raise bad(
            f"returned {type(pred).__name__}, not a Prediction "
            "(build one from plain probabilities with Prediction.from_probabilities)"
        )
    k = len(arms)
    p = _floats(pred.p_success, "p_success", bad)
    if p.shape != (n_queries, k):
        raise bad(
            f"returned p_success of shape {p.shape}; expected ({n_queries}, {k}): one row "
            f"per query, one column per arm asked ({', '.join(arms)})"
        )
    # min and max carry NaN and infinity along, so two reductions check finite and in
    # range at once (this runs on every decision of a custom classifier; element-wise
    # masks cost several times more, and are only built to say where it went wrong).
    if p.size and not (p.min() >= 0.0 and p.max() <= 1.0):
        wrong = ~np.isfinite(p) | (p < 0) | (p > 1)
        i, j = (int(x) for x in np.argwhere(wrong)[0])
        raise bad(
            f"returned P(success) = {float(p[i, j])!r} for arm '{arms[j]}' on query {i}; "
            "a probability must be a finite number within [0, 1]"
        )
    if not isinstance(pred.arms, tuple) or not all(isinstance(a, ArmProfile) for a in pred.arms):
        raise bad("returned a Prediction whose arms are not a tuple of ArmProfile")
    names = tuple(a.name for a in pred.arms)
    if names and names != tuple(arms):
        raise bad(
            f"answered for arms {list(names)} but was asked about {list(arms)}, in that order"
        )
    d = _per_query(pred.difficulty, "difficulty", n_queries, bad)
    need = (
        None
        if pred.reasoning_need is None
        else _per_query(pred.reasoning_need, "reasoning_need", n_queries, bad)
    )
    if p is pred.p_success and d is pred.difficulty and need is pred.reasoning_need:
        return pred
    return dataclasses.replace(pred, p_success=p, difficulty=d, reasoning_need=need)


_Bad = Callable[[str], ExtensionError]


def _floats(value: object, what: str, bad: _Bad) -> FloatArray:
    try:
        out: FloatArray = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad(f"returned a {what} of {type(value).__name__}, not numbers") from None
    return out


def _per_query(value: object, what: str, n_queries: int, bad: _Bad) -> FloatArray:
    out = _floats(value, what, bad)
    if out.shape != (n_queries,):
        raise bad(f"returned a {what} of shape {out.shape}; expected ({n_queries},)")
    if not math.isfinite(float(out.sum())) and not np.isfinite(out).all():
        raise bad(f"returned a {what} that is not finite: {out.tolist()}")
    return out
