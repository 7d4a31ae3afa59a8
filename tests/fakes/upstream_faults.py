"""Seeded provider faults for :class:`tests.fakes.upstream.FakeUpstream`.

Real providers time out, rate-limit with ``Retry-After``, answer 500/503, cut streams
mid-way and, behind a misbehaving gateway, send a 200 whose body is not JSON. ``FakeUpstream``
injects these at a set rate per model::

    up.faults("small", rate=0.2, seed=0, delay=2.0, retry_after=0.1)

Each completion call for the model draws from its own ``random.Random(seed)``: with
probability ``rate`` it gets one of ``kinds`` (uniformly), else it is answered as scripted.
The sequence of faults a model's calls get is therefore fixed by the seed (which request
gets the n-th call depends on arrival order under concurrency, the sequence does not), and
every draw is recorded (:class:`FaultRecord`) so a test or a benchmark can account for what
was injected.

What each kind does on the wire:

- ``timeout``: sleeps ``delay`` seconds (set it past the client's timeout) and then answers
  normally, to a client that has usually gone. The sleep is bounded: it ends early when the
  upstream stops, so no server thread outlives the test.
- ``429``: a rate-limit error with ``Retry-After: <retry_after>``.
- ``500`` / ``503``: a server error with an OpenAI error body.
- ``truncated_stream``: a streamed request gets the role chunk and about half the content,
  then the connection closes with no ``finish_reason`` and no ``[DONE]`` (a clean EOF: the
  transport sees nothing wrong, only the protocol does). A non-streamed request gets its
  headers and half its body before the connection closes (the transport sees a short read).
- ``invalid_json``: status 200 with ``Content-Type: application/json`` and an HTML body (a
  gateway's error page); a streamed request gets a ``data:`` line that is not JSON.

Apart from the seeded kinds, ``up.drip(model, interval)`` sends every answer of ``model``
(JSON or SSE) one byte every ``interval`` seconds after its headers: an upstream that never
trips a per-read timeout while taking minutes to answer.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal, NamedTuple, get_args

FaultKind = Literal["timeout", "429", "500", "503", "truncated_stream", "invalid_json"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

MAX_DELAY = 30.0
"""Longest ``timeout`` sleep allowed: a fault must never pin a server thread for long."""

INVALID_BODY = b"<html><body><h1>502 Bad Gateway</h1>upstream hiccup</body></html>"

_STATUS: dict[str, int] = {"429": 429, "500": 500, "503": 503}


class Fault(NamedTuple):
    """The fault one call got."""

    kind: FaultKind
    delay: float
    retry_after: float | None

    @property
    def status(self) -> int | None:
        """The error status the call is answered with, for the error kinds."""
        return _STATUS.get(self.kind)

    def headers(self) -> dict[str, str]:
        if self.kind == "429" and self.retry_after is not None:
            return {"Retry-After": f"{self.retry_after:g}"}
        return {}


class FaultRecord(NamedTuple):
    """One completion call's draw: which model, its call number (from 1), whether it asked
    for a stream, and the fault it got (``None``: answered as scripted)."""

    model: str
    call: int
    stream: bool
    kind: FaultKind | None


class FaultInjector:
    """One model's seeded fault plan. Not thread-safe on its own: the upstream draws under
    its lock, which is what makes the sequence deterministic."""

    def __init__(
        self,
        rate: float,
        kinds: Iterable[str],
        seed: int,
        delay: float,
        retry_after: float | None,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {rate}")
        chosen = tuple(kinds)
        unknown = [k for k in chosen if k not in FAULT_KINDS]
        if unknown or not chosen:
            raise ValueError(f"kinds must be a non-empty subset of {FAULT_KINDS}, got {chosen}")
        if not 0.0 < delay <= MAX_DELAY:
            raise ValueError(f"delay must be in (0, {MAX_DELAY}] seconds, got {delay}")
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after}")
        self.rate = rate
        self.kinds: tuple[FaultKind, ...] = tuple(k for k in FAULT_KINDS if k in chosen)
        self.delay = delay
        self.retry_after = retry_after
        self._rng = random.Random(seed)

    def draw(self) -> Fault | None:
        # Two draws per call whatever the outcome, so the n-th call's fate depends on the
        # seed and n only.
        hit = self._rng.random() < self.rate
        kind = self.kinds[self._rng.randrange(len(self.kinds))]
        return Fault(kind, self.delay, self.retry_after) if hit else None


class FaultInjection:
    """The fault half of :class:`tests.fakes.upstream.FakeUpstream`: per-model plans and the log
    of draws. The upstream calls :meth:`_draw_fault` under its own lock, once per counted
    completion call of a scripted model."""

    _lock: threading.Lock

    def _init_faults(self) -> None:
        self._injectors: dict[str, FaultInjector] = {}
        self._fault_log: list[FaultRecord] = []
        self._stopping = threading.Event()  # set on stop: ends sleeping timeout faults
        self._drips: dict[str, float] = {}

    def faults(
        self,
        model: str,
        rate: float = 0.2,
        kinds: Iterable[str] = FAULT_KINDS,
        seed: int = 0,
        delay: float = 2.0,
        retry_after: float | None = 0.1,
    ) -> None:
        """Inject seeded faults into ``rate`` of ``model``'s completion calls, each of a
        kind drawn uniformly from ``kinds``. ``delay`` is how long a ``timeout`` fault
        sleeps (set it past the client's timeout); ``retry_after`` is a ``429``'s header
        (``None``: none). Scripted ``fail`` failures come first and draw nothing.
        ``rate=0`` turns injection off (draws are still logged)."""
        injector = FaultInjector(rate, kinds, seed, delay, retry_after)
        with self._lock:
            self._injectors[model] = injector

    def drip(self, model: str, interval: float = 0.5) -> None:
        """Send ``model``'s answers one byte every ``interval`` seconds (``0``: at once)."""
        if interval < 0:
            raise ValueError(f"interval must be >= 0, got {interval}")
        with self._lock:
            if interval == 0:
                self._drips.pop(model, None)
            else:
                self._drips[model] = interval

    def drip_interval(self, model: object) -> float | None:
        """Seconds between the bytes of ``model``'s answers, if it drips."""
        with self._lock:
            return self._drips.get(model) if isinstance(model, str) else None

    def fault_log(self, model: str | None = None) -> list[FaultRecord]:
        """Every draw so far (one per call of a model with faults), in arrival order."""
        with self._lock:
            return [r for r in self._fault_log if model is None or r.model == model]

    def fault_counts(self, model: str | None = None) -> Counter[str]:
        """Faults injected so far, by kind (calls answered as scripted are not counted)."""
        return Counter(r.kind for r in self.fault_log(model) if r.kind is not None)

    def _draw_fault(self, model: str, call: int, stream: bool) -> Fault | None:
        injector = self._injectors.get(model)
        if injector is None:
            return None
        fault = injector.draw()
        self._fault_log.append(FaultRecord(model, call, stream, fault.kind if fault else None))
        return fault


# --- writing faulty responses ----------------------------------------------------------


def fault_before_answer(
    fault: Fault | None,
    stop: threading.Event,
    send_error: Callable[[int, str, dict[str, str]], None],
) -> bool:
    """Act out the part of a fault that comes before any answer: sleep out a ``timeout``
    (then answer as usual), or answer with the error status (``True``: the call is done)."""
    if fault is None:
        return False
    if fault.kind == "timeout":
        sleep_bounded(stop, fault.delay)
        return False
    if fault.status is not None:
        send_error(fault.status, f"Injected fault ({fault.kind})", fault.headers())
        return True
    return False


def send_faulty_body(
    handler: BaseHTTPRequestHandler, payload: dict[str, Any], fault: Fault | None
) -> bool:
    """Send a non-streamed answer the way ``fault`` corrupts it; ``False`` if it does not
    (the caller sends ``payload`` as usual)."""
    if fault is not None and fault.kind == "invalid_json":
        send_invalid_json(handler)
        return True
    if fault is not None and fault.kind == "truncated_stream":
        send_truncated_json(handler, payload)
        return True
    return False


def send_invalid_json(handler: BaseHTTPRequestHandler) -> None:
    """A 200 that claims JSON and is not."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(INVALID_BODY)))
    handler.end_headers()
    handler.wfile.write(INVALID_BODY)


def send_truncated_json(handler: BaseHTTPRequestHandler, payload: dict[str, Any]) -> None:
    """Headers announcing the whole body, half of it, then the connection closes."""
    data = json.dumps(payload).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data[: len(data) // 2])
    handler.wfile.flush()
    handler.close_connection = True


def faulty_events(events: list[bytes], kind: FaultKind | None) -> Iterator[bytes]:
    """The SSE events a stream sends under ``kind``: all of them, or a cut or corrupted
    prefix. ``events`` are the whole stream's events, ``[DONE]`` last."""
    if kind == "truncated_stream":
        # The role chunk, then about half the content deltas; never a finish or [DONE].
        finish = next(
            (i for i, e in enumerate(events) if b'"finish_reason": "stop"' in e), len(events)
        )
        yield from events[: 1 + (finish - 1) // 2]
        return
    if kind == "invalid_json":
        yield from events[:1]
        yield b"data: " + INVALID_BODY + b"\n\n"
        yield b"data: [DONE]\n\n"
        return
    yield from events


def write_quietly(handler: BaseHTTPRequestHandler, chunks: Iterable[bytes]) -> None:
    """Write ``chunks``, ignoring a client that has gone (it gave up on a slow fault)."""
    try:
        for chunk in chunks:
            handler.wfile.write(chunk)
            handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True


def write_dripping(
    handler: BaseHTTPRequestHandler, data: bytes, interval: float, stop: threading.Event
) -> None:
    """Write ``data`` a byte at a time, ``interval`` seconds apart; stops when the client
    has gone or the upstream stops, so no server thread outlives the test."""
    try:
        for i in range(len(data)):
            handler.wfile.write(data[i : i + 1])
            handler.wfile.flush()
            if stop.wait(interval):
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    handler.close_connection = True


def send_dripping_json(
    handler: BaseHTTPRequestHandler,
    payload: dict[str, Any],
    interval: float,
    stop: threading.Event,
) -> None:
    """A 200 whose headers come at once and whose JSON body drips (:func:`write_dripping`)."""
    data = json.dumps(payload).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.flush()
    write_dripping(handler, data, interval, stop)


def sleep_bounded(stop: threading.Event, seconds: float) -> None:
    """Sleep for a ``timeout`` fault; ends at once when the upstream stops."""
    stop.wait(min(seconds, MAX_DELAY))
