"""Between-arm terms: what makes arm B beat arm A on *this* query.

With one shared difficulty every arm's predicted success rises and falls together, so the
router can trade difficulty against price but can never say that the reasoning model pays
on this puzzle and not on that chat request. This model adds, on top of the shared logit
``z`` (kept as a fixed offset, so what it learned is not relearned), a low-rank interaction
between arms and query features, as matrix-factorisation routers do::

    logit[i, j] = z[i, j] + c_j + u_j . (W x_i)

``W x`` (rank ``R``) holds a few query traits; ``u_j`` says how much each trait helps arm
``j``. The first trait is anchored to the arms' *reasoning strength* ``s_j`` (1 for a model
that thinks before answering, 0 for one that does not): ``u_j[0]`` is shrunk towards
``s_j`` rather than towards 0, so that trait is learned as *how much this query gains from
reasoning*, and an arm the model never saw can use it from its reasoning strength alone.
Where the training arms do not differ in reasoning strength the anchor is all zeros and the
trait is as free as the others.

Fitting is a small L-BFGS problem (scipy) on the stacked (query, arm) outcomes with soft
labels; ``l2`` penalises ``W``, ``u - anchor`` and ``c``. It is not convex in (u, W) jointly,
so a seeded start keeps refits identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ponder.classifiers._difficulty import FloatArray, IntArray, Observations, sigmoid

_EPS = 1e-6


@dataclass
class LowRankInteraction:
    rank: int = 4
    l2: float = 1e-3
    max_iter: int = 300
    seed: int = 0
    mean_: FloatArray = field(default_factory=lambda: np.zeros(0))
    scale_: FloatArray = field(default_factory=lambda: np.ones(0))
    W_: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    U_: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    c_: FloatArray = field(default_factory=lambda: np.zeros(0))
    anchor_: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    def fit(
        self,
        X: npt.NDArray[np.float32],
        obs: Observations,
        offset: FloatArray,
        strength: FloatArray | None = None,
    ) -> LowRankInteraction:
        """``offset`` is the shared logit of each observation; ``strength`` each arm's
        reasoning strength (None: no anchor)."""
        from scipy.optimize import minimize
        from threadpoolctl import threadpool_limits

        Xd = X.astype(np.float64)
        self.mean_ = Xd.mean(axis=0)
        self.scale_ = Xd.std(axis=0) + 1e-6
        Xs = (Xd - self.mean_) / self.scale_
        n_q, d = Xs.shape
        k, r = obs.n_arms, self.rank
        anchor = np.zeros((k, r))
        if strength is not None and np.ptp(strength) > 0:
            anchor[:, 0] = strength
        self.anchor_ = anchor
        rng = np.random.default_rng(self.seed)
        U0 = anchor + rng.normal(0.0, 0.1, size=(k, r))
        W0 = rng.normal(0.0, 0.01, size=(r, d))
        x0 = np.concatenate([W0.ravel(), U0.ravel(), np.zeros(k)])
        # Dense (query, arm) layout with a mask: every step is a matrix product, not a
        # gather over observations.
        n_obs = float(len(obs.y))
        mask = np.zeros((n_q, k))
        mask[obs.qi, obs.aj] = 1.0
        Y = np.zeros((n_q, k))
        Y[obs.qi, obs.aj] = obs.y
        Z0 = np.zeros((n_q, k))
        Z0[obs.qi, obs.aj] = offset

        def unpack(v: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
            W = v[: r * d].reshape(r, d)
            U = v[r * d : r * d + k * r].reshape(k, r)
            return W, U, v[r * d + k * r :]

        def loss_grad(v: FloatArray) -> tuple[float, FloatArray]:
            W, U, c = unpack(v)
            H = Xs @ W.T  # (n_q, r)
            p = np.clip(sigmoid(Z0 + c[None, :] + H @ U.T), _EPS, 1 - _EPS)
            nll = -np.sum(mask * (Y * np.log(p) + (1 - Y) * np.log(1 - p))) / n_obs
            dU_anchor = U - anchor
            pen = self.l2 * (np.sum(W * W) + np.sum(dU_anchor * dU_anchor) + np.sum(c * c))
            G = mask * (p - Y) / n_obs  # d nll / d logit
            gc = G.sum(axis=0) + 2 * self.l2 * c
            gW = (G @ U).T @ Xs + 2 * self.l2 * W
            gU = G.T @ H + 2 * self.l2 * dU_anchor
            return float(nll + pen), np.concatenate([gW.ravel(), gU.ravel(), gc])

        # One BLAS thread: the products are small, and two threads spinning against any
        # other busy process made a fit six times slower on a 2-core machine.
        with threadpool_limits(1, "blas"):
            res = minimize(
                loss_grad, x0, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter}
            )
        self.W_, self.U_, self.c_ = unpack(np.asarray(res.x, dtype=np.float64))
        return self

    def traits(self, X: npt.NDArray[np.float32]) -> FloatArray:
        """The query traits ``W x``, shape (n, rank); column 0 is the reasoning need."""
        out: FloatArray = ((X.astype(np.float64) - self.mean_) / self.scale_) @ self.W_.T
        return out

    def row_terms(self, X: npt.NDArray[np.float32], obs: Observations) -> FloatArray:
        """The interaction term of each observation's own (query, arm) pair."""
        H = self.traits(X)
        out: FloatArray = self.c_[obs.aj] + np.einsum("ij,ij->i", self.U_[obs.aj], H[obs.qi])
        return out

    def terms(
        self,
        X: npt.NDArray[np.float32],
        arm_ids: IntArray,
        strength: FloatArray | None = None,
    ) -> FloatArray:
        """Interaction terms (n, len(arm_ids)). A trained arm (id >= 0) uses its own ``c``
        and ``u``; an unknown one (id -1) only the reasoning trait, weighted by its
        ``strength`` (0 when not given), as the anchor defines it."""
        H = self.traits(X)
        ids = np.maximum(arm_ids, 0)
        U = self.U_[ids].copy()
        c = self.c_[ids].copy()
        unknown = arm_ids < 0
        if unknown.any():
            s = np.zeros(len(arm_ids)) if strength is None else np.asarray(strength, float)
            U[unknown] = 0.0
            if np.ptp(self.anchor_[:, 0]) > 0:
                U[unknown, 0] = self.reasoning_gain(s[unknown])
            c[unknown] = 0.0
        out: FloatArray = H @ U.T + c[None, :]
        return out

    def reasoning_gain(self, strength: FloatArray) -> FloatArray:
        """The weight of the reasoning trait for arms of the given strength, read off the
        trained arms: a straight line through the non-reasoning arms' mean weight (at
        strength 0) and the reasoning arms' (at strength 1)."""
        s = self.anchor_[:, 0]
        u = self.U_[:, 0]
        lo = float(u[s <= 0.5].mean()) if (s <= 0.5).any() else 0.0
        hi = float(u[s > 0.5].mean()) if (s > 0.5).any() else 1.0
        out: FloatArray = lo + (hi - lo) * np.asarray(strength, dtype=np.float64)
        return out

    @property
    def has_reasoning_trait(self) -> bool:
        return bool(self.anchor_.size and np.ptp(self.anchor_[:, 0]) > 0)

    def reasoning_need(self, X: npt.NDArray[np.float32]) -> FloatArray | None:
        """Per query, the logit a full-strength reasoning arm gains over one that does not
        reason, from the reasoning trait alone (None without a reasoning trait)."""
        if not self.has_reasoning_trait:
            return None
        gain = self.reasoning_gain(np.array([0.0, 1.0]))
        out: FloatArray = self.traits(X)[:, 0] * float(gain[1] - gain[0])
        return out

    def state(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "l2": self.l2,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "W": self.W_.tolist(),
            "U": self.U_.tolist(),
            "c": self.c_.tolist(),
            "anchor": self.anchor_.tolist(),
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> LowRankInteraction:
        return cls(
            rank=int(s["rank"]),
            l2=float(s["l2"]),
            mean_=np.asarray(s["mean"], dtype=np.float64),
            scale_=np.asarray(s["scale"], dtype=np.float64),
            W_=np.asarray(s["W"], dtype=np.float64),
            U_=np.asarray(s["U"], dtype=np.float64),
            c_=np.asarray(s["c"], dtype=np.float64),
            anchor_=np.asarray(s["anchor"], dtype=np.float64),
        )
