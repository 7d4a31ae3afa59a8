"""ponder: decide per query which model, how much thinking and how many samples to pay for."""

from ponder._menu import Arm, Menu
from ponder._version import __version__
from ponder.errors import (
    MenuError,
    ModelArtifactError,
    NoArmFitsError,
    OutcomeFormatError,
    PonderError,
)

__all__ = [
    "Arm",
    "Menu",
    "MenuError",
    "ModelArtifactError",
    "NoArmFitsError",
    "OutcomeFormatError",
    "PonderError",
    "__version__",
]
