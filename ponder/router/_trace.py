"""What a routed call returns: an OpenAI-shaped chat completion and the trace of how it was
answered (which arms ran, what each cost, why the router escalated).

Pydantic models rather than dataclasses because they go on the wire as they are: the proxy
serialises a :class:`Completion` to the OpenAI JSON body, with the trace under ``ponder``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal[
    "accepted", "low_agreement", "verifier_failed", "refused", "provider_error", "declined"
]
"""``declined``: an adaptive arm passed by without drawing, its vote predicted hopeless."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Usage(_Frozen):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )


class FunctionCall(_Frozen):
    name: str
    arguments: str
    """The arguments as the model wrote them: JSON text, not checked against the tool's
    schema (OpenAI's own shape; the caller parses it)."""


class ToolCall(_Frozen):
    """One call of a tool the request offered, in OpenAI's shape."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Frozen):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: tuple[ToolCall, ...] | None = None
    """The tools the model called (then ``finish_reason`` is ``tool_calls``)."""


class Choice(_Frozen):
    index: int = 0
    message: Message
    finish_reason: str | None = "stop"


class ArmChoice(_Frozen):
    """One arm as the policy saw it before anything ran (``p_success`` is ``None`` for a
    pass-through model, which is not predicted)."""

    arm: str
    p_success: float | None
    expected_cost: float
    fits: bool


class Attempt(_Frozen):
    """One arm run: its samples, their extracted answers and agreement, what it cost, and
    what the router concluded (``accepted`` ends the request; anything else escalates)."""

    arm: str
    model: str
    samples_requested: int
    samples_used: int
    answers: tuple[str | None, ...]
    answer: str | None
    agreement: float
    verifier_score: float | None = None
    cost: float
    usage: Usage
    outcome: Outcome
    error: str | None = None


class Trace(_Frozen):
    """Why this answer: the prediction per arm, the arm chosen first, every attempt made,
    and the totals. ``stopped`` says why escalation ended early when the last attempt was
    not accepted (``ceiling``, ``max_escalations``, ``no_better_arm``, ``sample_limit``,
    ``deadline``)."""

    chosen_arm: str
    answered_by: str
    reason: str
    difficulty: float
    arms: tuple[ArmChoice, ...]
    attempts: tuple[Attempt, ...]
    escalations: int
    samples_used: int
    cost: float
    max_cost: float | None
    cache_hit: bool = False
    stopped: str | None = None


class Completion(_Frozen):
    """An OpenAI chat completion (``object: chat.completion``) plus ``ponder``, the trace.

    ``usage`` sums every sample of every attempt, so it matches what was paid for.
    """

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: tuple[Choice, ...]
    usage: Usage
    ponder: Trace = Field(description="how the router answered")

    @property
    def content(self) -> str | None:
        return self.choices[0].message.content
