"""The public API: what each package exports, so that a name cannot appear in (or vanish
from) ``ponder.router`` or ``ponder`` without this test being changed with it."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = [
    "ponder",
    "ponder.aggregators",
    "ponder.classifiers",
    "ponder.feedback",
    "ponder.outcomes",
    "ponder.policies",
    "ponder.proxy",
    "ponder.router",
    "ponder.simulate",
]

ROUTER = {
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
}


def test_router_exports_exactly_its_public_api() -> None:
    import ponder.router

    assert set(ponder.router.__all__) == ROUTER


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_name_and_only_those(name: str) -> None:
    """Every public, non-module attribute of the package is in ``__all__`` and every name
    in ``__all__`` exists: an import added to ``__init__`` must be exported on purpose."""
    module = importlib.import_module(name)
    exported = set(module.__all__)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert public - exported == set(), "public but not in __all__"
    assert {n for n in exported if not hasattr(module, n)} == set(), "in __all__ but missing"
