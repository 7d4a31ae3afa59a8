"""The hand-made bad requests for the proxy: what a schema-driven fuzzer would not think of
(raw bytes, parser bombs, lying headers, a slow client) and the type errors worth naming one
by one. Each carries the status (and, where it matters, the error code) it must get.
Used by ``tests/proxy/fuzzing.py``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from tests.proxy.conftest import KEY_A

ANSWER = "It is 42"
QUESTION = "What is 6 times 7?"
VALID: dict[str, Any] = {
    "model": "ponder/auto",
    "messages": [{"role": "user", "content": QUESTION}],
}
CHAT = "/v1/chat/completions"
MB = 1_000_000


# --- hand-made cases ---------------------------------------------------------------------

Send = Literal["http", "raw", "short_body", "long_body", "trickle", "chunked"]


@dataclass(frozen=True)
class Case:
    """One request (bad, or at the edge) and the status it must get.

    ``send`` picks how it goes on the wire: ``http`` is an ordinary request; the others are
    written on a raw socket: ``raw`` with the case's headers as they are (httpx refuses some),
    ``short_body`` declares more bytes than it sends (then waits), ``long_body`` fewer than
    it sends, ``trickle`` sends its body a byte at a time (slower, in all, than the body
    timeout), ``chunked`` uses chunked encoding (no Content-Length).
    """

    name: str
    body: bytes
    status: int
    code: str | None = None
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)
    auth: str | None = "key"  # "key": the proxy key; None: no header; else the header as is
    method: str = "POST"
    path: str = CHAT
    send: Send = "http"


def _j(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _with(**fields: Any) -> bytes:
    return _j({**VALID, **fields})


def _user(content: Any) -> bytes:
    return _with(messages=[{"role": "user", "content": content}])


def _ponder(**controls: Any) -> bytes:
    return _with(ponder=controls)


def _raw_ponder(literal: str) -> bytes:
    """A body whose ``ponder.max_cost`` is a literal json.dumps would not write (NaN...)."""
    return _with(ponder={"max_cost": 1}).replace(b": 1}", f": {literal}}}".encode())


def _nested(depth: int) -> bytes:
    return b'{"model": "ponder/auto", "messages": ' + b"[" * depth + b"]" * depth + b"}"


def _message_of(size: int) -> bytes:
    return _user("seven " * (size // 6))


PLAIN = (("content-type", "text/plain"),)
CASES: tuple[Case, ...] = (
    # malformed JSON
    Case("malformed: not json", b"{not json", 400),
    Case("malformed: empty body", b"", 400),
    Case("malformed: truncated", _j(VALID)[:-7], 400),
    Case("malformed: trailing comma", b'{"model": "ponder/auto",}', 400),
    Case("malformed: binary garbage", bytes(range(256)) * 4, 400),
    # JSON that is not an object
    Case("not an object: list", b"[]", 400),
    Case("not an object: string", b'"ponder/auto"', 400),
    Case("not an object: number", b"42", 400),
    Case("not an object: null", b"null", 400),
    Case("not an object: true", b"true", 400),
    # wrong types, field by field
    Case("type: model int", _with(model=42), 400),
    Case("type: model null", _with(model=None), 400),
    Case("type: model list", _with(model=["ponder/auto"]), 400),
    Case("type: messages dict", _with(messages={"role": "user", "content": QUESTION}), 400),
    Case("type: messages string", _with(messages=QUESTION), 400),
    Case("type: messages of strings", _with(messages=[QUESTION]), 400),
    Case("type: role int", _with(messages=[{"role": 1, "content": QUESTION}]), 400),
    Case("type: role unknown", _with(messages=[{"role": "wizard", "content": QUESTION}]), 400),
    Case("type: content int", _user(42), 400),
    Case("type: content dict", _user({"text": QUESTION}), 400),
    Case("type: content list of ints", _user([1, 2]), 400),
    Case("type: content part without type", _user([{"text": QUESTION}]), 400),
    Case("type: text part without text", _user([{"type": "text"}]), 400),
    Case("type: message without content", _with(messages=[{"role": "user"}]), 400),
    Case("type: stream string", _with(stream="true"), 400),
    Case("type: stream int", _with(stream=1), 400),
    Case("type: stream_options string", _with(stream=True, stream_options="usage"), 400),
    Case("type: n string", _with(n="1"), 400),
    Case("type: n 3", _with(n=3), 400, "unsupported_parameter"),
    Case("type: ponder string", _with(ponder="cheap"), 400),
    Case("type: ponder unknown field", _ponder(budget=1), 400),
    Case("max_cost: string", _ponder(max_cost="0.01"), 400),
    Case("max_cost: negative", _ponder(max_cost=-1), 400),
    Case("max_cost: zero", _ponder(max_cost=0), 400),
    Case("max_cost: NaN", _raw_ponder("NaN"), 400),
    Case("max_cost: Infinity", _raw_ponder("Infinity"), 400),
    Case("max_cost: -Infinity", _raw_ponder("-Infinity"), 400),
    Case("max_cost: 1e308", _ponder(max_cost=1e308), 400),
    Case("max_cost: 1e-300 (nothing fits)", _ponder(max_cost=1e-300), 400, "no_arm_fits"),
    Case("lam: negative", _ponder(lam=-1), 400),
    Case("lam: NaN", _ponder(lam=0).replace(b": 0}", b": NaN}"), 400),
    Case("lam: string", _ponder(lam="low"), 400),
    Case("cache: string", _ponder(cache="no"), 400),
    Case("param: temperature string", _with(temperature="hot"), 400),
    Case("param: temperature NaN", _with(temperature=0).replace(b": 0}", b": NaN}"), 400),
    Case("param: temperature 5", _with(temperature=5), 400),
    Case("param: max_tokens negative", _with(max_tokens=-1), 400),
    Case("param: max_tokens float", _with(max_tokens=1.5), 400),
    Case("param: max_tokens 10**30", _with(max_tokens=10**30), 400),
    Case("param: stop int", _with(stop=5), 400),
    Case("param: response_format string", _with(response_format="json"), 400),
    Case("param: logit_bias list", _with(logit_bias=[1, 2]), 400),
    Case("param: user int", _with(user=5), 400),
    # issue 23: tools are served now; logprobs is not (a routed answer carries text only)
    Case("param: unknown (logprobs)", _with(logprobs=True), 400, "unsupported_parameter"),
    Case("param: router's own (api_base)", _with(api_base="x"), 400, "unsupported_parameter"),
    Case("param: tools []", _with(tools=[]), 400),
    Case("param: tools of strings", _with(tools=["f"]), 400),
    Case("param: tool without a function", _with(tools=[{"type": "function"}]), 400),
    Case("param: tool_choice unknown", _with(tool_choice="sometimes"), 400),
    Case("param: parallel_tool_calls string", _with(parallel_tool_calls="yes"), 400),
    Case(
        "param: json_schema without a name",
        _with(response_format={"type": "json_schema", "json_schema": {}}),
        400,
    ),
    # empty, and nothing to route
    Case("empty: messages []", _with(messages=[]), 400),
    Case("empty: no messages", _j({"model": "ponder/auto"}), 400),
    Case("empty: model ''", _with(model=""), 400),
    Case("empty: no model", _j({"messages": VALID["messages"]}), 400),
    Case("empty: content ''", _user(""), 400),
    Case("empty: content whitespace", _user(" \n\t "), 400),
    Case("empty: only a system message", _with(messages=[{"role": "system", "content": "x"}]), 400),
    Case("empty: 1025 messages", _with(messages=[{"role": "user", "content": "x"}] * 1025), 400),
    # size
    Case("size: 1 MB message, under the limit", _message_of(MB), 200),
    Case("size: 1024 messages (the most)", _with(messages=[VALID["messages"][0]] * 1024), 200),
    Case("size: 40,000 text parts", _user([{"type": "text", "text": "six"}] * 40_000), 200),
    Case(
        "size: a 5,000-digit number",
        _with(max_tokens=0).replace(b": 0}", b": " + b"9" * 5000 + b"}"),
        400,
    ),
    Case("size: 2 MB message, over the limit", _message_of(2 * MB), 413, "request_too_large"),
    Case(
        "size: declared 10 GB",
        b"{}",
        413,
        "request_too_large",
        headers=(("content-type", "application/json"), ("content-length", str(10**10))),
        send="raw",
    ),
    Case(
        "size: 2 MB chunked, over the limit",
        _message_of(2 * MB),
        413,
        "request_too_large",
        send="chunked",
    ),
    # parsers
    Case("nesting: 10,000 levels", _nested(10_000), 400),
    Case("nesting: 100,000 levels", _nested(100_000), 400),
    Case("nesting: 10,000 objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400),
    Case("utf-8: invalid bytes in content", _user("xx").replace(b"xx", b"\xff\xfe\xc3\x28"), 400),
    Case("utf-8: overlong encoding", _user("xx").replace(b"xx", b"\xc0\xaf"), 400),
    Case("utf-8: lone surrogate escape", _user("xx").replace(b"xx", b"\\ud800"), 400),
    Case("utf-8: invalid bytes in model", _with(model="xx").replace(b"xx", b"\xff"), 400),
    # content type, framing
    Case("content-type: text/plain", _j(VALID), 400, headers=PLAIN),
    Case(
        "content-type: form",
        b"model=ponder/auto",
        400,
        headers=(("content-type", "application/x-www-form-urlencoded"),),
    ),
    Case("content-length: larger than the body", _j(VALID), 408, "timeout", send="short_body"),
    Case("content-length: smaller than the body", _j(VALID), 400, send="long_body"),
    Case("slow client: a byte at a time", _j(VALID), 408, "timeout", send="trickle"),
    # models
    Case("model: unknown", _with(model="gpt-unknown"), 404, "model_not_found"),
    Case("model: unknown profile", _with(model="ponder/nope"), 404, "model_not_found"),
    Case("model: ponder/", _with(model="ponder/"), 404, "model_not_found"),
    Case("model: 300 characters", _with(model="m" * 300), 400),
    # control headers
    *(
        Case(
            f"header: {name} {value!r}",
            _j(VALID),
            400,
            headers=(("content-type", "application/json"), (name, value)),
        )
        for name, value in (
            ("x-ponder-max-cost", "abc"),
            ("x-ponder-max-cost", "-1"),
            ("x-ponder-max-cost", "0"),
            ("x-ponder-max-cost", "nan"),
            ("x-ponder-max-cost", "inf"),
            ("x-ponder-max-cost", "1e308"),
            ("x-ponder-max-cost", ""),
            ("x-ponder-lam", "-1"),
            ("x-ponder-lam", "NaN"),
        )
    ),
    # auth
    Case("auth: missing", _j(VALID), 401, "invalid_api_key", auth=None),
    Case("auth: wrong key", _j(VALID), 401, "invalid_api_key", auth="Bearer sk-wrong"),
    Case("auth: empty bearer", _j(VALID), 401, "invalid_api_key", auth="Bearer ", send="raw"),
    Case("auth: basic scheme", _j(VALID), 401, "invalid_api_key", auth=f"Basic {KEY_A}"),
    Case("auth: key without scheme", _j(VALID), 401, "invalid_api_key", auth=KEY_A),
    Case("auth: latin-1 bytes", _j(VALID), 401, "invalid_api_key", auth="Bearer sk-\xe9\xff"),
    Case(
        "auth: missing, on /v1/models",
        b"",
        401,
        "invalid_api_key",
        auth=None,
        method="GET",
        path="/v1/models",
    ),
    # routes
    Case("method: GET chat", b"", 405, method="GET"),
    Case("method: PUT chat", _j(VALID), 405, method="PUT"),
    Case("path: unknown", _j(VALID), 404, "not_found", path="/v1/completions"),
)
