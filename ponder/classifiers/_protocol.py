"""The classifier extension point: from query texts to P(success) per arm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ponder.classifiers._scale import ScaleArm

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


@runtime_checkable
class SuccessClassifier(Protocol):
    """Anything that predicts, per query, how likely each arm is to answer it well."""

    def predict(
        self, texts: Sequence[str], arms: Sequence[str | ArmProfile] | None = None
    ) -> Prediction: ...
