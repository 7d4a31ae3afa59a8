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
        abilities: npt.NDArray[np.float64],
        prices: npt.NDArray[np.float64],
        discriminations: npt.NDArray[np.float64],
    ) -> ArmPrior:
        disc = float(np.median(discriminations)) if len(discriminations) else 1.0
        ok = np.isfinite(prices) & (prices > 0)
        if ok.sum() >= 3 and np.ptp(np.log10(prices[ok])) > 0.3:
            x = np.log10(prices[ok])
            slope, intercept = np.polyfit(x, abilities[ok], 1)
            if slope > 0:
                return ArmPrior(float(intercept), float(slope), disc, int(ok.sum()))
        return ArmPrior(float(np.median(abilities)), 0.0, disc, int(ok.sum()))


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
