"""The price prior: an arm without logs gets its ability from price and reasoning strength."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.classifiers._prior import ArmPrior

# Eight priced arms: ability rises 0.5 a decade of price, and the four that reason stand
# 1.2 higher than their price alone says (as a reasoning model priced like its plain base).
PRICES = np.array([0.1, 0.3, 1.0, 3.0, 0.1, 0.3, 1.0, 3.0])
STRENGTH = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
ABILITY = -0.2 + 0.5 * np.log10(PRICES) + 1.2 * STRENGTH
DISC = np.ones(8)


def test_reasoning_lift_is_fitted_beside_price() -> None:
    prior = ArmPrior.fit(ABILITY, PRICES, DISC, STRENGTH)
    assert prior.slope == pytest.approx(0.5)
    assert prior.reasoning == pytest.approx(1.2)
    assert prior.ability(1.0, 1.0) - prior.ability(1.0, 0.0) == pytest.approx(1.2)
    # Price alone would split the lift between the slope and the intercept and place a
    # plain arm too high and a thinking one too low.
    alone = ArmPrior.fit(ABILITY, PRICES, DISC)
    assert alone.reasoning == 0.0
    assert abs(alone.ability(1.0) - (-0.2)) > 0.5


def test_no_lift_without_both_kinds_of_arm() -> None:
    plain = STRENGTH == 0
    prior = ArmPrior.fit(ABILITY[plain], PRICES[plain], DISC[plain], STRENGTH[plain])
    assert prior.reasoning == 0.0 and prior.slope == pytest.approx(0.5)


def test_a_lift_that_comes_out_negative_is_dropped() -> None:
    ability = -0.2 + 0.5 * np.log10(PRICES) - 0.8 * STRENGTH
    prior = ArmPrior.fit(ability, PRICES, DISC, STRENGTH)
    assert prior.reasoning == 0.0 and prior.slope > 0


def test_unknown_price_still_gets_the_lift() -> None:
    prior = ArmPrior(intercept=0.1, slope=0.5, discrimination=1.0, n_arms=8, reasoning=1.0)
    assert prior.ability(None, 0.5) == pytest.approx(0.6)
    assert prior.ability(float("nan")) == pytest.approx(0.1)
