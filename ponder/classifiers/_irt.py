"""The difficulty classifier: a learned query difficulty shared by all arms, plus per-arm ability.

``P(arm j answers query x well) = sigmoid(a_j * (ability_j - difficulty(x)))``.

Fitting runs in two stages. A Rasch model (one slope for every arm) learns difficulty(x) from
all (query, arm) outcomes at once. Then, on out-of-fold difficulties, a one-feature logistic
fit per arm sets that arm's slope ``a_j`` and ability: this is Platt scaling per arm, which is
what makes the probabilities calibrated, and the same numbers give an unseen arm a sensible
default (median slope, ability from its price).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ponder.classifiers._arm_keys import arm_key
from ponder.classifiers._arm_linear import PerArmLinear
from ponder.classifiers._arm_select import observation_matrix, select_arm_model
from ponder.classifiers._checks import (
    check_training_table,
    no_features,
    warn_if_prior_saturates,
)
from ponder.classifiers._difficulty import (
    ArmResidual,
    BoostedEasiness,
    EasinessModel,
    LinearEasiness,
    sigmoid,
    soft_log_loss,
    stack_scores,
)
from ponder.classifiers._featurize import (
    FeaturizerSpec,
    build_featurizer,
    default_featurizer_spec,
)
from ponder.classifiers._folds import MIN_TASKS_PER_FOLD, clustered_folds, task_folds
from ponder.classifiers._interaction import LowRankInteraction
from ponder.classifiers._lexical import LexicalHead, Lexicon
from ponder.classifiers._prior import ArmPrior, table_arm_prices
from ponder.classifiers._protocol import ArmProfile, Prediction
from ponder.classifiers._reasoning import reasoning_strength
from ponder.classifiers._scale import AbsoluteScale, ScaleArm
from ponder.errors import PonderError
from ponder.outcomes import OutcomeTable
from ponder.policies import (
    ANY_ARM,
    HullGuard,
    Recorded,
    SamplingPolicy,
    calibrate_any_arm,
    calibrate_sampling,
    fit_hull_guard,
    recorded_samples,
)

FloatArray = npt.NDArray[np.float64]
_Columns = tuple[
    tuple[ArmProfile, ...],
    FloatArray,
    FloatArray,
    npt.NDArray[np.int64],
    FloatArray,
]
_ColumnsMemo = tuple[tuple[object, object], dict[tuple[str | ArmProfile, ...], _Columns]]
Backend = Literal["lightgbm", "logistic"]
FoldsBy = Literal["queries", "clusters", "tasks"]
FOLDS_BY: dict[str, str] = {
    "clusters": "clusters of similar queries",
    "tasks": "whole tasks",
    "queries": "random queries",
}
"""Each ``folds_by`` value (the default first), and what its folds hold out, in words."""
Progress = Callable[[str], None]


class NotFittedError(PonderError):
    """The classifier was used before it was fitted (``fit``) or read from a model
    directory (:func:`~ponder.classifiers.load_classifier`)."""


def _calibrate_arm(f: FloatArray, y: FloatArray) -> tuple[float, float]:
    """Soft-label logistic fit of y on f: returns (slope, intercept), slope kept >= 0.05."""
    from sklearn.linear_model import LogisticRegression

    pos, neg = y > 0, y < 1
    if pos.sum() == 0 or neg.sum() == 0:
        rate = float(np.clip(y.mean(), 0.02, 0.98))
        return 0.05, float(np.log(rate / (1 - rate)))
    Z = np.concatenate([f[pos], f[neg]])[:, None]
    labels = np.concatenate([np.ones(pos.sum()), np.zeros(neg.sum())])
    w = np.concatenate([y[pos], 1 - y[neg]])
    lr = LogisticRegression(C=100.0, max_iter=1000).fit(Z, labels, sample_weight=w)
    slope = float(max(lr.coef_.ravel()[0], 0.05))
    intercept = float(lr.intercept_[0])
    if slope != lr.coef_.ravel()[0]:  # refit the intercept alone at the clipped slope
        intercept = float(_intercept_for_slope(f, y, slope))
    return slope, intercept


def _intercept_for_slope(f: FloatArray, y: FloatArray, slope: float) -> float:
    lo, hi = -20.0, 20.0
    for _ in range(60):  # the mean predicted rate is increasing in the intercept
        mid = (lo + hi) / 2
        if sigmoid(slope * f + mid).mean() < y.mean():
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _sweep_costs(table: OutcomeTable) -> FloatArray | None:
    """Costs to price the routing sweep that chooses the arm model: the table's own (priced
    from a menu beforehand where it records none, as ``ponder train --menu`` does); None
    when it has none at all, and the choice is then judged on quality alone."""
    if np.isfinite(table.costs).any():
        return np.asarray(table.costs, dtype=np.float64)
    return None


def _hull_guard(
    oof_p: FloatArray, table: OutcomeTable, fold_of: npt.NDArray[np.int64]
) -> HullGuard | None:
    """The guard against routing below the single-arm hull, from the out-of-fold
    predictions on the model's own folds; None without costs to weigh."""
    cost = _sweep_costs(table)
    if cost is None:
        return None
    return fit_hull_guard(oof_p, table.scores, cost, fold_of, table.arms)


class DifficultyClassifier:
    """Predicts P(success) per arm for each query (scikit-learn estimator contract).

    Parameters are stored as given; learned attributes end in ``_``. ``arm_models`` names
    the between-arm candidates cross-validation may choose over the shared difficulty
    (``lowrank``, ``trees``, ``linear``, ``lexical``); ``residual=False`` keeps the shared
    model alone.
    ``folds_by`` is how cross-validation holds data out, and so what the arm model, the
    calibration and the hull guard are judged on: ``queries`` (at random, which rewards
    what helps on more traffic of the kinds in the table), ``clusters`` (whole clusters of
    similar queries: what carries over to queries unlike the training ones), or ``tasks``
    (whole ``task`` labels, for traffic of kinds the table does not have at all; it falls
    back to clusters with fewer than two tasks a fold). ``tasks`` trades gains within known
    tasks for safety on unseen ones: the hull guard then falls back wherever routing did not
    carry over to a held-out task. With ``sampling``, every arm with recorded samples also gets a
    :class:`~ponder.policies.SamplingPolicy` (``sampling_``), calibrated on the model's own
    out-of-fold predictions, which the router's adaptive arms then follow.

    ``hull_guard_`` (:class:`~ponder.policies.HullGuard`) names, per cost weight, the single
    arm to take where routing by this model's out-of-fold predictions did not beat the best
    single arm of its training data; None for a table without costs (a cost weight means
    nothing there) and for models saved before it existed, which route as they did.

    ``scale_`` (set by :meth:`attach_scale`, None until then) is the absolute scale fitted
    on published scores: arms on it (the menu's current models at their effort or thinking
    settings) get their P(success) from it, on one scale whatever table trained the rest.
    """

    scale_: AbsoluteScale | None = None
    hull_guard_: HullGuard | None = None
    arm_shrink_: float = 1.0

    def __init__(
        self,
        backend: Backend = "lightgbm",
        featurizer: FeaturizerSpec | None = None,
        cv_folds: int = 5,
        C_grid: Sequence[float] = (0.03, 0.3, 3.0),
        max_rounds: int = 600,
        residual: bool = True,
        arm_models: Sequence[str] = ("lowrank", "trees", "linear", "lexical"),
        folds_by: FoldsBy = "clusters",
        seed: int = 0,
        sampling: bool = True,
    ) -> None:
        self.backend = backend
        self.featurizer = featurizer
        self.cv_folds = cv_folds
        self.C_grid = C_grid
        self.max_rounds = max_rounds
        self.residual = residual
        self.arm_models = arm_models
        self.folds_by = folds_by
        self.seed = seed
        self.sampling = sampling
        self.sampling_: dict[str, SamplingPolicy] = {}

    # ----------------------------------------------------------------- fitting
    def fit(self, table: OutcomeTable, *, progress: Progress | None = None) -> DifficultyClassifier:
        """Learn difficulty, per-arm slopes and abilities, the price prior and the arm
        model from ``table`` (an :class:`~ponder.outcomes.OutcomeTable`, as in
        ``load_outcomes(path).table``); returns ``self``, fitted.

        Cross-validation picks the arm model on held-out folds, so training takes a
        while (``progress`` is called with a line per step). A wrong argument, or a table
        too small for the backend (LightGBM needs some 25 measured queries), raises
        :class:`~ponder.errors.TrainingDataError` before any work is done; save the result
        with :func:`~ponder.classifiers.save_classifier`.
        """
        from threadpoolctl import threadpool_limits

        table = check_training_table(table, self.backend, self.cv_folds)
        # One BLAS thread: the fits are many and small, and two threads spinning against
        # any other busy process ran several times slower on a 2-core machine.
        with threadpool_limits(1, "blas"):
            try:
                return self._fit(table, progress)
            except Exception as exc:
                plain = no_features(exc, table.n_queries)
                if plain is None:
                    raise
                raise plain from exc

    def _fit(self, table: OutcomeTable, progress: Progress | None) -> DifficultyClassifier:
        say = progress or (lambda _msg: None)
        if self.backend not in ("lightgbm", "logistic"):
            raise ValueError(f"backend must be 'lightgbm' or 'logistic', not {self.backend!r}")
        if self.folds_by not in FOLDS_BY:
            raise ValueError(f"folds_by must be one of {sorted(FOLDS_BY)}, not {self.folds_by!r}")
        obs = stack_scores(table.scores)
        if len(obs.y) == 0:
            raise ValueError("the outcome table has no measured (query, arm) pair")
        spec = self.featurizer or default_featurizer_spec()
        featurizer = build_featurizer(spec)
        say(f"featurizing {table.n_queries} queries")
        X = featurizer.transform(list(table.prompts))

        k = max(2, min(self.cv_folds, table.n_queries))
        fold_of, held_out, words = self._folds(X, table, k)
        say(f"cross-validating on {k} folds of {words}")
        candidates = self._candidates()
        best: tuple[float, FloatArray, dict[str, Any]] | None = None
        for params in candidates:
            f_oof = np.zeros(table.n_queries)
            loss_num = 0.0
            rounds: list[int] = []
            for fold in range(k):
                say(f"cross-validating {params} fold {fold + 1}/{k}")
                test_q = fold_of == fold
                train_obs = obs.subset(~test_q[obs.qi])
                test_obs = obs.subset(test_q[obs.qi])
                model = self._make(params).fit(X, train_obs, (X, test_obs))
                f_fold = model.latent(X[test_q])
                f_oof[test_q] = f_fold
                f_obs = model.latent(X[test_obs.qi])
                p = sigmoid(model.arm_offsets()[test_obs.aj] + f_obs)
                loss_num += soft_log_loss(test_obs.y, p) * len(test_obs.y)
                if isinstance(model, BoostedEasiness):
                    rounds.append(model.best_iteration_)
            loss = loss_num / len(obs.y)
            chosen = dict(params)
            if rounds:
                chosen["n_rounds"] = max(10, round(float(np.mean(rounds)) * k / (k - 1)))
            if best is None or loss < best[0]:
                best = (loss, f_oof, chosen)
        assert best is not None
        rasch_loss, f_oof, chosen = best

        say("calibrating per-arm slopes and abilities")
        alpha = np.zeros(table.n_arms)
        beta = np.zeros(table.n_arms)
        for j in range(table.n_arms):
            m = obs.aj == j
            alpha[j], beta[j] = _calibrate_arm(f_oof[obs.qi[m]], obs.y[m])
        p_cal = sigmoid(alpha[obs.aj] * f_oof[obs.qi] + beta[obs.aj])
        base = obs.arm_logit_means()

        say(f"fitting the final model on all {len(obs.y)} outcomes ({chosen})")
        final = self._make(chosen).fit(X, obs, None)

        z_oof = alpha[obs.aj] * f_oof[obs.qi] + beta[obs.aj]
        strength = np.array([reasoning_strength(a) for a in table.arms])
        lexical = None
        if self.residual and "lexical" in self.arm_models:
            say("fitting the lexicon")
            lexicon = Lexicon().fit(table.prompts)
            if lexicon.terms_:
                lexical = (lexicon.transform(table.prompts), lexicon)
        choice = select_arm_model(
            X,
            obs,
            z_oof,
            fold_of,
            k,
            cost=_sweep_costs(table),
            strength=strength,
            trees=self.residual and self.backend == "lightgbm" and "trees" in self.arm_models,
            linear=self.residual and "linear" in self.arm_models,
            lowrank=self.residual and "lowrank" in self.arm_models,
            seed=self.seed,
            say=say,
            lexical=lexical,
        )

        ability = beta / alpha
        self.featurizer_spec_ = spec
        self.featurizer_ = featurizer
        self.easiness_ = final
        self.arm_model_ = choice.model
        self.reasoning_ = choice.reasoning
        self.arm_shrink_ = choice.shrink
        self.params_ = {
            **chosen,
            "arm_model": choice.kind,
            "arm_shrink": choice.shrink,
            "folds_by": held_out,
        }
        self.arms_ = tuple(
            ArmProfile(
                a,
                float(ability[j]),
                float(alpha[j]),
                "trained",
                residual_arm=a,
                reasoning=float(strength[j]),
            )
            for j, a in enumerate(table.arms)
        )
        self.prior_ = ArmPrior.fit(ability, table_arm_prices(table), alpha, strength)
        self.metrics_ = {
            "oof_log_loss": choice.oof_log_loss,
            **{f"oof_log_loss_{name}": v for name, v in choice.candidates.items()},
            **{f"oof_routing_gain_{name}": v for name, v in choice.gains.items()},
            "oof_log_loss_rasch": rasch_loss,
            "baseline_log_loss": soft_log_loss(obs.y, sigmoid(base[obs.aj])),
            "oof_brier": float(np.mean((p_cal - obs.y) ** 2)),
            "n_queries": float(table.n_queries),
            "n_observations": float(len(obs.y)),
        }
        self.data_hash_ = table.fingerprint()
        oof = choice.oof_logits if choice.oof_logits is not None else z_oof
        self.oof_p_ = observation_matrix(obs, sigmoid(oof), table.n_queries)
        self.hull_guard_ = _hull_guard(self.oof_p_, table, fold_of)
        self.sampling_ = self._calibrate_sampling(table, fold_of, say) if self.sampling else {}
        return self

    def _calibrate_sampling(
        self, table: OutcomeTable, fold_of: npt.NDArray[np.int64], say: Progress
    ) -> dict[str, SamplingPolicy]:
        """A sampling policy per arm with at least two samples of some query, chosen on
        the same folds as the model, with its out-of-fold predictions as the prior; and,
        when there is one, a policy for any other arm (``ANY_ARM``), so that a menu's
        adaptive arm the logs never sampled stops by what these samples showed rather than
        by the uncalibrated Beta rule. That one is calibrated on every sampled arm's
        queries together (:func:`~ponder.policies.calibrate_any_arm`, as the packaged
        model's is)."""
        out: dict[str, SamplingPolicy] = {}
        pooled: list[Recorded] = []
        pooled_folds: list[npt.NDArray[np.int64]] = []
        for arm, rows in table.samples.items():
            if max((len(r or ()) for r in rows), default=0) < 2:
                continue
            say(f"calibrating the sampling of {arm}")
            j = table.arm_index(arm)
            queries = recorded_samples(table, arm, self.oof_p_[:, j])
            out[arm] = calibrate_sampling(queries, fold_of)
            pooled += queries
            pooled_folds.append(fold_of)
        if out:
            say("calibrating the sampling of any other adaptive arm")
            out[ANY_ARM] = calibrate_any_arm(pooled, np.concatenate(pooled_folds))
        return out

    def attach_scale(self, scale: AbsoluteScale | None) -> DifficultyClassifier:
        """Use ``scale`` for the arms it knows (see the class doc); None detaches it."""
        self.scale_ = scale
        self.__dict__.pop("_columns_memo", None)
        return self

    def scale_arm(self, key: str) -> ScaleArm | None:
        """The arm ``model@setting`` on the absolute scale, if the model has one that knows it."""
        if self.scale_ is None:
            return None
        return self.scale_.arm(key)

    def _folds(
        self, X: npt.NDArray[np.float32], table: OutcomeTable, k: int
    ) -> tuple[npt.NDArray[np.int64], str, str]:
        """The fold of each query, what the folds hold out (``folds_by``'s word for it)
        and, for the progress line, that in words."""
        fallback = ""
        if self.folds_by == "tasks":
            n_tasks = len(set(table.tasks))
            by_task = task_folds(table.tasks, k, self.seed)
            if by_task is not None:
                return by_task, "tasks", f"{FOLDS_BY['tasks']} ({n_tasks} tasks)"
            fallback = f" ({n_tasks} task(s): fewer than {MIN_TASKS_PER_FOLD} a fold)"
        if self.folds_by in ("clusters", "tasks"):
            words = FOLDS_BY["clusters"] + fallback
            return clustered_folds(X, k, self.seed), "clusters", words
        rng = np.random.default_rng(self.seed)
        return rng.permutation(table.n_queries) % k, "queries", FOLDS_BY["queries"]

    def _candidates(self) -> list[dict[str, Any]]:
        if self.backend == "logistic":
            return [{"C": float(c)} for c in self.C_grid]
        return [{"n_rounds": self.max_rounds}]

    def _make(self, params: dict[str, Any]) -> EasinessModel:
        if self.backend == "logistic":
            return LinearEasiness(C=params["C"])
        return BoostedEasiness(n_rounds=params["n_rounds"], seed=self.seed)

    # ----------------------------------------------------------------- predicting
    def _check_fitted(self) -> None:
        if not hasattr(self, "easiness_"):
            raise NotFittedError(
                "this classifier is not fitted: call fit(table) first, or read a saved one "
                "with ponder.classifiers.load_classifier(path)"
            )

    def profile(
        self, name: str, price_per_mtok: float | None = None, reasoning: float | None = None
    ) -> ArmProfile:
        """The trained profile of arm ``name``, else its place on the absolute scale (by its
        ``model@setting`` key, see :func:`arm_key`), else a prior one from its price (and its
        reasoning strength, read from the name when not given)."""
        self._check_fitted()
        for a in self.arms_:
            if a.name == name:
                return a
        strength = reasoning_strength(name) if reasoning is None else reasoning
        placed = self.scale_arm(arm_key(name))
        if placed is not None:
            return ArmProfile(
                name, placed.knowledge, 1.0, "published", reasoning=strength, scale=placed
            )
        return ArmProfile(
            name,
            self.prior_.ability(price_per_mtok, strength),
            self.prior_.discrimination,
            "prior",
            reasoning=strength,
        )

    @property
    def tells_thinking_apart(self) -> bool:
        """Whether an arm without logs gains anything from its reasoning strength: a lift
        in the price prior or a learned reasoning trait. Without either, two such arms of
        one price tie, however much each thinks."""
        self._check_fitted()
        model = self.arm_model_
        trait = isinstance(model, LowRankInteraction) and model.has_reasoning_trait
        scaled = self.scale_ is not None
        return self.prior_.reasoning > 0 or self.reasoning_ is not None or trait or scaled

    def difficulty(self, texts: Sequence[str]) -> FloatArray:
        self._check_fitted()
        return -self.easiness_.latent(self.featurizer_.transform(list(texts)))

    def predict(
        self, texts: Sequence[str], arms: Sequence[str | ArmProfile] | None = None
    ) -> Prediction:
        self._check_fitted()
        X = self.featurizer_.transform(list(texts))
        profiles, a, theta, arm_ids, strength = self._columns(tuple(arms or self.arms_))
        if self.scale_ is not None and profiles and all(p.scale is not None for p in profiles):
            # Every arm on the absolute scale (the packaged menu's): its logits, difficulty
            # and need are the ones reported, and the trees' would only be overwritten.
            placed = [p.scale for p in profiles]
            z, d_scale, need_scale = self.scale_.predict(X, placed)  # type: ignore[arg-type]
            return Prediction(profiles, d_scale, sigmoid(z), need_scale)
        d = -self.easiness_.latent(X)
        logit = a[None, :] * (theta[None, :] - d[:, None])
        model = self.arm_model_
        head = self.reasoning_
        unknown = arm_ids < 0
        if isinstance(model, LowRankInteraction) and model.has_reasoning_trait:
            head = model
        elif head is not None and unknown.any():
            # Arms without logs gain from thinking by the query's reasoning need.
            terms = head.terms(X, np.full(len(profiles), -1, dtype=np.int64), strength)
            logit = logit + np.where(unknown[None, :], terms, 0.0)
        need = None if head is None else head.reasoning_need(X)
        shared = logit
        if isinstance(model, LowRankInteraction):
            # Trained arms get their own interaction terms; the others the reasoning trait
            # at their reasoning strength.
            logit = logit + model.terms(X, arm_ids, strength)
        elif isinstance(model, ArmResidual):
            logit = model.logits(X, arm_ids, logit)
        elif isinstance(model, LexicalHead):
            # Trained arms get their words' correction; the others keep the shared logit.
            logit = logit + model.terms(texts, arm_ids)
        elif isinstance(model, PerArmLinear):
            # Arms with logs of their own get their linear model; the others keep the
            # shared-difficulty logit.
            logit = np.where(arm_ids[None, :] >= 0, model.logits(X, arm_ids), logit)
        if self.arm_shrink_ != 1.0:
            # Trained arms take the chosen share of the arm model's step (the others keep
            # theirs: their reasoning terms were not part of the choice).
            step = shared + self.arm_shrink_ * (logit - shared)
            logit = np.where(arm_ids[None, :] >= 0, step, logit)
        on_scale = [j for j, p in enumerate(profiles) if p.scale is not None]
        if on_scale and self.scale_ is not None:
            # Arms on the absolute scale: its difficulty and need are the ones that mean
            # the same for every such arm, so they are the ones reported.
            placed = [profiles[j].scale for j in on_scale]
            logit[:, on_scale], d, need = self.scale_.predict(X, placed)  # type: ignore[arg-type]
        p = sigmoid(logit)
        if unknown.any():
            warn_if_prior_saturates(profiles, p)
        return Prediction(profiles, d, p, need)

    def _columns(self, arms: tuple[str | ArmProfile, ...]) -> _Columns:
        """Each asked arm's profile, discrimination, ability, trained-arm index (-1: none)
        and reasoning strength. A router asks about the same menu on every request, so the
        answers are kept, for the arms and price prior of this fit only (read-only arrays):
        a new prior, on this object or a copy, starts them over."""
        memo: _ColumnsMemo = self.__dict__.get("_columns_memo") or ((None, None), {})
        fit = memo[0]
        if fit[0] is not self.arms_ or fit[1] is not self.prior_ or len(memo[1]) > 32:
            memo = ((self.arms_, self.prior_), {})
            self.__dict__["_columns_memo"] = memo
        got = memo[1].get(arms)
        if got is None:
            profiles = tuple(self.profile(a) if isinstance(a, str) else a for a in arms)
            index = {arm.name: j for j, arm in enumerate(self.arms_)}
            ids = [index.get(p.residual_arm, -1) if p.residual_arm else -1 for p in profiles]
            columns = (
                np.array([p.discrimination for p in profiles]),
                np.array([p.ability for p in profiles]),
                np.array(ids, dtype=np.int64),
                np.array([p.reasoning for p in profiles]),
            )
            for c in columns:
                c.flags.writeable = False
            got = memo[1][arms] = (profiles, *columns)
        return got

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        """P(success) for every trained arm: shape (n_queries, n_arms)."""
        return self.predict(texts).p_success

    @property
    def arm_names(self) -> tuple[str, ...]:
        self._check_fitted()
        return tuple(a.name for a in self.arms_)
