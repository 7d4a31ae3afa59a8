"""How `ponder ask` starts: litellm's import never fetches its price table over the network.

The test session sets ``LITELLM_LOCAL_MODEL_COST_MAP`` for every test (tests/conftest.py),
which would hide a path that imports litellm without it; here the variable is absent, as
for a user, and litellm's price-table address points at a server on 127.0.0.1 that records
what it is asked for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def price_server() -> Iterator[tuple[str, list[str]]]:
    """A server standing in for litellm's price-table address; it lists the paths asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/prices.json", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_ask_checks_keys_without_fetching_litellms_price_table(
    tmp_path: Path, price_server: tuple[str, list[str]]
) -> None:
    url, asked = price_server
    config = tmp_path / "ponder.yaml"
    config.write_text("menu:\n  arms:\n    - {model: gpt-4o-mini}\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LITELLM_LOCAL_MODEL_COST_MAP", "OPENAI_API_KEY")
    }
    env.update(PYTHONPATH=str(ROOT), LITELLM_MODEL_COST_MAP_URL=url)
    # The key check imports litellm (to ask it which variables the provider reads), and
    # stops before any call: no provider is needed for this test.
    res = subprocess.run(
        [sys.executable, "-m", "ponder", "ask", "hi", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,  # a guard against a hang, not a timing assertion
    )
    assert res.returncode == 2, res.stderr
    assert "no key for openai (set OPENAI_API_KEY)" in res.stderr
    assert asked == [], f"litellm fetched its price table: {asked}"
