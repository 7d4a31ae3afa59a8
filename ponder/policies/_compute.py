"""Policy over compute: how much an n-sample vote is worth, before paying for it.

A router that may buy more samples of an arm needs the success of the *vote*, not of one
sample. If samples were independent, a query answered right with probability 0.7 would be
right 84% of the time under a 5-vote; recorded samples say voting gains far less (GPT-3.5 on
the Date task gains nothing from 20 samples), because samples of one query are correlated:
a query is either one the model tends to get or one it tends to miss.

The model: a query whose single-sample success is ``p`` has a latent per-query success rate
``pi ~ Beta(p * kappa, (1 - p) * kappa)``, and its samples are Bernoulli(``pi``). The number
of correct samples out of ``n`` is then beta-binomial. ``kappa`` is the overdispersion:
``kappa -> inf`` gives independent samples, ``kappa -> 0`` gives samples that all agree,
so a vote is worth exactly one sample. Voting is modelled with two answers (right, and one
wrong answer): a plurality of several wrong answers is not modelled, which makes the
prediction slightly pessimistic where wrong answers scatter.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ponder.outcomes import OutcomeTable

FloatArray = npt.NDArray[np.float64]

DEFAULT_KAPPA: float = 0.336
"""``kappa`` fitted on all of qwen-math-sampled (MIT; 100 MATH problems x 8 samples):
``VoteModel().fit(rows_to_table(import_rows("qwen-math-sampled", "../shared/data/
qwen-math-sampled"))).kappa_`` = 0.33588 (arm mean 0.915, 100 queries). The only sampled set
whose licence allows shipping a figure; the unlicensed mot-cascade arms give 0.06 to 0.69
(``bench/bench_vote_model.py``), so samples of one query are strongly correlated throughout.
"""

_CORRECT = 0.5  # a sample counts as correct at score >= 0.5, as in ponder.simulate._samples
_LOG_KAPPA_BOUNDS = (math.log(1e-3), math.log(1e4))


def _as_p(p1: npt.ArrayLike, name: str = "p1") -> FloatArray:
    p = np.asarray(p1, dtype=np.float64)
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"{name} must hold probabilities in [0, 1] (no NaN)")
    return p


def _check_n(n: int, name: str = "n") -> int:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def _check_kappa(kappa: float) -> float:
    k = float(kappa)
    if math.isnan(k) or k <= 0:
        raise ValueError(f"kappa must be > 0 (math.inf for independent samples), got {kappa!r}")
    return k


def _log_rising(x: FloatArray, n: int) -> FloatArray:
    """``log(x (x + 1) ... (x + j - 1))`` for ``j = 0 .. n``, on a new last axis.

    A product of ``n`` terms rather than a difference of log-gammas: exact for any
    ``kappa`` (log-gammas cancel catastrophically when ``kappa`` is large) and ``-inf`` for
    ``x = 0, j >= 1``, which gives the degenerate ``p = 0`` / ``p = 1`` cases for free.
    """
    steps = x[..., None] + np.arange(n, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logs = np.log(steps)
    zero = np.zeros((*x.shape, 1))
    return np.concatenate([zero, np.cumsum(logs, axis=-1)], axis=-1)


def _log_comb(n: int) -> FloatArray:
    return np.array(
        [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) for k in range(n + 1)]
    )


def correct_pmf(p: FloatArray, n: int, kappa: float) -> FloatArray:
    """P(k of ``n`` samples correct), ``k = 0 .. n`` on a new last axis (beta-binomial)."""
    k = np.arange(n + 1, dtype=np.float64)
    if math.isinf(kappa):
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = np.where(k == 0, 0.0, k * np.log(p[..., None]))
            lq = np.where(k == n, 0.0, (n - k) * np.log1p(-p[..., None]))
        return np.asarray(np.exp(_log_comb(n) + lp + lq))
    a, b = p * kappa, (1.0 - p) * kappa
    log_norm = _log_rising(np.array(kappa), n)[n]
    log_pmf = _log_comb(n) + _log_rising(a, n) + _log_rising(b, n)[..., ::-1] - log_norm
    return np.asarray(np.exp(log_pmf))


def _win(correct: FloatArray, wrong: FloatArray) -> FloatArray:
    """Credit of a two-answer vote: 1 if right leads, 1/2 on a tie (either answer first)."""
    return np.asarray((correct > wrong) + 0.5 * (correct == wrong), dtype=np.float64)


@functools.lru_cache(maxsize=64)
def _stop_table(max_n: int, confidence: float) -> npt.NDArray[np.bool_]:
    """``stop[c, w]``: whether the adaptive rule stops at ``c`` right and ``w`` wrong votes."""
    from ponder.aggregators import StoppingRule

    rule = StoppingRule(confidence=confidence)
    stop = np.zeros((max_n + 1, max_n + 1), dtype=bool)
    for c in range(max_n + 1):
        for w in range(max_n + 1 - c):
            stop[c, w] = rule.should_stop([c, w])
    return stop


@functools.lru_cache(maxsize=64)
def _exact_table(budget: int) -> npt.NDArray[np.bool_]:
    """``stop[c, w]``: whether the leader's lead outruns the samples left of ``budget``
    (the two-answer form of :class:`~ponder.aggregators.CannotBeOvertaken`)."""
    c = np.arange(budget + 1)[:, None]
    w = np.arange(budget + 1)[None, :]
    return np.asarray(np.abs(c - w) > budget - c - w)


class VoteModel:
    """Predicted success and sample count of majority votes and adaptive sampling.

    ``kappa`` fixes the overdispersion; ``None`` lets :meth:`fit` estimate it, and before
    any fit the model predicts with :data:`DEFAULT_KAPPA`, so ``VoteModel()`` is usable as
    it is. After ``fit``: ``kappa_`` (the fitted value, or ``kappa`` when fixed), ``means_``
    (each arm's mean single-sample success), ``n_queries_`` (query/arm pairs with samples
    used) and ``log_likelihood_``.
    """

    def __init__(self, kappa: float | None = None) -> None:
        self.kappa = kappa

    def _kappa(self) -> float:
        fitted = getattr(self, "kappa_", None)
        if fitted is not None:
            return float(fitted)
        return _check_kappa(self.kappa if self.kappa is not None else DEFAULT_KAPPA)

    # ---- prediction -----------------------------------------------------------------------

    def p_vote(self, p1: npt.ArrayLike, n: int) -> FloatArray:
        """P(majority over ``n`` samples is right), elementwise over ``p1``.

        Ties (``n`` even, half right) count one half: with two answers the tie goes to the
        first sample's answer, right half the time.
        """
        p = _as_p(p1)
        n = _check_n(n)
        if n == 1:
            return p.copy()
        k = np.arange(n + 1, dtype=np.float64)
        return np.asarray(correct_pmf(p, n, self._kappa()) @ _win(k, n - k))

    def adaptive(
        self, p1: npt.ArrayLike, max_n: int, confidence: float, batch: int
    ) -> tuple[FloatArray, FloatArray]:
        """Expected samples drawn and P(right) of adaptive sampling, in one pass.

        Exact DP over (right, wrong) counts.

        Given ``c`` right of ``t`` drawn, the next sample is right with probability
        ``(p kappa + c) / (kappa + t)`` (the Polya urn of the beta-binomial), so the
        per-query rate never has to be integrated out explicitly.
        """
        max_n = _check_n(max_n, "max_n")
        return self._walk(
            p1, max_n, _check_n(batch, "batch"), _stop_table(max_n, float(confidence))
        )

    def budgeted(self, p1: npt.ArrayLike, budget: int) -> tuple[FloatArray, FloatArray]:
        """Expected samples and P(right) of a vote over at most ``budget`` samples that
        stops once the leader cannot be overtaken: its answer is ``vote@budget``'s, so
        P(right) is :meth:`p_vote`'s and only the samples differ. What a router expects a
        calibrated arm to draw (the Dirichlet rule stops sooner still, so it is an upper
        bound)."""
        budget = _check_n(budget, "budget")
        return self._walk(p1, budget, 1, _exact_table(budget))

    def _walk(
        self, p1: npt.ArrayLike, max_n: int, batch: int, stop: npt.NDArray[np.bool_]
    ) -> tuple[FloatArray, FloatArray]:
        p = _as_p(p1)
        kappa = self._kappa()
        flat = p.reshape(-1, 1)
        mass = np.zeros((flat.shape[0], max_n + 1))
        mass[:, 0] = 1.0
        samples = np.zeros(flat.shape[0])
        right = np.zeros(flat.shape[0])
        for t in range(max_n):
            c = np.arange(t + 1, dtype=np.float64)
            q = (
                np.broadcast_to(flat, (flat.shape[0], t + 1))
                if math.isinf(kappa)
                else ((flat * kappa + c) / (kappa + t))
            )
            live = mass[:, : t + 1]
            nxt = np.zeros_like(mass)
            nxt[:, : t + 1] += live * (1.0 - q)
            nxt[:, 1 : t + 2] += live * q
            mass, drawn = nxt, t + 1
            if drawn % batch and drawn < max_n:
                continue
            c1 = np.arange(drawn + 1)
            halt = stop[c1, drawn - c1] if drawn < max_n else np.ones(drawn + 1, dtype=bool)
            ended = mass[:, : drawn + 1] * halt
            samples += ended.sum(axis=1) * drawn
            right += ended @ _win(c1.astype(np.float64), (drawn - c1).astype(np.float64))
            mass[:, : drawn + 1] *= ~halt
        return samples.reshape(p.shape), right.reshape(p.shape)

    def expected_samples(
        self, p1: npt.ArrayLike, max_n: int, confidence: float, batch: int = 1
    ) -> FloatArray:
        """Mean samples adaptive sampling draws (``StoppingRule(confidence)``, at most ``max_n``).

        Same rule as :func:`ponder.aggregators.adaptive_vote`: draw ``batch`` at a time,
        stop once the leader of the two answers is settled (never before 2 samples).
        """
        return self.adaptive(p1, max_n, confidence, batch)[0]

    def p_adaptive(
        self, p1: npt.ArrayLike, max_n: int, confidence: float, batch: int = 1
    ) -> FloatArray:
        """P(the adaptive vote of :meth:`expected_samples` is right)."""
        return self.adaptive(p1, max_n, confidence, batch)[1]

    # ---- fitting --------------------------------------------------------------------------

    def fit(
        self,
        table: OutcomeTable,
        arms: Sequence[str] | None = None,
        p: npt.ArrayLike | None = None,
    ) -> VoteModel:
        """Maximum-likelihood ``kappa`` from the recorded samples of ``arms`` (default: all).

        Per query, ``k`` of the ``m`` recorded samples are right (score >= 0.5). Without
        ``p`` the single-sample success per query is unknown, so each arm is fitted
        marginally: its queries share a mean (profiled out per arm) and one ``kappa`` is
        shared by all arms. That ``kappa`` then also absorbs how much queries differ from
        one another, so it is the right one for a router that knows only the arm's mean; a
        router with an informative classifier should pass its predictions as ``p``
        (``[n_queries, n_arms]`` in the table's arm order), which fixes each query's mean
        and leaves ``kappa`` to measure only the correlation between samples.
        """
        from scipy.optimize import minimize_scalar

        names = list(arms) if arms is not None else [a for a in table.arms if a in table.samples]
        if not names:
            raise ValueError("the table has no arm with recorded samples; nothing to fit")
        pm = None if p is None else np.asarray(p, dtype=np.float64)
        if pm is not None and pm.shape != (table.n_queries, table.n_arms):
            raise ValueError(
                f"p has shape {pm.shape}; expected ({table.n_queries}, {table.n_arms})"
            )
        counts = [_counts(table, a, pm) for a in names]
        n_pairs = sum(len(m) for m, _, _ in counts)
        if n_pairs == 0:
            raise ValueError(f"no query has recorded samples for arms {names}")

        def profile(kappa: float) -> tuple[float, list[float]]:
            total, means = 0.0, []
            for m, k, mu in counts:
                if mu is not None:
                    total += _nll(m, k, mu, kappa)
                    means.append(float(mu.mean()))
                    continue
                r = minimize_scalar(
                    lambda x, m=m, k=k: _nll(m, k, np.full(m.shape, x), kappa),
                    bounds=(1e-9, 1 - 1e-9),
                    method="bounded",
                    options={"xatol": 1e-9},
                )
                total += float(r.fun)
                means.append(float(r.x))
            return total, means

        if self.kappa is not None:
            kappa = _check_kappa(self.kappa)
        else:
            if not any((m >= 2).any() for m, _, _ in counts):
                raise ValueError("fitting kappa needs a query with at least 2 recorded samples")
            r = minimize_scalar(
                lambda x: profile(math.exp(x))[0],
                bounds=_LOG_KAPPA_BOUNDS,
                method="bounded",
                options={"xatol": 1e-4},
            )
            kappa = math.exp(float(r.x))
        nll, means = profile(kappa)
        self.kappa_ = kappa
        self.means_ = dict(zip(names, means, strict=True))
        self.n_queries_ = n_pairs
        self.log_likelihood_ = -nll
        return self


def fit_kappa(total: npt.ArrayLike, right: npt.ArrayLike, mean: npt.ArrayLike) -> float:
    """Maximum-likelihood ``kappa`` of queries with ``right`` of ``total`` samples right,
    each query's single-sample success being ``mean`` (a classifier's prediction): the
    correlation between samples left once the prediction has said what it can. With a
    constant ``mean`` it is the marginal ``kappa`` of :meth:`VoteModel.fit`, which also
    absorbs how much queries differ, and so is smaller."""
    from scipy.optimize import minimize_scalar

    m = np.asarray(total, dtype=np.float64)
    k = np.asarray(right, dtype=np.float64)
    mu = np.clip(_as_p(mean, "mean"), 1e-6, 1 - 1e-6)
    if not (m >= 2).any():
        raise ValueError("fitting kappa needs a query with at least 2 recorded samples")
    r = minimize_scalar(
        lambda x: _nll(m, k, mu, math.exp(x)),
        bounds=_LOG_KAPPA_BOUNDS,
        method="bounded",
        options={"xatol": 1e-4},
    )
    return math.exp(float(r.x))


def _counts(
    table: OutcomeTable, arm: str, p: FloatArray | None
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Recorded (samples, right) per query of ``arm``, and the given means on those rows."""
    j = table.arm_index(arm)
    if arm not in table.samples:
        raise ValueError(f"arm '{arm}' has no recorded samples in this table")
    rows = [(i, s) for i, s in enumerate(table.samples[arm]) if s]
    m = np.array([len(s) for _, s in rows], dtype=np.float64)
    k = np.array([sum(x.score >= _CORRECT for x in s) for _, s in rows], dtype=np.float64)
    mu = None if p is None else _as_p(p[[i for i, _ in rows], j], "p")
    return m, k, mu


def _nll(m: FloatArray, k: FloatArray, mu: FloatArray, kappa: float) -> float:
    """Beta-binomial negative log-likelihood, binomial coefficients included."""
    from scipy.special import betaln, gammaln, xlog1py, xlogy

    log_p = gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1)
    if math.isinf(kappa):  # independent samples: binomial
        log_p = log_p + xlogy(k, mu) + xlog1py(m - k, -mu)
    else:
        a, b = mu * kappa, (1.0 - mu) * kappa
        log_p = log_p + betaln(k + a, m - k + b) - betaln(a, b)
    return float(-np.sum(log_p))


__all__ = ["DEFAULT_KAPPA", "VoteModel", "correct_pmf", "fit_kappa"]
