"""Feedback read back as an outcome table, so ``ponder train`` can learn from traffic.

Each routed request recorded which arms ran and what the router concluded of each answer.
Those conclusions become scores: an accepted answer 1, one the router escalated away from
(weak agreement, a failed verifier, a refusal) 0. Provider errors say nothing about the
query and are left out. These are the router's own verdicts, not ground truth, and only arms
the router chose to run are scored: train on them next to real outcome tables, not alone.
Only requests recorded with their text (``feedback_text: true``) can be used.
"""

from __future__ import annotations

from collections.abc import Iterable

from ponder.feedback._events import FeedbackEvent
from ponder.outcomes import ArmOutcome, LoadReport, OutcomeRow, OutcomeTable, rows_to_table

_SCORED = {"accepted": 1.0, "low_agreement": 0.0, "verifier_failed": 0.0, "refused": 0.0}


def feedback_table(
    events: Iterable[FeedbackEvent], source: str = "feedback"
) -> tuple[OutcomeTable, LoadReport]:
    report = LoadReport(path=source)
    rows: list[OutcomeRow] = []
    for i, e in enumerate(events, start=1):
        if not e.query:
            report.skipped.append((i, "no query text (record with feedback_text: true)"))
            continue
        arms = {
            a.arm: ArmOutcome(score=_SCORED[a.outcome], cost=a.cost)
            for a in e.attempts
            if a.outcome in _SCORED
        }
        if not arms:
            report.skipped.append((i, "no arm answered (provider errors only)"))
            continue
        rows.append(OutcomeRow(id=e.id, prompt=e.query, arms=arms))
    report.rows_read = len(rows)
    if not rows:
        raise ValueError(f"{source}: no usable feedback ({len(report.skipped)} events skipped)")
    return rows_to_table(rows), report
