"""Abilities for arms that have no logs yet, predicted from their price.

Price is the one thing known about every arm before it has been tried, and across the arms
of the public outcome tables it orders ability about as well as anything cheap can. The fit is
a straight line of ability against log10 price, made on the trained arms whose price is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ponder.outcomes import OutcomeTable


@dataclass(frozen=True)
class ArmPrior:
    """``ability = intercept + slope * log10(price) + reasoning * strength``.

    The reasoning term is there because price per token does not say whether an arm thinks:
    a reasoning model is priced like the plain model it is built on and pays for its thinking
    in tokens. On reasoning-gym's eleven arms (prices per token), leaving each arm out in turn,
    price alone misses the left-out arm's ability by 0.75 logits on average and price plus
    reasoning strength by 0.44.
    """

    intercept: float
    slope: float
    discrimination: float
    n_arms: int
    reasoning: float = 0.0

    def ability(self, price_per_mtok: float | None, strength: float = 0.0) -> float:
        lift = self.reasoning * strength
        if price_per_mtok is None or price_per_mtok <= 0 or not math.isfinite(price_per_mtok):
            return self.intercept_at_median + lift
        return self.intercept + self.slope * math.log10(price_per_mtok) + lift

    @property
    def intercept_at_median(self) -> float:
        """Ability of an arm of unknown price: the prior's value at a $1/M-token price."""
        return self.intercept

    @staticmethod
    def fit(
        abilities: npt.NDArray[np.float64],
        prices: npt.NDArray[np.float64],
        discriminations: npt.NDArray[np.float64],
        strengths: npt.NDArray[np.float64] | None = None,
    ) -> ArmPrior:
        """Least squares over the priced arms. The reasoning term is fitted only when at
        least two priced arms reason and two do not, and kept only when it comes out
        positive with a rising price slope; otherwise the line is price alone."""
        disc = float(np.median(discriminations)) if len(discriminations) else 1.0
        ok = np.isfinite(prices) & (prices > 0)
        n = int(ok.sum())
        if n < 3 or np.ptp(np.log10(prices[ok])) <= 0.3:
            return ArmPrior(float(np.median(abilities)), 0.0, disc, n)
        x = np.log10(prices[ok])
        y = abilities[ok]
        if strengths is not None:
            s = np.asarray(strengths, dtype=np.float64)[ok]
            if (s > 0.5).sum() >= 2 and (s <= 0.5).sum() >= 2 and n >= 4:
                design = np.column_stack([np.ones(n), x, s])
                intercept, slope, lift = np.linalg.lstsq(design, y, rcond=None)[0]
                if slope > 0 and lift > 0:
                    return ArmPrior(float(intercept), float(slope), disc, n, float(lift))
        slope, intercept = np.polyfit(x, y, 1)
        if slope > 0:
            return ArmPrior(float(intercept), float(slope), disc, n)
        return ArmPrior(float(np.median(abilities)), 0.0, disc, n)


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
