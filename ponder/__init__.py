"""ponder: decide per query which model, how much thinking and how many samples to pay for."""

from ponder._menu import Arm, Menu
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
from ponder.router import Completion, Router, Settings, Trace

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
