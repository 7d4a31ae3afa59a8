"""Predictions for a replay are made a batch of queries at a time (flat memory on large
tables); batches must not change them."""

from __future__ import annotations

import dataclasses

import numpy as np

from ponder.classifiers import load_default_classifier
from ponder.classifiers._prior import table_arm_prices
from ponder.simulate._evaluate import predict_saved
from tests.simulate.tables import outcome_table

PROMPTS = [
    "What is 2 + 2?",
    "Prove that there are infinitely many primes.",
    "Write a Python function that reverses a linked list in place.",
    "Janet’s ducks lay 16 eggs per day. How many does she sell at $2 each?",
    "",
    "Question: Which of these is a mammal?\nA. shark\nB. dolphin\nC. trout\nD. eel",
    "x " * 6000,
]


def test_batches_do_not_change_predictions() -> None:
    clf = load_default_classifier()
    n = 23
    rng = np.random.default_rng(0)
    table = outcome_table(rng.integers(0, 2, (n, 4)).astype(float), rng.random((n, 4)) / 100)
    trained = clf.arm_names[:2]
    table = dataclasses.replace(
        table,
        prompts=tuple(PROMPTS[i % len(PROMPTS)] + f" ({i})" for i in range(n)),
        arms=(*trained, "unknown-arm-a", "unknown-arm-b"),  # trees for two, the prior for two
    )
    whole = predict_saved(clf, table, batch=n)
    assert whole.shape == (n, 4) and np.isfinite(whole).all()
    for batch in (1, 5, 8, 22):
        np.testing.assert_array_equal(predict_saved(clf, table, batch=batch), whole)
    # and what one call for every query gives (as predict_saved did before batches)
    prices = table_arm_prices(table)
    profiles = [*trained, *(clf.profile(a, price_per_mtok=float(prices[j]))
                            for j, a in enumerate(table.arms) if j >= 2)]  # fmt: skip
    np.testing.assert_array_equal(clf.predict(list(table.prompts), arms=profiles).p_success, whole)
