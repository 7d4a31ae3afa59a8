"""Choose, out of fold, how trained arms are predicted: the shared difficulty, arm-aware
trees, or one linear model per arm.

Which one wins depends on the data: many arms with different specialities favour the trees,
two arms and a thousand queries can favour the per-arm linear models, and a small or noisy
table the shared difficulty. All three are scored on the same held-out queries with the same
loss, so the choice is made on the training split alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

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

ArmModel = ArmResidual | PerArmLinear
LINEAR_C_GRID = (0.001, 0.003, 0.01, 0.03)


@dataclass(frozen=True)
class ArmModelChoice:
    kind: str  # "shared", "trees" or "linear"
    model: ArmModel | None
    oof_log_loss: float
    candidates: dict[str, float]


def select_arm_model(
    X: npt.NDArray[np.float32],
    obs: Observations,
    z_oof: FloatArray,
    fold_of: npt.NDArray[np.int64],
    k: int,
    *,
    trees: bool,
    linear: bool,
    seed: int,
    say: Callable[[str], None],
    linear_C_grid: Sequence[float] = LINEAR_C_GRID,
) -> ArmModelChoice:
    """``z_oof`` holds the shared model's out-of-fold logits for each observation."""
    losses = {"shared": soft_log_loss(obs.y, sigmoid(z_oof))}
    fits: dict[str, Callable[[], ArmModel]] = {}
    if trees:
        loss, n_rounds = _trees_oof(X, obs, fold_of, k, seed, say)
        if n_rounds > 0:
            losses["trees"] = loss
            base = obs.arm_logit_means()
            fits["trees"] = lambda: _fit_trees(X, obs, base, n_rounds, seed)
    if linear:
        best_C, loss = _linear_oof(X, obs, fold_of, k, linear_C_grid, say)
        losses["linear"] = loss
        fits["linear"] = lambda: PerArmLinear(C=best_C).fit(X, obs)
    kind = min(losses, key=lambda name: losses[name])
    if kind == "shared":
        return ArmModelChoice("shared", None, losses["shared"], losses)
    say(f"arm model: {kind} (out-of-fold log loss {losses[kind]:.4f}); final fit")
    return ArmModelChoice(kind, fits[kind](), losses[kind], losses)


def _fit_trees(
    X: npt.NDArray[np.float32], obs: Observations, base: FloatArray, n_rounds: int, seed: int
) -> ArmResidual:
    model = ArmResidual(seed=seed).fit(X, obs, base[obs.aj], n_rounds)
    model.base_ = base
    return model


def _trees_oof(
    X: npt.NDArray[np.float32],
    obs: Observations,
    fold_of: npt.NDArray[np.int64],
    k: int,
    seed: int,
    say: Callable[[str], None],
) -> tuple[float, int]:
    base = obs.arm_logit_means()[obs.aj]
    rounds: list[int] = []
    loss_num = 0.0
    for fold in range(k):
        say(f"arm-aware trees: fold {fold + 1}/{k}")
        held = fold_of[obs.qi] == fold
        best, loss = ArmResidual(seed=seed).best_rounds(
            X, obs.subset(~held), base[~held], obs.subset(held), base[held]
        )
        rounds.append(best)
        loss_num += loss * int(held.sum())
    return loss_num / len(obs.y), round(float(np.mean(rounds)) * k / (k - 1))


def _linear_oof(
    X: npt.NDArray[np.float32],
    obs: Observations,
    fold_of: npt.NDArray[np.int64],
    k: int,
    grid: Sequence[float],
    say: Callable[[str], None],
) -> tuple[float, float]:
    best: tuple[float, float] | None = None
    for C in grid:
        loss_num = 0.0
        for fold in range(k):
            say(f"per-arm linear C={C}: fold {fold + 1}/{k}")
            held = fold_of[obs.qi] == fold
            model = PerArmLinear(C=C).fit(X, obs.subset(~held))
            held_obs = obs.subset(held)
            z = model.row_logits(X, held_obs)
            loss_num += soft_log_loss(held_obs.y, sigmoid(z)) * int(held.sum())
        loss = loss_num / len(obs.y)
        if best is None or loss < best[1]:
            best = (C, loss)
    assert best is not None
    return best
