"""Routing decisions (and, later, running them through providers)."""

from ponder.router._decide import ArmEstimate, Decision, decide, resolve_profiles

__all__ = ["ArmEstimate", "Decision", "decide", "resolve_profiles"]
