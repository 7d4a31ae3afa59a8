"""Why an arm was chosen, in words: the ``reason`` of a :class:`~ponder.router.Decision`.

Kept apart from the decision itself so the rule and its explanation can each be read
whole; the explanation only reads what the decision computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ponder.policies import Policy

if TYPE_CHECKING:
    from ponder.router._decision import ArmEstimate


def explain(
    est: tuple[ArmEstimate, ...],
    j: int,
    lam: float,
    ceiling: float | None,
    thinks: tuple[bool, ...] = (),
    need: float | None = None,
    policy: Policy | None = None,
    guarded: str | None = None,
) -> str:
    chosen = est[j]
    best_p = max((e for e in est if e.fits), key=lambda e: e.p_success)
    excluded = [e.arm for e in est if e.serves and not e.fits]
    unable = [e.arm for e in est if not e.serves]
    if guarded is not None:
        first = guarded
    elif policy is None:
        first = (
            f"'{chosen.arm}' has the best expected quality minus cost "
            f"({chosen.p_success:.2f} - {lam:g} x relative cost = {chosen.utility:.3f})"
        )
    else:
        first = f"'{chosen.arm}' is the choice of {type(policy).__name__}"
    parts = [first]
    if best_p.arm != chosen.arm:
        gain = best_p.p_success - chosen.p_success
        ratio = best_p.expected_cost / max(chosen.expected_cost, 1e-12)
        parts.append(f"'{best_p.arm}' would add {gain:.2f} to P(success) at {ratio:.1f}x the cost")
    parts.extend(why_thinking(est, j, thinks, need))
    if excluded:
        parts.append(f"over the ${ceiling:g} ceiling: {', '.join(excluded)}")
    if unable:
        parts.append(f"cannot take the request: {', '.join(unable)}")
    return "; ".join(parts)


def why_thinking(
    est: tuple[ArmEstimate, ...], j: int, thinks: tuple[bool, ...], need: float | None
) -> list[str]:
    """Why an arm that reasons was, or was not, the choice: the query's reasoning need and
    what the best thinking arm would add over the choice, at what price."""
    if need is None or not any(thinks) or all(thinks):
        return []
    level = "high" if need > 1.0 else "moderate" if need > 0.3 else "low"
    said = f"reasoning need {need:+.2f} ({level})"
    if thinks[j]:
        return [f"it reasons before answering, and the query's {said} pays for it"]
    thinkers = [e for e, t in zip(est, thinks, strict=True) if t and e.fits]
    if not thinkers:
        return [f"{said}; no arm that reasons fits the ceiling"]
    best = max(thinkers, key=lambda e: e.utility)
    gain = best.p_success - est[j].p_success
    ratio = best.expected_cost / max(est[j].expected_cost, 1e-12)
    return [
        f"{said}: thinking with '{best.arm}' would change P(success) by {gain:+.2f} "
        f"at {ratio:.1f}x the cost"
    ]
