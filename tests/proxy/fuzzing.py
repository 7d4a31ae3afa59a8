"""Bad input for the proxy: schemathesis from the proxy's own OpenAPI schema, and hand-made
cases a schema-driven fuzzer would not think of (raw bytes, lying headers, slow clients).

Shared by ``tests/proxy/test_fuzz.py`` (a bounded run in the suite) and
``bench/bench_fuzz.py`` (a longer run that prints its figures). What is checked is one
promise: every answer to bad input is a 4xx with an OpenAI error body (``{"error":
{"message", "type", ...}}``); nothing is a 5xx, nothing hangs, the server stays up, and the
next valid request still gets its 200. A valid request may still be refused (400
``no_arm_fits``, 404 for a model the proxy does not serve): that is an answer, not a failure.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ponder.proxy import create_app
from ponder.router import Router
from tests.fakes.proxy_server import ProxyServer
from tests.fakes.upstream import FakeUpstream
from tests.proxy.conftest import KEY_A, settings
from tests.proxy.fuzz_cases import ANSWER, CASES, CHAT, VALID, Case


@dataclass(frozen=True)
class Target:
    """A running proxy (uvicorn on loopback) in front of a fake upstream that answers both
    menu models, so every valid request can succeed."""

    host: str
    port: int
    key: str
    body_timeout: float
    max_body_bytes: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@contextlib.contextmanager
def running_proxy(
    *, body_timeout: float = 1.0, max_body_bytes: int = 1_500_000
) -> Iterator[Target]:
    """The proxy of ``tests/proxy/conftest.py`` (two arms, auth on), started once."""
    from ponder.classifiers import load_default_classifier

    with pytest.MonkeyPatch.context() as mp, FakeUpstream() as up:
        mp.setenv("PONDER_TEST_KEY", "sk-provider-secret")
        up.script("small", [ANSWER])
        up.script("big", [ANSWER])
        s = settings(up, max_body_bytes=max_body_bytes)
        router = Router(s, classifier=load_default_classifier())
        app = create_app(router=router, body_timeout=body_timeout)
        with ProxyServer(app) as server:
            yield Target("127.0.0.1", server.port, KEY_A, body_timeout, max_body_bytes)


def not_openai_error(body: bytes) -> str | None:
    """Why ``body`` is not an OpenAI error body, or ``None`` when it is one."""
    try:
        doc = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:80]!r}"
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return f"no 'error' object: {body[:80]!r}"
    if not isinstance(error.get("message"), str) or not error["message"]:
        return "error.message is not a non-empty string"
    if not isinstance(error.get("type"), str) or not error["type"]:
        return "error.type is not a non-empty string"
    return None


def valid_request_ok(t: Target, timeout: float = 15.0) -> bool:
    """Whether a plain valid request still gets its 200 and the scripted answer."""
    try:
        r = httpx.post(f"{t.url}{CHAT}", json=VALID, headers=t.auth, timeout=timeout)
        return r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == ANSWER
    except (httpx.HTTPError, ValueError, KeyError):
        return False


@dataclass
class Outcome:
    status: int | None  # None: no answer (hang, reset)
    body: bytes
    seconds: float
    problem: str | None = None  # why this is not the answer the case needs


def _headers(t: Target, case: Case) -> list[tuple[str, str]]:
    hs = list(case.headers)
    if case.auth == "key":
        hs.append(("authorization", f"Bearer {t.key}"))
    elif case.auth is not None:
        hs.append(("authorization", case.auth))
    return hs


def send(t: Target, case: Case) -> Outcome:
    """Send one case and judge its answer against the promise."""
    started = time.monotonic()
    outcome = _http(t, case) if case.send == "http" else _raw(t, case)
    outcome.seconds = time.monotonic() - started
    if outcome.problem is None:
        outcome.problem = _judge(case, outcome)
    return outcome


def _judge(case: Case, o: Outcome) -> str | None:
    if o.status != case.status:
        return f"status {o.status}, expected {case.status}: {o.body[:160]!r}"
    if o.status == 200:
        try:
            content = json.loads(o.body)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return f"not a completion: {o.body[:160]!r}"
        return None if content == ANSWER else f"answer {content!r}, expected {ANSWER!r}"
    why = not_openai_error(o.body)
    if why is not None:
        return why
    if case.code is not None:
        code = json.loads(o.body)["error"].get("code")
        if code != case.code:
            return f"error.code {code!r}, expected {case.code!r}"
    return None


def _http(t: Target, case: Case) -> Outcome:
    # Header values go as bytes (latin-1), as a client sending a non-ASCII key would.
    headers = [(k.encode(), v.encode("latin-1")) for k, v in _headers(t, case)]
    try:
        r = httpx.request(
            case.method,
            f"{t.url}{case.path}",
            content=case.body,
            headers=headers,
            timeout=t.body_timeout + 15,
        )
    except httpx.TimeoutException:
        return Outcome(None, b"", 0.0, "no answer: hang")
    except httpx.HTTPError as exc:
        return Outcome(None, b"", 0.0, f"no answer: {type(exc).__name__}: {exc}")
    return Outcome(r.status_code, r.content, 0.0)


def _raw(t: Target, case: Case) -> Outcome:
    """Write the request by hand on a socket: what httpx will not send (a lying length, a
    body a byte at a time). ``Connection: close`` so the answer ends with the connection."""
    body = case.body
    head = [f"{case.method} {case.path} HTTP/1.1", f"host: {t.host}:{t.port}"]
    head += [f"{k}: {v}" for k, v in _headers(t, case)]
    head.append("connection: close")
    pieces: list[bytes]
    gap = 0.0
    if case.send == "raw":  # the case's own content-length, if it has one
        if not any(k.lower() == "content-length" for k, _ in case.headers):
            head.append(f"content-length: {len(body)}")
        pieces = [body]
    elif case.send == "short_body":
        head.append(f"content-length: {len(body) + 100}")
        pieces = [body]
    elif case.send == "long_body":
        head.append(f"content-length: {len(body) // 2}")
        pieces = [body]
    elif case.send == "trickle":
        head.append(f"content-length: {len(body)}")
        pieces = [body[i : i + 1] for i in range(len(body))]
        gap = min(0.25, t.body_timeout / 4)  # each byte well inside the timeout
    else:  # chunked
        head.append("transfer-encoding: chunked")
        step = 64 * 1024
        pieces = [b"%x\r\n%s\r\n" % (len(c), c) for c in _split(body, step)] + [b"0\r\n\r\n"]
    limit = t.body_timeout + 15
    with socket.create_connection((t.host, t.port), timeout=limit) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        for piece in pieces:
            readable, _, _ = select.select([s], [], [], gap)
            if readable:  # answered before the body was all sent: stop sending
                break
            try:
                s.sendall(piece)
            except OSError:
                break
        return _read_response(s, time.monotonic() + limit)


def _split(data: bytes, step: int) -> Iterator[bytes]:
    for i in range(0, len(data), step):
        yield data[i : i + step]


def _read_response(s: socket.socket, deadline: float) -> Outcome:
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Outcome(None, data, 0.0, "no answer: hang")
        s.settimeout(remaining)
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            length = _content_length(head)
            if length is not None and len(body) >= length:
                break
    if not data:
        return Outcome(None, b"", 0.0, "connection closed without an answer")
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return Outcome(None, data, 0.0, f"not an HTTP answer: {data[:80]!r}")
    length = _content_length(head)
    return Outcome(status, body if length is None else body[:length], 0.0)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


def slow_client_and_others(t: Target) -> tuple[Outcome, list[float]]:
    """The trickling client, and meanwhile valid requests from others: the seconds each of
    them took (each must be served long before the slow one is cut off)."""
    slow = next(c for c in CASES if c.send == "trickle")
    others: list[float] = []

    def meanwhile() -> None:
        time.sleep(t.body_timeout / 4)
        for _ in range(3):
            started = time.monotonic()
            ok = valid_request_ok(t)
            others.append(time.monotonic() - started if ok else float("inf"))

    thread = threading.Thread(target=meanwhile)
    thread.start()
    outcome = send(t, slow)
    thread.join()
    return outcome, others


# --- schemathesis ------------------------------------------------------------------------

MODELS = ("ponder/auto", "openai/small", "ponder/auto", "openai/big", None)
"""Models swapped into positive cases: a random string is (rightly) a 404 and would keep the
fuzzer out of the router; ``None`` keeps the generated one."""


@dataclass
class Tally:
    """What a schemathesis run tried and found, per operation and generation mode."""

    cases: Counter[tuple[str, str]] = field(default_factory=Counter)
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    checks: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: defaultdict[tuple[str, str], list[str]] = field(
        default_factory=lambda: defaultdict(list)
    )  # per operation and check
    failed_cases: Counter[tuple[str, str]] = field(default_factory=Counter)
    server_errors: int = 0
    hangs: int = 0
    recovered: dict[tuple[str, str], bool] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(len(v) for v in self.failures.values())


def fuzz_schema(t: Target, examples: int, *, seed: int | None = 0, timeout: float = 20.0) -> Tally:
    """Run schemathesis's positive and negative cases for every operation in the proxy's
    ``/openapi.json`` with its conformance checks, plus: non-2xx answers carry an OpenAI
    error body, and after each operation and mode a valid request still succeeds."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import seed as fix_seed
    from hypothesis import settings as hyp_settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks as oc

    schema = schemathesis.openapi.from_url(f"{t.url}/openapi.json")
    # A generated body can outgrow max_body_bytes: its 413 is a refusal like any other.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    checks = (
        not_a_server_error,
        oc.status_code_conformance,
        oc.content_type_conformance,
        oc.response_headers_conformance,
        oc.response_schema_conformance,
        oc.negative_data_rejection,
        oc.ignored_auth,
        oc.unsupported_method,
    )
    tally = Tally()
    started = time.monotonic()
    transport = {"base_url": t.url, "headers": t.auth, "timeout": timeout}
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            key = (op.label, mode.value)
            run = given(
                case=op.as_strategy(generation_mode=mode, headers=t.auth),
                model=st.sampled_from(MODELS),
            )(_one_case(t, key, tally, checks, transport, timeout))
            run = hyp_settings(
                max_examples=examples,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(run)
            if seed is not None:
                run = fix_seed(seed)(run)
            with contextlib.suppress(Unsatisfiable):  # nothing to negate in this operation
                run()
            tally.recovered[key] = valid_request_ok(t)
    tally.seconds = time.monotonic() - started
    return tally


def _one_case(
    t: Target,
    key: tuple[str, str],
    tally: Tally,
    checks: tuple[Any, ...],
    transport: dict[str, Any],
    timeout: float,
) -> Any:
    """The hypothesis test body for one operation and mode: send, then run every check."""
    import requests
    from schemathesis.core.failures import FailureGroup

    def one(case: Any, model: str | None) -> None:
        if model and key[1] == "positive" and isinstance(case.body, dict):
            case.body = {**case.body, "model": model}
        tally.cases[key] += 1
        found: list[tuple[str, str]] = []
        try:
            response = case.call(base_url=t.url, headers=t.auth, timeout=timeout)
        except requests.Timeout:
            tally.hangs += 1
            found.append(("hang", f"no answer in {timeout} s"))
        except requests.RequestException as exc:  # the server went away: a crash
            found.append(("no answer", f"{type(exc).__name__}: {exc}"))
        else:
            tally.statuses[(*key, response.status_code)] += 1
            if response.status_code >= 500:
                tally.server_errors += 1
            if response.status_code >= 400:
                tally.checks[(key[0], "openai_error_body")] += 1
                why = not_openai_error(response.content or b"")
                if why is not None:
                    found.append(("openai_error_body", why))
            for check in checks:
                tally.checks[(key[0], check.__name__)] += 1
                try:
                    case.validate_response(
                        response, checks=[check], headers=t.auth, transport_kwargs=transport
                    )
                except FailureGroup as exc:
                    found.append((check.__name__, str(exc)[:2000]))
        for check_name, detail in found:
            tally.failures[(key[0], check_name)].append(detail)
        if found:
            tally.failed_cases[key] += 1

    return one
