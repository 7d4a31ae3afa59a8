"""Draw a report's cost/quality frontiers: the picture that says whether routing pays.

Each policy is drawn as its upper frontier (what random mixing of its operating points
reaches) over its raw sweep points; single arms are labelled dots, because "which model
would I have used instead" is the first question a reader asks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ponder.simulate._metrics import upper_frontier
from ponder.simulate._report import Report

_STYLE = {
    "ponder": {"color": "tab:blue", "linestyle": "-", "linewidth": 2.2},
    "cascade": {"color": "tab:orange", "linestyle": "-.", "linewidth": 1.5},
    "oracle": {"color": "tab:green", "linestyle": ":", "linewidth": 1.8},
    "random": {"color": "tab:gray", "linestyle": "--", "linewidth": 1.5},
}


def _densify(x: np.ndarray, y: np.ndarray, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """Points along each hull segment so a straight mix still draws right on a log axis."""
    if not log or x.size < 2:
        return x, y
    t = np.linspace(0.0, 1.0, 24, endpoint=False)
    lx = np.log(x)
    xs = np.append(np.exp(lx[:-1, None] + np.diff(lx)[:, None] * t).ravel(), x[-1])
    return xs, np.interp(xs, x, y)


def plot_frontier(report: Report, path: str | Path, *, title: str | None = None) -> Path:
    """Write the frontier plot of ``report`` to ``path`` (format from the suffix, e.g. PNG).

    The cost axis is logarithmic when the plotted costs span more than two decades.
    matplotlib is imported here, with the Agg canvas and no pyplot, so importing ponder
    stays light and no global backend state is touched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    costs = [pt.cost_per_query for pol in report.policies.values() for pt in pol.points]
    positive = [c for c in costs if c > 0]
    log = len(positive) == len(costs) and max(positive) / min(positive) > 100

    fig = Figure(figsize=(8, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, pol in report.policies.items():
        if name.startswith("arm:"):
            continue
        c = np.array([pt.cost_per_query for pt in pol.points])
        q = np.array([pt.quality for pt in pol.points])
        style = _STYLE.get(name, {"linestyle": "-"})
        hc, hq = upper_frontier(c, q)
        hc, hq = np.append(hc, max(hc[-1], report.summary.aiq_cost_range[1])), np.append(hq, hq[-1])
        dc, dq = _densify(hc, hq, log)
        ax.plot(dc, dq, label=f"{name} (AIQ {pol.aiq:.3f})", **style)  # type: ignore[arg-type]
        if c.size > 2:
            ax.scatter(c, q, s=6, alpha=0.35, color=style.get("color"))
    for name, arm in report.arms.items():
        ax.scatter([arm.cost_per_query], [arm.quality], s=36, color="black", zorder=3)
        ax.annotate(
            name,
            (arm.cost_per_query, arm.quality),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("cost per query (USD)")
    ax.set_ylabel("mean quality")
    ax.set_title(
        title or f"{report.n_queries} queries; best single arm {report.summary.best_single_arm}"
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    return out
