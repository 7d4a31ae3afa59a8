"""A request-size limit enforced while the body is read, so an oversized or lying
``Content-Length`` never makes the proxy buffer more than the limit, and a deadline on reading
the whole body, so a slow client (a byte now and then) cannot hold a connection and a request
slot for ever. Chat requests are small, so the body is read whole here and replayed to the app.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ponder.proxy._errors import error_body


class BodyLimit:
    """At most ``max_bytes`` of body, all of it within ``read_timeout`` seconds.

    The deadline is for the whole body, not for each read: a client that trickles a byte
    just inside a per-read timeout would otherwise never be cut off.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout
        chunks: list[bytes] = []
        seen = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:  # a client too slow to send its body holds a slot
                await self._send(send, 408, "request body not received in time", "timeout")
                return
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        message = f"request body is larger than {self.max_bytes} bytes"
        await self._send(send, 413, message, "request_too_large")

    async def _send(self, send: Send, status: int, message: str, code: str) -> None:
        body = json.dumps(error_body(message, "invalid_request_error", code)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The unread rest of the body makes the connection unusable.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
