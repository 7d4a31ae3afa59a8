"""One regularised logistic regression per trained arm, on the query's features.

The opposite bet to the shared difficulty: nothing is shared, so a cue that matters for one
arm only (longer maths problems defeat the small model, not the large one) is free to show.
With little data per arm that bet can lose; the classifier keeps it only when it wins out of
fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ponder.classifiers._difficulty import FloatArray, IntArray, Observations, fit_soft_logistic


@dataclass
class PerArmLinear:
    C: float = 0.01
    mean_: FloatArray = field(default_factory=lambda: np.zeros(0))
    scale_: FloatArray = field(default_factory=lambda: np.ones(0))
    coef_: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    intercept_: FloatArray = field(default_factory=lambda: np.zeros(0))

    def fit(self, X: npt.NDArray[np.float32], obs: Observations) -> PerArmLinear:
        Xd = X.astype(np.float64)
        self.mean_ = Xd.mean(axis=0)
        self.scale_ = Xd.std(axis=0) + 1e-6
        Xs = (Xd - self.mean_) / self.scale_
        self.coef_ = np.zeros((obs.n_arms, X.shape[1]))
        self.intercept_ = np.zeros(obs.n_arms)
        base = obs.arm_logit_means()
        for j in range(obs.n_arms):
            m = obs.aj == j
            y = obs.y[m]
            if not ((y > 0).any() and (y < 1).any()):
                self.intercept_[j] = base[j]  # one outcome only: nothing to learn but the rate
                continue
            self.coef_[j], self.intercept_[j] = fit_soft_logistic(Xs[obs.qi[m]], y, self.C)
        return self

    def row_logits(self, X: npt.NDArray[np.float32], obs: Observations) -> FloatArray:
        """The logit of each observation's own (query, arm) pair."""
        Xs = (X[obs.qi].astype(np.float64) - self.mean_) / self.scale_
        out: FloatArray = np.einsum("ij,ij->i", Xs, self.coef_[obs.aj]) + self.intercept_[obs.aj]
        return out

    def logits(self, X: npt.NDArray[np.float32], arm_ids: IntArray) -> FloatArray:
        """Logits for trained arms ``arm_ids`` (columns where the id is -1 are 0)."""
        ids = np.maximum(arm_ids, 0)
        Xs = (X.astype(np.float64) - self.mean_) / self.scale_
        out: FloatArray = Xs @ self.coef_[ids].T + self.intercept_[ids][None, :]
        out[:, arm_ids < 0] = 0.0
        return out

    def state(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_.tolist(),
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> PerArmLinear:
        return cls(
            C=float(s["C"]),
            mean_=np.asarray(s["mean"], dtype=np.float64),
            scale_=np.asarray(s["scale"], dtype=np.float64),
            coef_=np.asarray(s["coef"], dtype=np.float64),
            intercept_=np.asarray(s["intercept"], dtype=np.float64),
        )
