"""Run ``tests.upstream.FakeUpstream`` in a process of its own, for ``bench_proxy.py``.

    python bench/_fake_upstream.py MODEL ANSWER [--nagle]

prints the upstream's base URL (``http://127.0.0.1:<port>/v1``) on the first line of stdout,
then answers one line per command read from stdin: ``calls`` -> the number of completion
calls ``MODEL`` has received so far. It exits when stdin closes.

A process of its own so the upstream's request threads do not share a GIL with the
benchmark's client, which would slow both and blur what is measured.

The handler's sockets get ``TCP_NODELAY`` (``disable_nagle_algorithm``, a
``socketserver.StreamRequestHandler`` switch) unless ``--nagle`` is given: the stdlib handler
writes the status and headers, then the body, in two small segments, and with Nagle on the
second waits for the client's delayed ACK, about 40 ms on Linux: every call would cost that,
which no real upstream does and which would bury what the proxies add.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tests.upstream
from tests.upstream import FakeUpstream


def main() -> None:
    model, answer = sys.argv[1], sys.argv[2]
    tests.upstream._Handler.disable_nagle_algorithm = "--nagle" not in sys.argv[3:]
    with FakeUpstream() as up:
        up.script(model, [answer])
        print(up.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "calls":
                print(up.calls(model), flush=True)


if __name__ == "__main__":
    main()
