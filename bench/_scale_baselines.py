"""What the absolute scale's held-out predictions are compared with, and how they are printed.

Shared by ``bench_scale.py`` (leave one benchmark out) and ``bench_scale_efforts.py`` (leave
one effort out). Three baselines need nothing but the published table:

- **price prior**: ``logit(acc) = a_benchmark + b * log10(price) + c * thinks``, least squares
  over the priced arms' rows of the training benchmarks. For a held-out benchmark its
  ``a_benchmark`` is unknown, so the prediction uses the mean of the fitted offsets (each
  training benchmark weighted once): the price prior has no item information, and this is
  the one level it can honestly assume. Prices are litellm's offline table through
  :func:`ponder._pricing.lookup_price`, blended 1:3 input:output as the menu does
  (:attr:`ponder._menu.Arm.blended_price`); the names litellm spells differently are mapped in
  :data:`PRICE_ALIASES`, open-weight models at one host's price (DeepInfra where it is listed).
- **rank-2 completion** of the arms x benchmarks table of logit accuracies (alternating least
  squares with a small ridge, numpy only). It sees no items; see :func:`rank2_lobo` for the
  protocol, which lets it see part of the held-out column.
- the arm's mean over its other benchmarks, and the neighbouring efforts' scores, are
  computed by the scripts themselves.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ponder._pricing import lookup_price
from ponder.classifiers._arm_keys import key_model, thinks
from ponder.classifiers._scale_data import PublishedRow
from ponder.errors import MenuError

PRICE_ALIASES = {
    "claude-3.5-sonnet": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3.5-sonnet-20240620": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "claude-3.5-sonnet-20241022": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3.7-sonnet": "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "claude-sonnet-4": "anthropic.claude-sonnet-4-20250514-v1:0",
    "deepseek-r1": "deepseek/deepseek-r1",
    "deepseek-r1-0528": "deepinfra/deepseek-ai/DeepSeek-R1-0528",
    "deepseek-v3": "deepseek/deepseek-v3",
    "deepseek-v3-0324": "deepinfra/deepseek-ai/DeepSeek-V3-0324",
    "gemma-3-27b-it": "deepinfra/google/gemma-3-27b-it",
    "gpt-4-0125-preview": "azure/gpt-4-0125-preview",
    "grok-3-mini": "vercel_ai_gateway/xai/grok-3-mini",
    "llama-3.1-70b-instruct": "deepinfra/meta-llama/Meta-Llama-3.1-70B-Instruct",
    "llama-3.1-8b-instruct": "deepinfra/meta-llama/Meta-Llama-3.1-8B-Instruct",
    "llama-3.3-70b-instruct": "deepinfra/meta-llama/Llama-3.3-70B-Instruct",
    "llama-4-maverick": "deepinfra/meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
    "llama-4-scout": "deepinfra/meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "mistral-small-3.1-24b": "mistral/mistral-small-latest",
    "mixtral-8x7b-instruct": "deepinfra/mistralai/Mixtral-8x7B-Instruct-v0.1",
    "o1-mini": "azure/o1-mini",
    "qwq-32b": "deepinfra/Qwen/QwQ-32B",
    "qwq-32b-preview": "fireworks_ai/accounts/fireworks/models/qwen-qwq-32b-preview",
}
"""Published model names litellm's table lists under another name. Gemini 2.5 previews
(dated) are not in the table and stay unpriced."""


def arm_price(key: str) -> float | None:
    """USD per million tokens at a 1:3 input:output mix, or None when litellm has no price."""
    model = key_model(key)
    try:
        p = lookup_price(PRICE_ALIASES.get(model, model))
    except MenuError:
        return None
    blended = (p.input + 3 * p.output) / 4
    return blended if blended > 0 else None


def logit(p: float | np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 0.005, 0.995)
    return np.asarray(np.log(q / (1 - q)))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


# ---------------------------------------------------------------------- price prior
@dataclass(frozen=True)
class PricePrior:
    """``logit(acc) = offset[benchmark] + slope * log10(price) + lift * thinks``."""

    offsets: dict[str, float]
    slope: float
    lift: float

    def predict(self, key: str, benchmark: str | None = None) -> float | None:
        """The arm's accuracy on ``benchmark`` (a fitted one), else at the mean offset."""
        price = arm_price(key)
        if price is None:
            return None
        level = self.offsets.get(benchmark or "", float(np.mean(list(self.offsets.values()))))
        return sigmoid(level + self.slope * math.log10(price) + self.lift * float(thinks(key)))

    @staticmethod
    def fit(rows: Iterable[PublishedRow]) -> PricePrior:
        use = [r for r in rows if arm_price(r.key) is not None]
        benches = sorted({r.benchmark for r in use})
        col = {b: i for i, b in enumerate(benches)}
        design = np.zeros((len(use), len(benches) + 2))
        for i, r in enumerate(use):
            design[i, col[r.benchmark]] = 1.0
            design[i, -2] = math.log10(arm_price(r.key) or 1.0)
            design[i, -1] = float(thinks(r.key))
        y = logit(np.array([r.score for r in use]))
        coef = np.linalg.lstsq(design, y, rcond=None)[0]
        offsets = {b: float(coef[col[b]]) for b in benches}
        return PricePrior(offsets, float(coef[-2]), float(coef[-1]))


# ------------------------------------------------------------------ rank-2 completion
def complete(
    Y: np.ndarray, mask: np.ndarray, rank: int = 2, ridge: float = 1.0, seed: int = 0
) -> np.ndarray:
    """``U @ V.T`` fitted to the observed cells of ``Y`` by alternating ridge regressions."""
    rng = np.random.default_rng(seed)
    U = rng.normal(0.0, 1.0, (Y.shape[0], rank))
    V = rng.normal(0.0, 1.0, (Y.shape[1], rank))
    eye = ridge * np.eye(rank)
    prev = np.inf
    for _ in range(300):
        for A, B, Yt, M in ((U, V, Y, mask), (V, U, Y.T, mask.T)):
            for i in range(A.shape[0]):
                o = M[i]
                if o.any():
                    A[i] = np.linalg.solve(B[o].T @ B[o] + eye, B[o].T @ Yt[i, o])
        fit = float(np.sum(((U @ V.T - Y) * mask) ** 2))
        loss = fit + ridge * float(np.sum(U**2) + np.sum(V**2))
        if prev - loss < 1e-7 * max(1.0, loss):
            break
        prev = loss
    return U @ V.T


@dataclass
class CellTable:
    """Mean logit accuracy per (arm, benchmark) over the published rows."""

    keys: list[str]
    benches: list[str]
    Y: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, rows: Sequence[PublishedRow]) -> CellTable:
        keys = sorted({r.key for r in rows})
        benches = sorted({r.benchmark for r in rows})
        cells: dict[tuple[int, int], list[float]] = defaultdict(list)
        for r in rows:
            cells[keys.index(r.key), benches.index(r.benchmark)].append(float(logit(r.score)))
        Y = np.zeros((len(keys), len(benches)))
        mask = np.zeros_like(Y, dtype=bool)
        for (i, j), v in cells.items():
            Y[i, j], mask[i, j] = float(np.mean(v)), True
        return cls(keys, benches, Y, mask)


def column_halves(table: CellTable, bench: str, splits: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Rows (arms) of ``table`` with a cell on ``bench``, halved at random ``splits`` times:
    each array is one half to hide (both halves of every split, in turn)."""
    in_col = np.flatnonzero(table.mask[:, table.benches.index(bench)])
    out = []
    for s in range(splits):
        perm = np.random.default_rng(seed + s).permutation(in_col)
        out += [perm[::2], perm[1::2]]
    return out


def rank2_lobo(
    table: CellTable, bench: str, hidden: Iterable[str], splits: int = 5, seed: int = 0
) -> dict[str, float]:
    """Predicted accuracy on ``bench`` for each arm with a cell there.

    With the held-out column removed entirely a completion cannot say anything about it, so
    the protocol is two-fold *within* the column (:func:`column_halves`): each half's cells
    on ``bench`` (and on the ``hidden`` benchmarks tied to it) are removed, the table is
    completed from the rest, and that half is predicted; averaged in logits over the splits.
    It therefore sees the other half of the arms' scores on the held-out benchmark, which
    the scale never does: a reference beside the scale, not a like-for-like baseline.
    """
    j = table.benches.index(bench)
    cols = [table.benches.index(b) for b in {bench, *hidden} if b in table.benches]
    got: dict[str, list[float]] = defaultdict(list)
    for n, fold in enumerate(column_halves(table, bench, splits, seed)):
        mask = table.mask.copy()
        for c in cols:
            mask[fold, c] = False
        P = complete(table.Y, mask, seed=seed + n // 2)
        for i in fold:
            if mask[i].any():
                got[table.keys[i]].append(float(P[i, j]))
    return {k: sigmoid(float(np.mean(v))) for k, v in got.items()}


def level_lobo(
    table: CellTable, bench: str, item_logits: dict[str, np.ndarray], splits: int = 5, seed: int = 0
) -> dict[str, float]:
    """The scale's prediction with ``bench``'s level learned from the same halves as
    :func:`rank2_lobo`: one logit shift, the visible half's mean of published logit minus
    predicted logit, added to every item's logit of the hidden half. Like for like with the
    rank-2 completion (both see the other half's scores on ``bench``)."""
    j = table.benches.index(bench)

    def mean_p(key: str, shift: float) -> float:
        return float(np.mean(1.0 / (1.0 + np.exp(-(item_logits[key] + shift)))))

    got: dict[str, list[float]] = defaultdict(list)
    for fold in column_halves(table, bench, splits, seed):
        hidden = {table.keys[i] for i in fold}
        seen = [
            float(table.Y[i, j] - logit(mean_p(k, 0.0)))
            for i, k in enumerate(table.keys)
            if table.mask[i, j] and k not in hidden and k in item_logits
        ]
        if not seen:
            continue
        shift = float(np.mean(seen))
        for k in hidden & item_logits.keys():
            got[k].append(mean_p(k, shift))
    return {k: float(np.mean(v)) for k, v in got.items()}


# ------------------------------------------------------------------------ reporting
def interval(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """90% bootstrap interval of the mean, over rows."""
    if len(values) < 2:
        return float("nan"), float("nan")
    boot = rng.choice(values, (2000, len(values)), replace=True).mean(axis=1)
    return float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))


@dataclass
class Held:
    """One held-out published row: its groups, score and each method's prediction."""

    groups: tuple[str, ...]
    score: float
    preds: dict[str, float | None]


def report(
    held: Sequence[Held], methods: Sequence[str], reference: str = "scale", title: str = "held out"
) -> None:
    """MAE per group and method with 90% intervals; each baseline beside the reference on
    the rows the baseline predicts, with the paired difference (baseline - reference)."""
    rng = np.random.default_rng(0)
    order: dict[str, list[Held]] = defaultdict(list)
    for h in held:
        for g in h.groups:
            order[g].append(h)
    print(
        f"\n{title:22s} {'method':16s} {'rows':>4s} {'MAE (90% CI)':>20s} "
        f"{reference + ' same rows':>16s} {'baseline - ' + reference + ' (90% CI)':>28s}"
    )
    # Single groups first, then the bracketed summaries, "[all]" last.
    names = sorted(order, key=lambda g: (g.startswith("["), g == "[all]"))
    for group in names:
        rows = order[group]
        first = True
        for m in (reference, *methods):
            trip = [(h.preds.get(m), h.preds.get(reference), h.score) for h in rows]
            ok = [(p, r, y) for p, r, y in trip if p is not None and r is not None]
            if not ok:
                continue
            err = np.array([abs(p - y) for p, _, y in ok])
            ref = np.array([abs(r - y) for _, r, y in ok])
            lo, hi = interval(err, rng)
            name = group if first else ""
            line = f"{name:22s} {m:16s} {len(ok):4d} {err.mean():7.3f} ({lo:.3f}-{hi:.3f})"
            if m != reference:
                dlo, dhi = interval(err - ref, rng)
                diff = err.mean() - ref.mean()
                line += f" {ref.mean():16.3f} {diff:+13.3f} ({dlo:+.3f}..{dhi:+.3f})"
            print(line)
            first = False
