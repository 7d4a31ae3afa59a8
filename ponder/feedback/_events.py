"""What the router records of each routed request, for retraining.

Kept out of :mod:`ponder.router` because two sides use it: the router publishes events (to
Redis or memory), and ``ponder train`` reads them back as an outcome table. Neither should
have to import the other.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict


class AttemptRecord(BaseModel):
    """One attempt as the feedback stream keeps it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arm: str
    outcome: str
    samples: int
    agreement: float
    cost: float


class FeedbackEvent(BaseModel):
    """One routed request, as kept for retraining: which arm was predicted best, what ran,
    what it concluded. ``query`` is empty unless the deployment opts in to keeping text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    ts: float
    tenant: str
    query: str = ""
    chosen_arm: str
    answered_by: str
    attempts: tuple[AttemptRecord, ...]
    cost: float
    p_success: dict[str, float]


@runtime_checkable
class Feedback(Protocol):
    """Where routed requests are recorded (a Redis stream, or memory)."""

    async def publish(self, event: FeedbackEvent) -> None: ...


class MemoryFeedback:
    """The most recent events in a bounded deque."""

    def __init__(self, max_events: int = 10_000) -> None:
        self.events: deque[FeedbackEvent] = deque(maxlen=max_events)

    async def publish(self, event: FeedbackEvent) -> None:
        self.events.append(event)
