"""A real HTTP fake of an OpenAI-compatible upstream, for tests.

``FakeUpstream`` runs a stdlib ``ThreadingHTTPServer`` bound to 127.0.0.1 on an
ephemeral port in a background thread and speaks enough of the OpenAI wire format
for the official ``openai`` client (and litellm) to talk to it::

    with FakeUpstream() as up:
        up.script("small", ["4", "5"])
        up.fail("small", status=429, times=1, retry_after=2)
        client = OpenAI(base_url=up.base_url, api_key="test", max_retries=0)
        ...
        assert up.calls("small") == 2

Endpoints: ``POST /v1/chat/completions`` (JSON, or SSE when ``"stream": true``),
``GET /v1/models`` and a minimal Anthropic Messages API, ``POST /v1/messages``
(non-streaming only; ``"stream": true`` is a 400). Both completion endpoints share
the per-model scripts, failures and call counts. litellm reaches the Anthropic
endpoint with ``model="anthropic/<name>", api_base=up.root_url`` (litellm appends
``/v1/messages`` itself). Every request is recorded in ``up.requests``.

``up.faults(model, rate=..., seed=...)`` injects seeded provider faults (timeouts, 429 with
``Retry-After``, 500/503, truncated streams, invalid JSON) into a share of a model's calls;
``up.fault_log()`` records what each call got. See :mod:`tests.fakes.upstream_faults`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple

from tests.fakes.upstream_faults import (
    Fault,
    FaultInjection,
    FaultKind,
    fault_before_answer,
    faulty_events,
    send_dripping_json,
    send_faulty_body,
    write_dripping,
    write_quietly,
)
from tests.fakes.upstream_wire import (
    THINKING_TEXT,
    _anthropic_invalid,
    _anthropic_prompt_tokens,
    _prompt_tokens,
    _stream_pieces,
    _thinking_enabled,
    anthropic_error_body,
    count_tokens,
    error_body,
)

Answer = Callable[[dict[str, Any]], str]
"""A scripted answer generator: receives the parsed request body, returns the content."""

_LOOPBACK = frozenset({"127.0.0.1", "::1"})


class RecordedRequest(NamedTuple):
    """One request as seen on the wire. Header names are lower-cased."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class _Failure:
    __slots__ = ("remaining", "retry_after", "status")

    def __init__(self, status: int, remaining: int, retry_after: float | None) -> None:
        self.status = status
        self.remaining = remaining
        self.retry_after = retry_after


def _retry_after_header(failure: _Failure) -> dict[str, str]:
    if failure.retry_after is None:
        return {}
    return {"Retry-After": f"{failure.retry_after:g}"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the stdlib default (5) resets bursts of concurrent clients
    upstream: FakeUpstream

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return bool(client_address and client_address[0] in _LOOPBACK)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeUpstream/1.0"
    timeout = 10  # idle keep-alive connections cannot pin a thread forever
    # Headers and body go out as separate small writes; with Nagle on, each response waits
    # for the client's delayed ACK (~40 ms on Linux).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        # A client that gave up (on a timeout fault, say) is not the server's error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    # --- plumbing -------------------------------------------------------------------
    def _headers_dict(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _send_json(
        self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(
        self,
        status: int,
        message: str,
        code: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        self._send_json(status, error_body(status, message, code), extra)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # --- verbs ----------------------------------------------------------------------
    def do_GET(self) -> None:
        up = self.server.upstream
        path = self.path.split("?", 1)[0]
        up._record(path, self._headers_dict(), {})
        if path.rstrip("/") == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake-upstream"}
                for m in up.models()
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, f"Unknown path {path}", "not_found")

    def do_POST(self) -> None:
        up = self.server.upstream
        path = self.path.split("?", 1)[0]
        headers = self._headers_dict()
        raw = self._read_body()
        try:
            parsed = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            up._record(path, headers, {})
            self._send_error(400, f"Malformed JSON in request body: {exc}", "invalid_json")
            return
        if not isinstance(parsed, dict):
            up._record(path, headers, {})
            self._send_error(400, "Request body must be a JSON object", "invalid_json")
            return
        body: dict[str, Any] = parsed
        up._record(path, headers, body)
        route = path.rstrip("/")
        if route == "/v1/chat/completions":
            self._chat(up, body)
        elif route == "/v1/messages":
            self._messages(up, body)
        else:
            self._send_error(404, f"Unknown path {path}", "not_found")

    def _send_body(self, payload: dict[str, Any], fault: Fault | None) -> None:
        up = self.server.upstream
        interval = up.drip_interval(payload.get("model"))
        if interval is not None:
            send_dripping_json(self, payload, interval, up._stopping)
        elif not send_faulty_body(self, payload, fault):
            self._send_json(200, payload)

    def _chat(self, up: FakeUpstream, body: dict[str, Any]) -> None:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            self._send_error(400, "you must provide a model parameter", "missing_model")
            return
        n = body.get("n", 1)
        if n is None:
            n = 1
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            self._send_error(400, f"Invalid value for 'n': {n!r}", "invalid_value")
            return
        outcome, fault = up._take(model, body, n)
        if outcome is None:
            self._send_error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "model_not_found",
            )
            return
        if isinstance(outcome, _Failure):
            self._send_error(
                outcome.status,
                f"Scripted failure ({outcome.status}) for {model}",
                extra=_retry_after_header(outcome),
            )
            return
        if fault_before_answer(
            fault, up._stopping, lambda s, m, h: self._send_error(s, m, None, h)
        ):
            return
        answers = outcome
        completion_id = f"chatcmpl-fake{up._next_id():06d}"
        created = int(time.time())
        prompt_tokens = _prompt_tokens(body)
        completion_tokens = sum(count_tokens(a) for a in answers)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if body.get("stream") is True:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            self._stream(
                completion_id,
                created,
                model,
                answers,
                usage if include_usage else None,
                fault.kind if fault else None,
            )
            return
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for i, text in enumerate(answers)
        ]
        self._send_body(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": usage,
                "system_fingerprint": "fp_fake",
            },
            fault,
        )

    def _messages(self, up: FakeUpstream, body: dict[str, Any]) -> None:
        """The Anthropic Messages API (non-streaming). Invalid bodies are rejected
        before the call is counted, as for chat."""

        def send_error(status: int, message: str, extra: dict[str, str] | None = None) -> None:
            self._send_json(status, anthropic_error_body(status, message), extra)

        problem = _anthropic_invalid(body)
        if problem is not None:
            send_error(400, problem)
            return
        model: str = body["model"]
        outcome, fault = up._take(model, body, 1)
        if outcome is None:
            send_error(404, f"model: {model}")
            return
        if isinstance(outcome, _Failure):
            send_error(
                outcome.status,
                f"Scripted failure ({outcome.status}) for {model}",
                _retry_after_header(outcome),
            )
            return
        if fault_before_answer(fault, up._stopping, send_error):
            return
        [text] = outcome
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        output_tokens = count_tokens(text)
        if _thinking_enabled(body):
            content.insert(0, {"type": "thinking", "thinking": THINKING_TEXT, "signature": "sig"})
            output_tokens += count_tokens(THINKING_TEXT)
        self._send_body(
            {
                "id": f"msg_fake{up._next_id():06d}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": _anthropic_prompt_tokens(body),
                    "output_tokens": output_tokens,
                },
            },
            fault,
        )

    def _stream(
        self,
        completion_id: str,
        created: int,
        model: str,
        answers: Sequence[str],
        usage: dict[str, int] | None,
        fault: FaultKind | None = None,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(payload)}\n\n".encode()

        def events() -> Iterator[bytes]:
            for i, text in enumerate(answers):
                yield chunk(
                    [
                        {
                            "index": i,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                        }
                    ]
                )
                for piece in _stream_pieces(text):
                    yield chunk([{"index": i, "delta": {"content": piece}, "finish_reason": None}])
                yield chunk([{"index": i, "delta": {}, "finish_reason": "stop"}])
            if usage is not None:
                yield chunk([], usage=usage)
            yield b"data: [DONE]\n\n"

        up = self.server.upstream
        interval = up.drip_interval(model)
        if interval is not None:
            data = b"".join(faulty_events(list(events()), fault))
            write_dripping(self, data, interval, up._stopping)
            return
        write_quietly(self, faulty_events(list(events()), fault))


class FakeUpstream(FaultInjection):
    """A loopback-only OpenAI-compatible HTTP server with scripted answers and failures,
    and seeded fault injection (``faults``, ``fault_log``, ``fault_counts``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._scripts: dict[str, Sequence[str] | Answer] = {}
        self._cursor: dict[str, int] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._calls: dict[str, int] = {}
        self._init_faults()
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------
    def start(self) -> FakeUpstream:
        if self._server is not None:
            raise RuntimeError("FakeUpstream already started")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.upstream = self
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-upstream",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping out a timeout fault
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeUpstream is not running")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>`` -- the ``api_base`` litellm's Anthropic provider wants."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ``<root_url>/v1``."""
        return f"{self.root_url}/v1"

    # --- scripting ------------------------------------------------------------------
    def script(self, model: str, answers: Sequence[str] | Answer) -> None:
        """Register ``model``. ``answers`` are returned in order (cycling), or computed
        by a callable from the request body. Re-scripting resets the cursor."""
        if isinstance(answers, str):
            raise TypeError("answers must be a list of strings or a callable, not a str")
        if not callable(answers):
            answers = list(answers)
            if not answers:
                raise ValueError("answers must not be empty")
        with self._lock:
            self._scripts[model] = answers
            self._cursor[model] = 0

    def fail(
        self, model: str, status: int = 500, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Make the next ``times`` completion calls (chat or messages) for ``model``
        fail with ``status`` (queued after any failures already scripted).
        ``retry_after`` sets the ``Retry-After`` header. Works for unscripted models too."""
        if status < 400 or status > 599:
            raise ValueError(f"status must be an HTTP error status, got {status}")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._failures.setdefault(model, []).append(_Failure(status, times, retry_after))

    def models(self) -> list[str]:
        with self._lock:
            return sorted(self._scripts)

    # --- inspection -----------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def calls(self, model: str) -> int:
        """Completion requests (chat or messages) received for ``model``, including
        scripted failures but not requests rejected as invalid."""
        with self._lock:
            return self._calls.get(model, 0)

    def bodies(self, model: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """Bodies of recorded requests to any endpoint, optionally filtered by model
        and by path (e.g. ``"/v1/messages"``; a trailing slash is ignored)."""
        route = path.rstrip("/") if path is not None else None
        return [
            r.body
            for r in self.requests
            if (route is None or r.path.rstrip("/") == route)
            and (model is None or r.body.get("model") == model)
        ]

    def chat_bodies(self, model: str | None = None) -> list[dict[str, Any]]:
        """Bodies of chat completion requests, optionally filtered by model."""
        return self.bodies(model, "/v1/chat/completions")

    # --- used by the handler ----------------------------------------------------------
    def _record(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(RecordedRequest(path, headers, body))

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def _take(
        self, model: str, body: dict[str, Any], n: int
    ) -> tuple[list[str] | _Failure | None, Fault | None]:
        """Count the call and return its outcome (a scripted failure, ``n`` answers, or
        ``None`` for an unknown model) and the fault injected into it, if any."""
        with self._lock:
            self._calls[model] = self._calls.get(model, 0) + 1
            queue = self._failures.get(model)
            if queue:
                failure = queue[0]
                failure.remaining -= 1
                if failure.remaining <= 0:
                    queue.pop(0)
                return failure, None
            source = self._scripts.get(model)
            if source is None:
                return None, None
            fault = self._draw_fault(model, self._calls[model], body.get("stream") is True)
            if callable(source):
                generate = source
            else:
                start = self._cursor[model]
                self._cursor[model] = start + n
                return [source[(start + i) % len(source)] for i in range(n)], fault
        # Callables run outside the lock so they may inspect the upstream.
        return [generate(body) for _ in range(n)], fault
