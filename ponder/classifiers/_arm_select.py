"""Choose, out of fold, how trained arms are predicted, by how well each choice *routes*.

Candidates: the shared difficulty alone; a low-rank arm x query interaction on top of it
(:mod:`._interaction`, with a reasoning trait); arm-aware trees that start from the shared
logit; one linear model per arm; and a lexical head on the shared logit (:mod:`._lexical`).
Each is fitted fold by fold on the training split and
its out-of-fold predictions are replayed through the policy's own rule over a sweep of cost
weights (:func:`._routing_score.routing_gain`). Pooled log loss is reported but does not
decide: on real tables the candidates differ in it by a few ten-thousandths while they
differ in routing by tens of points, because what routing needs (which arm wins on this
query) is a small part of the likelihood.

A candidate replaces the shared model only when it routes better by ``MARGIN``: out-of-fold
figures are noisy, and the shared model is the one that extends to arms never seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ponder.classifiers._arm_linear import PerArmLinear
from ponder.classifiers._difficulty import (
    ArmResidual,
    FloatArray,
    Observations,
    sigmoid,
    soft_log_loss,
)
from ponder.classifiers._interaction import LowRankInteraction
from ponder.classifiers._lexical import LexicalHead, Lexicon
from ponder.classifiers._routing_score import routing_gain

ArmModel = ArmResidual | PerArmLinear | LowRankInteraction | LexicalHead
LINEAR_C_GRID = (0.003, 0.03)
LEXICAL_C_GRID = (0.3, 1.0, 3.0)
LOWRANK_GRID: tuple[tuple[int, float], ...] = (
    (1, 1e-3),
    (1, 1e-2),
    (1, 1e-1),
    (4, 1e-2),
    (4, 1e-1),
)
MARGIN = 0.005
SHRINK_GRID = (0.75, 0.5)
"""Weights tried on the chosen candidate's step away from the shared logit (1 is the
candidate as fitted). A between-arm term picked among a dozen by noisy out-of-fold gains
tends to claim more than it holds on new queries; a step part of the way keeps its ranking
of the arms and claims less. Chosen out of fold like the candidate itself."""
FoldFit = Callable[[Observations, FloatArray], Callable[[Observations], FloatArray]]
"""Fits on a fold's training observations (and their shared logits); returns a function
giving the interaction's logit for held-out observations."""


@dataclass(frozen=True)
class ArmModelChoice:
    kind: str  # "shared", "lowrank", "trees", "linear" or "lexical"
    model: ArmModel | None
    oof_log_loss: float
    candidates: dict[str, float]
    """Out-of-fold log loss of each candidate."""
    gains: dict[str, float]
    """Out-of-fold routing gain of each candidate (what decided)."""
    reasoning: LowRankInteraction | None = None
    """The best rank-1 interaction anchored to reasoning strength, whatever was chosen for
    the trained arms: what gives an arm the model never saw its gain from thinking. None
    when the training arms do not differ in reasoning strength."""
    oof_logits: FloatArray | None = None
    """The chosen candidate's out-of-fold logit of every observation: what calibrations
    that need predictions of queries the model did not see are fitted on."""
    shrink: float = 1.0
    """The share of the candidate's step from the shared logit that trained arms take
    (``SHRINK_GRID``; 1 when it routes best as fitted)."""


def observation_matrix(obs: Observations, values: FloatArray, n_queries: int) -> FloatArray:
    """Per-observation values laid out as (query, arm), NaN where nothing was observed."""
    out = np.full((n_queries, obs.n_arms), np.nan)
    out[obs.qi, obs.aj] = values
    return out


def select_arm_model(
    X: npt.NDArray[np.float32],
    obs: Observations,
    z_oof: FloatArray,
    fold_of: npt.NDArray[np.int64],
    k: int,
    *,
    cost: FloatArray | None,
    strength: FloatArray | None,
    trees: bool,
    linear: bool,
    lowrank: bool,
    seed: int,
    say: Callable[[str], None],
    linear_C_grid: Sequence[float] = LINEAR_C_GRID,
    lowrank_grid: Sequence[tuple[int, float]] = LOWRANK_GRID,
    lexical: tuple[Any, Lexicon] | None = None,
    lexical_C_grid: Sequence[float] = LEXICAL_C_GRID,
) -> ArmModelChoice:
    """``z_oof`` holds the shared model's out-of-fold logits for each observation;
    ``cost`` (queries x arms, may be None) prices the sweep; ``lexical``, when given, is
    the TF-IDF matrix of every query and the lexicon that made it."""
    n_q = X.shape[0]
    Y = observation_matrix(obs, obs.y, n_q)
    oof: dict[str, FloatArray] = {"shared": z_oof}
    fits: dict[str, Callable[[], ArmModel]] = {}
    rank_one: dict[str, float] = {}  # rank-1 candidates and their penalty

    def held_out(fit_fold: FoldFit, name: str) -> FloatArray:
        z = np.zeros(len(obs.y))
        for fold in range(k):
            say(f"{name}: fold {fold + 1}/{k}")
            held = fold_of[obs.qi] == fold
            predict = fit_fold(obs.subset(~held), z_oof[~held])
            z[held] = predict(obs.subset(held))
        return z

    if lowrank:
        for rank, l2 in lowrank_grid:
            name = f"lowrank(rank={rank}, l2={l2:g})"
            if rank == 1:
                rank_one[name] = l2

            def fit_lr(
                tr: Observations, off: FloatArray, rank: int = rank, l2: float = l2
            ) -> Callable[[Observations], FloatArray]:
                m = LowRankInteraction(rank=rank, l2=l2, seed=seed).fit(X, tr, off, strength)
                return lambda te: m.row_terms(X, te)

            oof[name] = z_oof + held_out(fit_lr, name)
            fits[name] = lambda rank=rank, l2=l2: LowRankInteraction(  # type: ignore[misc]
                rank=rank, l2=l2, seed=seed
            ).fit(X, obs, z_oof, strength)
    if trees:
        z_trees, n_rounds = _trees_oof(X, obs, z_oof, fold_of, k, seed, say)
        if n_rounds > 0:
            oof["trees"] = z_trees
            fits["trees"] = lambda: ArmResidual(seed=seed).fit(X, obs, z_oof, n_rounds)
        # The same trees grown from each arm's base rate instead: free of the shared
        # difficulty, they can learn task-by-arm structure it would mask.
        rates = obs.arm_logit_means()
        z_rates, n_rates = _trees_oof(X, obs, rates[obs.aj], fold_of, k, seed, say)
        if n_rates > 0:
            oof["trees(from base rates)"] = z_rates

            def fit_rates() -> ArmResidual:
                model = ArmResidual(seed=seed).fit(X, obs, rates[obs.aj], n_rates)
                model.base_ = rates
                return model

            fits["trees(from base rates)"] = fit_rates
    if linear:
        for C in linear_C_grid:
            name = f"linear(C={C:g})"

            def fit_lin(
                tr: Observations, off: FloatArray, C: float = C
            ) -> Callable[[Observations], FloatArray]:
                m = PerArmLinear(C=C).fit(X, tr)
                return lambda te: m.row_logits(X, te)

            oof[name] = held_out(fit_lin, name)
            fits[name] = lambda C=C: PerArmLinear(C=C).fit(X, obs)  # type: ignore[misc]

    if lexical is not None:
        Z, lexicon = lexical
        for C in lexical_C_grid:
            name = f"lexical(C={C:g})"

            def fit_lex(
                tr: Observations, off: FloatArray, C: float = C
            ) -> Callable[[Observations], FloatArray]:
                m = LexicalHead(C=C).fit(Z, lexicon, tr, off)
                return lambda te: m.row_terms(Z, te)

            oof[name] = z_oof + held_out(fit_lex, name)
            fits[name] = lambda C=C: LexicalHead(C=C).fit(  # type: ignore[misc]
                Z, lexicon, obs, z_oof
            )

    def routes(z: FloatArray) -> float:
        """How out-of-fold logits ``z`` route: what every candidate is judged by."""
        return routing_gain(observation_matrix(obs, sigmoid(z), n_q), Y, cost)

    losses = {name: soft_log_loss(obs.y, sigmoid(z)) for name, z in oof.items()}
    gains = {name: routes(z) for name, z in oof.items()}
    anchored = strength is not None and np.ptp(strength) > 0
    # The reasoning trait is kept for arms without logs even where the trained arms do not
    # need it: the least penalised rank-1 fit that routes within MARGIN of the best one, so
    # the trait is not shrunk to nothing just because per-arm slopes already fit them.
    heads = sorted((n for n in rank_one if anchored), key=lambda n: rank_one[n])
    top = max((gains[n] for n in heads), default=0.0)
    head = next((n for n in heads if gains[n] >= top - MARGIN), None)
    reasoning: LowRankInteraction | None = None
    if head is not None:
        say(f"reasoning trait: {head}; final fit")
        fitted = fits[head]()
        assert isinstance(fitted, LowRankInteraction)
        reasoning = fitted
    best = max(gains, key=lambda name: gains[name])
    z_best, gain, shrink = oof[best], gains[best], 1.0
    if best != "shared":
        for w in SHRINK_GRID:
            z = oof["shared"] + w * (oof[best] - oof["shared"])
            gains[f"{best} x{w:g}"] = g = routes(z)
            if g > gain:  # a tie keeps the larger step
                z_best, gain, shrink = z, g, w
    if best == "shared" or gain < gains["shared"] + MARGIN:
        return ArmModelChoice(
            "shared", None, losses["shared"], losses, gains, reasoning, oof["shared"]
        )
    took = "" if shrink == 1.0 else f", {shrink:g} of its step from the shared logit"
    say(f"arm model: {best}{took} (out-of-fold routing gain {gain:.3f}); final fit")
    kind = best.split("(")[0]
    model = reasoning if best == head and reasoning is not None else fits[best]()
    return ArmModelChoice(
        kind, model, losses[best], losses, gains, reasoning, z_best, shrink=shrink
    )


def _trees_oof(
    X: npt.NDArray[np.float32],
    obs: Observations,
    z_oof: FloatArray,
    fold_of: npt.NDArray[np.int64],
    k: int,
    seed: int,
    say: Callable[[str], None],
) -> tuple[FloatArray, int]:
    """Out-of-fold logits of arm-aware trees grown from the shared logit, and the rounds
    to refit with (early stopping on each held-out fold, averaged)."""
    z = z_oof.copy()
    rounds: list[int] = []
    for fold in range(k):
        say(f"arm-aware trees: fold {fold + 1}/{k}")
        held = fold_of[obs.qi] == fold
        best, held_z = ArmResidual(seed=seed).best_rounds(
            X, obs.subset(~held), z_oof[~held], obs.subset(held), z_oof[held]
        )
        rounds.append(best)
        z[held] = held_z
    return z, round(float(np.mean(rounds)) * k / (k - 1))
