"""Pricing a table from a menu: the costs, and the tokens those costs assumed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ponder._menu import Menu
from ponder.classifiers import table_arm_prices
from ponder.errors import MenuError
from ponder.simulate import price_table
from tests.simulate.tables import outcome_table

MENU = Menu.model_validate(
    {
        "arms": [
            {"model": "m0", "input_price": 1.0, "output_price": 4.0, "output_tokens": 500},
            {
                "model": "m1",
                "input_price": 1.0,
                "output_price": 4.0,
                "output_tokens": 500,
                "thinking_budget": 4500,
            },
        ]
    }
)


def test_a_thinking_arm_is_priced_per_token_like_its_plain_twin() -> None:
    n = 6
    table = outcome_table(np.ones((n, 2)), np.full((n, 2), np.nan))
    priced = price_table(table, MENU)
    # The thinking arm costs more per request: it pays for 4,500 more tokens ...
    assert (priced.costs[:, 1] > 5 * priced.costs[:, 0]).all()
    np.testing.assert_array_equal(priced.output_tokens, [[500, 5000]] * n)
    # ... but not per token, which is what the price prior compares with a menu's price.
    per_token = table_arm_prices(priced)
    assert per_token[1] == pytest.approx(4.0, rel=0.01)
    assert per_token[0] == pytest.approx(4.0, rel=0.02)


def test_recorded_costs_and_tokens_are_kept() -> None:
    costs = np.array([[0.5, np.nan], [np.nan, np.nan]])
    table = outcome_table(np.ones((2, 2)), costs)
    tokens = np.array([[100.0, np.nan], [np.nan, np.nan]])
    table = dataclasses.replace(table, output_tokens=tokens)
    priced = price_table(table, MENU)
    assert priced.costs[0, 0] == 0.5 and priced.output_tokens[0, 0] == 100
    assert np.isnan(priced.input_tokens[0, 0])  # a recorded cost is not re-explained
    assert priced.output_tokens[1, 0] == 500 and priced.output_tokens[0, 1] == 5000


def test_an_arm_the_menu_does_not_price_is_an_error() -> None:
    table = outcome_table(np.ones((2, 3)), np.full((2, 3), np.nan))
    with pytest.raises(MenuError, match="m2"):
        price_table(table, MENU)
    assert np.isnan(price_table(table, MENU, strict=False).output_tokens[:, 2]).all()
