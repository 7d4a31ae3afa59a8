"""Graceful shutdown: what the proxy does between SIGTERM and exit.

On SIGTERM the server stops accepting connections and lets the requests it has finish,
for up to a grace period (``shutdown_grace``, 10 s by default). Streams still open when
it runs out end with an ``error`` event, so a client knows its answer is incomplete
rather than seeing a cut, and their budget holds are settled at what was streamed; the
router is then closed (settlements still on their way reach the ledger first) and the
process exits. :class:`GracefulServer` is the uvicorn server that does this; a
:class:`Drain` is how it tells the app's open streams to end.

With ``--workers N`` each worker runs the uvicorn server its supervisor builds, not
:class:`GracefulServer`; there :meth:`Drain.after_signal` starts the same clock from the
signal itself, and uvicorn's own graceful timeout is set to the grace plus
:data:`STREAM_END`, so a worker ends its streams as a single process does.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("ponder.proxy")

STREAM_END = 0.5
"""Seconds between telling open streams to end and uvicorn cancelling what is left:
time for their error events to go out and their holds to settle."""


class Drain:
    """Set once the server is shutting down and open streams must end."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self._started = False

    def _get(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    @property
    def started(self) -> bool:
        return self._started

    def begin(self) -> None:
        """End every open stream now (from the server's event loop)."""
        self._started = True
        self._get().set()

    async def wait(self) -> None:
        await self._get().wait()

    def after_signal(self, grace: float) -> None:
        """Begin ``grace`` seconds after the first SIGTERM or SIGINT, for a server that is
        not a :class:`GracefulServer` (a ``--workers`` process). Call it from the server's
        event loop once the server has installed its own handlers (uvicorn does before it
        loads the app): they are chained, not replaced, so the server still shuts down as
        it would, stops accepting, and waits for requests."""
        loop = asyncio.get_running_loop()
        armed = False

        def later() -> None:
            log.info("shutting down: open streams end in %g s", grace)
            loop.call_later(grace, self._over, grace)

        def chain(previous: Any) -> Callable[[int, FrameType | None], None]:
            def handler(signum: int, frame: FrameType | None) -> None:
                nonlocal armed
                if not armed:
                    armed = True
                    loop.call_soon_threadsafe(later)
                if callable(previous):
                    previous(signum, frame)

            return handler

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, chain(signal.getsignal(sig)))

    def _over(self, grace: float) -> None:
        log.warning("shutdown grace of %g s over: ending the streams still open", grace)
        self.begin()


class GracefulServer(uvicorn.Server):
    """uvicorn's server, which on shutdown lets requests run for ``grace`` seconds, then
    ends open streams through ``on_grace_over`` (an error event each), then cancels what
    still runs."""

    def __init__(
        self, config: uvicorn.Config, grace: float, on_grace_over: Callable[[], None]
    ) -> None:
        # uvicorn types it as int; asyncio.timeout, which it goes to, takes any number.
        config.timeout_graceful_shutdown = grace + STREAM_END  # type: ignore[assignment]
        super().__init__(config)
        self.grace = grace
        self._on_grace_over = on_grace_over

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.grace, self._grace_over)
        try:
            await super().shutdown(sockets)
        finally:
            timer.cancel()

    def _grace_over(self) -> None:
        log.warning("shutdown grace of %g s over: ending the streams still open", self.grace)
        self._on_grace_over()
