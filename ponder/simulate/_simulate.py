"""Replay an outcome table through routing policies and trace their cost/quality frontiers.

No model is called: each policy picks arms from predictions and expected costs, and the
table says what those arms truly scored and cost. Every policy is swept over its knob and
summarised on a common cost range (AIQ), against the floor of mixing single arms at random
and the ceiling of the per-query oracle, so one number says how much of the achievable gain
a classifier captures. Everything is vectorised over queries: one argmax over the ``[n, k]``
matrix per knob value, with the per-task means taken by ``bincount`` in the same pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ponder.outcomes import OutcomeTable
from ponder.policies import (
    FloatArray,
    HullGuard,
    IntArray,
    SamplingPolicy,
    choose_by_utility,
    default_cost_scale,
    lambda_grid,
)
from ponder.simulate._baselines import Cascade
from ponder.simulate._holes import (
    BoolArray,
    column_means,
    coverage,
    fill_unmeasured,
    masked_cost_scale,
    masked_stops,
    stand_ins,
)
from ponder.simulate._progress import StepCallback
from ponder.simulate._report import Curve, Report, Section, build_section, with_two_arm
from ponder.simulate._samples import ADAPTIVE_CONFIDENCES, sampled_arm_reports

NO_TASK = "(no task)"
"""Task name given to unlabelled queries when other queries of the table have a task."""

_Run = Callable[[float], tuple[FloatArray, FloatArray]]


class _Groups:
    """Means over all rows (column 0) and per task (columns 1..), one ``bincount`` each."""

    def __init__(self, labels: Sequence[str] | None) -> None:
        self.names: list[str] = []
        self.gid: IntArray | None = None
        if labels is not None:
            names, inv = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
            self.names = [str(x) for x in names]
            self.gid = inv.astype(np.int64)
            self.counts = np.bincount(self.gid, minlength=len(self.names)).astype(np.float64)

    def means(self, v: FloatArray) -> FloatArray:
        if self.gid is None:
            return np.array([v.mean()])
        per = np.bincount(self.gid, weights=v, minlength=len(self.names)) / self.counts
        return np.concatenate([[v.mean()], per])

    def size(self, g: int, n: int) -> int:
        return n if g == 0 else int(self.counts[g - 1])


def simulate(
    table: OutcomeTable,
    p: FloatArray,
    expected_cost: FloatArray,
    *,
    lambdas: Sequence[float] | None = None,
    cascade_thresholds: Sequence[float] | None = None,
    by_task: bool = True,
    n_points: int = 60,
    adaptive_confidences: Sequence[float] = ADAPTIVE_CONFIDENCES,
    complete_only: bool = False,
    steps: StepCallback | None = None,
    sampling: Mapping[str, SamplingPolicy] | None = None,
    guard: HullGuard | Sequence[HullGuard | None] | None = None,
) -> Report:
    """Replay ``ponder`` (utility routing on ``p``), every single arm, random mixing, the
    oracle and a cascade on ``table``; return the :class:`Report`.

    ``p[i, j]`` is the predicted success of arm ``j`` on query ``i``, ``expected_cost``
    (``[n, k]`` or ``[k]``) what the router believes each call costs; quality and spend are
    read from the table's true scores and costs. A query with unmeasured arms is replayed
    over the arms measured on it (see :mod:`ponder.simulate._holes`; ``Report.holes`` says
    where); queries with no arm measured, or with any hole when ``complete_only``, are left
    out and counted in ``dropped_incomplete``. ``lambdas`` overrides ponder's sweep and
    ``cascade_thresholds`` the cascade's; by default about ``n_points`` values are placed
    where decisions change. The oracle always gets its own grid on the true scores, so the
    ceiling is traced in full. Arms with recorded samples also get their votes (``vote@N``)
    and adaptive sampling at ``adaptive_confidences`` replayed on the same queries (each on
    the queries that have its samples), in ``Report.samples``, with the samples each way
    of sampling needs to stay within 0.5 points of vote@max (the compute-optimal
    allocation takes ``p`` as its prior; ``sampling``, a saved model's calibrated policies,
    are replayed as they are); ``steps`` hears of each sampled arm, the slow part on large
    tables. ``guard``, a model's :class:`~ponder.policies.HullGuard` (or one per query, when
    the rows were predicted by several models, one per fold), replaces ponder's choice at a
    ``lam`` where the guard names an arm, as the live router does (:func:`guarded`).
    """
    r = _prepare(table, p, expected_cost, complete_only)
    table, kept, mask = r.table, r.kept, r.mask
    scores, costs, pk, ec = r.scores, r.costs, r.p, r.ec
    n, rows = scores.shape[0], np.arange(scores.shape[0])
    has_tasks = by_task and any(table.tasks[i] for i in kept)
    groups = _Groups([table.tasks[i] or NO_TASK for i in kept] if has_tasks else None)

    scale = default_cost_scale(ec)
    if mask is None:
        true_scale, s_f, c_f, pk_f, ec_f = default_cost_scale(costs), scores, costs, pk, ec
        paid = costs
    else:
        true_scale = masked_cost_scale(costs, mask)
        s_f, c_f = fill_unmeasured(scores, costs, mask)
        pk_f, ec_f = fill_unmeasured(pk, ec, mask)
        paid = np.where(mask, costs, 0.0)
    flat_s, flat_c, row_start = s_f.ravel(), c_f.ravel(), rows * scores.shape[1]

    def picked(choice: IntArray) -> tuple[FloatArray, FloatArray]:
        at = row_start + choice  # flat indexing: cheaper than a 2-D fancy index
        return flat_s[at], flat_c[at]

    if lambdas is not None:
        lams = _knobs(lambdas, "lambdas")
    else:
        lams = lambda_grid(pk_f, ec_f, n_points, cost_scale=scale)
    oracle_lams = lambda_grid(s_f, c_f, max(n_points, lams.size), cost_scale=true_scale)

    order = Cascade(0.0).resolve_order(ec)  # cheapest expected mean cost first
    m_ordered = None if mask is None else mask[:, order]
    if cascade_thresholds is not None:
        ths = _knobs(cascade_thresholds, "cascade_thresholds")
    else:
        head = pk[:, order[:-1]] if order.size > 1 else pk
        if m_ordered is not None:
            head = head[m_ordered[:, : head.shape[1]]]
            head = head if head.size else pk[mask]  # only the last arm is ever measured
        ths = np.unique(np.r_[0.0, np.quantile(head, np.linspace(0.0, 1.0, n_points))])
    cum, ordered, p_ordered = np.cumsum(paid[:, order], axis=1), s_f[:, order], pk[:, order]
    stopped_at: list[IntArray] = []  # per threshold, two arms only: where each query stops

    def cascade(t: float) -> tuple[FloatArray, FloatArray]:
        if m_ordered is None:
            stop = Cascade(t).stops(p_ordered, None)
        else:
            stop = masked_stops(p_ordered, m_ordered, t)
        if order.size == 2:
            stopped_at.append(stop)
        return ordered[rows, stop], cum[rows, stop]

    adjust = guarded(guard, kept, table.arms, mask)

    def ponder(x: float) -> tuple[FloatArray, FloatArray]:
        choice = choose_by_utility(pk_f, ec_f, x, scale)
        if adjust is not None:
            choice = adjust(x, choice)
        return picked(choice)

    swept = {
        "ponder": _sweep(groups, lams, ponder),
        "cascade": _sweep(groups, ths, cascade),
        "oracle": _sweep(
            groups, oracle_lams, lambda x: picked(choose_by_utility(s_f, c_f, x, true_scale))
        ),
    }
    k = len(table.arms)
    if mask is None:
        single_s, single_c, standin = scores, costs, None
    else:
        standin = stand_ins(mask, column_means(costs, mask))
        single_s, single_c = scores[rows[:, None], standin], costs[rows[:, None], standin]
    arm_q = np.stack([groups.means(single_s[:, j]) for j in range(k)], axis=1)
    arm_c = np.stack([groups.means(single_c[:, j]) for j in range(k)], axis=1)
    sections = [
        build_section(
            table.arms,
            arm_q[g],
            arm_c[g],
            {name: s[g] for name, s in swept.items()},
            groups.size(g, n),
        )
        for g in range(1 + len(groups.names))
    ]
    main = sections[0]
    if k == 2:
        strong = table.arms.index(main.summary.best_single_arm)
        main = _two_arm(
            main, table.arms, strong, order, stopped_at, swept["cascade"][0][1], pk, single_s, mask
        )
    sampled = (
        sampled_arm_reports(table.take(kept), adaptive_confidences, steps, r.p, sampling)
        if table.samples
        else {}
    )
    holes = None
    if mask is not None or r.never_measured:
        full = np.ones(scores.shape, dtype=bool)
        holes = coverage(
            table.arms,
            [table.tasks[i] or NO_TASK for i in kept] if any(table.tasks) else None,
            scores,
            costs,
            full if mask is None else mask,
            np.broadcast_to(np.arange(k), scores.shape) if standin is None else standin,
            r.never_measured,
        )
    return Report(
        n_queries=main.n_queries,
        arms=main.arms,
        policies=main.policies,
        summary=main.summary,
        dropped_incomplete=r.dropped,
        holes=holes,
        by_task=dict(zip(groups.names, sections[1:], strict=True)),
        samples=sampled,
    )


def _two_arm(
    main: Section,
    arms: tuple[str, ...],
    strong: int,
    order: IntArray,
    stopped_at: list[IntArray],
    cascade_quality: FloatArray,
    pk: FloatArray,
    single_s: FloatArray,
    mask: BoolArray | None,
) -> Section:
    """RouteLLM's axis. A query with one arm measured is forced to it: it is ranked first
    (strong only) or last (weak only), so the share of strong calls counts real calls and
    the curves start and end where the forced queries put them."""
    weak = 1 - strong
    n = single_s.shape[0]
    s_s, s_w = single_s[:, strong], single_s[:, weak]
    strong_pos = int(np.flatnonzero(order == strong)[0])
    rank_p, rank_o = pk[:, strong] - pk[:, weak], s_s - s_w
    lo, hi = 0, n
    reach_strong = [s >= strong_pos for s in stopped_at]
    if mask is not None:
        only_s, only_w = mask[:, strong] & ~mask[:, weak], mask[:, weak] & ~mask[:, strong]
        lo, hi = int(only_s.sum()), n - int(only_w.sum())
        for rank in (rank_p, rank_o):
            rank[only_s], rank[only_w] = np.inf, -np.inf
        reach_strong = [r & mask[:, strong] for r in reach_strong]
    curves = {
        "ponder": _share_curve(rank_p, s_s, s_w, lo=lo, hi=hi),
        "oracle": _share_curve(rank_o, s_s, s_w, lo=lo, hi=hi),
        "random": (np.array([lo / n, hi / n]), np.array([s_w.mean(), s_s.mean()])),
        "cascade": (  # share of queries whose cascade calls the strong arm
            np.array([np.count_nonzero(r) / n for r in reach_strong]),
            cascade_quality,
        ),
    }
    return with_two_arm(main, arms[strong], arms[weak], curves)


@dataclass(frozen=True)
class _Prepared:
    """The replayed rows and arms, checked. ``mask`` is ``None`` when nothing is missing."""

    table: OutcomeTable
    scores: FloatArray
    costs: FloatArray
    p: FloatArray
    ec: FloatArray
    kept: IntArray
    mask: BoolArray | None
    dropped: int
    never_measured: tuple[str, ...]


def _prepare(
    table: OutcomeTable, p: FloatArray, expected_cost: FloatArray, complete_only: bool
) -> _Prepared:
    """Check shapes and values; keep the rows to replay and the arms measured on them."""
    n, k = table.n_queries, table.n_arms
    pa = np.asarray(p, dtype=np.float64)
    if pa.shape != (n, k):
        raise ValueError(
            f"p has shape {pa.shape}, but the table has {n} queries x {k} arms; pass one "
            "predicted success per query and arm, in the table's arm order"
        )
    ec = np.asarray(expected_cost, dtype=np.float64)
    if ec.shape == (k,):
        ec = np.broadcast_to(ec, (n, k))
    elif ec.shape != (n, k):
        raise ValueError(
            f"expected_cost has shape {ec.shape}; expected ({n}, {k}) or ({k},) for a table "
            f"of {n} queries x {k} arms"
        )
    measured = table.measured
    if complete_only:
        kept = np.flatnonzero(measured.all(axis=1)).astype(np.int64)
        if kept.size == 0:
            raise ValueError("no query has every arm measured; nothing to simulate")
    else:
        kept = np.flatnonzero(measured.any(axis=1)).astype(np.int64)
        if kept.size == 0:
            raise ValueError("no query has any arm measured; nothing to simulate")
    cols = np.flatnonzero(measured[kept].any(axis=0))
    never = tuple(a for j, a in enumerate(table.arms) if j not in set(cols.tolist()))
    if never:
        table, pa, ec = table.select_arms([table.arms[j] for j in cols]), pa[:, cols], ec[:, cols]
        measured = measured[:, cols]
    mask = measured[kept]
    scores, costs = table.scores[kept], table.costs[kept]
    unpriced = [a for j, a in enumerate(table.arms) if not np.isfinite(costs[mask[:, j], j]).all()]
    if unpriced:
        raise ValueError(f"true costs are missing for arms {unpriced}; price the table first")
    pk, eck = pa[kept], np.ascontiguousarray(ec[kept])
    for name, arr in (("p", pk), ("expected_cost", eck)):
        if not np.isfinite(arr[mask]).all():
            raise ValueError(f"{name} has NaN or infinite values where arms are measured")
    if (costs[mask] < 0).any() or (eck[mask] < 0).any():
        raise ValueError("costs must not be negative")
    if not mask.all():
        # Unmeasured cells are never chosen, but arm means (the cascade's order, the cost
        # scale) are read over all rows: give them the arm's mean over its measured rows.
        pk, eck = np.where(mask, pk, 0.0), np.where(mask, eck, column_means(eck, mask))
    return _Prepared(
        table=table,
        scores=scores,
        costs=costs,
        p=pk,
        ec=eck,
        kept=kept,
        mask=None if mask.all() else mask,
        dropped=n - kept.size,
        never_measured=never,
    )


Adjust = Callable[[float, IntArray], IntArray]
"""A guard as the replay applies it: ``(lam, routed arm per row) -> arm taken``."""


def guarded(
    guard: HullGuard | Sequence[HullGuard | None] | None,
    kept: IntArray,
    arms: Sequence[str],
    mask: BoolArray | None,
) -> Adjust | None:
    """The hull guards of the replayed rows (``kept``, rows of the table ``guard`` is given
    for), applied to a routed choice by :meth:`~ponder.policies.HullGuard.apply`, or None
    without a guard. An arm the guard names but ``arms`` lacks, or one not measured on a
    row (``mask``), is never forced there: the guard only knows the arms it was fitted on.
    """
    if guard is None:
        return None
    per_row = [guard] * kept.size if isinstance(guard, HullGuard) else [guard[i] for i in kept]
    groups: dict[int, tuple[HullGuard, list[int]]] = {}
    for r, g in enumerate(per_row):
        if g is not None and g.active:
            groups.setdefault(id(g), (g, []))[1].append(r)
    if not groups:
        return None
    index = {a: j for j, a in enumerate(arms)}
    members = [(g, np.asarray(rows, dtype=np.int64)) for g, rows in groups.values()]
    whole = len(members) == 1 and members[0][1].size == kept.size

    def adjust(lam: float, chosen: IntArray) -> IntArray:
        if whole:
            return members[0][0].apply(lam, chosen, index, mask)
        out = chosen.copy()
        for g, rows in members:
            usable = None if mask is None else mask[rows]
            out[rows] = g.apply(lam, chosen[rows], index, usable)
        return out

    return adjust


def _knobs(values: Sequence[float], name: str) -> FloatArray:
    arr = np.unique(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"{name} must be a non-empty list of finite numbers")
    if name == "lambdas" and arr[0] < 0:
        raise ValueError("lambdas must be >= 0")
    return arr


def _sweep(groups: _Groups, params: FloatArray, run: _Run) -> list[Curve]:
    """Run the policy at every knob value; one curve per group (all rows, then tasks)."""
    qs, cs = [], []
    for x in params:
        q, c = run(float(x))
        qs.append(groups.means(q))
        cs.append(groups.means(c))
    cost, quality = np.array(cs), np.array(qs)
    return [(cost[:, g], quality[:, g], params) for g in range(cost.shape[1])]


def _share_curve(
    rank_by: FloatArray,
    s_strong: FloatArray,
    s_weak: FloatArray,
    n_points: int = 201,
    *,
    lo: int = 0,
    hi: int | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Exact quality when the ``m`` queries ranked highest by ``rank_by`` go to the strong arm.

    Sorting sweeps every threshold on ``rank_by`` at once, so strong shares from 0 to 1 are
    covered densely, which a sweep of ``lam`` does not do when the costs are far apart.
    ``m`` runs from ``lo`` to ``hi`` (default all): the queries forced to one arm.
    """
    n = s_strong.size
    top = n if hi is None else hi
    rank = np.argsort(-rank_by, kind="stable")
    gained = np.concatenate([[0.0], np.cumsum((s_strong - s_weak)[rank])])
    m = np.unique(lo + np.round(np.linspace(0.0, 1.0, n_points) * (top - lo)).astype(np.int64))
    return m / n, s_weak.mean() + gained[m] / n
