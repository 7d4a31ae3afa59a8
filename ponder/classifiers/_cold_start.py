"""An arm known only by its published scores, placed on the absolute scale without retraining.

New models ship every month with a table of benchmark scores and no logs. A score says that
the mean P(success) over the benchmark's items is that accuracy; with the items' difficulty
and need saved in the model (:meth:`AbsoluteScale.keep_items`), two numbers per arm,
knowledge and reasoning, are the ones that best reproduce the scores. One score cannot tell
the two apart, so both are shrunk toward the median arm of the scale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from ponder.classifiers._scale import AbsoluteScale, ScaleArm
from ponder.errors import PonderError

_WEIGHT = 100.0
"""Items' worth of evidence one published score carries (as in the scale's own fit)."""
_SHRINK = 2.0
"""Items' worth of evidence the median arm carries, for each of the two numbers."""


class PublishedScoreError(PonderError, ValueError):
    """A published score that cannot place an arm (unknown benchmark, or out of [0, 1])."""


def benchmark_id(name: str) -> str:
    """``MATH-500``, ``math_500`` and ``Math 500`` name one benchmark."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def place_arm(scale: AbsoluteScale, key: str, scores: Mapping[str, float]) -> ScaleArm:
    """The (knowledge, reasoning) that best reproduce ``scores`` on the saved items."""
    from scipy.optimize import minimize

    items = {benchmark_id(b): v for b, v in scale.items_.items()}
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
    for bench, score in scores.items():
        got = items.get(benchmark_id(bench))
        if got is None:
            known = ", ".join(sorted(items)) or "none"
            raise PublishedScoreError(
                f"arm {key}: no items of benchmark {bench!r} in the model (it has: {known})"
            )
        if not 0.0 <= float(score) <= 1.0:
            raise PublishedScoreError(f"arm {key}: score {score} on {bench} is not in [0, 1]")
        rows.append((got[0], got[1], got[2], float(score)))
    if not rows:
        raise PublishedScoreError(f"arm {key}: no published scores given")
    arms = list(scale.arms_.values())
    k0 = float(np.median([a.knowledge for a in arms])) if arms else 0.0
    r0 = float(np.median([a.reasoning for a in arms])) if arms else 1.0
    rho0 = float(np.log(np.expm1(max(r0, 1e-3))))

    def loss(theta: np.ndarray) -> float:
        k, rho = float(theta[0]), float(theta[1])
        r = float(np.logaddexp(0.0, rho))
        total = 0.5 * _SHRINK * ((k - k0) ** 2 + (rho - rho0) ** 2)
        for d, need, load, acc in rows:
            p = float(np.mean(1.0 / (1.0 + np.exp(-(load * k + r * need - d)))))
            p = min(max(p, 1e-6), 1 - 1e-6)
            total -= _WEIGHT * (acc * np.log(p) + (1 - acc) * np.log(1 - p))
        return total

    res = minimize(loss, np.array([k0, rho0]), method="Nelder-Mead", options={"xatol": 1e-4})
    k, rho = float(res.x[0]), float(res.x[1])
    return ScaleArm(key, k, float(np.logaddexp(0.0, rho)), "menu scores")
