"""Draw a report's cost/quality frontiers: the picture that says whether routing pays.

Each policy is drawn as its upper frontier (what random mixing of its operating points
reaches) over its raw sweep points; single arms are dots, each its own marker, because
"which model would I have used instead" is the first question a reader asks. Names go in
legends beside the axes, never on them, where they would cover a curve; and the axes frame
where the frontiers turn (the routers', the oracle's, random mixing's and the arms'), not
the far end of a policy that only grows dearer (a cascade's worst thresholds), which would
squeeze what matters into a corner.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ponder.simulate._metrics import upper_frontier
from ponder.simulate._report import Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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


_ARM_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "p", "h", "8", "d")
_ARM_COLORS = ("black", "tab:red", "tab:purple", "tab:brown", "tab:olive", "tab:cyan")


def frame(report: Report) -> tuple[float, float]:
    """The cost range to show: every arm, and every frontier up to its last turn, except a
    cascade's (its dear thresholds only lose quality); the rest of a frontier is flat."""
    lows, highs = [], []
    for name, pol in report.policies.items():
        if name.startswith("arm:"):
            continue
        c = np.array([pt.cost_per_query for pt in pol.points])
        q = np.array([pt.quality for pt in pol.points])
        hc, _ = upper_frontier(c, q)
        lows.append(float(hc[0]))
        if name != "cascade":
            highs.append(float(hc[-1]))
    arm_costs = [a.cost_per_query for a in report.arms.values()]
    return min([*lows, *arm_costs]), max([*highs, *arm_costs])


def plot_frontier(report: Report, path: str | Path, *, title: str | None = None) -> Path:
    """Write the frontier plot of ``report`` to ``path`` (format from the suffix, e.g. PNG).

    See :func:`frontier_figure` for what is drawn."""
    fig = frontier_figure(report, title=title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    return out


def frontier_figure(report: Report, *, title: str | None = None) -> Figure:
    """The frontier plot of ``report`` as a matplotlib figure.

    The cost axis is logarithmic when the plotted costs span more than two decades.
    matplotlib is imported here, with the Agg canvas and no pyplot, so importing ponder
    stays light and no global backend state is touched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lo, hi = frame(report)
    log = lo > 0 and hi / lo > 100
    if log:
        x_lo, x_hi = lo / 1.4, hi * 1.4
    else:
        pad = (hi - lo) * 0.06 or hi * 0.06 or 1e-9
        x_lo, x_hi = max(0.0, lo - pad), hi + pad

    fig = Figure(figsize=(10, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, pol in report.policies.items():
        if name.startswith("arm:"):
            continue
        c = np.array([pt.cost_per_query for pt in pol.points])
        q = np.array([pt.quality for pt in pol.points])
        style = _STYLE.get(name, {"linestyle": "-"})
        hc, hq = upper_frontier(c, q)
        hc, hq = np.append(hc, max(hc[-1], x_hi)), np.append(hq, hq[-1])
        dc, dq = _densify(hc, hq, log)
        label = f"{name} (AIQ {pol.aiq:.3f})"
        if c.max() > x_hi:
            label += f";\npoints to ${c.max():.2g} off the frame"
        ax.plot(dc, dq, label=label, **style)  # type: ignore[arg-type]
        if c.size > 2:
            ax.scatter(c, q, s=6, alpha=0.35, color=style.get("color"))
    fig.legend(title="policies", loc="outside right upper", fontsize=8)
    handles = []
    for i, (name, arm) in enumerate(report.arms.items()):
        marker = _ARM_MARKERS[i % len(_ARM_MARKERS)]
        color = _ARM_COLORS[(i // len(_ARM_MARKERS) + i) % len(_ARM_COLORS)]
        handles.append(
            ax.scatter(
                [arm.cost_per_query],
                [arm.quality],
                s=46,
                marker=marker,
                facecolors="none",  # hollow: arms at one point stay visible, one over another
                edgecolors=color,
                linewidths=1.4,
                zorder=3,
                label=f"{name} ({arm.quality:.3f})",
            )
        )
    fig.legend(
        handles=handles, title="single arms (quality)", loc="outside right lower", fontsize=8
    )
    if log:
        ax.set_xscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_xlabel("cost per query (USD)")
    ax.set_ylabel("mean quality")
    ax.set_title(
        title or f"{report.n_queries} queries; best single arm {report.summary.best_single_arm}"
    )
    ax.grid(True, alpha=0.3)
    return fig
