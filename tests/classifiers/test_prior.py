"""The price prior: abilities at the common slope, weights by data, a line that keeps its sign."""

from __future__ import annotations

import dataclasses

import numpy as np

from ponder.classifiers import ArmPrior, DifficultyClassifier, FeaturizerSpec
from ponder.classifiers._prior import common_slope_abilities
from ponder.outcomes import OutcomeTable

PRICES = np.array([0.1, 0.3, 1.0, 3.0, 10.0])
ABILITY = np.array([-1.5, -0.7, 0.0, 0.7, 1.5])  # rising by 1.5 a decade of price


def _outcomes(rng: np.random.Generator, f: np.ndarray, logits: list[np.ndarray]) -> tuple:
    y = np.concatenate([(rng.random(len(f)) < 1 / (1 + np.exp(-z))).astype(float) for z in logits])
    aj = np.repeat(np.arange(len(logits)), len(f))
    return np.tile(f, len(logits)), y, aj


def test_arm_flat_in_difficulty_does_not_drag_the_prior() -> None:
    from ponder.classifiers._irt import _calibrate_arm

    rng = np.random.default_rng(0)
    f = rng.normal(0, 1.5, 2000)  # easiness of the table's queries
    # Five arms of slope 1 whose ability rises with price, and the dearest arm flat in
    # difficulty: an ordinary success rate (about 0.38) whatever the query.
    logits = [f + a for a in ABILITY] + [np.full_like(f, -0.5)]
    f_obs, y, aj = _outcomes(rng, f, logits)
    flat_alpha, flat_beta = _calibrate_arm(f, y[aj == 5])
    assert flat_alpha < 0.1 and abs(flat_beta / flat_alpha) > 4  # beta / alpha explodes
    alpha = np.array([1.0] * 5 + [flat_alpha])
    prices = np.append(PRICES, 30.0)
    # Least squares on beta / alpha: the dearest arm turns the slope negative.
    assert np.polyfit(np.log10(prices), np.append(ABILITY, flat_beta / flat_alpha), 1)[0] < 0
    theta = common_slope_abilities(f_obs, y, aj, 6, 1.0)
    assert np.all(np.isfinite(theta)) and -3 < theta[5] < 0
    np.testing.assert_allclose(theta[:5], ABILITY, atol=0.15)
    prior = ArmPrior.fit(theta, prices, alpha, counts=np.full(6, 2000.0))
    assert prior.slope > 0.5
    assert prior.ability(0.1) < prior.ability(1.0) < prior.ability(10.0)
    assert prior.discrimination == 1.0


def test_common_slope_abilities_match_each_arms_success_rate() -> None:
    from ponder.classifiers._difficulty import sigmoid

    rng = np.random.default_rng(1)
    f = rng.normal(0, 1.5, 1000)
    # Arms of different slopes, one that answered only the easier half of the queries.
    logits = [0.5 * f - 1.0, 2.0 * f + 1.0, f - 0.3]
    f_obs, y, aj = _outcomes(rng, f, logits)
    keep = (aj != 2) | (f_obs > 0)
    f_obs, y, aj = f_obs[keep], y[keep], aj[keep]
    theta = common_slope_abilities(f_obs, y, aj, 3, 1.2)
    for j in range(3):
        m = aj == j
        rate = (y[m].sum() + 0.5) / (m.sum() + 1)
        assert abs(sigmoid(1.2 * (theta[j] + f_obs[m])).mean() - rate) < 1e-6
    # Half the queries, the easy half: a high rate there is not a high ability.
    assert theta[2] < 0.0 < y[aj == 2].mean() - 0.5
    # No outcome at all: no ability; all failures: low but finite.
    none = common_slope_abilities(f[:10], np.zeros(10), np.zeros(10, dtype=np.int64), 2, 1.0)
    assert np.isfinite(none[0]) and none[0] < -2 and np.isnan(none[1])


def test_the_line_is_weighted_least_squares() -> None:
    rng = np.random.default_rng(2)
    theta = ABILITY + rng.normal(0, 0.3, 5)
    prior = ArmPrior.fit(theta, PRICES, np.ones(5))
    slope, intercept = np.polyfit(np.log10(PRICES), theta, 1)
    np.testing.assert_allclose([prior.slope, prior.intercept], [slope, intercept])
    assert prior.n_arms == 5


def test_arms_with_few_outcomes_count_less() -> None:
    prices = np.append(PRICES, 30.0)
    beta = np.append(ABILITY, -3.0)
    many = ArmPrior.fit(beta, prices, np.ones(6), counts=np.array([1e3] * 5 + [1e4]))
    few = ArmPrior.fit(beta, prices, np.ones(6), counts=np.array([1e3] * 5 + [3]))
    assert few.slope > many.slope


def test_prices_that_do_not_order_ability_give_a_flat_prior() -> None:
    prior = ArmPrior.fit(ABILITY[::-1].copy(), PRICES, np.ones(5))
    assert prior.slope == 0.0
    assert prior.intercept == 0.0  # the median
    assert prior.ability(5.0) == prior.ability(None) == 0.0


def test_classifier_prior_survives_an_arm_flat_in_difficulty(
    synthetic: tuple[OutcomeTable, np.ndarray],
) -> None:
    table, _ = synthetic
    rng = np.random.default_rng(1)
    n = table.n_queries
    flat = (rng.random(n) < 0.3).astype(float)  # the dearest arm: a coin, whatever the query
    tok = np.full((n, 1), 100.0)
    wide = dataclasses.replace(
        table,
        arms=(*table.arms, "flat"),
        scores=np.column_stack([table.scores, flat]),
        costs=np.column_stack([table.costs, np.full(n, 200 * 30.0 / 1e6)]),
        input_tokens=np.hstack([table.input_tokens, tok]),
        output_tokens=np.hstack([table.output_tokens, tok]),
    )
    clf = DifficultyClassifier(
        backend="logistic", featurizer=FeaturizerSpec(kind="stats"), cv_folds=3, residual=False
    ).fit(wide)
    assert clf.profile("flat").discrimination < 0.3
    assert clf.prior_.slope > 0
    cheap = clf.profile("new-cheap", price_per_mtok=0.2)
    dear = clf.profile("new-dear", price_per_mtok=10.0)
    assert -5 < cheap.ability < dear.ability < 5
