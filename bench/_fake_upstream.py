"""Run ``tests.fakes.upstream.FakeUpstream`` in a process of its own, for the proxy benchmarks.

    python bench/_fake_upstream.py MODEL[,MODEL...] ANSWER [--nagle] [--fill]

prints the upstream's base URL (``http://127.0.0.1:<port>/v1``) on the first line of stdout,
then answers one line per command read from stdin: ``calls`` -> the number of completion
calls the first ``MODEL`` has received so far; ``usage`` -> a JSON list with one
``[tag, model, prompt_tokens, completion_tokens]`` per chat completion call, what the
upstream billed (``tag``: the first word of the call's last message). It exits when stdin
closes.

``--fill`` makes every answer as long as the request lets it be: ``max_tokens`` (or
``max_completion_tokens``, the larger) one-word tokens, at most ``FILL_CAP``; ``ANSWER`` when
neither is set. That is the dearest answer a provider may give, so what it bills is the
worst case a cost ceiling has to hold against (``bench_adversarial.py``).

A process of its own so the upstream's request threads do not share a GIL with the
benchmark's client, which would slow both and blur what is measured.

The handler's sockets get ``TCP_NODELAY`` (``disable_nagle_algorithm``, a
``socketserver.StreamRequestHandler`` switch) unless ``--nagle`` is given: the stdlib handler
writes the status and headers, then the body, in two small segments, and with Nagle on the
second waits for the client's delayed ACK, about 40 ms on Linux: every call would cost that,
which no real upstream does and which would bury what the proxies add.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tests.fakes.upstream
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream_wire import _message_text, _prompt_tokens, count_tokens

FILL_CAP = 100_000  # words: $0.2 at 2 USD/Mtok, far past any ceiling a bench sets


def filled(answer: str, body: dict[str, Any]) -> str:
    limits = [body.get(k) for k in ("max_tokens", "max_completion_tokens")]
    given = [v for v in limits if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    return " ".join(["x"] * min(max(given), FILL_CAP)) if given else answer


def usage(up: FakeUpstream, answer: str, fill: bool) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for body in up.chat_bodies():
        messages = body.get("messages")
        last = _message_text(messages[-1]) if isinstance(messages, list) and messages else ""
        text = filled(answer, body) if fill else answer
        tag = last.split()[0] if last.split() else ""
        rows.append([tag, body.get("model"), _prompt_tokens(body), count_tokens(text)])
    return rows


def main() -> None:
    models, answer = sys.argv[1].split(","), sys.argv[2]
    fill = "--fill" in sys.argv[3:]
    tests.fakes.upstream._Handler.disable_nagle_algorithm = "--nagle" not in sys.argv[3:]
    with FakeUpstream() as up:
        for model in models:
            up.script(model, (lambda body: filled(answer, body)) if fill else [answer])
        print(up.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "calls":
                print(up.calls(models[0]), flush=True)
            elif line.strip() == "usage":
                print(json.dumps(usage(up, answer, fill)), flush=True)


if __name__ == "__main__":
    main()
