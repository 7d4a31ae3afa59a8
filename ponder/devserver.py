"""A tiny OpenAI-wire server to try ponder without provider keys (``ponder dev-upstream``).

``ponder ask``, ``ponder serve`` and :class:`~ponder.Router` call providers; a newcomer
without keys still wants to see a request go through, with its trace, costs and streams.
This server answers ``POST /v1/chat/completions`` (JSON, or server-sent events with
``"stream": true``, ``usage`` on the last chunk when ``stream_options.include_usage`` asks
for it) for any model name, deterministically, so votes agree and answers can be checked:

- arithmetic in the last user message is worked out (``What is 17 * 23?``: 391; ``plus``,
  ``minus``, ``times``, ``divided by`` and ``^`` are understood);
- ``Is <number or expression> prime?`` is answered (Miller-Rabin);
- anything else is echoed back;
- offered ``tools`` (and not told ``tool_choice: "none"``), it calls one: the one
  ``tool_choice`` names, else the first, with arguments filled from the tool's parameter
  schema (strings get the question, numbers the arithmetic's value); after a ``tool`` turn it
  answers with what the tool said (``The tool answered: ...``);
- asked for ``response_format`` ``json_schema``, it answers a JSON document of that schema
  (``json_object``: ``{"answer": ...}``).

Token counts are a quarter of the characters (ponder's own estimate), ``max_tokens`` cuts the
answer (``finish_reason: length``), and any key or none is accepted. Menus reach it through
litellm's ``hosted_vllm/`` provider (an OpenAI-compatible server that needs no key) with
``api_base: http://127.0.0.1:8001/v1``; see ``examples/local.yaml``. It is a toy: use
``tests/upstream.py`` to script answers and failures in tests.
"""

from __future__ import annotations

import ast
import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_MODELS = ("dev-small", "dev-large")
"""Listed by ``GET /v1/models``; any other name is answered all the same."""

_MAX_N = 16
_MAX_DIGITS = 1000  # results longer than this are not worked out (2^100000 would stall)
_MAX_EXPONENT = 4096
_WORDS = (
    (re.compile(r"\bplus\b", re.I), "+"),
    (re.compile(r"\bminus\b", re.I), "-"),
    (re.compile(r"\b(?:times|multiplied by)\b", re.I), "*"),
    (re.compile(r"\bdivided by\b", re.I), "/"),
    (re.compile(r"\bto the power of\b", re.I), "^"),
    (re.compile("[×·]"), "*"),
    (re.compile("÷"), "/"),
    (re.compile("[−–]"), "-"),
)
_RUN = re.compile(r"(?<![\w)])-?[\d.(][\d\s.+\-*/^()]*")  # a leading minus is a sign
_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


# --- answers -------------------------------------------------------------------------------
def answer(text: str) -> str:
    """The reply to one user message: arithmetic worked out, a primality question answered,
    anything else echoed."""
    asks_prime = re.search(r"\bprimes?\b", text, re.I) is not None
    found = _arithmetic(text, plain_numbers=asks_prime)
    if found is None:
        return f"Echo: {text.strip()}"
    expr, value = found
    shown = _show(value)
    if asks_prime and isinstance(value, int):
        verdict = _is_prime(value)
        head = f"{expr} = {shown}, which" if expr != shown else shown
        return (
            f"{head} is {'prime' if verdict else 'not prime'}. "
            f"The answer is {'yes' if verdict else 'no'}."
        )
    return f"{expr} = {shown}. The answer is {shown}."


def _arithmetic(text: str, *, plain_numbers: bool) -> tuple[str, int | float] | None:
    """The longest arithmetic expression in ``text`` and its value, or ``None``. A lone
    number counts only when ``plain_numbers`` (``Is 97 prime?``)."""
    for pattern, op in _WORDS:
        text = pattern.sub(op, text)
    runs = sorted((m.group().strip() for m in _RUN.finditer(text)), key=len, reverse=True)
    for run in runs:
        expr = run.rstrip(".").strip()
        has_op = re.search(r"\d\s*[+\-*/^]\s*-?[\d(]", expr) is not None
        if not expr or not (has_op or plain_numbers):
            continue
        value = _evaluate(expr)
        if value is not None:
            return expr, value
    return None


def _evaluate(expr: str) -> int | float | None:
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval")
        value = _node(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _node(node: ast.AST) -> int | float:
    """Numbers and + - * / ^ only: the server evaluates what clients send, never code."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise ValueError("not a number")
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _node(node.operand)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _node(node.left), _node(node.right)
        if isinstance(node.op, ast.Pow) and _too_large(left, right):
            raise ValueError("too large")
        value = _OPS[type(node.op)](left, right)
        if type(value) not in (int, float):  # (-8) ^ 0.5 is complex
            raise ValueError("not a real number")
        if isinstance(value, int) and value.bit_length() > _MAX_DIGITS * 3.33:
            raise ValueError("too large")
        return value
    raise ValueError("not arithmetic")


def _too_large(base: float, exponent: float) -> bool:
    if abs(exponent) > _MAX_EXPONENT:
        return True
    return abs(base) > 1 and exponent * math.log10(abs(base)) > _MAX_DIGITS


def _show(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def _is_prime(n: int) -> bool:
    """Miller-Rabin with the first twelve primes as bases: exact below 3.3e24."""
    if n < 2:
        return False
    bases = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    if n in bases:
        return True
    if any(n % p == 0 for p in bases):
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in bases:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def tokens(text: str) -> int:
    """A quarter of the characters, rounded up: ponder's own estimate of a token count."""
    return math.ceil(len(text) / 4)


# --- the wire --------------------------------------------------------------------------------
def _error(status: int, message: str, code: str) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


class _BadRequest(Exception):
    pass


def _text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _positive_int(body: dict[str, Any], key: str, default: int | None) -> int | None:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _BadRequest(f"'{key}' must be a positive integer, got {value!r}")
    return value


def _parse(raw: bytes) -> tuple[str, list[Any], int, int | None, bool, bool, dict[str, Any]]:
    """model, messages, n, max_tokens, stream, include_usage and the whole body;
    ``_BadRequest`` otherwise."""
    try:
        body = json.loads(raw or b"null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object")
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise _BadRequest("'model' must be a non-empty string")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("'messages' must be a non-empty list")
    if not all(isinstance(m, dict) for m in messages):
        raise _BadRequest("each message must be an object")
    n = _positive_int(body, "n", 1) or 1
    if n > _MAX_N:
        raise _BadRequest(f"'n' must be at most {_MAX_N}")
    max_tokens = _positive_int(body, "max_completion_tokens", None)
    max_tokens = _positive_int(body, "max_tokens", max_tokens)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _BadRequest("'stream' must be true or false")
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    tools = body.get("tools")
    if tools is not None and not (
        isinstance(tools, list) and tools and all(_function_name(t) for t in tools)
    ):
        raise _BadRequest("'tools' must be a non-empty list of {'type': 'function', ...}")
    return model, messages, n, max_tokens, stream, include_usage, body


def _function_name(tool: Any) -> str | None:
    function = tool.get("function") if isinstance(tool, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) and name else None


# --- tools and structured answers --------------------------------------------------------------
def _called_tool(body: dict[str, Any], messages: Sequence[Any]) -> dict[str, Any] | None:
    """The tool this request calls, or ``None``: one is called when tools are offered, the
    request does not say ``none``, and the conversation is not back from a tool already."""
    tools = body.get("tools")
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none" or messages[-1].get("role") == "tool":
        return None
    if isinstance(choice, dict):
        wanted = _function_name(choice)
        return next((t for t in tools if _function_name(t) == wanted), tools[0])
    return dict(tools[0])


def _instance(schema: Any, text: str, value: int | float | None, depth: int = 0) -> Any:
    """A value of the JSON ``schema``: strings are ``text``, numbers ``value`` (or 0),
    booleans true, the first of an ``enum``; every property of an object is filled."""
    if not isinstance(schema, dict) or depth > 16:
        return text
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        return {k: _instance(v, text, value, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [_instance(schema.get("items"), text, value, depth + 1)]
    if kind == "integer":
        return int(value) if isinstance(value, (int, float)) else 0
    if kind == "number":
        return value if value is not None else 0
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return text


def _value(text: str) -> int | float | None:
    found = _arithmetic(text, plain_numbers=True)
    return None if found is None else found[1]


def _structured(body: dict[str, Any], question: str, text: str) -> str:
    """``text`` as the response format asks: a JSON document of the schema, or as it is."""
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        return json.dumps({"answer": text})
    if kind != "json_schema":
        return text
    spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return json.dumps(_instance(schema or {"type": "object"}, text, _value(question)))


def _reply(
    messages: Sequence[Any], max_tokens: int | None, body: dict[str, Any] | None = None
) -> tuple[str, str, int, int]:
    """content, finish_reason, prompt tokens, completion tokens."""
    users = [m for m in messages if m.get("role") == "user"]
    question = _text(users[-1] if users else messages[-1])
    if messages[-1].get("role") == "tool":
        text = f"The tool answered: {_text(messages[-1]).strip()}"
    else:
        text = answer(question)
    text = _structured(body or {}, question, text)
    finish = "stop"
    if max_tokens is not None and tokens(text) > max_tokens:
        text, finish = text[: max_tokens * 4], "length"
    prompt = sum(tokens(_text(m)) for m in messages)
    return text, finish, prompt, tokens(text)


async def _chat(request: Request) -> Response:
    try:
        model, messages, n, max_tokens, stream, include_usage, body = _parse(await request.body())
    except _BadRequest as exc:
        return _error(400, str(exc), "invalid_request")
    tool = _called_tool(body, messages)
    if tool is not None:
        return _tool_call(model, tool, messages, stream, include_usage)
    text, finish, prompt, completion = _reply(messages, max_tokens, body)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion * n,
        "total_tokens": prompt + completion * n,
    }
    completion_id = f"chatcmpl-dev{uuid.uuid4().hex[:12]}"
    head = {"id": completion_id, "object": "chat.completion", "created": int(time.time())}
    head["model"] = model
    if not stream:
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish,
            }
            for i in range(n)
        ]
        return JSONResponse({**head, "choices": choices, "usage": usage})
    events = _events(head, text, finish, n, usage if include_usage else None)
    return StreamingResponse(events, media_type="text/event-stream")


async def _events(
    head: dict[str, Any], text: str, finish: str, n: int, usage: dict[str, int] | None
) -> AsyncIterator[str]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        payload = {**head, "object": "chat.completion.chunk", "choices": choices, **extra}
        return f"data: {json.dumps(payload)}\n\n"

    pieces = re.findall(r"\s*\S+\s*", text) or [text]
    for i in range(n):
        yield chunk(
            [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )
        for piece in pieces:
            yield chunk([{"index": i, "delta": {"content": piece}, "finish_reason": None}])
        yield chunk([{"index": i, "delta": {}, "finish_reason": finish}])
    if usage is not None:
        yield chunk([], usage=usage)
    yield "data: [DONE]\n\n"


def _tool_call(
    model: str, tool: dict[str, Any], messages: Sequence[Any], stream: bool, include_usage: bool
) -> Response:
    """An answer that calls ``tool`` with arguments filled from its parameter schema."""
    users = [m for m in messages if m.get("role") == "user"]
    question = _text(users[-1] if users else messages[-1]).strip()
    function = tool["function"]
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    arguments = json.dumps(_instance(schema, question, _value(question)))
    call_id = f"call_{uuid.uuid4().hex[:12]}"
    name = function["name"]
    prompt = sum(tokens(_text(m)) for m in messages)
    completion = tokens(name + arguments)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    head = {"id": f"chatcmpl-dev{uuid.uuid4().hex[:12]}", "created": int(time.time())}
    head["model"] = model
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    if not stream:
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}
        body = {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        return JSONResponse(body)

    async def events() -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
            choices = (
                [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
            )
            payload = {**head, "object": "chat.completion.chunk", "choices": choices, **extra}
            return f"data: {json.dumps(payload)}\n\n"

        opening = {**call, "index": 0, "function": {"name": name, "arguments": ""}}
        yield chunk({"role": "assistant", "content": None, "tool_calls": [opening]})
        for i in range(0, len(arguments), 16):
            piece = {"index": 0, "function": {"arguments": arguments[i : i + 16]}}
            yield chunk({"tool_calls": [piece]})
        yield chunk({}, "tool_calls")
        if include_usage:
            yield chunk(None, usage=usage)
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def create_app(models: Sequence[str] = DEFAULT_MODELS) -> Starlette:
    """The ASGI app; ``ponder dev-upstream`` serves it with uvicorn."""

    async def list_models(request: Request) -> Response:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "ponder-dev"} for m in models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        what = "not found" if status == 404 else "not allowed" if status == 405 else "failed"
        return _error(status, f"{request.method} {request.url.path}: {what}", str(status))

    return Starlette(
        routes=[
            Route("/v1/chat/completions", _chat, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={404: http_error, 405: http_error},
    )
