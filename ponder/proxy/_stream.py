"""Server-sent events for ``stream: true``: a :class:`~ponder.router.RoutedStream` as
OpenAI ``chat.completion.chunk``s.

Text pieces go out as they come (live from the provider for single-sample arms). The last
chunk carries ``finish_reason`` and the trace (``ponder``), then usage when asked
(``stream_options.include_usage``), then ``[DONE]``. A failure after text has gone out ends
the stream with an ``error`` event, which the OpenAI SDKs raise as an API error, so a broken
answer is never mistaken for a complete one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ponder.errors import PonderError
from ponder.proxy._drain import Drain
from ponder.proxy._errors import error_body, from_ponder
from ponder.router import Completion, RoutedStream

log = logging.getLogger("ponder.proxy")


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


class _Stopped(Exception):
    """The server is shutting down and this stream's grace is over."""


_SHUTTING_DOWN = error_body(
    "the server is shutting down: this answer is incomplete; retry the request",
    "service_unavailable",
    "shutting_down",
)


class _Reader:
    """Reads a stream's events until the drain begins: then the piece being awaited is
    abandoned (the router's stream settles its hold at what was sent) and
    :class:`_Stopped` is raised. Each piece is awaited in a task of its own so that a
    stalled provider can be left; :meth:`finish` makes sure none is left running before
    the stream is closed (a generator cannot be closed while it runs)."""

    def __init__(self, events: AsyncIterator[str | Completion], drain: Drain | None) -> None:
        self.events = events
        self.drain = drain
        self.pending: asyncio.Future[str | Completion] | None = None

    async def pieces(self) -> AsyncIterator[str | Completion]:
        if self.drain is None:
            async for item in self.events:
                yield item
            return
        stop = asyncio.ensure_future(self.drain.wait())
        try:
            while True:
                if self.drain.started:
                    raise _Stopped
                nxt = self.pending = asyncio.ensure_future(anext(self.events))
                await asyncio.wait((nxt, stop), return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    await self.finish()
                    raise _Stopped
                self.pending = None
                try:
                    item = nxt.result()
                except StopAsyncIteration:
                    return
                yield item
        finally:
            stop.cancel()

    async def finish(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.wait((pending,))
        if pending is not None and pending.done() and not pending.cancelled():
            pending.exception()  # retrieved: the stream's own cleanup has dealt with it


async def sse(
    rs: RoutedStream,
    include_usage: bool,
    on_done: Callable[[Completion], None],
    reader: _Reader | None = None,
) -> AsyncIterator[bytes]:
    base = {
        "id": rs.id,
        "object": "chat.completion.chunk",
        "created": rs.created,
        "model": rs.model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _event({**base, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for item in (reader or _Reader(rs.events, None)).pieces():
            if isinstance(item, str):
                yield chunk({"content": item})
                # Writing to a socket and reading a provider's buffered stream need not
                # suspend: without a pass through the event loop here, a client that went
                # away is noticed only after the provider's whole answer was read (and paid).
                await asyncio.sleep(0)
                continue
            c = item
            calls = c.choices[0].message.tool_calls
            if calls:  # whole, one delta per call, as OpenAI's last deltas would add up to
                deltas = [{"index": i, **t.model_dump(mode="json")} for i, t in enumerate(calls)]
                yield chunk({"tool_calls": deltas})
            finish = c.choices[0].finish_reason or "stop"
            yield chunk({}, finish, ponder=c.ponder.model_dump(mode="json"))
            if include_usage:
                yield _event({**base, "choices": [], "usage": c.usage.model_dump()})
            on_done(c)
    except PonderError as exc:
        e = from_ponder(exc)
        yield _event(error_body(e.message, e.type, e.code))
        return
    except _Stopped:
        yield _event(_SHUTTING_DOWN)
        return
    except Exception:  # never a silent cut: the client hears that the answer is incomplete
        log.exception("stream failed")
        yield _event(error_body("internal error while streaming", "server_error"))
        return
    yield b"data: [DONE]\n\n"


class EventStream(StreamingResponse):
    """The SSE response of a :class:`RoutedStream`, which it closes however the response
    ends: read to the end, or the client gone (mid-stream, or before the first event, when
    no generator cleanup would ever run). Closing settles a live stream's budget hold at
    what was streamed; without it the hold would stay at the whole ceiling."""

    def __init__(
        self,
        rs: RoutedStream,
        include_usage: bool,
        on_done: Callable[[Completion], None],
        headers: Mapping[str, str],
        drain: Drain | None = None,
    ) -> None:
        self.reader = _Reader(rs.events, drain)
        super().__init__(
            sse(rs, include_usage, on_done, self.reader),
            media_type="text/event-stream",
            headers=headers,
        )
        self.routed = rs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.reader.finish()
            await self.routed.aclose()
