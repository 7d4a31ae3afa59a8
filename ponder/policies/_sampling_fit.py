"""Calibrate one arm's :class:`~ponder.policies.SamplingPolicy` on its recorded samples.

The knobs (how much to trust the classifier, the budget's ``gain`` and ``floor``, the
stopping rule's confidence) are chosen by cross-validation on the training queries: the
vote model's ``kappa``, the scatter ``gamma`` and the arm's mean are fitted on all folds
but one, every setting is replayed on the held-out fold from its recorded samples, and the
setting that draws the fewest samples while its pooled out-of-fold accuracy stays within
``within`` of the vote over every recorded sample wins (:func:`within_reach`: with
``caution`` standard errors of the difference as a margin, since the cheapest of many
settings that pass on a few hundred queries would otherwise be the luckiest, and fall
short on the next ones). The classifier's predictions must be out of fold as well (a model
never predicts the queries it was trained on), or the calibration would trust it more than
it deserves.

Replays use the same rule objects, and the same loop order, as
:func:`~ponder.aggregators.adaptive_vote`: a trajectory of
:meth:`~ponder.aggregators.DirichletStop.settled` values per query and budget is compared
with each confidence, which is what ``should_stop`` compares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ponder.aggregators import Clusters, DirichletStop, cannot_be_overtaken, lead
from ponder.policies._compute import VoteModel, fit_kappa
from ponder.policies._sampling import (
    SampleBudget,
    SamplingCalibration,
    SamplingPolicy,
    budgets_from_curve,
)

if TYPE_CHECKING:
    from ponder.outcomes import OutcomeTable

FloatArray = npt.NDArray[np.float64]

WITHIN = 0.005
"""Accuracy a calibrated policy may give up against the vote over every sample (0.5 points)."""
CAUTION = 1.0
"""Standard errors of the accuracy difference a setting must clear ``within`` by."""
TRUSTS: tuple[float, ...] = (0.0, 0.5, 1.0)
FLOORS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)
CONFIDENCES: tuple[float, ...] = (0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
MARGINS: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 10)
"""Leads at which :class:`~ponder.aggregators.LeadBy` is offered beside the Dirichlet rule."""
BUDGET_SIZES: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64)
"""Vote sizes whose predicted loss, at the arm's mean, sets the grid of ``gain`` values:
with ``trust`` 0 each is then the budget of every query, so a fixed budget is a candidate."""
_LOG_GAMMA_BOUNDS = (math.log(1e-3), math.log(1e3))


@dataclass(frozen=True)
class Recorded:
    """One query's recorded samples of one arm: answers (``None``: no answer) and whether
    each was right, in the order they were drawn, and the out-of-fold prediction ``p``
    (NaN: none)."""

    answers: tuple[str | None, ...]
    right: tuple[bool, ...]
    p: float = math.nan


def recorded_samples(table: OutcomeTable, arm: str, p: npt.ArrayLike) -> list[Recorded]:
    """Every query's recorded samples of ``arm`` (empty where none), with the prediction
    ``p[i]`` for query ``i``; a sample is right at score 0.5 or more."""
    if arm not in table.samples:
        raise ValueError(f"arm '{arm}' has no recorded samples in this table")
    preds = np.broadcast_to(np.asarray(p, dtype=np.float64), (table.n_queries,))
    return [
        Recorded(
            tuple(s.answer for s in row or ()),
            tuple(s.score >= 0.5 for s in row or ()),
            float(preds[i]),
        )
        for i, row in enumerate(table.samples[arm])
    ]


def _str_equal(a: str, b: str) -> bool:
    return a == b


@dataclass(frozen=True)
class _Prefixes:
    """Per prefix length ``s`` (1 .. len): the vote's counts and whether its answer is right."""

    counts: tuple[tuple[int, ...], ...]
    correct: tuple[bool, ...]


def _prefixes(q: Recorded) -> _Prefixes:
    clusters = Clusters(_str_equal)
    counts, correct = [], []
    for answer in q.answers:
        clusters.add(answer)
        agg = clusters.aggregate()
        counts.append(tuple(clusters.counts))
        correct.append(bool(q.right[agg.index if agg.index is not None else 0]))
    return _Prefixes(tuple(counts), tuple(correct))


def within_reach(
    lost: npt.ArrayLike,
    gained: npt.ArrayLike,
    n: int,
    within: float = WITHIN,
    caution: float = CAUTION,
) -> npt.NDArray[np.bool_]:
    """Whether a policy stays within ``within`` of the vote over every sample, judged on
    ``n`` queries paired with it: ``lost`` where the vote is right and the policy is not,
    ``gained`` the reverse. Its accuracy falls short by ``(lost - gained) / n``; that
    estimate plus ``caution`` standard errors (``sqrt(lost + gained + 1) / n``, McNemar's
    with one disagreement added) must stay within. The added one is what a policy that
    never disagreed with the vote on ``n`` queries has not ruled out: on 80 queries, a
    setting that changed no answer may still change one in 80 of the next, which is more
    than half a point; without it the cheapest of many such settings passed with no margin
    at all and fell short on held-out queries. A policy that is the vote by construction
    needs no test (:func:`calibrate_sampling` lets the full vote through). ``caution`` 0
    asks only what the queries show."""
    lo = np.asarray(lost, dtype=np.float64)
    ga = np.asarray(gained, dtype=np.float64)
    noise = np.sqrt(lo + ga + 1.0) if caution > 0 else 0.0
    drop = (lo - ga) / n + caution * noise / n
    return np.asarray(drop <= within + 1e-12)


def fit_gamma(queries: Sequence[Recorded]) -> float:
    """Maximum-likelihood scatter of wrong answers: the concentration of a Chinese
    restaurant process over each query's wrong answers (large: every wrong answer differs;
    small: wrong samples repeat one wrong answer). 1 when no query has two wrong answers."""
    from scipy.optimize import minimize_scalar

    groups: list[list[int]] = []
    for q in queries:
        sizes: dict[str, int] = {}
        for a, r in zip(q.answers, q.right, strict=True):
            if a is not None and not r:
                sizes[a] = sizes.get(a, 0) + 1
        if sum(sizes.values()) >= 2:
            groups.append(list(sizes.values()))
    if not groups:
        return 1.0
    n_clusters = np.array([len(g) for g in groups], dtype=np.float64)
    totals = np.array([sum(g) for g in groups], dtype=np.float64)

    def nll(log_gamma: float) -> float:
        from scipy.special import gammaln

        g = math.exp(log_gamma)
        return -float(np.sum(n_clusters * log_gamma - gammaln(g + totals) + gammaln(g)))

    r = minimize_scalar(nll, bounds=_LOG_GAMMA_BOUNDS, method="bounded", options={"xatol": 1e-4})
    return math.exp(float(r.x))


@dataclass(frozen=True)
class _Fitted:
    """What one training split gives: the arm's mean, the scatter, ``kappa`` per trust."""

    mean: float
    gamma: float
    kappa: dict[float, float]


def _fit(queries: Sequence[Recorded], trusts: Sequence[float]) -> _Fitted:
    total = np.array([len(q.right) for q in queries], dtype=np.float64)
    right = np.array([sum(q.right) for q in queries], dtype=np.float64)
    mean = float(right.sum() / total.sum())
    p = np.array([q.p for q in queries])
    kappa = {}
    for t in trusts:
        prior = SampleBudget(kappa=1.0, trust=t, mean=mean).prior(p)
        kappa[t] = fit_kappa(total, right, prior)
    return _Fitted(mean, fit_gamma(queries), kappa)


def _stops(
    pre: _Prefixes,
    budget: int,
    rule: DirichletStop,
    p: float,
    confidences: Sequence[float],
    margins: Sequence[int] = (),
) -> list[int]:
    """Samples drawn at each confidence, then at each margin of
    :class:`~ponder.aggregators.LeadBy`, by a batch-1 replay within ``budget``."""
    k = len(confidences)
    out: list[int | None] = [None] * (k + len(margins))
    pending = len(out)
    for s in range(1, budget + 1):
        counts, left = pre.counts[s - 1], budget - s
        level = 1.0 if left == 0 or cannot_be_overtaken(counts, left) else None
        for i, c in enumerate(confidences):
            if out[i] is not None or (level is None and c >= 1.0):
                continue  # confidence 1 passes only where the leader is out of reach
            if level is None:
                level = rule.settled(counts, left, p)
            if level >= c:
                out[i] = s
                pending -= 1
        if margins:
            ahead = lead(counts)
            for i, m in enumerate(margins, start=k):
                if out[i] is None and (level == 1.0 or ahead >= m):
                    out[i] = s
                    pending -= 1
        if pending == 0:
            break
    return [budget if s is None else s for s in out]


def calibrate_sampling(
    queries: Sequence[Recorded],
    fold_of: npt.ArrayLike,
    *,
    within: float = WITHIN,
    caution: float = CAUTION,
    trusts: Sequence[float] = TRUSTS,
    floors: Sequence[float] = FLOORS,
    confidences: Sequence[float] = CONFIDENCES,
    margins: Sequence[int] = MARGINS,
    with_budgets: bool = True,
) -> SamplingPolicy:
    """The cheapest :class:`SamplingPolicy` whose out-of-fold accuracy stays within
    ``within`` of the vote over every recorded sample (by :func:`within_reach`, with
    ``caution``); ``fold_of`` gives each query's fold.

    Queries without samples are ignored. A query given a budget of 0 counts as answered
    wrong (the arm gave no answer), so skipping only pays where the vote would be wrong
    anyway. A fixed budget with the exact rule (``trust`` 0, confidence 1) is always among
    the candidates, and the largest one is the vote itself (nothing lost or gained), so
    some setting always passes. Each budget is replayed with the Dirichlet rule at every
    confidence and with :class:`~ponder.aggregators.LeadBy` at every margin in ``margins``.
    ``with_budgets`` False offers only the stopping rules over every sample the arm may draw: a
    budget read off the vote model at the arm's mean is a figure of these queries, and does
    not carry to an arm or a task whose success is not known (calibrating on some sets to
    sample on another).
    """
    folds = np.asarray(fold_of)
    keep = [i for i, q in enumerate(queries) if q.answers]
    if not keep:
        raise ValueError("no query has recorded samples; nothing to calibrate")
    qs = [queries[i] for i in keep]
    folds = folds[keep]
    if any(len(q.answers) != len(q.right) for q in qs):
        raise ValueError("every recorded answer needs its right/wrong flag")
    most = max(len(q.answers) for q in qs)
    # A lead of ``most`` votes or more never stops a query before its last sample: here it
    # is the full vote, and beyond these queries an untried rule (a lead of 10 chosen on
    # three samples a query would draw all of a ten-sample arm's), so it is not offered.
    # The exact rule, which never changes the full vote's answer, then wins such ties.
    margins = tuple(m for m in margins if m < most)
    pres = [_prefixes(q) for q in qs]
    vote_of = np.array([pre.correct[-1] for pre in pres], dtype=bool)  # the full vote
    vote_acc = float(vote_of.mean())
    whole = _fit(qs, (0.0,))
    gains = _gain_grid(whole, most) if with_budgets else [0.0]
    ids = np.unique(folds)
    grid = [(t, g, f) for t in trusts for g in gains for f in floors]
    index = {key: row for row, key in enumerate(grid)}
    rules = len(confidences) + len(margins)  # a column per stopping rule
    correct = np.zeros((len(grid), rules))
    lost = np.zeros((len(grid), rules))
    gained = np.zeros((len(grid), rules))
    drawn = np.zeros((len(grid), rules))
    skipped = np.zeros(len(grid))
    full = np.ones(len(grid), dtype=bool)  # every query's budget is all its samples
    right_at = np.zeros((len(qs), most), dtype=bool)  # the vote of each prefix is right
    for i, pre in enumerate(pres):
        right_at[i, : len(pre.correct)] = pre.correct
    for fold in ids:
        train = [q for q, f in zip(qs, folds, strict=True) if f != fold]
        held = [i for i, f in enumerate(folds) if f == fold]
        if len(ids) < 2:
            train, held = qs, list(range(len(qs)))
        held_at = np.array(held, dtype=np.int64)
        fitted = _fit(train, trusts)
        p = np.array([qs[i].p for i in held])
        n_held = np.array([len(qs[i].answers) for i in held])
        cache: dict[tuple[float, int, int], list[int]] = {}
        for t in trusts:
            shape = SampleBudget(fitted.kappa[t], 0.0, 0.0, t, fitted.mean)
            curve, prior = shape.curve(p, most), shape.prior(p)
            rule = DirichletStop(0.5, fitted.kappa[t], fitted.gamma, fitted.mean)
            for g in gains:
                for f in floors:
                    row = index[(t, g, f)]
                    budgets = np.minimum(budgets_from_curve(curve, g, f), n_held)
                    skipped[row] += int(np.count_nonzero(budgets == 0))
                    full[row] &= bool(np.all(budgets == n_held))
                    drawing = budgets > 0
                    # A query given no samples counts wrong at every confidence.
                    lost[row] += int(vote_of[held_at[~drawing]].sum())
                    rows = held_at[drawing]
                    if rows.size == 0:
                        continue
                    stops = np.empty((rows.size, rules), dtype=np.int64)
                    for r, j in enumerate(np.flatnonzero(drawing)):
                        i, b = held[j], int(budgets[j])
                        key = (t, i, b)
                        if key not in cache:
                            cache[key] = _stops(
                                pres[i], b, rule, float(prior[j]), confidences, margins
                            )
                        stops[r] = cache[key]
                    right = right_at[rows[:, None], stops - 1]
                    vote = vote_of[rows][:, None]
                    correct[row] += right.sum(axis=0)
                    lost[row] += (vote & ~right).sum(axis=0)
                    gained[row] += (right & ~vote).sum(axis=0)
                    drawn[row] += stops.sum(axis=0)
    n = len(qs)
    acc, mean_drawn = correct / n, drawn / n
    # The exact rule over all of a query's samples returns the vote's own answer: it passes
    # by construction, so some setting always does.
    exact_col = np.r_[np.asarray(confidences) >= 1.0, np.zeros(len(margins), dtype=bool)]
    exact = full[:, None] & exact_col[None, :]
    ok = within_reach(lost, gained, n, within, caution) | exact
    # Fewest samples; then the more accurate; then the less trust in the classifier; then
    # the exact rule, which carries to an arm that draws more samples than these queries
    # record (with three, "two ahead" is the same rule on the data and a bolder one at
    # ten); then the higher confidence (the safer of two equal settings).
    best: tuple[float, float, int, bool, int] | None = None
    for row, c in zip(*np.nonzero(ok), strict=True):
        mean, accuracy = float(mean_drawn[row, c]), float(acc[row, c])
        rank = (mean, -accuracy, int(row), not bool(exact_col[c]), -int(c))
        if best is None or rank < best:
            best = rank
    assert best is not None, "the exact rule over every sample is the vote itself and passes"
    row, c = best[2], -best[4]
    t, g, f = grid[row]
    final = _fit(qs, (t,))
    calibration = SamplingCalibration(
        n_queries=n,
        max_samples=most,
        folds=len(ids),
        vote_accuracy=vote_acc,
        accuracy=float(acc[row, c]),
        mean_samples=float(mean_drawn[row, c]),
        skipped=float(skipped[row] / n),
        within=within,
    )
    by_margin = c >= len(confidences)
    return SamplingPolicy(
        SampleBudget(final.kappa[t], g, f, t, final.mean),
        confidence=1.0 if by_margin else float(confidences[c]),
        gamma=final.gamma,
        calibration=calibration,
        margin=int(margins[c - len(confidences)]) if by_margin else 0,
    )


def calibrate_any_arm(queries: Sequence[Recorded], fold_of: npt.ArrayLike) -> SamplingPolicy:
    """The policy for arms whose own samples were never recorded (``ANY_ARM``):
    stopping rules only, over every sample the arm may draw. A budget read off these
    queries' success would not carry to another arm or task."""
    return calibrate_sampling(queries, fold_of, trusts=(0.0,), floors=(0.0,), with_budgets=False)


def _gain_grid(fitted: _Fitted, most: int) -> list[float]:
    """0, and the predicted loss of each vote size in :data:`BUDGET_SIZES` against
    ``most`` at the arm's mean (so trust 0 can give every query that size)."""
    votes = VoteModel(kappa=fitted.kappa[0.0])
    full = float(votes.p_vote(fitted.mean, most))
    gains = {0.0}
    for n in BUDGET_SIZES:
        if n < most:
            gains.add(max(0.0, full - float(votes.p_vote(fitted.mean, n))) + 1e-9)
    return sorted(gains)


__all__ = [
    "CAUTION",
    "MARGINS",
    "WITHIN",
    "Recorded",
    "calibrate_any_arm",
    "calibrate_sampling",
    "fit_gamma",
    "recorded_samples",
    "within_reach",
]
