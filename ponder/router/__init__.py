"""Routing decisions, and running them through providers: the ``Router`` library.

What a user of the library needs is exported here; the stages and their helpers stay in
private modules (see :mod:`ponder.router._pipeline` for the order a request takes).
"""

from ponder.router._arm import Verifier
from ponder.router._calibrate import Calibration, calibrate
from ponder.router._decide import Decider, decide
from ponder.router._decision import ArmEstimate, Decision
from ponder.router._judge import Judge, Judgement, ModelJudge
from ponder.router._redis import RedisStore, read_feedback, redact_url
from ponder.router._request import Bounds
from ponder.router._router import Router
from ponder.router._settings import ApiKey, Profile, Settings
from ponder.router._stores import Cache, Ledger, MemoryCache, MemoryLedger
from ponder.router._streaming import RoutedStream, StreamBroken
from ponder.router._trace import ArmChoice, Attempt, Completion, Trace, Usage

__all__ = [
    "ApiKey",
    "ArmChoice",
    "ArmEstimate",
    "Attempt",
    "Bounds",
    "Cache",
    "Calibration",
    "Completion",
    "Decider",
    "Decision",
    "Judge",
    "Judgement",
    "Ledger",
    "MemoryCache",
    "MemoryLedger",
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
    "read_feedback",
    "redact_url",
]
