"""How far a per-query signal could take the margin rule, on every set with 8 or more samples.

The margin rule ("stop once the leader is m votes ahead") reads only the vote counts. Issue
20 asks for 1.3x fewer samples than it at equal accuracy; the only information it does not
use is the query. Here each set's queries are cut into bins by a score, and each bin gets its
own margin (a Lagrangian path over the bins' margins, the cheapest point whose net loss
against vote@max is no larger than the single margin's), against the single margin with the
least samples within 0.5 points:

* **oracle**: the share of the query's own samples that give its most common answer, read
  off all of them (no policy can know it before drawing): the most a query-level score can
  buy with a margin per bin, chosen on the same queries it is scored on;
* **text, in sample**: a ridge regression of the query's mean sample correctness on the
  packaged model's features, out of fold (5 folds by query), bins and margins chosen on the
  same queries;
* **text, out of fold**: the same score, with the bins' margins chosen on the training folds
  by the calibration's rule (within 0.5 points plus one standard error, and plus two) and
  replayed on the held-out fold, against the single margin chosen with one (the margin
  column of the table above).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from _sample_cv import gmean, group_folds, replay
from _sample_sets import ARM, SampleSet
from sklearn.linear_model import Ridge

from ponder.aggregators import CannotBeOvertaken, LeadBy
from ponder.classifiers import load_default_classifier
from ponder.policies import within_reach

BINS = 5
CAUTIONS = (1.0, 2.0)
"""Standard errors of margin the bins' margins are chosen with, out of fold (the
calibration uses one; two brings the shortfall back to the single margin's)."""
MUS = np.r_[0.0, np.logspace(-2, 3, 60), 1e9]
"""Prices of a lost query, in samples, along the Lagrangian path."""


class _Margins:
    """Every query's replay under each margin 1..12 and the exact rule: right, samples,
    and lost/gained against vote@max."""

    def __init__(self, s: SampleSet) -> None:
        t = s.table
        full, _ = replay(t, CannotBeOvertaken())
        most = max(len(r or ()) for r in t.samples[ARM])
        self.margins = list(range(1, min(most, 12) + 1))
        rows = len(self.margins) + 1
        self.right = np.zeros((rows, t.n_queries), dtype=bool)
        self.samples = np.zeros((rows, t.n_queries))
        for j, m in enumerate(self.margins):
            self.right[j], self.samples[j] = replay(t, LeadBy(m))
        self.right[-1], self.samples[-1] = replay(t, CannotBeOvertaken())
        self.lost = (full[None] & ~self.right).astype(np.float64)
        self.gained = (self.right & ~full[None]).astype(np.float64)
        self.n_max = float(np.mean([len(r or ()) for r in t.samples[ARM]]))

    def uniform(self, at: np.ndarray, caution: float) -> int:
        """Row of the smallest margin within 0.5 points on ``at`` (the exact rule if none)."""
        for j in range(len(self.margins)):
            if within_reach(
                self.lost[j, at].sum(), self.gained[j, at].sum(), at.size, caution=caution
            ):
                return j
        return len(self.margins)

    def per_bin(
        self, at: np.ndarray, bins: np.ndarray, ok: Callable[[float, float], bool]
    ) -> np.ndarray:
        """Each bin's row on the Lagrangian path: the cheapest point that ``ok(lost, gained)``
        accepts (the exact rule everywhere if none does)."""
        best: tuple[float, np.ndarray] | None = None
        s, lo, ga = self.samples[:, at], self.lost[:, at], self.gained[:, at]
        for mu in MUS:
            choice = np.full(BINS, len(self.margins))
            for b in range(BINS):
                inb = bins == b
                if inb.any():
                    cost = s[:, inb].sum(1) + mu * (lo[:, inb].sum(1) - ga[:, inb].sum(1))
                    choice[b] = int(np.argmin(cost))
            rows = choice[bins]
            cols = np.arange(at.size)
            total = float(s[rows, cols].sum())
            if ok(float(lo[rows, cols].sum()), float(ga[rows, cols].sum())) and (
                best is None or total < best[0]
            ):
                best = (total, choice)
        return best[1] if best is not None else np.full(BINS, len(self.margins))


def _bins(score: np.ndarray, cuts_from: np.ndarray) -> np.ndarray:
    cuts = np.quantile(cuts_from, np.linspace(0, 1, BINS + 1)[1:-1])
    return np.digitize(score, cuts)


def _text_score(
    s: SampleSet, x: np.ndarray, y: np.ndarray, rows: np.ndarray, seed: int
) -> np.ndarray:
    """Out-of-fold ridge predictions of ``y`` for ``rows`` (5 folds by query)."""
    folds = group_folds(s.groups[rows], 5, seed)
    out = np.zeros(rows.size)
    for f in range(5):
        fit, held = rows[folds != f], rows[folds == f]
        out[folds == f] = Ridge(alpha=10.0).fit(x[fit], y[fit]).predict(x[held])
    return out


def ceiling_section(sets: Sequence[SampleSet], seed: int) -> None:
    featurizer = load_default_classifier().featurizer_
    print("### What a per-query signal could buy the margin rule\n")
    print(
        f"A margin per bin of a query score ({BINS} bins) against the single margin. In "
        "sample, at equal or better accuracy (the bins' margins chosen on the queries they "
        "are scored on, so an upper bound): with an oracle score (the query's share of its "
        "most common answer, read off all its samples) and with a text score (ridge "
        "regression of its mean sample correctness on the packaged features, out of fold); "
        "cells: the single margin's samples over the bins' (above 1: the bins draw fewer). "
        "Out of fold: the single margin's shortfall in points against vote@max (chosen with "
        "one standard error), and the text bins' margins chosen on the training folds with "
        "one or two standard errors: samples ratio (shortfall).\n"
    )
    print(
        "| set | in sample: oracle | in sample: text | out of fold: single margin | "
        + " | ".join(f"out of fold: text, {c:g} SE" for c in CAUTIONS)
        + " |"
    )
    print("|---|---:|---:|---:|" + "---:|" * len(CAUTIONS))
    gains: dict[str, list[float]] = {"oracle": [], "text": []}
    oof: dict[float, list[tuple[float, float]]] = {c: [] for c in CAUTIONS}
    oof_single: list[float] = []
    for s in sets:
        m = _Margins(s)
        t = s.table
        n = t.n_queries
        every = np.arange(n)
        top = np.array(
            [
                np.unique([str(a.answer) for a in r], return_counts=True)[1].max() / len(r)
                for r in t.samples[ARM]
            ]
        )
        y = np.array([np.mean([float(a.score or 0.0) for a in r]) for r in t.samples[ARM]])
        x = featurizer.transform(list(t.prompts))
        text = _text_score(s, x, y, every, seed)
        j = m.uniform(every, caution=0.0)
        single = float(m.samples[j].sum())
        net = m.lost[j].sum() - m.gained[j].sum()
        row = []
        for name, score in (("oracle", top), ("text", text)):
            bins = _bins(score, score)
            choice = m.per_bin(every, bins, lambda lo, ga, net=net: lo - ga <= net)
            # The single margin is one choice of the bins' margins too: never above it.
            used = min(single, float(m.samples[choice[bins], every].sum()))
            gains[name].append(single / used)
            row.append(f"{single / used:.2f}x")
        # Out of fold: margins chosen on four folds, replayed on the fifth.
        single_oof, bins_oof = _out_of_fold(s, m, x, y, seed)
        full = m.right[-1]
        cells = []
        for caution in CAUTIONS:
            used, right = bins_oof[caution]
            ratio = single_oof[0].mean() / used.mean()
            pts = 100 * (full.mean() - right.mean())
            oof[caution].append((ratio, pts))
            cells.append(f"{ratio:.2f}x ({pts:+.2f})")
        base = 100 * (full.mean() - single_oof[1].mean())
        oof_single.append(base)
        print(f"| {s.label} | {row[0]} | {row[1]} | {base:+.2f} | " + " | ".join(cells) + " |")
    ratios = " | ".join(f"{gmean(gains[k]):.2f}x" for k in ("oracle", "text"))
    per_caution = " | ".join(
        f"{gmean([r for r, _ in oof[c]]):.2f}x ({np.mean([p for _, p in oof[c]]):+.2f})"
        for c in CAUTIONS
    )
    print(
        f"| **geometric mean (mean shortfall)** | {ratios} | {np.mean(oof_single):+.2f} | "
        f"{per_caution} |\n"
    )


def _out_of_fold(
    s: SampleSet, m: _Margins, x: np.ndarray, y: np.ndarray, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], dict[float, tuple[np.ndarray, np.ndarray]]]:
    """Samples and rightness per query, held out: the single margin (one standard error),
    and a margin per bin of the text score at each of :data:`CAUTIONS`."""
    n = s.table.n_queries
    folds = group_folds(s.groups, 5, seed)
    single = (np.zeros(n), np.zeros(n, dtype=bool))
    per_bin = {c: (np.zeros(n), np.zeros(n, dtype=bool)) for c in CAUTIONS}
    for f in range(5):
        train, test = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        ju = m.uniform(train, caution=1.0)
        single[0][test], single[1][test] = m.samples[ju, test], m.right[ju, test]
        score = _text_score(s, x, y, train, seed + 1 + f)
        held = Ridge(alpha=10.0).fit(x[train], y[train]).predict(x[test])
        for c in CAUTIONS:
            choice = m.per_bin(
                train,
                _bins(score, score),
                lambda lo, ga, k=train.size, c=c: bool(within_reach(lo, ga, k, caution=c)),
            )
            rows = choice[_bins(held, score)]
            per_bin[c][0][test], per_bin[c][1][test] = m.samples[rows, test], m.right[rows, test]
    return single, per_bin


__all__ = ["ceiling_section"]
