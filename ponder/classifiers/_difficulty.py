"""Learners of the shared latent easiness f(x) = -difficulty(x) of a query.

Both fit a Rasch-style model on stacked (query, arm) observations,
``logit P(success) = theta_arm + f(x_query)``, so every arm's outcomes inform one difficulty
function. That is what lets the model speak about arms it was never trained on: only their
ability is missing, not the query's difficulty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ponder.classifiers._single_row import raw_score_one

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_EPS = 1e-4


@dataclass(frozen=True)
class Observations:
    """Stacked outcomes: query row ``qi[r]`` answered by arm ``aj[r]`` scored ``y[r]`` in [0, 1]."""

    qi: IntArray
    aj: IntArray
    y: FloatArray
    n_arms: int

    def subset(self, mask: npt.NDArray[np.bool_]) -> Observations:
        return Observations(self.qi[mask], self.aj[mask], self.y[mask], self.n_arms)

    def arm_logit_means(self) -> FloatArray:
        """Per-arm logit of the mean score: a starting ability that needs no model."""
        sums = np.bincount(self.aj, weights=self.y, minlength=self.n_arms)
        counts = np.bincount(self.aj, minlength=self.n_arms)
        mean = np.clip((sums + 0.5) / (counts + 1.0), 0.02, 0.98)
        return np.log(mean / (1 - mean))


def stack_scores(scores: FloatArray) -> Observations:
    qi, aj = np.nonzero(~np.isnan(scores))
    return Observations(qi.astype(np.int64), aj.astype(np.int64), scores[qi, aj], scores.shape[1])


def soft_log_loss(y: FloatArray, p: FloatArray) -> float:
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
    return out


def fit_soft_logistic(
    Z: npt.NDArray[np.float64], y: FloatArray, C: float, *, fit_intercept: bool = True
) -> tuple[FloatArray, float]:
    """Logistic regression on scores in [0, 1]; returns (coefficients, intercept).

    sklearn's LogisticRegression takes no soft labels, so a fractional score s is fed as a
    positive row of weight s and a negative row of weight 1 - s: the same likelihood.
    """
    from sklearn.linear_model import LogisticRegression

    pos, neg = y > 0, y < 1
    Zs = np.vstack([Z[pos], Z[neg]])
    labels = np.concatenate([np.ones(pos.sum()), np.zeros(neg.sum())])
    weights = np.concatenate([y[pos], 1 - y[neg]])
    lr = LogisticRegression(C=C, fit_intercept=fit_intercept, max_iter=2000)
    lr.fit(Zs, labels, sample_weight=weights)
    intercept = float(lr.intercept_[0]) if fit_intercept else 0.0
    return np.asarray(lr.coef_.ravel(), dtype=np.float64), intercept


def lgb_params(**overrides: Any) -> dict[str, Any]:
    """LightGBM settings shared by both boosters: soft labels (``cross_entropy``), bagging,
    and deterministic single-thread training so a rebuild gives the same model."""
    params: dict[str, Any] = {
        "objective": "cross_entropy",
        "feature_fraction": 0.7,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        # One thread: with two, OpenMP threads spin against any other busy process on a
        # 2-core machine (100 rounds on 6,000 rows: 1.1 s with one thread, 93 s with two,
        # side by side on a loaded machine).
        "num_threads": 1,
        "verbose": -1,
        "deterministic": True,
    }
    params.update(overrides)
    return params


class EasinessModel(Protocol):
    def fit(
        self, X: npt.NDArray[np.float32], obs: Observations, valid: tuple[Any, Observations] | None
    ) -> EasinessModel: ...

    def latent(self, X: npt.NDArray[np.float32]) -> FloatArray: ...

    def arm_offsets(self) -> FloatArray: ...

    def state(self) -> dict[str, Any]: ...


@dataclass
class LinearEasiness:
    """Logistic regression on [standardised features, arm one-hot]: a linear Rasch model."""

    C: float = 0.3
    mean_: FloatArray = field(default_factory=lambda: np.zeros(0))
    scale_: FloatArray = field(default_factory=lambda: np.ones(0))
    coef_: FloatArray = field(default_factory=lambda: np.zeros(0))
    theta_: FloatArray = field(default_factory=lambda: np.zeros(0))

    def fit(
        self, X: npt.NDArray[np.float32], obs: Observations, valid: tuple[Any, Observations] | None
    ) -> LinearEasiness:
        Xd = X.astype(np.float64)
        self.mean_ = Xd.mean(axis=0)
        self.scale_ = Xd.std(axis=0) + 1e-6
        Xs = (Xd - self.mean_) / self.scale_
        # Arm columns are scaled up so the L2 penalty barely shrinks the abilities.
        arm_cols = np.zeros((len(obs.qi), obs.n_arms))
        arm_cols[np.arange(len(obs.qi)), obs.aj] = 10.0
        Z = np.hstack([Xs[obs.qi], arm_cols])
        coef, _ = fit_soft_logistic(Z, obs.y, self.C, fit_intercept=False)
        self.coef_ = coef[: X.shape[1]]
        self.theta_ = coef[X.shape[1] :] * 10.0
        return self

    def latent(self, X: npt.NDArray[np.float32]) -> FloatArray:
        out: FloatArray = ((X.astype(np.float64) - self.mean_) / self.scale_) @ self.coef_
        return out

    def arm_offsets(self) -> FloatArray:
        return self.theta_

    def state(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(),
            "theta": self.theta_.tolist(),
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> LinearEasiness:
        return cls(
            C=float(s["C"]),
            mean_=np.asarray(s["mean"]),
            scale_=np.asarray(s["scale"]),
            coef_=np.asarray(s["coef"]),
            theta_=np.asarray(s["theta"]),
        )


@dataclass
class BoostedEasiness:
    """LightGBM learns f(x) with each row's arm ability as a fixed offset (``init_score``).

    The trees see only query features, so what they learn is shared across arms; the
    ``cross_entropy`` objective takes fractional scores as they are.
    """

    n_rounds: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 10
    feature_fraction: float = 0.7
    lambda_l2: float = 1.0
    early_stopping: int = 40
    seed: int = 0
    best_iteration_: int = 0
    theta_: FloatArray = field(default_factory=lambda: np.zeros(0))
    booster_: Any = None

    def _params(self) -> dict[str, Any]:
        return lgb_params(
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_data_in_leaf=self.min_data_in_leaf,
            feature_fraction=self.feature_fraction,
            lambda_l2=self.lambda_l2,
            seed=self.seed,
        )

    def fit(
        self, X: npt.NDArray[np.float32], obs: Observations, valid: tuple[Any, Observations] | None
    ) -> BoostedEasiness:
        """One row per *query*, not per (query, arm) pair: the trees see only the query's
        features, so a query's arms can be summed into one gradient and one hessian (the
        custom objective below) and each round costs a fraction of a stacked fit."""
        import lightgbm as lgb

        self.theta_ = obs.arm_logit_means()
        theta = self.theta_
        rows, local = np.unique(obs.qi, return_inverse=True)
        train = lgb.Dataset(X[rows], free_raw_data=True)

        def objective(f: Any, _data: Any) -> tuple[FloatArray, FloatArray]:
            p = sigmoid(theta[obs.aj] + np.asarray(f)[local])
            grad = np.bincount(local, weights=p - obs.y, minlength=len(rows)).astype(np.float64)
            hess = np.bincount(local, weights=p * (1 - p), minlength=len(rows)).astype(np.float64)
            return grad, np.maximum(hess, 1e-6)

        params = {**self._params(), "objective": objective, "metric": "None"}
        callbacks: list[Any] = []
        valid_sets: list[Any] = []
        feval = None
        if valid is not None:
            Xv, vobs = valid
            vrows, vlocal = np.unique(vobs.qi, return_inverse=True)
            valid_sets.append(lgb.Dataset(Xv[vrows], reference=train))

            def feval(f: Any, _data: Any) -> tuple[str, float, bool]:
                p = sigmoid(theta[vobs.aj] + np.asarray(f)[vlocal])
                return "soft_log_loss", soft_log_loss(vobs.y, p), False

            callbacks.append(lgb.early_stopping(self.early_stopping, verbose=False))
        self.booster_ = lgb.train(
            params,
            train,
            num_boost_round=self.n_rounds,
            valid_sets=valid_sets or None,
            feval=feval,
            callbacks=callbacks,
        )
        self.best_iteration_ = int(
            self.booster_.best_iteration or self.booster_.current_iteration()
        )
        return self

    def latent(self, X: npt.NDArray[np.float32]) -> FloatArray:
        if X.shape[0] == 1:  # a routing decision: LightGBM's single-row path, if it has one
            one = raw_score_one(self.booster_, X[0], self.best_iteration_)
            if one is not None:
                return np.array([one])
        out: FloatArray = self.booster_.predict(
            X, raw_score=True, num_iteration=self.best_iteration_ or None, num_threads=1
        )
        return np.asarray(out, dtype=np.float64)

    def arm_offsets(self) -> FloatArray:
        return self.theta_

    def state(self) -> dict[str, Any]:
        return {
            "n_rounds": self.best_iteration_,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "theta": self.theta_.tolist(),
        }

    def model_string(self) -> str:
        return str(self.booster_.model_to_string(num_iteration=self.best_iteration_ or None))

    @classmethod
    def from_state(cls, s: dict[str, Any], model_string: str) -> BoostedEasiness:
        import lightgbm as lgb

        m = cls(
            n_rounds=int(s["n_rounds"]),
            learning_rate=float(s["learning_rate"]),
            num_leaves=int(s["num_leaves"]),
            theta_=np.asarray(s["theta"]),
        )
        m.booster_ = lgb.Booster(model_str=model_string)
        m.best_iteration_ = 0
        return m


@dataclass
class ArmResidual:
    """Boosted trees that see the arm as a categorical feature beside the query's features.

    One difficulty cannot say that one model is good at code and another at arithmetic; these
    trees can. They grow from the shared model's logit (``init_score``), so they only have to
    learn what it misses: splits on the arm learn its specialities. (Models saved before
    that started from each arm's base rate, kept in ``base_``.) Early stopping on held-out
    folds decides how many rounds the data supports.
    """

    max_rounds: int = 1500
    learning_rate: float = 0.08
    num_leaves: int = 15
    min_data_in_leaf: int = 40
    early_stopping: int = 60
    seed: int = 0
    n_rounds_: int = 0
    booster_: Any = None
    base_: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Legacy models only: each arm's starting logit (its base rate in the training data)."""

    def _params(self) -> dict[str, Any]:
        return lgb_params(
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_data_in_leaf=self.min_data_in_leaf,
            cat_smooth=10.0,
            seed=self.seed,
        )

    @staticmethod
    def design(X: npt.NDArray[np.float32], qi: IntArray, aj: IntArray) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = np.hstack([X[qi], aj[:, None].astype(np.float32)]).astype(
            np.float32
        )
        return out

    def _dataset(
        self, X: npt.NDArray[np.float32], obs: Observations, base: FloatArray, ref: Any = None
    ) -> Any:
        import lightgbm as lgb

        cat = [X.shape[1]]
        return lgb.Dataset(
            self.design(X, obs.qi, obs.aj),
            label=obs.y,
            init_score=base,
            categorical_feature=cat,
            reference=ref,
            free_raw_data=True,
        )

    def best_rounds(
        self,
        X: npt.NDArray[np.float32],
        train: Observations,
        train_base: FloatArray,
        valid: Observations,
        valid_base: FloatArray,
    ) -> tuple[int, FloatArray]:
        """Rounds that minimise the held-out loss, and the held-out logits at that round."""
        import lightgbm as lgb

        dtrain = self._dataset(X, train, train_base)
        dvalid = self._dataset(X, valid, valid_base, ref=dtrain)
        booster = lgb.train(
            self._params(),
            dtrain,
            num_boost_round=self.max_rounds,
            valid_sets=[dvalid],
            callbacks=[lgb.early_stopping(self.early_stopping, verbose=False)],
        )
        best = int(booster.best_iteration or 0)
        if best == 0:
            return 0, valid_base.copy()
        r = booster.predict(self.design(X, valid.qi, valid.aj), raw_score=True, num_iteration=best)
        return best, valid_base + np.asarray(r, dtype=np.float64)

    def fit(
        self, X: npt.NDArray[np.float32], obs: Observations, base: FloatArray, n_rounds: int
    ) -> ArmResidual:
        """``base`` is each observation's starting logit (the shared model's)."""
        import lightgbm as lgb

        self.n_rounds_ = n_rounds
        if n_rounds > 0:
            self.booster_ = lgb.train(
                self._params(), self._dataset(X, obs, base), num_boost_round=n_rounds
            )
        return self

    def logits(
        self, X: npt.NDArray[np.float32], arm_ids: IntArray, shared: FloatArray
    ) -> FloatArray:
        """Full logits for trained arms ``arm_ids`` given the shared model's logits
        (n, len(arm_ids)); columns where the id is -1 keep the shared logit."""
        if self.base_.size:  # a legacy model: grown from base rates, not the shared logit
            base = np.where(arm_ids >= 0, self.base_[np.maximum(arm_ids, 0)], 0.0)
            start = np.where(arm_ids[None, :] >= 0, base[None, :], shared)
        else:
            start = shared
        out: FloatArray = start + self.correction(X, arm_ids)
        return out

    def correction(self, X: npt.NDArray[np.float32], arm_ids: IntArray) -> FloatArray:
        """Logit corrections, shape (n_queries, len(arm_ids)); 0 where ``arm_ids`` is -1."""
        n, k = X.shape[0], len(arm_ids)
        out = np.zeros((n, k))
        known = np.flatnonzero(arm_ids >= 0)
        if self.booster_ is None or len(known) == 0:
            return out
        qi = np.repeat(np.arange(n), len(known))
        aj = np.tile(arm_ids[known], n)
        r = self.booster_.predict(self.design(X, qi, aj), raw_score=True, num_threads=1)
        out[:, known] = np.asarray(r).reshape(n, len(known))
        return out

    def model_string(self) -> str:
        return "" if self.booster_ is None else str(self.booster_.model_to_string())

    @classmethod
    def from_string(cls, text: str) -> ArmResidual:
        import lightgbm as lgb

        m = cls()
        if text.strip():
            m.booster_ = lgb.Booster(model_str=text)
            m.n_rounds_ = int(m.booster_.current_iteration())
        return m
