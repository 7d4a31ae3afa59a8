"""ponder: decide per query which model, how much thinking and how many samples to pay for.

The router and the menu types are imported on first use (PEP 562): every ``ponder``
command imports this package, and most (``--help`` first) never touch the router.
"""

import importlib
import typing

from ponder._version import __version__
from ponder.errors import (
    BudgetExceededError,
    ConfigError,
    MenuError,
    ModelArtifactError,
    NoArmFitsError,
    OutcomeFormatError,
    PonderError,
    PriorWarning,
    ProviderError,
    RequestError,
    StoreUnavailable,
    UnknownModelError,
)

if typing.TYPE_CHECKING:
    from ponder._menu import Arm, Menu
    from ponder.router import Completion, Router, Settings, Trace

_LAZY = {
    "Arm": "ponder._menu",
    "Menu": "ponder._menu",
    "Completion": "ponder.router",
    "Router": "ponder.router",
    "Settings": "ponder.router",
    "Trace": "ponder.router",
}


def __getattr__(name: str) -> typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ponder' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "Arm",
    "BudgetExceededError",
    "Completion",
    "ConfigError",
    "Menu",
    "MenuError",
    "ModelArtifactError",
    "NoArmFitsError",
    "OutcomeFormatError",
    "PonderError",
    "PriorWarning",
    "ProviderError",
    "RequestError",
    "Router",
    "Settings",
    "StoreUnavailable",
    "Trace",
    "UnknownModelError",
    "__version__",
]
