"""Stopping rules that see every answer: the exact can't-be-overtaken rule against the vote
it must reproduce, the Dirichlet rule against draws from its own model, and the draw loop
the router and the simulator share."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.aggregators import (
    CannotBeOvertaken,
    DirichletStop,
    MajorityVote,
    SamplePlan,
    StoppingRule,
    StopRule,
    adaptive_vote,
    cannot_be_overtaken,
    correct_answer_posterior,
    leader_win_probability,
    next_draw,
)


def _eq(a: str, b: str) -> bool:
    return a == b


@pytest.mark.parametrize(
    ("counts", "left", "stop"),
    [
        ([3, 1], 1, True),
        ([2, 1], 1, True),  # a tie at the end goes to the leader, seen first
        ([1, 2], 1, False),  # ...but here the rival was seen first
        ([2], 2, True),  # a new answer could only tie, and it comes later
        ([2], 3, False),
        ([2, 2], 0, True),  # nothing left: the vote is what it is
        ([], 1, False),  # nothing answered yet
        ([], 0, True),
        ([4, 1, 1], 3, True),  # a rival could only tie, and the leader was seen first
        ([4, 1, 1], 4, False),
    ],
)
def test_cannot_be_overtaken_by_hand(counts: list[int], left: int, stop: bool) -> None:
    assert cannot_be_overtaken(counts, left) is stop
    assert CannotBeOvertaken().should_stop(counts, left=left) is stop


def test_the_exact_rule_returns_the_vote_over_the_whole_budget() -> None:
    rng = np.random.default_rng(0)
    saved = 0
    for _ in range(600):
        n = int(rng.integers(1, 13))
        alphabet: list[str | None] = [*"abcd"[: int(rng.integers(1, 5))], None]
        answers = [alphabet[int(i)] for i in rng.integers(0, len(alphabet), size=n)]
        budget = int(rng.integers(1, n + 1))
        batch = int(rng.integers(1, 4))
        agg, used = adaptive_vote(answers, budget, batch, CannotBeOvertaken(), _eq)
        want = MajorityVote(_eq).aggregate(answers[:budget])
        assert agg.answer == want.answer
        assert used <= budget
        saved += budget - used
    assert saved > 0  # and it does stop early


def test_scattered_wrong_answers_settle_sooner_than_one_repeated_wrong_answer() -> None:
    kappa, gamma = 0.5, 2.0
    for p in (0.3, 0.6, 0.9):
        scattered = leader_win_probability([4, 1, 1, 1], 8, p, kappa, gamma)
        repeated = leader_win_probability([4, 3], 8, p, kappa, gamma)
        assert scattered > repeated
    # The Beta rule sees only the top two: scattered answers do not move it.
    beta = StoppingRule(0.95)
    assert beta.majority_probability([4, 1, 1, 1]) == beta.majority_probability([4, 1])


def test_which_answer_is_right_follows_counts_and_prediction() -> None:
    w, w_new = correct_answer_posterior([4, 1], 0.7, 0.5, 1.0)
    assert w.sum() + w_new == pytest.approx(1.0)
    assert w[0] > w[1]
    assert correct_answer_posterior([1], 0.95, 0.5, 1.0)[0][0] > 0.9
    assert correct_answer_posterior([1], 0.05, 0.5, 1.0)[1] > 0.9  # the right one is unseen


def test_the_classifiers_prediction_moves_the_rule() -> None:
    easy = leader_win_probability([1], 7, 0.97, 0.4, 1.0)
    hard = leader_win_probability([1], 7, 0.4, 0.4, 1.0)
    assert easy > hard
    rule = DirichletStop(confidence=(easy + hard) / 2, kappa=0.4, gamma=1.0)
    assert rule.should_stop([1], left=7, p=0.97)
    assert not rule.should_stop([1], left=7, p=0.4)
    # no prediction: the rule's mean stands in
    assert rule.win_probability([1], 7) == leader_win_probability([1], 7, 0.5, 0.4, 1.0)


def test_confidence_one_stops_only_when_the_leader_cannot_be_overtaken() -> None:
    rule = DirichletStop(confidence=1.0, kappa=0.4, gamma=1.0)
    assert not rule.should_stop([9], left=10, p=0.999)
    assert rule.should_stop([9], left=9, p=0.01)
    assert rule.settled([9], 9) == 1.0
    assert rule.settled([9], 10, 0.999) < 1.0


def _draw_query(
    rng: np.random.Generator, p: float, kappa: float, gamma: float, n: int
) -> list[str]:
    """Samples of one query from the rule's own model: the right answer "R" at a rate
    ~ Beta(p kappa, (1 - p) kappa), wrong answers by a Chinese restaurant process."""
    rate = rng.beta(p * kappa, (1 - p) * kappa)
    wrong: list[int] = []
    out = []
    for _ in range(n):
        if rng.random() < rate:
            out.append("R")
            continue
        weights = np.array([*(wrong.count(k) for k in range(len(set(wrong)))), gamma])
        k = int(rng.choice(len(weights), p=weights / weights.sum()))
        wrong.append(k)
        out.append(f"W{k}")
    return out


def test_the_win_probability_is_a_lower_bound_on_draws_from_its_model() -> None:
    rng = np.random.default_rng(5)
    kappa, gamma, budget = 1.0, 1.5, 8
    predicted, happened = [], []
    for i in range(2500):
        p = (0.2, 0.5, 0.8)[i % 3]
        answers = _draw_query(rng, p, kappa, gamma, budget)
        final = MajorityVote(_eq).aggregate(answers).answer
        for t in (1, 2, 3, 5):
            vote = MajorityVote(_eq)
            now = vote.aggregate(answers[:t]).answer
            seen: dict[str, int] = {}
            for a in answers[:t]:
                seen[a] = seen.get(a, 0) + 1
            predicted.append(
                leader_win_probability(list(seen.values()), budget - t, p, kappa, gamma)
            )
            happened.append(now == final)
    pred, real = np.array(predicted), np.array(happened, dtype=float)
    assert pred.mean() <= real.mean() + 0.01
    confident = pred >= 0.9
    assert confident.sum() > 500
    assert real[confident].mean() >= 0.9
    # and the bound is not vacuous: it separates settled from unsettled votes
    assert real[pred < 0.5].mean() < real[confident].mean() - 0.1


def test_next_draw_never_overruns_and_asks_only_after_a_draw() -> None:
    asked: list[tuple[list[int], int]] = []

    class Spy:
        def should_stop(self, counts: list[int], *, left: int, p: float | None = None) -> bool:
            asked.append((list(counts), left))
            return False

    spy: StopRule = Spy()
    assert isinstance(spy, StopRule)
    assert next_draw(spy, [], drawn=0, budget=0, batch=2) == 0
    assert next_draw(spy, [], drawn=0, budget=5, batch=2) == 2
    assert asked == []
    assert next_draw(spy, [1, 1], drawn=2, budget=5, batch=2) == 2
    assert next_draw(spy, [3, 1], drawn=4, budget=5, batch=2) == 1
    assert next_draw(spy, [3, 2], drawn=5, budget=5, batch=2) == 0
    assert asked == [([1, 1], 3), ([3, 1], 1)]
    assert next_draw(CannotBeOvertaken(), [3], drawn=3, budget=5, batch=2) == 0


def test_a_plan_and_the_rules_check_their_arguments() -> None:
    with pytest.raises(ValueError, match="budget"):
        SamplePlan(-1, CannotBeOvertaken())
    for bad in ({"confidence": 0.0}, {"kappa": 0.0}, {"gamma": -1.0}, {"mean": 1.5}):
        with pytest.raises(ValueError):
            DirichletStop(**bad)  # type: ignore[arg-type]
    assert isinstance(StoppingRule(), StopRule)
    assert isinstance(DirichletStop(), StopRule)


def test_lead_by_stops_on_the_lead_or_when_the_leader_is_out_of_reach() -> None:
    from ponder.aggregators import LeadBy, lead

    assert lead([]) == 0 and lead([3]) == 3 and lead([1, 4, 2]) == 2 and lead([2, 2]) == 0
    rule = LeadBy(2)
    assert not rule.should_stop([1], left=7)
    assert rule.should_stop([2], left=6)  # two agreeing samples
    assert not rule.should_stop([2, 1], left=5)
    assert rule.should_stop([3, 1], left=4)
    assert rule.should_stop([1, 1], left=0)  # the budget is spent
    assert LeadBy(5).should_stop([4, 1], left=2)  # a lead of 3 that 2 samples cannot undo
    with pytest.raises(ValueError, match="margin"):
        LeadBy(0)
    # Through the shared draw loop: agreeing answers stop at the margin.
    agg, used = adaptive_vote(["a", "a", "b", "a"], 4, batch=1, rule=rule, equal=_eq)
    assert used == 2 and agg.answer == "a"
    agg, used = adaptive_vote(["a", "b", "b", "b"], 4, batch=1, rule=rule, equal=_eq)
    assert used == 4 and agg.answer == "b"
