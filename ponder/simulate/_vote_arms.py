"""Vote arms of a menu replayed beside the single calls they are made of.

A menu arm that samples its model several times and votes (``samples: 8, adaptive: true``)
over a table arm with recorded samples becomes a column of its own: per query, the answer
its calibrated :class:`~ponder.policies.SamplingPolicy` gets from the recorded samples (the
router's draw loop, :func:`~ponder.simulate._samples.replayed`) and what those draws cost,
against what the router predicts before drawing (:meth:`~ponder.policies.SamplingPolicy.
priced`, the decider's own pricing). The utility rule then weighs "gpt-3.5 with k votes"
against "gpt-4 once" query by query, exactly as :class:`~ponder.router.Decider` would.

Each fold's policy is calibrated on the other folds, with the classifier's out-of-fold
predictions as its prior, so no vote is scored on the queries that chose its settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ponder._menu import Arm, Menu
from ponder.aggregators import SamplePlan
from ponder.outcomes import OutcomeTable
from ponder.policies import SamplingPolicy, calibrate_sampling, recorded_samples
from ponder.simulate._samples import replayed
from ponder.simulate._splits import grouped_kfold

FloatArray = npt.NDArray[np.float64]

CONFIDENCES = (1.0,)
"""Rules offered to the calibration here: the exact rule and every margin of
:class:`~ponder.aggregators.LeadBy` (the Dirichlet rule's replay takes minutes on tables of
thousands of queries, and on fifteen sampled sets it did not beat the margin rule)."""


@dataclass(frozen=True)
class VoteArms:
    """The table with a column per vote arm; ``p`` and ``expected_cost`` what the router
    predicts for every column; ``samples`` the samples each vote arm drew per query and
    ``policies`` its calibrated policy per fold."""

    table: OutcomeTable
    p: FloatArray
    expected_cost: FloatArray
    samples: dict[str, FloatArray]
    policies: dict[str, list[SamplingPolicy]]


def vote_arms_of(menu: Menu, table: OutcomeTable) -> list[tuple[Arm, str]]:
    """The menu's adaptive arms of more than one sample whose model (or label) is a table
    arm with recorded samples, each with that arm's name."""
    out = []
    for arm in menu.arms:
        if arm.samples < 2 or not arm.adaptive or arm.label in table.arms:
            continue
        base = next((n for n in (arm.label, arm.model) if n in table.samples), None)
        if base is not None:
            out.append((arm, base))
    return out


def add_vote_arms(
    table: OutcomeTable,
    menu: Menu,
    p: FloatArray,
    expected_cost: FloatArray,
    k: int,
    *,
    seed: int = 0,
    inner: int = 5,
) -> VoteArms:
    """``table`` with a replayed column per vote arm of ``menu`` (see the module); ``p`` and
    ``expected_cost`` are out-of-fold predictions for ``table``'s arms, from ``k`` folds
    grouped by id with ``seed`` (those of :func:`~ponder.simulate.predict_cross_validated`).

    A vote arm's realised cost is the samples it drew times the table's cost of one call
    of its base arm; its expected cost the samples the router expects, times the base
    arm's expected cost; its score is its vote's rightness (1 or 0).
    """
    arms = vote_arms_of(menu, table)
    if not arms:
        return VoteArms(table, p, expected_cost, {}, {})
    n = table.n_queries
    cols = len(arms)
    scores = np.full((n, cols), np.nan)
    costs = np.full((n, cols), np.nan)
    p_new = np.full((n, cols), np.nan)
    ec_new = np.full((n, cols), np.nan)
    drawn = {a.label: np.full(n, np.nan) for a, _ in arms}
    policies: dict[str, list[SamplingPolicy]] = {a.label: [] for a, _ in arms}
    for f, (tr, te) in enumerate(grouped_kfold(list(table.ids), k, seed=seed)):
        train, test = table.take(tr), table.take(te)
        inner_of = np.random.default_rng(seed + 1 + f).permutation(tr.size) % inner
        for c, (arm, base) in enumerate(arms):
            j = table.arm_index(base)
            recs = recorded_samples(train, base, p[tr, j])
            policy = calibrate_sampling(recs, inner_of, confidences=CONFIDENCES)
            policies[arm.label].append(policy)
            p_test = p[te, j]

            def plan(
                i: int,
                most: int,
                pol: SamplingPolicy = policy,
                q: FloatArray = p_test,
                cap: int = arm.samples,
            ) -> SamplePlan:
                return pol.plan(float(q[i]), min(most, cap))

            r = replayed(test, base, plan, batch=arm.batch)
            rows = te[r.rows]
            scores[rows, c] = r.right.astype(np.float64)
            costs[rows, c] = r.samples * table.costs[rows, j]
            drawn[arm.label][rows] = r.samples
            _, samples, success = policy.priced(p_test, arm.samples, arm.batch)
            p_new[te, c] = success
            ec_new[te, c] = samples * expected_cost[te, j]
    names = tuple(a.label for a, _ in arms)
    wide = dataclasses.replace(
        table,
        arms=table.arms + names,
        scores=np.hstack([table.scores, scores]),
        costs=np.hstack([table.costs, costs]),
        input_tokens=np.hstack([table.input_tokens, np.full((n, cols), np.nan)]),
        output_tokens=np.hstack([table.output_tokens, np.full((n, cols), np.nan)]),
        samples={},  # the vote columns stand for the samples now
    )
    return VoteArms(
        wide, np.hstack([p, p_new]), np.hstack([expected_cost, ec_new]), drawn, policies
    )


@dataclass(frozen=True)
class Bought:
    """Where ponder bought each arm at one operating point: share of queries per arm,
    overall and per task, and the mean samples a chosen vote arm drew."""

    lam: float
    accuracy: float
    mean_cost: float
    arms: tuple[str, ...]
    share: FloatArray
    by_task: dict[str, FloatArray]
    vote_samples: dict[str, float]


def bought_at(
    voted: VoteArms, lam: float, scale: float, tasks: Sequence[str] | None = None
) -> Bought:
    """The utility rule's choices at ``lam`` (``scale``: the cost scale the simulator
    swept with) and where they went."""
    from ponder.policies import choose_by_utility

    t = voted.table
    choice = choose_by_utility(voted.p, voted.expected_cost, lam, scale)
    rows = np.arange(t.n_queries)
    k = t.n_arms
    share = np.bincount(choice, minlength=k) / t.n_queries
    labels = list(t.tasks if tasks is None else tasks)
    by_task = {}
    for name in sorted(set(labels)):
        at = np.array([x == name for x in labels])
        by_task[name] = np.bincount(choice[at], minlength=k) / max(int(at.sum()), 1)
    votes = {}
    for name, drew in voted.samples.items():
        picked = choice == t.arm_index(name)
        votes[name] = float(np.nanmean(drew[picked])) if picked.any() else float("nan")
    return Bought(
        lam=lam,
        accuracy=float(np.nanmean(t.scores[rows, choice])),
        mean_cost=float(np.nanmean(t.costs[rows, choice])),
        arms=t.arms,
        share=share,
        by_task=by_task,
        vote_samples=votes,
    )


__all__ = ["Bought", "VoteArms", "add_vote_arms", "bought_at", "vote_arms_of"]
