"""Per-query sample budgets and their calibration on recorded samples: budgets against the
vote model, fits of known kappa and scatter, and calibrations on synthetic arms whose
classifier is informative, or is not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ponder.aggregators import CannotBeOvertaken, DirichletStop
from ponder.policies import (
    ANY_ARM,
    Calibration,
    Recorded,
    SampleBudget,
    SamplingPolicy,
    VoteModel,
    calibrate_sampling,
    fit_gamma,
    fit_kappa,
    policy_for,
    within_reach,
)


def test_budget_is_one_when_near_certain_none_when_hopeless_most_in_between() -> None:
    budget = SampleBudget(kappa=2.0, gain=0.01, floor=0.2, trust=1.0, mean=0.6)
    assert budget.samples(0.995, 9) == 1
    assert budget.samples(0.05, 9) == 0
    middle = budget.samples(0.55, 9)
    assert 1 < middle <= 9
    p = np.linspace(0.0, 1.0, 41)
    b = budget.samples_many(p, 9)
    assert b.max() >= middle > b[-1]
    assert b[0] == 0 and b[-1] == 1
    # the predicted vote at the budget is within gain of the whole vote
    votes = VoteModel(kappa=2.0)
    for q, n in zip(p, b, strict=True):
        if n > 0:
            assert votes.p_vote(q, 9) - votes.p_vote(q, int(n)) <= 0.01 + 1e-9


def test_gain_zero_draws_everything_and_trust_zero_ignores_the_classifier() -> None:
    assert SampleBudget(kappa=1.0, gain=0.0).samples(0.999, 7) == 7
    flat = SampleBudget(kappa=1.0, gain=0.02, trust=0.0, mean=0.7)
    assert len(set(flat.samples_many(np.linspace(0, 1, 11), 9).tolist())) == 1
    assert flat.samples(None, 9) == flat.samples(0.01, 9)
    half = SampleBudget(kappa=1.0, trust=0.5, mean=0.6)
    assert half.prior(1.0) == pytest.approx(0.8)
    assert half.prior(np.nan) == pytest.approx(0.6)


def test_a_policy_plans_and_round_trips() -> None:
    cal = Calibration(100, 8, 5, 0.93, 0.93, 1.4, 0.02, 0.005)
    policy = SamplingPolicy(SampleBudget(0.8, 0.01, 0.1, 0.5, 0.9), 0.95, 1.3, cal)
    assert SamplingPolicy.from_state(policy.to_state()) == policy
    plan = policy.plan(0.99, 8)
    assert plan.budget == policy.budget.samples(0.99, 8)
    assert plan.p == pytest.approx(policy.budget.prior(0.99))
    assert isinstance(plan.rule, DirichletStop) and plan.rule.confidence == 0.95
    assert isinstance(SamplingPolicy(policy.budget, 1.0).rule(), CannotBeOvertaken)
    with pytest.raises(ValueError):
        SamplingPolicy(policy.budget, 0.0)
    with pytest.raises(ValueError):
        SampleBudget(kappa=0.0)


def _arm(
    n: int, kappa: float, gamma: float, m: int, seed: int, informative: bool = True
) -> tuple[list[Recorded], np.ndarray]:
    """Queries of known one-sample success ``mu``; ``m`` samples each, drawn from the
    vote model with wrong answers by a Chinese restaurant process. ``p`` is ``mu`` seen
    through noise (informative) or pure noise around the mean."""
    rng = np.random.default_rng(seed)
    mu = rng.beta(1.2, 0.6, size=n)
    out = []
    for i in range(n):
        rate = rng.beta(mu[i] * kappa, (1 - mu[i]) * kappa)
        wrong: list[int] = []
        answers: list[str | None] = []
        right: list[bool] = []
        for _ in range(m):
            if rng.random() < rate:
                answers.append("R")
                right.append(True)
                continue
            sizes = [wrong.count(k) for k in range(len(set(wrong)))]
            w = np.array([*sizes, gamma], dtype=float)
            k = int(rng.choice(len(w), p=w / w.sum()))
            wrong.append(k)
            answers.append(f"W{k}")
            right.append(False)
        noise = rng.normal(0, 0.05)
        p = np.clip(mu[i] + noise, 0.001, 0.999) if informative else np.clip(0.7 + noise, 0, 1)
        out.append(Recorded(tuple(answers), tuple(right), float(p)))
    return out, mu


def test_fits_recover_a_known_scatter_and_kappa() -> None:
    queries, mu = _arm(2500, 1.5, 3.0, 8, seed=1)
    assert fit_gamma(queries) == pytest.approx(3.0, rel=0.25)
    total = np.array([len(q.right) for q in queries])
    right = np.array([sum(q.right) for q in queries])
    assert fit_kappa(total, right, mu) == pytest.approx(1.5, rel=0.25)
    # knowing nothing of each query, kappa also has to absorb how queries differ
    assert fit_kappa(total, right, np.full(mu.shape, right.sum() / total.sum())) < 1.0
    assert fit_gamma([Recorded(("a",), (False,))]) == 1.0  # nothing to learn from
    with pytest.raises(ValueError, match="at least 2"):
        fit_kappa([1, 1], [0, 1], [0.5, 0.5])


def _vote_accuracy(queries: list[Recorded]) -> float:
    from ponder.aggregators import MajorityVote

    correct = 0
    for q in queries:
        agg = MajorityVote(lambda a, b: a == b).aggregate(list(q.answers))
        correct += q.right[agg.index or 0]
    return correct / len(queries)


def test_calibration_stays_within_half_a_point_for_fewer_samples_than_a_fixed_budget() -> None:
    queries, _ = _arm(600, 1.5, 3.0, 8, seed=2)
    folds = np.arange(len(queries)) % 5
    policy = calibrate_sampling(queries, folds)
    cal = policy.calibration
    assert cal is not None
    assert cal.vote_accuracy == pytest.approx(_vote_accuracy(queries))
    assert cal.accuracy >= cal.vote_accuracy - 0.005
    assert (cal.n_queries, cal.max_samples, cal.folds) == (600, 8, 5)
    # The exact rule alone over a fixed budget needs more.
    blind = calibrate_sampling(queries, folds, trusts=(0.0,), floors=(0.0,), confidences=(1.0,))
    assert blind.calibration is not None
    assert cal.mean_samples < blind.calibration.mean_samples
    # Without a margin for noise the cheapest setting is the luckiest: it passes with
    # fewer samples on the same queries.
    bold = calibrate_sampling(queries, folds, caution=0.0).calibration
    assert bold is not None and bold.mean_samples < cal.mean_samples
    assert policy.budget.mean == pytest.approx(
        sum(sum(q.right) for q in queries) / (8 * len(queries))
    )


def test_calibration_without_a_useful_classifier_does_not_trust_it() -> None:
    queries, _ = _arm(400, 1.5, 3.0, 6, seed=3, informative=False)
    policy = calibrate_sampling(queries, np.arange(len(queries)) % 4, floors=(0.0,))
    cal = policy.calibration
    assert cal is not None and cal.accuracy >= cal.vote_accuracy - 0.005
    assert cal.skipped == 0.0
    assert policy.budget.trust == 0.0


def test_calibration_needs_samples() -> None:
    with pytest.raises(ValueError, match="no query has recorded samples"):
        calibrate_sampling([Recorded((), ())], [0])
    with pytest.raises(ValueError, match="right/wrong"):
        calibrate_sampling([Recorded(("a", "b"), (True,))], [0])


def test_budgeted_vote_model_is_the_vote_at_the_budget_for_fewer_samples() -> None:
    votes = VoteModel(kappa=1.2)
    p = np.array([0.1, 0.5, 0.8, 0.99])
    for budget in (1, 3, 4, 9):
        samples, right = votes.budgeted(p, budget)
        assert np.allclose(right, votes.p_vote(p, budget))
        assert (samples <= budget + 1e-12).all()
        assert budget < 3 or (samples < budget).all()
    assert math.isclose(float(votes.budgeted(0.5, 1)[0]), 1.0)


def test_within_reach_counts_the_noise_of_the_difference() -> None:
    # 1000 queries, 0.5 points = 5 queries
    assert within_reach(5, 0, 1000, caution=0.0)
    assert not within_reach(6, 0, 1000, caution=0.0)
    assert not within_reach(5, 0, 1000)  # 5 lost, give or take 2.2
    assert within_reach(2, 0, 1000)  # 2 + 1.4 <= 5
    assert within_reach(10, 10, 1000) and not within_reach(14, 10, 1000)
    # No answer changed on 10 queries: one in 10 may still change on the next ones.
    assert not within_reach(0, 0, 10)
    assert within_reach(0, 0, 1000)  # 0 + 1 <= 5
    assert within_reach([0, 9], [0, 0], 1000).tolist() == [True, False]


def test_a_margin_policy_plans_with_lead_by_and_round_trips() -> None:
    from ponder.aggregators import LeadBy

    policy = SamplingPolicy(SampleBudget(0.8, 0.0, 0.0, 1.0, 0.6), 1.0, 2.0, margin=3)
    assert policy.rule() == LeadBy(3)
    assert SamplingPolicy.from_state(policy.to_state()) == policy
    plain = SamplingPolicy(SampleBudget(0.8), 0.95, 2.0)
    assert "margin" not in plain.to_state()  # models saved before the margin rule still load
    assert SamplingPolicy.from_state(plain.to_state()).margin == 0
    with pytest.raises(ValueError, match="margin"):
        SamplingPolicy(SampleBudget(0.8), margin=-1)


def test_calibration_offers_the_margin_rule_and_keeps_it_where_it_is_cheaper() -> None:
    queries, _ = _arm(500, 1.5, 3.0, 8, seed=4)
    folds = np.arange(len(queries)) % 5
    exact = calibrate_sampling(
        queries, folds, trusts=(0.0,), floors=(0.0,), confidences=(1.0,), margins=()
    )
    either = calibrate_sampling(queries, folds, trusts=(0.0,), floors=(0.0,), confidences=(1.0,))
    assert exact.margin == 0 and exact.calibration is not None
    assert either.margin >= 2 and either.calibration is not None
    assert either.calibration.mean_samples < exact.calibration.mean_samples
    assert either.calibration.accuracy >= either.calibration.vote_accuracy - 0.005
    # Without budgets only the stopping rules over every sample are offered.
    rules_only = calibrate_sampling(queries, folds, trusts=(0.0,), with_budgets=False)
    assert rules_only.budget.gain == 0.0
    assert rules_only.plan(None, 8).budget == 8


def test_a_lead_the_recorded_samples_cannot_reach_is_never_chosen() -> None:
    """With two samples a query, every rule draws both or stops at one on the same
    queries; a lead of 2 or more never stops early there, so it is not offered, and the
    tie goes to the exact rule, which carries to an arm that draws ten."""
    queries, _ = _arm(400, 1.5, 3.0, 2, seed=5)
    folds = np.arange(len(queries)) % 5
    policy = calibrate_sampling(queries, folds, trusts=(0.0,), with_budgets=False)
    assert policy.margin == 0
    assert policy.calibration is not None and policy.calibration.max_samples == 2
    wide = calibrate_sampling(queries, folds, trusts=(0.0,), with_budgets=False, margins=(10,))
    assert wide.margin == 0  # a lead of 10 on two samples is the full vote, untried beyond
    # With three samples "two ahead" stops exactly where the exact rule does: the tie goes
    # to the exact rule, which stays exact at ten samples where a lead of two would not.
    three, _ = _arm(400, 1.5, 3.0, 3, seed=5)
    tied = calibrate_sampling(three, folds, trusts=(0.0,), with_budgets=False, margins=(2,))
    assert (tied.margin, tied.confidence) == (0, 1.0)


def test_a_vote_is_priced_at_the_samples_its_own_rule_draws() -> None:
    budget = SampleBudget(kappa=1.0, gain=0.0, trust=1.0, mean=0.5)
    by_lead = SamplingPolicy(budget, 1.0, 5.0, margin=2)
    b, samples, success = by_lead.priced(np.array([0.0, 0.3, 0.7, 1.0]), 8)
    assert b.tolist() == [8, 8, 8, 8]
    # A certain query settles on two agreeing samples; an easier one sooner than a harder
    # one; a hopeless one is right never, a certain one always.
    assert samples[3] == pytest.approx(2.0) and success[3] == pytest.approx(1.0)
    assert success[0] == 0.0
    assert samples[2] < samples[1] <= 8
    # The vote beats one sample where the arm is more often right than not.
    assert success[2] > 0.7
    # The exact rule draws more than the margin rule, for at least its accuracy.
    exact = SamplingPolicy(budget, 1.0, 5.0)
    _, s_exact, ok_exact = exact.priced(np.array([0.3, 0.7]), 8)
    assert (s_exact > samples[1:3]).all() and (ok_exact >= success[1:3] - 0.03).all()
    # Priced per query by interpolation, cached per policy, budget and batch.
    _, mid, _ = by_lead.priced(np.array([0.65]), 8)
    assert samples[2] <= mid[0] <= samples[1]
    # Drawn two at a time, a vote costs at least two samples.
    _, s2, _ = by_lead.priced(np.array([1.0]), 8, batch=2)
    assert s2[0] == pytest.approx(2.0)
    # A query given no budget draws nothing.
    hopeless = SamplingPolicy(SampleBudget(1.0, 0.0, 0.5, 1.0, 0.5), 1.0, 5.0, margin=2)
    b0, s0, _ = hopeless.priced(np.array([0.05]), 8)
    assert b0[0] == 0 and s0[0] == 0.0


def test_policy_for_takes_the_first_name_held_then_the_policy_for_any_arm() -> None:
    own = SamplingPolicy(SampleBudget(kappa=1.0, mean=0.5), margin=2)
    anyone = SamplingPolicy(SampleBudget(kappa=1.0, mean=0.5))
    held = {"a": own, ANY_ARM: anyone}
    assert policy_for(held, None, "a") is own
    assert policy_for(held, "b", "a") is own
    assert policy_for(held, "b", None) is anyone
    assert policy_for({"a": own}, "b") is None
    assert policy_for({}) is None
