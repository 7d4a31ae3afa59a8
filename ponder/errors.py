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


class BudgetExceededError(PonderError):
    """A spending budget (global or per key) has no room left for this request's ceiling."""

    def __init__(self, message: str, *, budget: float, spent: float) -> None:
        self.budget = budget
        self.spent = spent
        super().__init__(message)


class ProviderError(PonderError):
    """Every arm the router was allowed to try failed at the provider (after retries).

    ``status`` is the HTTP status of the last failure when the provider sent one, and
    ``timeout`` says whether it was a timeout, so a proxy can answer 502 or 504.
    """

    def __init__(self, message: str, *, status: int | None = None, timeout: bool = False) -> None:
        self.status = status
        self.timeout = timeout
        super().__init__(message)


class ConfigError(PonderError, ValueError):
    """A router configuration file or settings value is invalid."""


class RequestError(PonderError, ValueError):
    """A request the router cannot take as given: no messages, no user text, bad parameters."""


class StoreUnavailable(PonderError):
    """The shared store (Redis) did not answer. The router bypasses the cache and, unless
    configured otherwise, refuses requests whose budget it cannot check."""


class UnknownModelError(PonderError, LookupError):
    """A request named a model that is neither a routing profile nor allowed through."""


class ExtensionError(PonderError):
    """A custom extension (a classifier, a policy) returned what ponder cannot use.

    Checked where ponder takes the result, so the bug is reported against the extension
    (``extension`` is its class name, ``method`` the method that answered) instead of
    surfacing later as a numpy broadcasting error or an ``IndexError`` in the router.
    """

    def __init__(self, extension: object, method: str, message: str) -> None:
        self.extension = type(extension).__name__
        self.method = method
        super().__init__(f"{self.extension}.{method}() {message}")


class TrainingDataError(PonderError, ValueError):
    """What was given to train a classifier cannot train one: not an outcome table, too
    few queries, or nothing to learn from. The message says what to give instead."""


class PriorWarning(UserWarning):
    """Arms the model was not trained on cannot be told apart: the price prior is flat (the
    training data had too few priced arms, or price did not predict ability), or two arms
    of one price differ only in how much they think and the model learned no gain from
    thinking. Such arms tie on predicted success and the cheapest wins; train on logs that
    include them, or give them ``ability:`` or ``like:`` in the menu."""
