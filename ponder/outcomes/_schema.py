"""Wire types of the canonical outcome table (``shared/specs/outcomes.md``).

They validate one JSONL line at a time; the dense :class:`~ponder.outcomes.OutcomeTable` is
what the rest of ponder computes on.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Score = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    role: str
    content: str | list[object] | None = None


class Sample(BaseModel):
    """One independent sample of an arm: its normalised final answer and its score."""

    model_config = ConfigDict(frozen=True, extra="allow")

    answer: str | None = None
    score: Score
    cost: NonNegative | None = None


class ArmOutcome(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    score: Score
    cost: NonNegative | None = None
    input_tokens: NonNegative | None = None
    output_tokens: NonNegative | None = None
    latency_s: NonNegative | None = None
    samples: list[Sample] | None = None

    @field_validator("score", "cost")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class OutcomeRow(BaseModel):
    """One query of an outcome table, as written in canonical JSONL."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str = Field(min_length=1)
    prompt: str | list[Message]
    task: str | None = None
    arms: dict[str, ArmOutcome] = Field(min_length=1)

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, v: object) -> object:
        # Integer ids are common in exported logs; they are still unique identifiers.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


def prompt_text(prompt: str | list[Message]) -> str:
    """Flatten a prompt to the text the featurizer reads: the user turns, in order."""
    if isinstance(prompt, str):
        return prompt
    parts: list[str] = []
    for m in prompt:
        if isinstance(m.content, str):
            parts.append(m.content)
        elif isinstance(m.content, list):
            for item in m.content:
                if isinstance(item, dict) and isinstance(item.get("text"), str):
                    parts.append(item["text"])
    return "\n".join(parts)


FormatName = Literal["jsonl", "csv", "auto"]
