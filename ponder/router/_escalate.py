"""Which arm to try next when an answer is not good enough, and when to stop trying.

Escalation asks the same policy again over what is left: the arms not yet tried whose
worst-case cost (every sample drawn) fits in what remains of the request's ceiling. After a
weak answer only arms predicted to do better qualify (a sideways move buys nothing); after a
provider failure any remaining arm will do, since the point is to get an answer at all.
"""

from __future__ import annotations

from collections.abc import Collection

from ponder.router._decide import ArmEstimate, Decision


def next_arm(
    decision: Decision,
    tried: Collection[str],
    *,
    spent: float,
    after: ArmEstimate,
    must_improve: bool,
) -> tuple[ArmEstimate | None, str | None]:
    """The next arm by the policy's utility, or ``None`` with the reason there is none
    (``ceiling``: better arms exist but do not fit; ``no_better_arm``: none exist)."""
    ceiling = decision.max_cost
    untried = [e for e in decision.arms if e.arm not in tried]
    if must_improve:
        untried = [e for e in untried if e.p_success > after.p_success]
    if not untried:
        return None, "no_better_arm"
    fits = [e for e in untried if ceiling is None or spent + e.worst_cost <= ceiling]
    if not fits:
        return None, "ceiling"
    best = max(fits, key=lambda e: (e.utility, -e.expected_cost))
    return best, None
