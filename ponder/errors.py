"""Typed exceptions. Every failure a user can cause has its own class so callers can catch it
precisely, and so the CLI can turn it into a one-line message without a traceback."""

from __future__ import annotations


class PonderError(Exception):
    """Base class of every error ponder raises on purpose."""


class OutcomeFormatError(PonderError, ValueError):
    """An outcome table could not be read. Names the file, line and field at fault."""

    def __init__(self, path: str, line: int | None, field: str | None, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = path if line is None else f"{path}:{line}"
        what = f" field '{field}'" if field else ""
        super().__init__(f"{where}:{what} {message}".replace(": :", ":"))


class MenuError(PonderError, ValueError):
    """A menu file or menu object is invalid (unknown model price, impossible arm, ...)."""


class ModelArtifactError(PonderError):
    """A saved classifier directory is missing, corrupt or from an incompatible version."""


class NoArmFitsError(PonderError):
    """No arm of the menu fits under the request's cost ceiling."""
