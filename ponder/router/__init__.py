"""Routing decisions, and running them through providers: the ``Router`` library."""

from ponder.router._calibrate import Calibration, calibrate
from ponder.router._decide import ArmEstimate, Decider, Decision, decide, resolve_profiles
from ponder.router._execute import ArmRun, Verifier, query_text, run_arm
from ponder.router._judge import Judge, Judgement, ModelJudge
from ponder.router._redis import RedisStore, read_feedback
from ponder.router._router import Router
from ponder.router._settings import ApiKey, Profile, Settings
from ponder.router._stores import Cache, Ledger, MemoryCache, MemoryLedger
from ponder.router._streaming import RoutedStream, StreamBroken
from ponder.router._trace import ArmChoice, Attempt, Choice, Completion, Message, Trace, Usage

__all__ = [
    "ApiKey",
    "ArmChoice",
    "ArmEstimate",
    "ArmRun",
    "Attempt",
    "Cache",
    "Calibration",
    "Choice",
    "Completion",
    "Decider",
    "Decision",
    "Judge",
    "Judgement",
    "Ledger",
    "MemoryCache",
    "MemoryLedger",
    "Message",
    "ModelJudge",
    "Profile",
    "RedisStore",
    "RoutedStream",
    "Router",
    "Settings",
    "StreamBroken",
    "Trace",
    "Usage",
    "Verifier",
    "calibrate",
    "decide",
    "query_text",
    "read_feedback",
    "resolve_profiles",
    "run_arm",
]
