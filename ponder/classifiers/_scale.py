"""One absolute scale for every arm: knowledge, reasoning and a query's need for each.

Each outcome table puts its arms on a scale of its own, and the arms a user puts on a menu
(gpt-5 at some effort, Claude with a thinking budget) are in none of them. Published benchmark
scores do name those arms, but an accuracy averages over a benchmark's items, so alone it pins
down one number per benchmark. The scale joins the two kinds of evidence in one likelihood:

``logit P(arm a answers x) = knowledge[model(a)] + reasoning[a] * need(x) - difficulty(x)``

- ``difficulty`` is linear in the query's features and ``need`` a logistic of them, in
  [0, 1], so a query never seen gets both;
- ``knowledge`` is one number per model, shared by all of its effort or thinking settings,
  and ``reasoning`` one per setting (>= 0): what thinking buys is the setting's reasoning
  times the query's need, large on competition maths, small on a chat request;
- per-query rows (:class:`PerQuery`) fix item difficulty within their tables, and a
  published row (:class:`Aggregate`) says that the mean P(success) over the benchmark's items
  is the published accuracy, up to a shrunk (publisher, benchmark) offset for harness
  differences. Arms that appear in both kinds of data tie the tables to one scale.

The fit is one L-BFGS run over all parameters with hand-written gradients (numpy only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ponder.classifiers._arm_keys import EFFORT_POSITION

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _softplus(z: FloatArray) -> FloatArray:
    return np.logaddexp(0.0, z)


def _sigmoid(z: FloatArray) -> FloatArray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass(frozen=True)
class PerQuery:
    """Per-query outcomes: query ``qi`` (a row of the feature matrix), arm ``ai``, score
    ``y`` in [0, 1] (soft labels allowed) and a weight per outcome."""

    qi: IntArray
    ai: IntArray
    y: FloatArray
    w: FloatArray


@dataclass(frozen=True)
class Aggregate:
    """Published accuracies: arm ``ai[r]`` scored ``acc[r]`` on the items ``items[r]``
    (rows of the feature matrix), with offset ``oi[r]`` and weight ``w[r]`` (the number of
    items the accuracy averages over, capped)."""

    ai: IntArray
    items: tuple[IntArray, ...]
    acc: FloatArray
    oi: IntArray
    w: FloatArray


@dataclass(frozen=True)
class ScaleArm:
    """An arm on the scale: its model's knowledge and its own reasoning (>= 0)."""

    key: str
    knowledge: float
    reasoning: float
    source: str = "published"


@dataclass
class _Layout:
    """Where each block of parameters sits in the flat vector L-BFGS works on."""

    n_features: int
    n_models: int
    n_arms: int
    n_offsets: int
    n_rho: int
    slices: dict[str, slice] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sizes = {
            "wd": self.n_features,
            "bd": 1,
            "wn": self.n_features,
            "bn": 1,
            "wa": self.n_features,
            "ba": 1,
            "k": self.n_models,
            "rho": self.n_rho,
            "off": self.n_offsets,
        }
        at = 0
        for name, size in sizes.items():
            self.slices[name] = slice(at, at + size)
            at += size
        self.size = at


def _ladder(
    arm_keys: Sequence[str], arm_model: Sequence[int], rho_of: IntArray, n_rho: int
) -> FloatArray:
    """Each arm's reasoning as a sum of softplus terms, (arms x reasoning parameters).

    An arm's own term, plus, on an effort ladder (one model at low, medium, high), the terms
    of the model's lower thinking efforts: reasoning then never falls as effort rises. Fitted
    freely, a ladder came out non-monotone where its published rows are few (gpt-5-nano
    medium above high), and a missing effort placed between such neighbours inherits it.
    """
    out = np.zeros((len(arm_keys), n_rho))
    out[np.arange(len(arm_keys)), rho_of] = 1.0
    place = {
        a: EFFORT_POSITION[key.split("@", 1)[1]]
        for a, key in enumerate(arm_keys)
        if rho_of[a] > 0 and "@" in key and key.split("@", 1)[1] in EFFORT_POSITION
    }
    for a, at in place.items():
        for b, below in place.items():
            if arm_model[b] == arm_model[a] and below < at:
                out[a, rho_of[b]] = 1.0
    return out


class AbsoluteScale:
    """Fits :class:`PerQuery` and :class:`Aggregate` evidence jointly (see module doc).

    Penalties are in outcomes' worth of evidence: ``l2_query`` shrinks the feature weights of
    difficulty and need (``l2_need`` the need's alone, and the loading's unless ``l2_load``
    is given: a loading held near one makes a small model's gap on a chat request as large as
    on a knowledge question, and leaves the need to explain what the loading could),
    ``l2_arm`` knowledge and reasoning, ``l2_offset`` the harness offsets
    (strongly: an offset free to move would absorb the benchmark's level, and the items'
    difficulty would then be learned from nothing) (``free_offsets`` are not shrunk: a
    benchmark whose items were chosen because strong models failed them, as SimpleQA's
    were, says nothing of the difficulty of queries that merely look like them).
    """

    def __init__(
        self,
        l2_query: float = 30.0,
        l2_arm: float = 1.0,
        l2_offset: float = 1000.0,
        max_iter: int = 400,
        clip: float = 3.0,
        columns: Sequence[int] | None = None,
        l2_need: float | None = None,
        l2_load: float | None = None,
    ) -> None:
        self.l2_load = l2_load
        self.l2_need = l2_need
        self.clip = clip
        self.columns = columns
        self.l2_query = l2_query
        self.l2_arm = l2_arm
        self.l2_offset = l2_offset
        self.max_iter = max_iter

    def fit(
        self,
        X: FloatArray,
        arm_keys: Sequence[str],
        arm_model: Sequence[int],
        model_keys: Sequence[str],
        per_query: PerQuery,
        aggregate: Aggregate,
        n_offsets: int,
        free_offsets: Sequence[int] = (),
        reasons: Sequence[bool] | None = None,
    ) -> AbsoluteScale:
        """``reasons[a]`` says whether arm ``a`` thinks before answering (an effort above
        minimal, thinking on, a reasoning model): only those get a reasoning of their own;
        the others share one. Left free, a plain model known from few published rows could
        explain its scores by reasoning as well as by knowledge, and drag the need of the
        queries it was scored on along (gpt-3.5's everyday answers did)."""
        from scipy.optimize import minimize

        cols = X if self.columns is None else X[:, list(self.columns)]
        self.mean_ = cols.mean(axis=0)
        self.scale_ = cols.std(axis=0) + 1e-6
        Z = self._standard(X)
        thinks = [True] * len(arm_keys) if reasons is None else list(reasons)
        rho_of = np.cumsum(thinks, dtype=np.int64) * np.asarray(thinks, dtype=np.int64)
        ladder = _ladder(arm_keys, arm_model, rho_of, int(rho_of.max()) + 1)
        lay = _Layout(Z.shape[1], len(model_keys), len(arm_keys), n_offsets, int(rho_of.max()) + 1)
        model_of = np.asarray(arm_model, dtype=np.int64)
        pen_off = np.full(n_offsets, self.l2_offset)
        pen_off[list(free_offsets)] = 1e-2
        # Items of each published row as one flat index with the row it belongs to.
        flat_items = np.concatenate(aggregate.items) if aggregate.items else np.zeros(0, np.int64)
        row_of = np.repeat(
            np.arange(len(aggregate.items)), [len(i) for i in aggregate.items]
        ).astype(np.int64)
        sizes = np.array([len(i) for i in aggregate.items], dtype=np.float64)
        total = float(per_query.w.sum() + aggregate.w.sum())
        # Ridges in pseudo-outcomes: the need's own if set, else the query heads'; the
        # loading's own if set, else the need's.
        l2_need = self.l2_query if self.l2_need is None else self.l2_need
        l2_load = l2_need if self.l2_load is None else self.l2_load
        reg = {
            "wd": self.l2_query,
            "wn": l2_need,
            "wa": l2_load,
            "k": self.l2_arm,
            "rho": self.l2_arm,
        }

        def unpack(theta: FloatArray) -> dict[str, FloatArray]:
            return {name: theta[s] for name, s in lay.slices.items()}

        def objective(theta: FloatArray) -> tuple[float, FloatArray]:
            p = unpack(theta)
            d = Z @ p["wd"] + p["bd"][0]
            u = Z @ p["wn"] + p["bn"][0]
            need = _sigmoid(u)
            dneed = need * (1 - need)
            load = 2.0 * _sigmoid(Z @ p["wa"] + p["ba"][0])
            dload = load * (1 - load / 2)
            r = ladder @ _softplus(p["rho"])
            k = p["k"][model_of]
            grad_d = np.zeros(len(Z))
            grad_need = np.zeros(len(Z))
            grad_load = np.zeros(len(Z))
            grad_k_arm = np.zeros(lay.n_arms)
            grad_r = np.zeros(lay.n_arms)
            grad_off = np.zeros(n_offsets)
            # Per-query likelihood.
            qi, ai = per_query.qi, per_query.ai
            z = load[qi] * k[ai] + r[ai] * need[qi] - d[qi]
            ps = _sigmoid(z)
            eps = 1e-9
            y = per_query.y
            loss = -float(
                np.sum(per_query.w * (y * np.log(ps + eps) + (1 - y) * np.log(1 - ps + eps)))
            )
            g = per_query.w * (ps - y)
            nq, na = len(Z), lay.n_arms
            grad_d -= np.bincount(qi, g, minlength=nq)
            grad_need += np.bincount(qi, g * r[ai], minlength=nq)
            grad_load += np.bincount(qi, g * k[ai], minlength=nq)
            grad_k_arm += np.bincount(ai, g * load[qi], minlength=na)
            grad_r += np.bincount(ai, g * need[qi], minlength=na)
            # Published accuracies: binomial likelihood of the mean over each row's items.
            if len(flat_items):
                ar = aggregate.ai[row_of]
                oz = p["off"][aggregate.oi][row_of]
                zi = load[flat_items] * k[ar] + r[ar] * need[flat_items] - d[flat_items] + oz
                pi = _sigmoid(zi)
                pbar = np.bincount(row_of, pi, minlength=len(sizes)) / sizes
                pbar = np.clip(pbar, 1e-6, 1 - 1e-6)
                acc = aggregate.acc
                loss -= float(
                    np.sum(aggregate.w * (acc * np.log(pbar) + (1 - acc) * np.log(1 - pbar)))
                )
                coef = aggregate.w * (pbar - acc) / (pbar * (1 - pbar)) / sizes
                gi = coef[row_of] * pi * (1 - pi)
                grad_d -= np.bincount(flat_items, gi, minlength=nq)
                grad_need += np.bincount(flat_items, gi * r[ar], minlength=nq)
                grad_load += np.bincount(flat_items, gi * k[ar], minlength=nq)
                grad_k_arm += np.bincount(ar, gi * load[flat_items], minlength=na)
                grad_r += np.bincount(ar, gi * need[flat_items], minlength=na)
                per_row = np.bincount(row_of, gi, minlength=len(sizes))
                grad_off += np.bincount(aggregate.oi, per_row, minlength=n_offsets)
            loss /= total
            grads = {
                "wd": Z.T @ grad_d,
                "bd": np.array([grad_d.sum()]),
                "wn": Z.T @ (grad_need * dneed),
                "bn": np.array([(grad_need * dneed).sum()]),
                "wa": Z.T @ (grad_load * dload),
                "ba": np.array([(grad_load * dload).sum()]),
                "k": np.bincount(model_of, grad_k_arm, minlength=lay.n_models),
                "rho": (ladder.T @ grad_r) * _sigmoid(p["rho"]),
                "off": grad_off,
            }
            out = np.zeros(lay.size)
            for name, s in lay.slices.items():
                out[s] = grads[name] / total
            # Ridge penalties: lam / total is what lam outcomes weigh.
            for name, lam in reg.items():
                v = p[name]
                loss += 0.5 * lam * float(v @ v) / total
                out[lay.slices[name]] += lam * v / total
            loss += 0.5 * float(np.sum(pen_off * p["off"] ** 2)) / total
            out[lay.slices["off"]] += pen_off * p["off"] / total
            return loss, out

        theta0 = np.zeros(lay.size)
        res = minimize(
            objective,
            theta0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "maxcor": 20},
        )
        p = unpack(res.x)
        self.w_difficulty_ = p["wd"].copy()
        self.b_difficulty_ = float(p["bd"][0])
        self.w_need_ = p["wn"].copy()
        self.b_need_ = float(p["bn"][0])
        self.w_load_ = p["wa"].copy()
        self.b_load_ = float(p["ba"][0])
        self.offsets_ = p["off"].copy()
        r_arm = ladder @ _softplus(p["rho"])
        self.arms_ = {
            key: ScaleArm(key, float(p["k"][model_of[a]]), float(r_arm[a]))
            for a, key in enumerate(arm_keys)
        }
        self.models_ = {m: float(p["k"][i]) for i, m in enumerate(model_keys)}
        self.n_iter_ = int(res.nit)
        self.loss_ = float(res.fun)
        return self

    def arm(self, key: str) -> ScaleArm | None:
        """The arm ``model@setting``; an effort the published tables skip (gpt-5-mini at
        ``low``) lies between the model's neighbouring efforts, its reasoning interpolated at the
        effort's place on the ladder (:data:`EFFORT_POSITION`)."""
        got = self.arms_.get(key)
        if got is not None or "@" not in key:
            return got
        model, setting = key.split("@", 1)
        if setting not in EFFORT_POSITION:
            return None
        at = EFFORT_POSITION[setting]
        known = {
            EFFORT_POSITION[e]: self.arms_[f"{model}@{e}"]
            for e in EFFORT_POSITION
            if f"{model}@{e}" in self.arms_
        }
        below = [x for x in known if x < at]
        above = [x for x in known if x > at]
        if not below or not above:
            return None
        lo, hi = known[max(below)], known[min(above)]
        t = (at - max(below)) / (min(above) - max(below))
        reasoning = (1 - t) * lo.reasoning + t * hi.reasoning
        return ScaleArm(key, lo.knowledge, reasoning, "published (interpolated)")

    def keep_items(self, items: dict[str, FloatArray]) -> AbsoluteScale:
        """Remember each benchmark's item traits (from its items' features), so that an arm
        known only by its published scores can be placed later without the items' texts."""
        self.items_ = {}
        for bench, X in items.items():
            d, need, load = self._traits(X)
            self.items_[bench] = (np.round(d, 4), np.round(need, 4), np.round(load, 4))
        return self

    # ----------------------------------------------------------------- predicting
    def _standard(self, X: npt.ArrayLike) -> FloatArray:
        # Clipped: a query far outside the training texts (a four-word request) must not
        # reach a difficulty no item has by extrapolating a linear head.
        X = np.asarray(X, dtype=np.float64)
        if self.columns is not None:
            X = X[:, list(self.columns)]
        Z = (X - self.mean_) / self.scale_
        return np.clip(Z, -self.clip, self.clip)

    def _traits(self, X: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(difficulty, need, loading) of each query, from one standardisation of ``X``."""
        Z = self._standard(X)
        d = Z @ self.w_difficulty_ + self.b_difficulty_
        need = _sigmoid(Z @ self.w_need_ + self.b_need_)
        w = getattr(self, "w_load_", None)
        load = np.ones(len(Z)) if w is None else 2.0 * _sigmoid(Z @ w + self.b_load_)
        return d, need, load

    def traits(self, X: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Each query's (difficulty, need) on the scale."""
        d, need, _ = self._traits(X)
        return d, need

    def loading(self, X: npt.ArrayLike) -> FloatArray:
        """How much the query separates models by knowledge, in (0, 2): low where every
        competent model answers well (a chat request), high on a knowledge question."""
        return self._traits(X)[2]

    def predict(
        self, X: npt.ArrayLike, arms: Sequence[ScaleArm]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The ``arms``' logits for each query, with the queries' difficulty and need: one
        pass over the features for all three (a decision asks for them together)."""
        d, need, load = self._traits(X)
        k = np.array([a.knowledge for a in arms])
        r = np.array([a.reasoning for a in arms])
        logits = load[:, None] * k[None, :] + r[None, :] * need[:, None] - d[:, None]
        return logits, d, need

    def logits(self, X: npt.ArrayLike, arms: Sequence[ScaleArm]) -> FloatArray:
        return self.predict(X, arms)[0]

    def state(self) -> dict[str, Any]:
        return {
            "clip": self.clip,
            "columns": None if self.columns is None else list(self.columns),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "w_difficulty": self.w_difficulty_.tolist(),
            "b_difficulty": self.b_difficulty_,
            "w_need": self.w_need_.tolist(),
            "b_need": self.b_need_,
            "w_load": None if getattr(self, "w_load_", None) is None else self.w_load_.tolist(),
            "b_load": getattr(self, "b_load_", 0.0),
            "arms": [[a.key, a.knowledge, a.reasoning] for a in self.arms_.values()],
            "models": self.models_,
            "items": {
                b: [v.tolist() for v in traits] for b, traits in getattr(self, "items_", {}).items()
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AbsoluteScale:
        columns = state.get("columns")
        out = cls(clip=float(state.get("clip", 3.0)), columns=columns)
        out.mean_ = np.asarray(state["mean"], dtype=np.float64)
        out.scale_ = np.asarray(state["scale"], dtype=np.float64)
        out.w_difficulty_ = np.asarray(state["w_difficulty"], dtype=np.float64)
        out.b_difficulty_ = float(state["b_difficulty"])
        out.w_need_ = np.asarray(state["w_need"], dtype=np.float64)
        out.b_need_ = float(state["b_need"])
        if state.get("w_load") is not None:
            out.w_load_ = np.asarray(state["w_load"], dtype=np.float64)
            out.b_load_ = float(state.get("b_load", 0.0))
        out.arms_ = {k: ScaleArm(k, float(kn), float(r)) for k, kn, r in state["arms"]}
        out.models_ = {str(k): float(v) for k, v in state["models"].items()}
        out.offsets_ = np.zeros(0)
        out.items_ = {}
        for b, traits in state.get("items", {}).items():
            d, n, *rest = (np.asarray(v, dtype=np.float64) for v in traits)
            out.items_[str(b)] = (d, n, rest[0] if rest else np.ones(len(d)))
        return out
