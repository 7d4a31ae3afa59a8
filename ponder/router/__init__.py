"""Routing decisions (and, later, running them through providers)."""

from ponder.router._calibrate import Calibration, calibrate
from ponder.router._decide import ArmEstimate, Decider, Decision, decide, resolve_profiles

__all__ = [
    "ArmEstimate",
    "Calibration",
    "Decider",
    "Decision",
    "calibrate",
    "decide",
    "resolve_profiles",
]
