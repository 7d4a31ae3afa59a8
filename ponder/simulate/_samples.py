"""Replay sampled arms from recorded samples: n-sample voting, adaptive sampling, escalation.

An outcome table may record, per query, several independent samples of one arm (each a
normalised ``answer`` and its ``score``). That is enough to know what *any* policy that
draws a prefix of those samples and votes would have answered, without calling a model:
the policy's answer is one of the recorded samples, so its correctness is that sample's
recorded score. Only prefixes are used (sample ``i`` is drawn before ``i + 1``), so every
policy is replayed on the same random draws and the comparisons between them are paired.

Conventions:

* a vote is *correct* when the chosen sample's score is at least 0.5 (scores are 0/1 in
  every shipped table; 0.5 makes fractional scores count as the better half);
* answers are compared with plain string equality: samples already hold normalised answers,
  and it is much faster than the aggregators' default fuzzy comparison;
* a sample without an answer (``None``: e.g. a failed program) abstains: it costs its call
  and counts in the agreement's denominator but casts no vote (the convention of
  :mod:`ponder.aggregators`); if every drawn sample abstains, the first one is "chosen" and
  scores as recorded (0);
* queries with no recorded samples for an arm are skipped and counted, never scored 0;
* costs are in per-sample price units given by the caller, because the tables that ship
  samples have no dollar costs;
* a query a sampling policy gives no sample (predicted hopeless: the router escalates it)
  counts as answered wrong by the arm and is counted in ``declined``.

Every replay runs :func:`ponder.aggregators.adaptive_vote`, the loop the live router runs,
with the plan :class:`~ponder.policies.SamplingPolicy` makes for the query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ponder.aggregators import CannotBeOvertaken, SamplePlan, StoppingRule, adaptive_vote
from ponder.outcomes import OutcomeTable, Sample
from ponder.policies import (
    WITHIN,
    SamplingPolicy,
    calibrate_sampling,
    policy_for,
    recorded_samples,
)
from ponder.simulate._progress import Step, StepCallback
from ponder.simulate._report import Needed, SampledArmReport, SamplePolicy

_CORRECT = 0.5


@dataclass(frozen=True)
class VoteResult:
    """Accuracy of a voting policy and the mean number of samples it drew per query."""

    accuracy: float
    mean_samples: float
    n_queries: int
    skipped: int
    declined: int = 0
    """Queries the policy gave no sample (scored wrong): the router escalates those."""


@dataclass(frozen=True)
class EscalationResult:
    """Accuracy and mean cost (price units) of cheap-vote-then-escalate, per scored query."""

    accuracy: float
    mean_cost: float
    share_escalated: float
    n_queries: int
    skipped: int


def _majority(samples: Sequence[Sample]) -> tuple[int, float]:
    """Index of the majority answer's earliest sample and its agreement (votes / drawn).

    Ties go to the answer seen first, i.e. the one whose earliest sample is earliest, so
    vote@1 is exactly the first sample. Same rule as ``ponder.aggregators.MajorityVote``,
    inlined with string equality because the simulator calls it millions of times.
    """
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, s in enumerate(samples):
        if s.answer is None:
            continue
        counts[s.answer] = counts.get(s.answer, 0) + 1
        first.setdefault(s.answer, i)
    if not counts:
        return 0, 0.0
    best = max(counts, key=lambda k: (counts[k], -first[k]))
    return first[best], counts[best] / len(samples)


def _arm_samples(table: OutcomeTable, arm: str) -> tuple[tuple[Sample, ...] | None, ...]:
    table.arm_index(arm)  # KeyError with the list of arms for an unknown name
    if arm not in table.samples:
        raise ValueError(f"arm '{arm}' has no recorded samples in this table")
    return table.samples[arm]


def _check_n(n: int, name: str = "n") -> None:
    if n < 1:
        raise ValueError(f"{name} must be at least 1, got {n}")


def _correct(sample: Sample) -> bool:
    return sample.score >= _CORRECT


def vote_at_n(table: OutcomeTable, arm: str, n: int) -> VoteResult:
    """Majority vote over the first ``n`` recorded samples of ``arm`` on every query.

    Queries with fewer than ``n`` samples vote over what there is (``mean_samples`` shows
    it); queries with none are skipped.
    """
    _check_n(n)
    correct = used = scored = skipped = 0
    for row in _arm_samples(table, arm):
        if not row:
            skipped += 1
            continue
        drawn = row[:n]
        idx, _ = _majority(drawn)
        correct += _correct(drawn[idx])
        used += len(drawn)
        scored += 1
    return _result(correct, used, scored, skipped)


def majority_curve(table: OutcomeTable, arm: str, max_n: int | None = None) -> list[VoteResult]:
    """``vote_at_n`` for n = 1 .. ``max_n`` (default: the most samples any query has)."""
    rows = _arm_samples(table, arm)
    top = max_n if max_n is not None else max((len(r) for r in rows if r), default=0)
    return [vote_at_n(table, arm, n) for n in range(1, top + 1)]


def adaptive(
    table: OutcomeTable, arm: str, max_n: int, confidence: float, batch: int = 1
) -> VoteResult:
    """Adaptive sampling: draw samples until ``adaptive_vote``'s stopping rule is confident.

    Uses :func:`ponder.aggregators.adaptive_vote` with string equality over the recorded
    samples in order; ``mean_samples`` is the mean number it drew (at most ``max_n``).
    """
    _check_n(max_n, "max_n")
    rule = StoppingRule(confidence=confidence)
    return planned(table, arm, lambda _i, n: SamplePlan(min(max_n, n), rule), batch)


def exact(table: OutcomeTable, arm: str, budget: int, batch: int = 1) -> VoteResult:
    """Draw until the leader cannot be overtaken within ``budget`` samples: the answers of
    :func:`vote_at_n` at ``budget``, for fewer samples."""
    _check_n(budget, "budget")
    rule = CannotBeOvertaken()
    return planned(table, arm, lambda _i, n: SamplePlan(min(budget, n), rule), batch)


def allocated(
    table: OutcomeTable,
    arm: str,
    policy: SamplingPolicy,
    p: npt.ArrayLike | None = None,
    batch: int = 1,
) -> VoteResult:
    """``policy``'s plan for each query (``p[i]``: the predicted one-sample success of the
    arm on query ``i``; ``None`` or NaN: none), replayed on its recorded samples."""
    preds = np.full(table.n_queries, np.nan) if p is None else np.asarray(p, dtype=np.float64)
    if preds.shape != (table.n_queries,):
        raise ValueError(f"p has shape {preds.shape}; expected ({table.n_queries},)")

    def plan(i: int, n: int) -> SamplePlan:
        q = float(preds[i])
        return policy.plan(None if np.isnan(q) else q, n)

    return planned(table, arm, plan, batch)


@dataclass(frozen=True)
class Replayed:
    """Per query with samples (in table order, the others skipped): whether the policy's
    answer is right, how many samples it drew, whether it declined the query."""

    right: npt.NDArray[np.bool_]
    samples: npt.NDArray[np.int64]
    declined: npt.NDArray[np.bool_]
    rows: npt.NDArray[np.int64]
    """The table rows these are of."""
    skipped: int

    def result(self) -> VoteResult:
        n = int(self.right.size)
        r = _result(int(self.right.sum()), int(self.samples.sum()), n, self.skipped)
        return VoteResult(r.accuracy, r.mean_samples, n, self.skipped, int(self.declined.sum()))


def replayed(
    table: OutcomeTable,
    arm: str,
    plan: Callable[[int, int], SamplePlan],
    batch: int = 1,
) -> Replayed:
    """Replay ``plan(i, n)`` (query ``i``, ``n`` samples recorded) on every query with
    samples; a plan with budget 0 draws nothing and scores the query wrong."""
    _check_n(batch, "batch")
    right: list[bool] = []
    samples: list[int] = []
    declined: list[bool] = []
    rows: list[int] = []
    skipped = 0
    for i, row in enumerate(_arm_samples(table, arm)):
        if not row:
            skipped += 1
            continue
        rows.append(i)
        chosen = plan(i, len(row))
        declined.append(chosen.budget == 0)
        if chosen.budget == 0:
            right.append(False)
            samples.append(0)
            continue
        answers = [s.answer for s in row]
        agg, n_used = adaptive_vote(
            answers, chosen.budget, batch=batch, rule=chosen.rule, equal=_str_equal, p=chosen.p
        )
        right.append(_correct(row[agg.index if agg.index is not None else 0]))
        samples.append(n_used)
    return Replayed(
        np.array(right, dtype=bool),
        np.array(samples, dtype=np.int64),
        np.array(declined, dtype=bool),
        np.array(rows, dtype=np.int64),
        skipped,
    )


def planned(
    table: OutcomeTable,
    arm: str,
    plan: Callable[[int, int], SamplePlan],
    batch: int = 1,
) -> VoteResult:
    """:func:`replayed`, summed up."""
    return replayed(table, arm, plan, batch).result()


def _str_equal(a: str, b: str) -> bool:
    return a == b


def escalation(
    table: OutcomeTable,
    cheap_arm: str,
    strong_arm: str,
    n_cheap: int,
    agreement_threshold: float,
    cost_cheap: float = 1.0,
    cost_strong: float = 1.0,
    n_strong: int = 1,
) -> EscalationResult:
    """Answer with the cheap arm's ``n_cheap``-sample majority; escalate when it disagrees.

    Agreement is the majority answer's share of the cheap samples drawn. Below
    ``agreement_threshold`` the query is re-asked to the strong arm, whose majority over its
    first ``n_strong`` samples (the first sample by default) is the answer. Threshold 0
    never escalates; a threshold above 1 always does (the cheap calls are still paid: the
    policy only knows the agreement after drawing them). Cost per query is
    ``drawn_cheap * cost_cheap`` plus ``drawn_strong * cost_strong`` when escalated.
    Queries lacking samples of either arm are skipped.
    """
    _check_n(n_cheap, "n_cheap")
    _check_n(n_strong, "n_strong")
    cheap_rows = _arm_samples(table, cheap_arm)
    strong_rows = _arm_samples(table, strong_arm)
    correct = escalated = scored = skipped = 0
    cost = 0.0
    for cheap, strong in zip(cheap_rows, strong_rows, strict=True):
        if not cheap or not strong:
            skipped += 1
            continue
        drawn = cheap[:n_cheap]
        idx, agreement = _majority(drawn)
        cost += len(drawn) * cost_cheap
        answer = drawn[idx]
        if agreement < agreement_threshold:
            s_drawn = strong[:n_strong]
            answer = s_drawn[_majority(s_drawn)[0]]
            cost += len(s_drawn) * cost_strong
            escalated += 1
        correct += _correct(answer)
        scored += 1
    if scored == 0:
        return EscalationResult(float("nan"), float("nan"), float("nan"), 0, skipped)
    return EscalationResult(correct / scored, cost / scored, escalated / scored, scored, skipped)


ADAPTIVE_CONFIDENCES: tuple[float, ...] = (0.8, 0.9, 0.95)
"""Confidences at which the simulator report replays adaptive sampling."""
SWEPT_CONFIDENCES: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.999)
"""Confidences of the Beta rule searched for the fewest samples within 0.5 points of vote@max."""


def sampled_arm_reports(
    table: OutcomeTable,
    confidences: Sequence[float] = ADAPTIVE_CONFIDENCES,
    steps: StepCallback | None = None,
    p: npt.ArrayLike | None = None,
    sampling: Mapping[str, SamplingPolicy] | None = None,
) -> dict[str, SampledArmReport]:
    """``vote@1 .. vote@max`` and ``adaptive@<c>`` for every arm of ``table`` with samples,
    and for arms with two or more, the samples each way of sampling needs to stay within
    0.5 points of vote@max (:func:`needed_samples`).

    ``p`` (queries x arms, the table's order) is the classifier's predicted one-sample
    success, the prior of the compute-optimal allocation; ``sampling`` holds the policies
    a saved model calibrated, replayed as they are. Cost per sample is the arm's mean
    recorded cost per call on the queries that have samples (the arm is one call); ``null``
    where the table has no cost for it. The replay is pure Python and takes seconds per
    arm on large tables, so ``steps`` hears of each.
    """
    out: dict[str, SampledArmReport] = {}
    sampled = [a for a in table.arms if any(table.samples.get(a) or ())]
    preds = None if p is None else np.asarray(p, dtype=np.float64)
    for i, arm in enumerate(sampled):
        if steps is not None:
            steps(Step("votes", i, len(sampled), f"samples of {arm}"))
        rows = table.samples[arm]
        has = [i for i, r in enumerate(rows) if r]
        max_n = max(len(rows[i] or ()) for i in has)
        costs = table.costs[has, table.arm_index(arm)]
        per_sample = float(costs.mean()) if np.isfinite(costs).all() else None

        curve = majority_curve(table, arm, max_n)
        policies = {f"vote@{n}": _policy(r, n, per_sample) for n, r in enumerate(curve, start=1)}
        for c in confidences:
            r = adaptive(table, arm, max_n, c)
            policies[f"adaptive@{c:g}"] = _policy(r, max_n, per_sample, c)
        column = None if preds is None else preds[:, table.arm_index(arm)]
        calibrated = None if sampling is None else policy_for(sampling, arm)
        out[arm] = SampledArmReport(
            n_queries=curve[0].n_queries,
            skipped=curve[0].skipped,
            max_samples=max_n,
            cost_per_sample=per_sample,
            policies=policies,
            needed=needed_samples(table, arm, column, calibrated, curve) if max_n > 1 else {},
        )
    if steps is not None and sampled:
        steps(Step("votes", len(sampled), len(sampled), "done"))
    return out


def needed_samples(
    table: OutcomeTable,
    arm: str,
    p: npt.ArrayLike | None = None,
    calibrated: SamplingPolicy | None = None,
    curve: Sequence[VoteResult] | None = None,
    within: float = WITHIN,
) -> dict[str, Needed]:
    """The fewest mean samples with which each way of sampling stays within ``within`` of
    vote@max on this table: ``vote`` (the smallest N), ``adaptive`` (the Beta rule over
    :data:`SWEPT_CONFIDENCES`), ``exact`` (the can't-be-overtaken rule, smallest budget)
    and ``allocation`` (the per-query budget and Dirichlet rule, with ``p`` as prior).
    Each setting is chosen on this table, so these are what the table allows, not what a
    setting chosen elsewhere would get (``bench/bench_samples.py`` chooses out of fold);
    ``calibrated`` (a saved model's policy, chosen on its training data) is replayed as it
    is. A family with no setting within reach is left out.
    """
    votes = list(curve) if curve is not None else majority_curve(table, arm)
    target = votes[-1].accuracy - within - 1e-12
    max_n = len(votes)
    out: dict[str, Needed] = {}

    def keep(family: str, setting: str, r: VoteResult) -> None:
        if r.accuracy < target:
            return
        old = out.get(family)
        if old is None or r.mean_samples < old.mean_samples:
            out[family] = _needed(setting, r)

    for n, r in enumerate(votes, start=1):
        keep("vote", f"vote@{n}", r)
        keep("exact", f"exact@{n}", exact(table, arm, n))
    for c in SWEPT_CONFIDENCES:
        keep("adaptive", f"adaptive@{c:g}", adaptive(table, arm, max_n, c))
    rows = recorded_samples(table, arm, np.nan if p is None else p)
    single = np.zeros(len(rows), dtype=np.int64)
    chosen = calibrate_sampling(rows, single, within=within, caution=0.0)
    keep("allocation", _describe(chosen), allocated(table, arm, chosen, p))
    if calibrated is not None:
        r = allocated(table, arm, calibrated, p)
        out["calibrated"] = _needed(_describe(calibrated), r)
    return out


def _describe(policy: SamplingPolicy) -> str:
    b = policy.budget
    return (
        f"allocation(trust={b.trust:g}, gain={b.gain:.3g}, floor={b.floor:g}, "
        f"confidence={policy.confidence:g})"
    )


def _needed(setting: str, r: VoteResult) -> Needed:
    declined = r.declined / r.n_queries if r.n_queries else 0.0
    return Needed(
        setting=setting, quality=r.accuracy, mean_samples=r.mean_samples, declined=declined
    )


def _policy(
    r: VoteResult, n: int, per_sample: float | None, confidence: float | None = None
) -> SamplePolicy:
    return SamplePolicy(
        n=n,
        confidence=confidence,
        quality=r.accuracy,
        mean_samples=r.mean_samples,
        cost_per_query=None if per_sample is None else r.mean_samples * per_sample,
    )


def _result(correct: int, used: int, scored: int, skipped: int) -> VoteResult:
    if scored == 0:
        return VoteResult(float("nan"), float("nan"), 0, skipped)
    return VoteResult(correct / scored, used / scored, scored, skipped)


__all__ = [
    "ADAPTIVE_CONFIDENCES",
    "SWEPT_CONFIDENCES",
    "EscalationResult",
    "Replayed",
    "VoteResult",
    "adaptive",
    "allocated",
    "escalation",
    "exact",
    "majority_curve",
    "needed_samples",
    "planned",
    "replayed",
    "sampled_arm_reports",
    "vote_at_n",
]
