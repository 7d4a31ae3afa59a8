"""Structured progress for long evaluations: which stage, how many of its steps are done.

The classifier reports free text (``Callable[[str], None]``), which is enough for a spinner
but not for a bar or an ETA. Where the evaluation itself knows the number of steps (folds of
cross-validation), it says so with a :class:`Step`, so a display never has to parse text to
know how far along it is. Kept free of heavy imports: the CLI refers to it at startup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """``done`` of ``total`` steps of ``stage`` are finished; ``detail`` says what runs now."""

    stage: str
    done: int
    total: int
    detail: str = ""

    def __post_init__(self) -> None:
        if self.total < 1 or not 0 <= self.done <= self.total:
            raise ValueError(f"step {self.done}/{self.total} of {self.stage!r} is out of range")


StepCallback = Callable[[Step], None]
"""Receives a :class:`Step` when a stage starts, after each of its steps, and at its end."""
