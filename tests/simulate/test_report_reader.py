"""Issue 23, "the report and the plot": every column of `simulate`'s table means something for
every row (or is dropped), per-task figures say what they are relative to, and the plot
frames the frontiers and keeps names off the curves."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.cli._simulate import print_report
from ponder.simulate._plot import frame, frontier_figure
from ponder.simulate._report import Point, Report
from ponder.simulate._simulate import simulate
from tests.simulate.tables import outcome_table


def _report(tasks: list[str] | None = None) -> Report:
    """Three arms whose prices lie within 4x: no policy can run at 10% of the best's cost."""
    rng = np.random.default_rng(3)
    n = 400
    skill = np.array([-0.5, 0.3, 1.2])
    difficulty = rng.normal(size=n)
    prob = 1.0 / (1.0 + np.exp(-(skill[None, :] - difficulty[:, None]) * 2.0))
    scores = (rng.random((n, 3)) < prob).astype(float)
    costs = np.array([1.0, 2.0, 4.0])[None, :] * 1e-4 * rng.uniform(0.9, 1.1, (n, 3))
    labels = [tasks[i % len(tasks)] for i in range(n)] if tasks else None
    table = outcome_table(scores, costs, labels)
    return simulate(table, prob, table.costs.mean(axis=0))


def _policy_rows(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) > 3 and cells[0].split(" ")[0] in {"ponder", "cascade", "oracle", "random"}:
            rows[cells[0]] = cells
        elif len(cells) > 3 and cells[0].startswith("arm:"):
            rows["arm"] = cells
    return rows


def test_every_column_means_something_for_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    report = _report()
    assert all(p.quality_at_share["0.1"] is None for p in report.policies.values())
    print_report(report)
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "policy" in line)
    assert "q@10%" not in header and "q@50%" in header  # no row could say anything at 10%
    rows = _policy_rows(out)
    assert set(rows) == {"ponder", "cascade", "oracle", "random", "arm"}
    best = report.summary.best_single_arm
    arm = report.policies[f"arm:{best}"]
    # The single arm's AIQ and gap closed are defined (one point, flat to the range's end).
    assert rows["arm"][1:3] == [f"{arm.aiq:.3f}", f"{arm.gap_closed:.3f}"]
    for name in ("ponder", "cascade", "oracle", "random"):
        assert "—" not in rows[name][1:3], rows[name]
        assert rows[name][3] == "never" or rows[name][3].endswith("%")
    assert "cannot run that cheap" in " ".join(out.split())  # what a "—" in q@ means


def test_per_task_figures_say_what_they_are_relative_to(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_report(_report(tasks=["maths", "trivia"]))
    text = " ".join(capsys.readouterr().out.split())
    assert "per task: ponder within each task, against that task's random mixing and oracle" in (
        text
    )
    assert "gap closed in task" in text
    assert "The overall gap closed also counts telling tasks apart" in text


def test_the_plot_frames_the_frontiers_not_the_cascades_far_end() -> None:
    report = _report()
    cascade = report.policies["cascade"]
    far = max(pt.cost_per_query for pt in report.policies["oracle"].points) * 20
    stretched = cascade.model_copy(
        update={"points": (*cascade.points, Point(cost_per_query=far, quality=0.3, param=9.0))}
    )
    report = report.model_copy(update={"policies": {**report.policies, "cascade": stretched}})
    fig = frontier_figure(report)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert hi < far / 5  # not stretched to the cascade's dearest point
    arm_costs = [a.cost_per_query for a in report.arms.values()]
    assert lo <= min(arm_costs) and max(arm_costs) <= hi
    _, f_hi = frame(report)
    oracle = max(pt.cost_per_query for pt in report.policies["oracle"].points)
    assert oracle <= f_hi <= hi  # the oracle's frontier turns inside the frame
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("off the frame" in t for t in labels)  # says what is left out


def test_the_plot_keeps_names_off_the_curves() -> None:
    fig = frontier_figure(_report())
    ax = fig.axes[0]
    assert len(ax.texts) == 0  # no annotation inside the axes
    assert ax.get_legend() is None
    fig.canvas.draw()
    axes_box = ax.get_window_extent()
    names = []
    for legend in fig.legends:
        box = legend.get_window_extent()
        assert box.x0 >= axes_box.x1 or box.y0 >= axes_box.y1, "a legend covers the axes"
        names += [t.get_text() for t in legend.get_texts()]
    for arm in _report().arms:
        assert any(n.startswith(arm) for n in names), arm
