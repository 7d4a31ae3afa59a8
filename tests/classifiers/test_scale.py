"""The absolute scale: per-query rows and published accuracies fitted jointly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ponder.classifiers._arm_keys import EFFORT_POSITION, arm_key, model_name, setting_of
from ponder.classifiers._scale import AbsoluteScale, Aggregate, PerQuery, ScaleArm


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _world(seed: int = 0):  # type: ignore[no-untyped-def]
    """Queries whose need for reasoning is their first feature's sign; arms ``a@off`` and
    ``b@off`` logged per query, ``a@on`` known only from two published accuracies."""
    rng = np.random.default_rng(seed)
    n, f = 600, 5
    X = rng.normal(size=(n, f))
    d = 0.8 * X[:, 1]
    need = _sigmoid(3.0 * X[:, 0])
    truth = {"a@off": (0.0, 0.3), "a@on": (0.0, 3.0), "b@off": (1.0, 0.3)}
    keys = list(truth)
    models = ["a", "b"]
    arm_model = [0, 0, 1]

    def p(key: str, rows: np.ndarray) -> np.ndarray:
        k, r = truth[key]
        return _sigmoid(k + r * need[rows] - d[rows])

    logged = np.arange(400)
    qi = np.concatenate([logged, logged])
    ai = np.concatenate([np.zeros(400, np.int64), np.full(400, 2, np.int64)])
    y = (rng.random(800) < np.concatenate([p("a@off", logged), p("b@off", logged)])).astype(float)
    per_query = PerQuery(qi.astype(np.int64), ai, y, np.ones(800))
    # Two benchmarks among the unlogged queries: one that needs reasoning, one that does not.
    rest = np.arange(400, n)
    hard = rest[X[rest, 0] > 0.5]
    easy = rest[X[rest, 0] < -0.5]
    rows = [(0, easy), (0, hard), (1, easy), (1, hard), (2, easy), (2, hard)]
    agg = Aggregate(
        ai=np.array([a for a, _ in rows], dtype=np.int64),
        items=tuple(ix for _, ix in rows),
        acc=np.array([p(keys[a], ix).mean() for a, ix in rows]),
        oi=np.array([0, 1, 0, 1, 0, 1], dtype=np.int64),
        w=np.full(6, 100.0),
    )
    return X, keys, arm_model, models, per_query, agg, need, hard, easy, p


def test_an_arm_known_only_from_published_scores_gains_where_reasoning_is_needed() -> None:
    X, keys, arm_model, models, per_query, agg, need, hard, easy, p = _world()
    scale = AbsoluteScale(l2_query=1.0, l2_offset=1000.0, max_iter=500).fit(
        X, keys, arm_model, models, per_query, agg, n_offsets=2
    )
    on, off = scale.arms_["a@on"], scale.arms_["a@off"]
    assert on.knowledge == off.knowledge  # knowledge belongs to the model
    assert on.reasoning > off.reasoning + 1.0
    _, fitted_need = scale.traits(X)
    assert np.corrcoef(fitted_need, need)[0, 1] > 0.8
    for rows in (hard, easy):
        got = _sigmoid(scale.logits(X[rows], [on])[:, 0]).mean()
        # Within a few points: the fit is regularised and its need is a logistic of the
        # features, not the planted one.
        assert got == pytest.approx(p("a@on", rows).mean(), abs=0.07)
    gain_hard = (scale.logits(X[hard], [on]) - scale.logits(X[hard], [off])).mean()
    gain_easy = (scale.logits(X[easy], [on]) - scale.logits(X[easy], [off])).mean()
    assert gain_hard > 2 * gain_easy


def test_the_loading_has_a_ridge_of_its_own() -> None:
    """Where queries truly separate models by knowledge to different degrees, a loose ridge
    on the loading finds which ones do; a tight one, as on the need, flattens it."""
    rng = np.random.default_rng(3)
    n, f = 800, 4
    X = rng.normal(size=(n, f))
    load = 2.0 * _sigmoid(2.0 * X[:, 2])
    d = 0.5 * X[:, 1]
    knowledge = np.linspace(-2.0, 2.0, 6)
    keys = [f"m{i}@default" for i in range(6)]
    qi = np.repeat(np.arange(n), 6)
    ai = np.tile(np.arange(6), n)
    p = _sigmoid(load[qi] * knowledge[ai] - d[qi])
    y = (rng.random(len(p)) < p).astype(float)
    per_query = PerQuery(qi.astype(np.int64), ai.astype(np.int64), y, np.ones(len(y)))
    none = Aggregate(np.zeros(0, np.int64), (), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))

    def fitted(l2_load: float) -> np.ndarray:
        scale = AbsoluteScale(l2_query=1.0, l2_need=1000.0, l2_load=l2_load, max_iter=300)
        scale.fit(X, keys, list(range(6)), keys, per_query, none, n_offsets=0, reasons=[False] * 6)
        return scale.loading(X)

    loose, tight = fitted(1.0), fitted(1e5)
    assert np.corrcoef(loose, load)[0, 1] > 0.9
    assert loose.std() > 5 * tight.std()


def test_state_round_trip_predicts_the_same() -> None:
    X, keys, arm_model, models, per_query, agg, *_ = _world(1)
    scale = AbsoluteScale(max_iter=50).fit(X, keys, arm_model, models, per_query, agg, 2)
    again = AbsoluteScale.from_state(scale.state())
    arms = [scale.arms_[k] for k in keys]
    np.testing.assert_allclose(again.logits(X, arms), scale.logits(X, arms))
    assert again.arms_["a@on"] == scale.arms_["a@on"]


def test_far_away_queries_get_bounded_traits() -> None:
    X, keys, arm_model, models, per_query, agg, *_ = _world(2)
    scale = AbsoluteScale(max_iter=100).fit(X, keys, arm_model, models, per_query, agg, 2)
    d_in, _ = scale.traits(X)
    d_far, need_far = scale.traits(np.full((1, X.shape[1]), 1e6))
    assert abs(d_far[0]) <= np.abs(d_in).max() * 3
    assert 0.0 <= need_far[0] <= 1.0
    assert ScaleArm("x@on", 0.0, 1.0).source == "published"


@pytest.mark.parametrize(
    ("raw", "setting"),
    [
        ("high (per version label)", "high"),
        ("minimal", "minimal"),
        ("thinking on (64k budget)", "on"),
        ("thinking off (budget 0)", "off"),
        ("no extended thinking", "off"),
        ("default (thinking, cannot be disabled)", "on"),
        ("default (Together turbo endpoint)", "default"),
        ("thinking on? (unclear)", None),
        ("Think (effort not stated)", None),
    ],
)
def test_published_settings_are_normalised(raw: str, setting: str | None) -> None:
    assert setting_of(raw) == setting


def test_menu_arms_get_the_key_of_their_setting() -> None:
    assert arm_key("gpt-5", effort="high") == "gpt-5@high"
    assert arm_key("openai/gpt-5-mini") == "gpt-5-mini@medium"  # OpenAI's default effort
    assert arm_key("claude-sonnet-4-5", thinking_budget=4096) == "claude-sonnet-4-5@on"
    assert arm_key("anthropic/claude-sonnet-4-5") == "claude-sonnet-4-5@off"
    assert arm_key("claude-sonnet-4-5", thinking_budget=0) == "claude-sonnet-4-5@off"
    assert arm_key("meta-llama/Llama-3.3-70B-Instruct") == "llama-3.3-70b-instruct@default"
    assert model_name("openai/o3-mini") == "o3-mini"


def test_an_effort_no_table_scores_sits_at_its_place_on_the_ladder() -> None:
    """Low is placed by the log of the thinking tokens it spends, most of the way from
    minimal to medium (published ladders gain most by low), not halfway."""
    scale = AbsoluteScale.from_state(
        {
            "mean": [0.0],
            "scale": [1.0],
            "w_difficulty": [0.0],
            "b_difficulty": 0.0,
            "w_need": [0.0],
            "b_need": 0.0,
            "arms": [["m@minimal", 1.0, 0.0], ["m@medium", 1.0, 3.0], ["m@high", 1.0, 4.0]],
            "models": {"m": 1.0},
        }
    )
    low = scale.arm("m@low")
    assert low is not None and low.source == "published (interpolated)"
    assert 2.0 < low.reasoning < 3.0  # equal spacing put it at 1.5
    assert scale.arm("m@minimal") is scale.arms_["m@minimal"]
    assert scale.arm("other@low") is None  # no neighbours: not placed


def test_effort_positions_follow_the_menus_thinking_tokens() -> None:
    from ponder._menu import EFFORT_TOKENS

    assert {e: round(math.expm1(x)) for e, x in EFFORT_POSITION.items()} == EFFORT_TOKENS


def test_reasoning_never_falls_as_effort_rises() -> None:
    """A ladder whose top effort scored a little below the one under it (a noisy published
    row) gets a top reasoning at least as high, not lower."""
    X, _, _, models, per_query, _, need, hard, easy, _ = _world(4)
    # Model "a" as an effort ladder: minimal logged per query, medium and high published.
    keys = ["a@minimal", "a@medium", "a@high", "b@off"]
    arm_model = [0, 0, 0, 1]
    p_med = float(_sigmoid(3.0 * need[hard] - 0.8 * X[hard, 1]).mean())
    p_med_easy = float(_sigmoid(3.0 * need[easy] - 0.8 * X[easy, 1]).mean())
    rows = [(1, easy, p_med_easy), (1, hard, p_med), (2, easy, p_med_easy), (2, hard, p_med - 0.05)]
    agg = Aggregate(
        ai=np.array([a for a, _, _ in rows], dtype=np.int64),
        items=tuple(ix for _, ix, _ in rows),
        acc=np.array([acc for _, _, acc in rows]),
        oi=np.array([0, 1, 0, 1], dtype=np.int64),
        w=np.full(4, 100.0),
    )
    pq = PerQuery(
        per_query.qi, np.where(per_query.ai == 2, 3, per_query.ai), per_query.y, per_query.w
    )
    scale = AbsoluteScale(l2_query=1.0, max_iter=300).fit(
        X, keys, arm_model, models, pq, agg, n_offsets=2, reasons=[False, True, True, False]
    )
    medium, high = scale.arms_["a@medium"], scale.arms_["a@high"]
    assert medium.reasoning > 1.0  # thinking pays on the hard items
    assert high.reasoning >= medium.reasoning
