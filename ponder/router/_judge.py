"""Best-of-N by a judge model: one extra call that reads every candidate and names the best.

For open-ended answers (prose, code without tests) there is nothing to vote on and no
verifier to run; a stronger model comparing the candidates side by side is the usual
substitute. The judge's call is paid like any sample and shows in the attempt's cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ponder._menu import Arm
from ponder.router._llm import BACKOFF, MAX_WAIT, CallFailed, call, request_params
from ponder.router._trace import Usage

_PROMPT = """You are judging candidate answers to a question. Read the question and every
candidate, decide which candidate is the most correct and complete, and reply with its
number only.

Question:
{query}

{candidates}

Reply with the number of the best candidate (1 to {n}) and nothing else."""


@dataclass(frozen=True)
class Judgement:
    """The picked candidate (``None``: no usable verdict) and what the judging cost."""

    index: int | None
    cost: float = 0.0
    usage: Usage = field(default_factory=Usage)
    error: str | None = None


@runtime_checkable
class Judge(Protocol):
    """Picks the best of several candidate responses to one query."""

    async def pick(self, query: str, candidates: Sequence[str]) -> Judgement: ...


class ModelJudge:
    """A :class:`Judge` that asks a model (any litellm model, configured like an arm).

    A failed call or an unreadable reply gives ``index=None``; the router then falls back
    to a majority vote rather than failing the request.
    """

    def __init__(
        self,
        arm: Arm,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        num_retries: int = 2,
        retry_backoff: float = BACKOFF,
        retry_max_wait: float = MAX_WAIT,
        max_chars: int = 4000,
    ) -> None:
        self.arm = arm
        self.api_key = api_key
        self.timeout = timeout
        self.num_retries = num_retries
        self.retry_backoff = retry_backoff
        self.retry_max_wait = retry_max_wait
        self.max_chars = max_chars

    def prompt(self, query: str, candidates: Sequence[str]) -> str:
        blocks = "\n\n".join(
            f"Candidate {i}:\n{c[: self.max_chars]}" for i, c in enumerate(candidates, start=1)
        )
        return _PROMPT.format(query=query, candidates=blocks, n=len(candidates))

    async def pick(self, query: str, candidates: Sequence[str]) -> Judgement:
        if len(candidates) < 2:
            return Judgement(0 if candidates else None)
        messages = [{"role": "user", "content": self.prompt(query, candidates)}]
        try:
            sample = await call(
                self.arm,
                messages,
                request_params(self.arm, {"temperature": 0, "max_tokens": 16}),
                api_key=self.api_key,
                timeout=self.timeout,
                num_retries=self.num_retries,
                backoff=self.retry_backoff,
                max_wait=self.retry_max_wait,
            )
        except CallFailed as exc:
            return Judgement(None, error=str(exc))
        index = parse_choice(sample.content or "", len(candidates))
        error = None if index is not None else f"unreadable verdict: {sample.content!r:.80}"
        return Judgement(index, sample.cost, sample.usage, error)


def parse_choice(reply: str, n: int) -> int | None:
    """The first number in ``reply`` within 1..n, as a 0-based index."""
    for m in re.finditer(r"\d+", reply):
        k = int(m.group())
        if 1 <= k <= n:
            return k - 1
    return None
