"""Routing decisions (and, later, running them through providers)."""

from ponder.router._decide import ArmEstimate, Decider, Decision, decide, resolve_profiles

__all__ = ["ArmEstimate", "Decider", "Decision", "decide", "resolve_profiles"]
