"""The event loop behind the blocking face (``Router.complete``).

``asyncio.run`` per call would make a new event loop per request, and the HTTP clients
litellm keeps are per event loop: every blocking call would open new connections to the
provider (a TLS handshake each time). One loop on a daemon thread, kept for the router's
life, lets consecutive calls reuse them, and works the same from inside a running loop
(a notebook), where ``asyncio.run`` is not allowed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class SyncLoop:
    """An event loop on its own thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result (exceptions re-raised here)."""
        loop = self._started()
        if _on(loop):
            coro.close()
            raise RuntimeError("a blocking Router call cannot be made from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def close(self, last: Coroutine[Any, Any, None] | None = None) -> None:
        """Run ``last`` (cleanup) on the loop, then stop the loop; it starts again if the
        router is used after."""
        if last is not None:
            self.run(last)
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="ponder-router-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
