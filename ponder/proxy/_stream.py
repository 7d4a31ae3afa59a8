"""Server-sent events for ``stream: true``: the answer as OpenAI ``chat.completion.chunk``s.

The router streams an answer once it is chosen: a vote, a verifier or an escalation all need
the whole of every sample before one can be picked, so the text is sent in pieces after that.
The last chunk carries ``finish_reason`` and the trace (``ponder``), then usage when asked
(``stream_options.include_usage``), then ``[DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ponder.router import Completion

PIECE = 64  # characters per content chunk


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def sse(c: Completion, include_usage: bool) -> AsyncIterator[bytes]:
    base = {"id": c.id, "object": "chat.completion.chunk", "created": c.created, "model": c.model}
    choice = c.choices[0]
    text = choice.message.content or ""
    yield _event(
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
        }
    )
    for i in range(0, len(text), PIECE):
        yield _event(
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"content": text[i : i + PIECE]}, "finish_reason": None}
                ],
            }
        )
    yield _event(
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "finish_reason": choice.finish_reason or "stop"}],
            "ponder": c.ponder.model_dump(mode="json"),
        }
    )
    if include_usage:
        yield _event({**base, "choices": [], "usage": c.usage.model_dump()})
    yield b"data: [DONE]\n\n"
