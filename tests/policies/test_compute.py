"""VoteModel: the beta-binomial value of n-sample votes, against closed forms, Monte Carlo
replays of the adaptive rule, synthetic fits of known kappa and the recorded public samples
in ``../shared/data`` (skipped when it is absent)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from ponder.outcomes import OutcomeTable, Sample
from ponder.policies import DEFAULT_KAPPA, VoteModel

P = np.array([0.0, 0.05, 0.3, 0.5, 0.55, 0.8, 0.97, 1.0])
RIGHT, WRONG = Sample(answer="a", score=1.0), Sample(answer="b", score=0.0)


def _binomial_majority(p: float, n: int) -> float:
    total = 0.0
    for k in range(n + 1):
        w = 1.0 if 2 * k > n else 0.5 if 2 * k == n else 0.0
        total += w * math.comb(n, k) * p**k * (1 - p) ** (n - k)
    return total


def _sampled_table(
    means: dict[str, np.ndarray], kappa: float, m: int, seed: int = 0
) -> OutcomeTable:
    """Per arm and query, ``m`` samples whose rate is Beta(mean kappa, (1 - mean) kappa)."""
    rng = np.random.default_rng(seed)
    n = len(next(iter(means.values())))
    samples = {}
    for arm, mu in means.items():
        rate = rng.beta(mu * kappa, (1 - mu) * kappa)
        right = rng.random((n, m)) < rate[:, None]
        samples[arm] = tuple(tuple(RIGHT if r else WRONG for r in row) for row in right)
    k = len(means)
    return OutcomeTable(
        ids=tuple(f"q{i}" for i in range(n)),
        prompts=("",) * n,
        tasks=("",) * n,
        arms=tuple(means),
        scores=np.ones((n, k)),
        costs=np.full((n, k), np.nan),
        input_tokens=np.full((n, k), np.nan),
        output_tokens=np.full((n, k), np.nan),
        samples=samples,
    )


@pytest.mark.parametrize("kappa", [1e-3, 0.336, 5.0, math.inf])
def test_one_sample_is_the_single_sample_success(kappa: float) -> None:
    model = VoteModel(kappa=kappa)
    assert np.array_equal(model.p_vote(P, 1), P)
    assert np.array_equal(model.p_vote(P.reshape(2, 4), 1), P.reshape(2, 4))


def test_more_votes_help_when_samples_are_nearly_independent() -> None:
    model = VoteModel(kappa=1e4)
    curve = np.array([model.p_vote([0.6, 0.8], n) for n in range(1, 16)])
    assert (np.diff(curve, axis=0) >= -1e-12).all()
    odd = curve[0::2]
    assert (np.diff(odd, axis=0) > 1e-3).all()
    # even n gains nothing over n - 1: the extra vote only breaks a tie, at random
    assert np.allclose(curve[1::2], curve[0:-1:2])
    # below one half, voting hurts
    assert model.p_vote(0.4, 9) < 0.4


def test_perfectly_correlated_samples_make_votes_worthless() -> None:
    for n in (2, 3, 10, 41):
        assert np.allclose(VoteModel(kappa=1e-6).p_vote(P, n), P, atol=1e-4)


def test_large_kappa_is_the_independent_binomial_majority() -> None:
    for n in (2, 3, 7, 20):
        want = np.array([_binomial_majority(float(p), n) for p in P])
        assert np.allclose(VoteModel(kappa=math.inf).p_vote(P, n), want, atol=1e-12)
        assert np.allclose(VoteModel(kappa=1e7).p_vote(P, n), want, atol=1e-5)
        assert not np.allclose(VoteModel(kappa=2.0).p_vote(P, n), want, atol=1e-2) or n == 2


def test_degenerate_probabilities_and_symmetry() -> None:
    model = VoteModel(kappa=0.7)
    v = model.p_vote(P, 9)
    assert v[0] == 0.0 and v[-1] == pytest.approx(1.0)
    assert np.allclose(model.p_vote(1 - P, 9), 1 - v)
    assert ((v >= 0) & (v <= 1)).all()


def test_invalid_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        VoteModel(kappa=1.0).p_vote([0.2, 1.2], 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        VoteModel(kappa=1.0).p_vote([np.nan], 3)
    with pytest.raises(ValueError, match="n must be"):
        VoteModel(kappa=1.0).p_vote(0.5, 0)
    with pytest.raises(ValueError, match="max_n must be"):
        VoteModel(kappa=1.0).expected_samples(0.5, 0, 0.9)
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="kappa must be > 0"):
            VoteModel(kappa=bad).p_vote(0.5, 3)
    with pytest.raises(ValueError, match="confidence"):
        VoteModel(kappa=1.0).expected_samples(0.5, 5, 1.5)


def test_unfitted_model_uses_the_default_kappa() -> None:
    assert np.allclose(VoteModel().p_vote(P, 7), VoteModel(kappa=DEFAULT_KAPPA).p_vote(P, 7))


def test_expected_samples_bounds_and_agreement() -> None:
    model = VoteModel(kappa=2.0)
    p = np.linspace(0.5, 1.0, 11)
    es = model.expected_samples(p, 16, 0.95)
    assert ((es >= 2) & (es <= 16)).all()
    assert (np.diff(es) < 0).all()  # samples agree more often as p -> 1
    assert model.expected_samples(1.0, 16, 0.95) == pytest.approx(4.0)  # 4-0 settles 0.95
    # batches of 4 can only stop at 4, 8, ...
    assert model.expected_samples(1.0, 16, 0.95, batch=4) == pytest.approx(4.0)
    assert model.expected_samples(1.0, 16, 0.95, batch=3) == pytest.approx(6.0)
    assert VoteModel(kappa=1e-6).expected_samples(0.7, 16, 0.95) == pytest.approx(4.0, abs=1e-3)


def test_adaptive_that_never_stops_early_is_the_full_vote() -> None:
    model = VoteModel(kappa=1.5)
    # 8-0 gives P(share > 1/2) = 1 - 2^-9 < 0.9999: the rule never stops before max_n
    assert np.allclose(model.expected_samples(P, 8, 0.9999), 8.0)
    assert np.allclose(model.p_adaptive(P, 8, 0.9999), model.p_vote(P, 8))
    # stopping early costs a little accuracy and saves samples
    assert (model.p_adaptive(P[3:7], 8, 0.9) <= model.p_vote(P[3:7], 8) + 1e-12).all()


def test_adaptive_dp_matches_a_monte_carlo_replay_of_the_rule() -> None:
    from ponder.aggregators import StoppingRule, adaptive_vote

    rng = np.random.default_rng(3)
    kappa, p, max_n, conf = 1.2, 0.7, 12, 0.9
    rule = StoppingRule(confidence=conf)
    used, right = [], []
    for rate in rng.beta(p * kappa, (1 - p) * kappa, size=4000):
        answers = ["a" if r else "b" for r in rng.random(max_n) < rate]
        agg, n = adaptive_vote(answers, max_n, rule=rule, equal=lambda x, y: x == y)
        used.append(n)
        right.append(agg.answer == "a")
    model = VoteModel(kappa=kappa)
    assert float(model.expected_samples(p, max_n, conf)) == pytest.approx(np.mean(used), abs=0.15)
    assert float(model.p_adaptive(p, max_n, conf)) == pytest.approx(np.mean(right), abs=0.02)


@pytest.mark.parametrize("kappa", [0.5, 4.0])
def test_fit_recovers_a_known_kappa(kappa: float) -> None:
    rng = np.random.default_rng(1)
    n = 3000
    means = {"weak": np.full(n, 0.45), "strong": np.full(n, 0.85)}
    table = _sampled_table(means, kappa, m=10, seed=int(kappa * 10))
    model = VoteModel().fit(table)
    assert model.kappa_ == pytest.approx(kappa, rel=0.2)
    assert model.means_["weak"] == pytest.approx(0.45, abs=0.03)
    assert model.means_["strong"] == pytest.approx(0.85, abs=0.03)
    assert model.n_queries_ == 2 * n
    # Queries of differing difficulty: the marginal fit folds that spread into kappa
    # (smaller), while the per-query means as ``p`` recover the within-query kappa.
    mu = rng.beta(2.0, 1.0, size=n)
    varied = _sampled_table({"x": mu}, kappa, m=10, seed=7)
    marginal = VoteModel().fit(varied).kappa_
    given = VoteModel().fit(varied, p=mu[:, None]).kappa_
    assert given == pytest.approx(kappa, rel=0.25)
    assert marginal < given


def test_fit_with_fixed_kappa_only_learns_means() -> None:
    table = _sampled_table({"x": np.full(500, 0.7)}, 1.0, m=5)
    model = VoteModel(kappa=3.0).fit(table, ["x"])
    assert model.kappa_ == 3.0
    assert model.means_["x"] == pytest.approx(0.7, abs=0.05)


def test_fit_rejects_tables_it_cannot_learn_from() -> None:
    one = _sampled_table({"x": np.full(50, 0.7)}, 1.0, m=1)
    with pytest.raises(ValueError, match="at least 2 recorded samples"):
        VoteModel().fit(one)
    no_samples = OutcomeTable(
        ids=("q",),
        prompts=("",),
        tasks=("",),
        arms=("x",),
        scores=np.ones((1, 1)),
        costs=np.ones((1, 1)),
        input_tokens=np.ones((1, 1)),
        output_tokens=np.ones((1, 1)),
    )
    with pytest.raises(ValueError, match="no arm with recorded samples"):
        VoteModel().fit(no_samples)
    with pytest.raises(ValueError, match="no recorded samples"):
        VoteModel().fit(no_samples, ["x"])
    with pytest.raises(KeyError):
        VoteModel().fit(one, ["nope"])


# ---- recorded public samples -------------------------------------------------------------


def _shared() -> Path:
    env = os.environ.get("PONDER_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def _curves(table: OutcomeTable, arm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replayed majority@N and the fitted and independent predictions, N = 1 .. max."""
    from ponder.simulate._samples import majority_curve

    model = VoteModel().fit(table, [arm])
    mu = model.means_[arm]
    replay = np.array([r.accuracy for r in majority_curve(table, arm)])
    ns = range(1, replay.size + 1)
    fitted = np.array([float(model.p_vote(mu, n)) for n in ns])
    independent = np.array([float(VoteModel(kappa=math.inf).p_vote(mu, n)) for n in ns])
    return replay, fitted, independent


def test_default_kappa_is_the_qwen_math_fit_and_predicts_its_votes() -> None:
    folder = _shared() / "qwen-math-sampled"
    if not folder.is_dir():
        pytest.skip(f"shared data not found at {folder}")
    from ponder.importers import import_rows
    from ponder.outcomes import rows_to_table

    table = rows_to_table(import_rows("qwen-math-sampled", folder))
    assert VoteModel().fit(table).kappa_ == pytest.approx(DEFAULT_KAPPA, rel=0.01)
    replay, fitted, independent = _curves(table, "qwen-math-cot")
    assert np.abs(fitted - replay).max() < 0.02
    assert independent[-1] - replay[-1] > 0.05  # independence promises far too much


def test_overdispersion_explains_why_votes_do_not_help_gpt35_on_date() -> None:
    folder = _shared() / "mot-cascade"
    if not folder.is_dir():
        pytest.skip(f"shared data not found at {folder}")
    from ponder.importers import import_rows
    from ponder.outcomes import rows_to_table

    table = rows_to_table(import_rows("mot-cascade", folder, split="date"))
    replay, fitted, independent = _curves(table, "gpt-3.5-turbo-cot1")
    assert replay.size == 20
    # The first recorded sample is right more often than the 20 on average (0.65 vs 0.60),
    # so the level is off by that much; what the model must get is the (absent) gain.
    assert np.abs(fitted - replay).max() < 0.05
    gain = replay[-1] - replay[0]
    assert abs((fitted[-1] - fitted[0]) - gain) < 0.02
    assert (independent[-1] - independent[0]) - gain > 0.15
