"""Replay an outcome table through routing policies and trace their cost/quality frontiers.

No model is called: each policy picks arms from predictions and expected costs, and the
table says what those arms truly scored and cost. Every policy is swept over its knob and
summarised on a common cost range (AIQ), against the floor of mixing single arms at random
and the ceiling of the per-query oracle, so one number says how much of the achievable gain
a classifier captures. Everything is vectorised over queries: one argmax over the ``[n, k]``
matrix per knob value, with the per-task means taken by ``bincount`` in the same pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ponder.outcomes import OutcomeTable
from ponder.policies import (
    Cascade,
    FloatArray,
    IntArray,
    choose_by_utility,
    default_cost_scale,
    lambda_grid,
)
from ponder.simulate._report import Curve, Report, build_section, with_two_arm
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
) -> Report:
    """Replay ``ponder`` (utility routing on ``p``), every single arm, random mixing, the
    oracle and a cascade on ``table``; return the :class:`Report`.

    ``p[i, j]`` is the predicted success of arm ``j`` on query ``i``, ``expected_cost``
    (``[n, k]`` or ``[k]``) what the router believes each call costs; quality and spend are
    read from the table's true scores and costs. Only queries with every arm measured are
    replayed (the rest are counted in ``dropped_incomplete``). ``lambdas`` overrides
    ponder's sweep and ``cascade_thresholds`` the cascade's; by default about ``n_points``
    values are placed where decisions change. The oracle always gets its own grid on the
    true scores, so the ceiling is traced in full. Arms with recorded samples also get
    their votes (``vote@N``) and adaptive sampling at ``adaptive_confidences`` replayed on
    the same queries, in ``Report.samples``.
    """
    scores, costs, pk, ec, kept = _prepare(table, p, expected_cost)
    n, rows = scores.shape[0], np.arange(scores.shape[0])
    has_tasks = by_task and any(table.tasks[i] for i in kept)
    groups = _Groups([table.tasks[i] or NO_TASK for i in kept] if has_tasks else None)

    flat_s, flat_c, row_start = scores.ravel(), costs.ravel(), rows * scores.shape[1]

    def picked(choice: IntArray) -> tuple[FloatArray, FloatArray]:
        at = row_start + choice  # flat indexing: cheaper than a 2-D fancy index
        return flat_s[at], flat_c[at]

    scale, true_scale = default_cost_scale(ec), default_cost_scale(costs)
    lams = _knobs(lambdas, "lambdas") if lambdas is not None else lambda_grid(pk, ec, n_points)
    oracle_lams = lambda_grid(scores, costs, max(n_points, lams.size))

    order = Cascade(0.0).resolve_order(ec)  # cheapest expected mean cost first
    if cascade_thresholds is not None:
        ths = _knobs(cascade_thresholds, "cascade_thresholds")
    else:
        head = pk[:, order[:-1]] if order.size > 1 else pk
        ths = np.unique(np.r_[0.0, np.quantile(head, np.linspace(0.0, 1.0, n_points))])
    cum, ordered, p_ordered = np.cumsum(costs[:, order], axis=1), scores[:, order], pk[:, order]
    stopped_at: list[IntArray] = []  # per threshold: how many queries stop at each position

    def cascade(t: float) -> tuple[FloatArray, FloatArray]:
        stop = Cascade(t).stops(p_ordered, None)
        stopped_at.append(np.bincount(stop, minlength=order.size))
        return ordered[rows, stop], cum[rows, stop]

    swept = {
        "ponder": _sweep(groups, lams, lambda x: picked(choose_by_utility(pk, ec, x, scale))),
        "cascade": _sweep(groups, ths, cascade),
        "oracle": _sweep(
            groups, oracle_lams, lambda x: picked(choose_by_utility(scores, costs, x, true_scale))
        ),
    }
    k = len(table.arms)
    arm_q = np.stack([groups.means(scores[:, j]) for j in range(k)], axis=1)
    arm_c = np.stack([groups.means(costs[:, j]) for j in range(k)], axis=1)
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
        weak = 1 - strong
        s_s, s_w = scores[:, strong], scores[:, weak]
        strong_pos = int(np.flatnonzero(order == strong)[0])
        curves = {
            "ponder": _share_curve(pk[:, strong] - pk[:, weak], s_s, s_w),
            "oracle": _share_curve(s_s - s_w, s_s, s_w),
            "random": (np.array([0.0, 1.0]), np.array([s_w.mean(), s_s.mean()])),
            "cascade": (  # share of queries whose cascade reaches the strong arm
                np.array([c[strong_pos:].sum() / n for c in stopped_at]),
                swept["cascade"][0][1],
            ),
        }
        main = with_two_arm(main, table.arms[strong], table.arms[weak], curves)
    sampled = sampled_arm_reports(table.take(kept), adaptive_confidences) if table.samples else {}
    return Report(
        n_queries=main.n_queries,
        arms=main.arms,
        policies=main.policies,
        summary=main.summary,
        dropped_incomplete=table.n_queries - kept.size,
        by_task=dict(zip(groups.names, sections[1:], strict=True)),
        samples=sampled,
    )


def _prepare(
    table: OutcomeTable, p: FloatArray, expected_cost: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, IntArray]:
    """Check shapes and values; keep the rows where every arm is measured."""
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
    kept = np.flatnonzero(table.measured.all(axis=1)).astype(np.int64)
    if kept.size == 0:
        raise ValueError("no query has every arm measured; nothing to simulate")
    scores, costs = table.scores[kept], table.costs[kept]
    unpriced = [a for j, a in enumerate(table.arms) if not np.isfinite(costs[:, j]).all()]
    if unpriced:
        raise ValueError(f"true costs are missing for arms {unpriced}; price the table first")
    for name, arr in (("p", pa[kept]), ("expected_cost", ec[kept])):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} has NaN or infinite values on fully measured queries")
    if (costs < 0).any() or (ec[kept] < 0).any():
        raise ValueError("costs must not be negative")
    return scores, costs, pa[kept], ec[kept], kept


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
    rank_by: FloatArray, s_strong: FloatArray, s_weak: FloatArray, n_points: int = 201
) -> tuple[FloatArray, FloatArray]:
    """Exact quality when the ``m`` queries ranked highest by ``rank_by`` go to the strong arm.

    Sorting sweeps every threshold on ``rank_by`` at once, so strong shares from 0 to 1 are
    covered densely, which a sweep of ``lam`` does not do when the costs are far apart.
    """
    n = s_strong.size
    rank = np.argsort(-rank_by, kind="stable")
    gained = np.concatenate([[0.0], np.cumsum((s_strong - s_weak)[rank])])
    m = np.unique(np.round(np.linspace(0.0, 1.0, n_points) * n).astype(np.int64))
    return m / n, s_weak.mean() + gained[m] / n
