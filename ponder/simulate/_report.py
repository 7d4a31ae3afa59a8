"""The simulator's report: frozen pydantic models, and their assembly from swept curves.

Frozen so a report, once computed, is a value: it can be cached, compared and written
without anyone patching numbers in between. Every float is finite; "not defined" (a cost a
policy never reaches, APGR with tied arms) is ``null``, never NaN, so the JSON is strict
and round-trips.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from ponder.simulate._baselines import random_mix_frontier
from ponder.simulate._metrics import aiq, apgr, cost_to_reach, cpt, gap_closed, quality_at_cost

FloatArray = npt.NDArray[np.float64]
Curve = tuple[FloatArray, FloatArray, FloatArray | None]
"""Costs, qualities and knob values (``None`` for policies without a knob) of one sweep."""

COST_SHARES: tuple[float, ...] = (0.1, 0.25, 0.5)
"""Budgets, as shares of the best single arm's cost, at which quality is reported."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Point(_Frozen):
    """One operating point: mean USD per query and mean true score, at knob value ``param``
    (``lam`` for ``ponder``/``oracle``, the threshold for ``cascade``; none otherwise)."""

    cost_per_query: float
    quality: float
    param: float | None = None


class SharePoint(_Frozen):
    """One operating point of a two-arm router on RouteLLM's axis (share of strong calls)."""

    strong_share: float
    quality: float


class ArmSummary(_Frozen):
    quality: float
    cost_per_query: float


class PolicyReport(_Frozen):
    """A policy's sweep and the numbers summarising it.

    ``quality_at_share`` maps a budget, as a share of the best single arm's cost ("0.1",
    "0.25", "0.5"), to the frontier's quality there (``null`` below the policy's cheapest
    point). ``cost_share_to_match_best_single``: the cost at which the frontier first
    reaches the best single arm's quality, over that arm's cost (``null``: never).
    ``gap_closed``: ``(aiq - aiq_random) / (aiq_oracle - aiq_random)``. Two-arm tables add
    RouteLLM's ``apgr``, ``cpt_50``/``cpt_80`` (shares of strong calls) and the
    ``share_points`` they are computed from; single arms leave them ``null``.
    """

    points: tuple[Point, ...]
    aiq: float
    gap_closed: float | None
    quality_at_share: dict[str, float | None] = Field(default_factory=dict)
    cost_share_to_match_best_single: float | None = None
    apgr: float | None = None
    cpt_50: float | None = None
    cpt_80: float | None = None
    share_points: tuple[SharePoint, ...] | None = None


class Summary(_Frozen):
    best_single_arm: str
    best_single_quality: float
    best_single_cost: float
    aiq_cost_range: tuple[float, float]
    aiq: dict[str, float]
    gap_closed: dict[str, float | None]
    cost_share_to_match_best_single: dict[str, float | None]
    strong_arm: str | None = None
    weak_arm: str | None = None
    apgr: dict[str, float | None] | None = None


class Section(_Frozen):
    """What is reported for one set of queries: the whole table, or one task."""

    n_queries: int
    arms: dict[str, ArmSummary]
    policies: dict[str, PolicyReport]
    summary: Summary


class SamplePolicy(_Frozen):
    """One replayed way of spending samples of an arm: ``vote@N`` (majority of the first
    ``N`` recorded samples) or ``adaptive@<confidence>`` (sample until the vote is settled,
    at most ``n``). ``quality`` is the share of queries whose voted answer is right;
    ``cost_per_query`` is ``mean_samples`` times the arm's mean cost per call (``null``
    when the table records no cost for the arm)."""

    n: int
    confidence: float | None = None
    quality: float
    mean_samples: float
    cost_per_query: float | None = None


class Needed(_Frozen):
    """The cheapest setting of one way of sampling whose ``quality`` stays within 0.5
    points of vote@max: its name, quality, mean samples and the share of queries it gave
    no sample (``declined``: predicted hopeless, left to a stronger arm; scored wrong)."""

    setting: str
    quality: float
    mean_samples: float
    declined: float = 0.0


class SampledArmReport(_Frozen):
    """Votes and adaptive sampling replayed from an arm's recorded samples, on the queries
    of the report that have them (``skipped``: the ones that do not). ``needed``: for each
    way of sampling (``vote``, ``adaptive``, ``exact``, ``allocation``, and ``calibrated``
    when a saved model's policy was replayed), the samples it needs to stay within 0.5
    points of vote@max (arms with two or more samples)."""

    n_queries: int
    skipped: int
    max_samples: int
    cost_per_sample: float | None
    policies: dict[str, SamplePolicy]
    needed: dict[str, Needed] = Field(default_factory=dict)


class ArmCoverage(_Frozen):
    """One arm on a table with holes. ``quality`` and ``cost_per_query`` are the arm's own,
    restricted to the ``measured`` queries, so they are not comparable with the policies';
    ``stand_ins`` counts, per arm, the queries on which that arm's outcome replaced this
    one in the ``arm:<name>`` and ``random`` baselines (nearest measured arm in price)."""

    measured: int
    quality: float
    cost_per_query: float
    stand_ins: dict[str, int] = Field(default_factory=dict)


class HolePattern(_Frozen):
    """A set of arms unmeasured together, and on how many replayed queries."""

    missing: tuple[str, ...]
    n_queries: int


class Holes(_Frozen):
    """Where the replayed table has holes. Each query was replayed over its measured arms;
    ``patterns`` are the sets of missing arms, most frequent first; ``by_task`` counts, per
    task with holes, the queries missing each arm; ``never_measured`` lists arms with no
    outcome on any replayed query, left out of the report."""

    rows_with_holes: int
    arms: dict[str, ArmCoverage]
    patterns: tuple[HolePattern, ...]
    never_measured: tuple[str, ...] = ()
    by_task: dict[str, dict[str, int]] = Field(default_factory=dict)


class Report(Section):
    """The full simulation report. ``dropped_incomplete`` counts the queries left out: those
    with no arm measured, or with any arm unmeasured when only complete queries were asked
    for. ``holes`` (``null`` for a complete replay) says which arms were missing where;
    ``by_task`` holds one :class:`Section` per task label (empty when the table has none or
    the breakdown was not asked for); ``samples`` one :class:`SampledArmReport` per arm with
    recorded samples."""

    dropped_incomplete: int
    holes: Holes | None = None
    by_task: dict[str, Section] = Field(default_factory=dict)
    samples: dict[str, SampledArmReport] = Field(default_factory=dict)

    def to_json(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return p

    @classmethod
    def from_json(cls, path: str | Path) -> Report:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


def _opt(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def build_section(
    arms: Sequence[str], arm_q: FloatArray, arm_c: FloatArray, swept: Mapping[str, Curve], n: int
) -> Section:
    """Every policy's metrics on one set of queries, on one common AIQ cost range.

    ``swept`` must hold ``oracle``; ``random`` and ``arm:<name>`` are added from the arms'
    means. The range runs from the cheapest arm's mean cost to the largest cost any policy
    reaches, so every policy is averaged over the same costs.
    """
    best = int(np.lexsort((arm_c, -arm_q))[0])  # highest quality, ties to the cheaper
    best_q, best_c = float(arm_q[best]), float(arm_c[best])
    rc, rq = random_mix_frontier(arm_c, arm_q)
    curves: dict[str, Curve] = {**swept, "random": (rc, rq, None)}
    for j, a in enumerate(arms):
        curves[f"arm:{a}"] = (arm_c[j : j + 1], arm_q[j : j + 1], None)
    lo = float(arm_c.min())
    hi = max(float(c.max()) for c, _, _ in curves.values())
    aiqs = {name: aiq(c, q, lo, hi) for name, (c, q, _) in curves.items()}
    policies = {}
    for name, (c, q, params) in curves.items():
        reach = cost_to_reach(c, q, best_q)
        policies[name] = PolicyReport(
            points=tuple(
                Point(
                    cost_per_query=float(c[i]),
                    quality=float(q[i]),
                    param=None if params is None else float(params[i]),
                )
                for i in np.argsort(c, kind="stable")
            ),
            aiq=aiqs[name],
            gap_closed=gap_closed(aiqs[name], aiqs["random"], aiqs["oracle"]),
            quality_at_share={str(s): _opt(quality_at_cost(c, q, s * best_c)) for s in COST_SHARES},
            cost_share_to_match_best_single=(
                None if reach is None or best_c <= 0 else reach / best_c
            ),
        )
    return Section(
        n_queries=n,
        arms={
            a: ArmSummary(quality=float(arm_q[j]), cost_per_query=float(arm_c[j]))
            for j, a in enumerate(arms)
        },
        policies=policies,
        summary=Summary(
            best_single_arm=arms[best],
            best_single_quality=best_q,
            best_single_cost=best_c,
            aiq_cost_range=(lo, hi),
            aiq=aiqs,
            gap_closed={k: v.gap_closed for k, v in policies.items()},
            cost_share_to_match_best_single={
                k: v.cost_share_to_match_best_single for k, v in policies.items()
            },
        ),
    )


def with_two_arm(
    section: Section, strong: str, weak: str, curves: Mapping[str, tuple[FloatArray, FloatArray]]
) -> Section:
    """Add RouteLLM's APGR and CPT(50%)/CPT(80%) from (strong share, quality) curves."""
    wq, sq = section.arms[weak].quality, section.arms[strong].quality
    policies = dict(section.policies)
    apgrs: dict[str, float | None] = {}
    for name, (x, y) in curves.items():
        apgrs[name] = _opt(apgr(x, y, wq, sq))
        update = {
            "apgr": apgrs[name],
            "cpt_50": _opt(cpt(x, y, wq, sq, 0.5)),
            "cpt_80": _opt(cpt(x, y, wq, sq, 0.8)),
            "share_points": tuple(
                SharePoint(strong_share=float(a), quality=float(b))
                for a, b in zip(x, y, strict=True)
            ),
        }
        policies[name] = policies[name].model_copy(update=update)
    summary = section.summary.model_copy(
        update={"strong_arm": strong, "weak_arm": weak, "apgr": apgrs}
    )
    return section.model_copy(update={"policies": policies, "summary": summary})
