"""Abilities for arms that have no logs yet, predicted from their price.

Price is the one thing known about every arm before it has been tried, and across the arms
of the public outcome tables it orders ability about as well as anything cheap can. The fit is
a line of ability against log10 price, made on the trained arms whose price is known
(:meth:`ArmPrior.fit`).

What the line is fitted on, and how, is the point of this module. A trained arm's profile is
``logit = alpha * (ability - difficulty)`` with its own slope ``alpha``, fitted out of fold,
and ``ability = beta / alpha``. When an arm's outcomes barely depend on difficulty, ``alpha``
sits at its floor (0.05) and ``beta / alpha`` explodes (tens of logits) although the arm's
success rate is ordinary; a least-squares line through such a point follows it and nothing
else. So, as a statistician would:

* **Abilities on a stable scale, under the model the prior predicts with.** An arm without
  logs gets the median slope. Each trained arm therefore enters the fit with the ability it
  has *at that common slope*: the level at which an arm of the median slope has the same mean
  success over the same queries (:func:`common_slope_abilities`; full pooling of the slope,
  the limit of a hierarchical slope shrunk to its median). That number depends on the arm's
  success rate and the difficulty of the queries it answered, not on how the rate varies
  with difficulty, so a flat arm is an ordinary point; and the line predicts what it was
  fitted on. (The arm's logit at a reference difficulty was tried too: it overstates weak
  arms of low slope, because a mean of sigmoids is not the sigmoid at the mean, and placed
  left-out reasoning-gym arms worse, 0.088 against 0.078 below.)
* **Weights by data.** An arm counts by ``n / (n + N_HALF)`` of its outcomes: one with a
  handful of outcomes says little, above a few hundred every arm counts alike (the scatter
  of arms around any price line is far larger than the noise of a well-measured one).
* **Least squares, not a robust line.** Once abilities are on this scale nothing explodes,
  and the arms far off the price trend are real (LLMRouter's ChatQA models fail its answer
  format, the 70B one at the top price): a new arm may be one of them, and the prior should
  be as unsure of price as the arms at hand are. A Huber line (``c = 1.345``) that set them
  aside, and a choice among flat, least-squares and Huber lines by leaving one trained arm
  out, were measured as ``bench/bench_unseen_arms.py`` does and placed left-out arms worse on
  LLMRouter (mean absolute error of their mean P(success) 0.186 and 0.192 against 0.173 for
  least squares) and no better on reasoning-gym (0.077 and 0.079 against 0.078, against
  the model trained with the arm).
* **A sign.** A dearer arm is not predicted to be worse: a line whose slope is not positive
  is replaced by a flat prior at the weighted median, which ``ponder route`` warns about.

There is no tuned hyperparameter (``N_HALF`` is a round number that only matters for arms
with a few dozen outcomes); ``bench/bench_unseen_arms.py`` measures the result (leave one
arm out, price it from the table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ponder.classifiers._difficulty import sigmoid
from ponder.outcomes import OutcomeTable

FloatArray = npt.NDArray[np.float64]

N_HALF = 50.0
"""Outcomes at which an arm counts half in the prior's fit."""


@dataclass(frozen=True)
class ArmPrior:
    intercept: float
    slope: float
    discrimination: float
    n_arms: int

    def ability(self, price_per_mtok: float | None) -> float:
        if price_per_mtok is None or price_per_mtok <= 0 or not math.isfinite(price_per_mtok):
            return self.intercept_at_median
        return self.intercept + self.slope * math.log10(price_per_mtok)

    @property
    def intercept_at_median(self) -> float:
        """Ability of an arm of unknown price: the prior's value at a $1/M-token price."""
        return self.intercept

    @staticmethod
    def fit(
        abilities: FloatArray,
        prices: FloatArray,
        discriminations: FloatArray,
        counts: FloatArray | None = None,
    ) -> ArmPrior:
        """Fit the prior on trained arms.

        ``abilities``: each arm's ability at the common slope (:func:`common_slope_abilities`;
        ``beta / alpha`` works but is fragile, see the module docstring); ``prices``: USD per
        million tokens (NaN or <= 0 where unknown); ``discriminations``: the arms' own slopes,
        whose median is what an arm without logs gets; ``counts``: each arm's number of
        outcomes (all alike when None).
        """
        theta = np.asarray(abilities, dtype=np.float64)
        disc = float(np.median(discriminations)) if len(discriminations) else 1.0
        n = np.full(len(theta), 1e9) if counts is None else np.asarray(counts, dtype=np.float64)
        w = n / (n + N_HALF)
        ok = np.isfinite(prices) & (prices > 0) & np.isfinite(theta)
        flat = ArmPrior(_weighted_median(theta, w), 0.0, disc, int(ok.sum()))
        if ok.sum() < 3 or np.ptp(np.log10(prices[ok])) <= 0.3:
            return flat
        x = np.log10(prices[ok])
        intercept, slope = _wls(np.column_stack([np.ones_like(x), x]), theta[ok], w[ok])
        if not slope > 0:
            return flat
        return ArmPrior(intercept, slope, disc, int(ok.sum()))


def common_slope_abilities(
    easiness: FloatArray,
    y: FloatArray,
    arm: npt.NDArray[np.int64],
    n_arms: int,
    discrimination: float,
) -> FloatArray:
    """Each arm's ability were its slope the common ``discrimination``: the ``theta`` at
    which ``sigmoid(discrimination * (theta + f))``, averaged over the queries the arm
    answered (easiness ``f``, out of fold), equals its mean score (shrunk by half an outcome
    toward 1/2, so a perfect or null record stays finite).

    This is the model the prior predicts with (one slope for every arm without logs), so
    the line is fitted on numbers of the same model; and it depends on the arm's success
    rate, not on how that rate varies with difficulty, so it stays ordinary when the arm's
    own slope is at its floor.
    """
    sums = np.bincount(arm, weights=y, minlength=n_arms)
    counts = np.bincount(arm, minlength=n_arms)
    target = (sums + 0.5) / (counts + 1.0)
    lo, hi = np.full(n_arms, -30.0), np.full(n_arms, 30.0)
    for _ in range(60):  # the mean predicted rate is increasing in theta
        mid = (lo + hi) / 2
        rate = np.bincount(
            arm, weights=sigmoid(discrimination * (mid[arm] + easiness)), minlength=n_arms
        )
        below = rate / np.maximum(counts, 1) < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    out: FloatArray = np.where(counts > 0, (lo + hi) / 2, np.nan)
    return out


def _wls(X: FloatArray, y: FloatArray, w: FloatArray) -> tuple[float, float]:
    """(intercept, slope) of weighted least squares of y on the columns [1, x] of X."""
    sw = np.sqrt(w)
    coef = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    return float(coef[0]), float(coef[1])


def _weighted_median(v: FloatArray, w: FloatArray) -> float:
    ok = np.isfinite(v)
    if not ok.any():
        return 0.0
    order = np.argsort(v[ok])
    vs, cw = v[ok][order], np.cumsum(w[ok][order])
    half = cw[-1] / 2
    i = int(np.searchsorted(cw, half))
    if i + 1 < len(vs) and math.isclose(cw[i], half):  # between two values: their mean
        return float((vs[i] + vs[i + 1]) / 2)
    return float(vs[i])


ASSUMED_OUTPUT_TOKENS = 400


def table_arm_prices(table: OutcomeTable) -> npt.NDArray[np.float64]:
    """Each arm's USD per million tokens as the outcome table shows it.

    Where a row records tokens, cost / tokens is exact. Where it records only a cost (the
    RouterBench CSV), the tokens are estimated: the prompt at four characters a token plus a
    typical answer. NaN for arms without any cost.
    """
    est_in = np.array([max(1.0, len(p) / 4) for p in table.prompts])[:, None]
    inp = np.where(np.isnan(table.input_tokens), est_in, table.input_tokens)
    out = np.where(np.isnan(table.output_tokens), ASSUMED_OUTPUT_TOKENS, table.output_tokens)
    ok = np.isfinite(table.costs)
    cost = np.where(ok, table.costs, 0.0).sum(axis=0)
    tok = np.where(ok, inp + out, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        price = np.where(tok > 0, cost / tok * 1e6, np.nan)
    return np.asarray(price, dtype=np.float64)
