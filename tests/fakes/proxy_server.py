"""Run the proxy app under a real uvicorn server on 127.0.0.1, in a background thread, so
tests talk to it over HTTP with the official ``openai`` client."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from tests.fakes.redis_server import free_port


class ProxyServer:
    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> ProxyServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the proxy failed to start (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError("the proxy did not start within 60 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
