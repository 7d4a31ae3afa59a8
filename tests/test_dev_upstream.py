"""`ponder dev-upstream`: the answers it works out, its wire format as the official openai
client sees it over loopback, and its one-line errors."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI
from typer.testing import CliRunner

from ponder.cli import app
from ponder.devserver import DEFAULT_MODELS, answer, create_app, tokens
from tests.fakes.proxy_server import ProxyServer

runner = CliRunner()


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is 17 * 23?", "17 * 23 = 391. The answer is 391."),
        ("what is 6 times 7", "6 * 7 = 42. The answer is 42."),
        ("Compute (2 + 3) ^ 3 minus 25 divided by 5.", "(2 + 3) ^ 3 - 25 / 5 = 120."),
        ("What is 1/8?", "1/8 = 0.125."),
        ("What is -3 + 5?", "-3 + 5 = 2."),
        ("What is 2^-2?", "2^-2 = 0.25."),
        ("Is 2^61 - 1 prime?", "2^61 - 1 = 2305843009213693951, which is prime."),
        ("Is 2^61 + 1 prime?", "2^61 + 1 = 2305843009213693953, which is not prime."),
        ("Is 97 prime?", "97 is prime. The answer is yes."),
        ("Is 91 a prime number?", "91 is not prime. The answer is no."),
        ("Is 561 prime?", "561 is not prime."),  # a Carmichael number fools Fermat, not M-R
    ],
)
def test_answers_arithmetic_and_primes(question: str, expected: str) -> None:
    assert answer(question).startswith(expected)


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 1987 Tour de France?",  # a lone number is no sum
        "What is 2 ^ 100000?",  # too large to work out
        "What is 1 / 0?",
        "What is (-8) ^ 0.5?",  # not a real number
        "What is __import__('os')?",
    ],
)
def test_echoes_what_it_cannot_work_out(question: str) -> None:
    assert answer(question) == f"Echo: {question}"


@pytest.fixture(scope="module")
def server() -> Iterator[ProxyServer]:
    with ProxyServer(create_app()) as srv:
        yield srv


def test_chat_completion_with_usage(server: ProxyServer) -> None:
    client = OpenAI(base_url=server.base_url, api_key="anything", max_retries=0)
    question = "What is 12 * 12?"
    r = client.chat.completions.create(
        model="dev-small", messages=[{"role": "user", "content": question}]
    )
    content = r.choices[0].message.content
    assert content is not None and "144" in content
    assert r.model == "dev-small" and r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert r.usage.prompt_tokens == math.ceil(len(question) / 4)
    assert r.usage.completion_tokens == tokens(content)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    no_key = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "any-name", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert no_key.status_code == 200
    assert no_key.json()["choices"][0]["message"]["content"] == "Echo: hi"


def test_stream_matches_the_plain_answer(server: ProxyServer) -> None:
    client = OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Is 2^61 - 1 prime?"},
    ]
    plain = client.chat.completions.create(model="dev-large", messages=messages)  # type: ignore[arg-type]
    chunks = list(
        client.chat.completions.create(
            model="dev-large",
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    assert plain.usage is not None and plain.usage.prompt_tokens == tokens("Be brief.") + tokens(
        "Is 2^61 - 1 prime?"
    )
    bare = client.chat.completions.create(model="dev-large", messages=messages, stream=True)  # type: ignore[arg-type]
    assert all(c.usage is None for c in bare)


def test_max_tokens_cuts_and_n_repeats(server: ProxyServer) -> None:
    client = OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    r = client.chat.completions.create(
        model="dev-small",
        messages=[{"role": "user", "content": "Is 2^61 - 1 prime?"}],
        max_tokens=3,
        n=2,
    )
    assert [c.finish_reason for c in r.choices] == ["length", "length"]
    cut = answer("Is 2^61 - 1 prime?")[: 3 * 4]  # three tokens of four characters
    assert r.choices[0].message.content == r.choices[1].message.content == cut
    assert r.usage is not None and r.usage.completion_tokens == 2 * 3


def test_models_and_errors_in_openai_shape(server: ProxyServer) -> None:
    client = OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == list(DEFAULT_MODELS)
    url = f"{server.base_url}/chat/completions"
    for body, needle in [
        (b"{not json", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"model": "m"}', "'messages'"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 0}', "'n'"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": 1}', "stream"),
    ]:
        r = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, body
        assert needle in r.json()["error"]["message"]
    assert httpx.get(f"{server.url}/v2/nothing").json()["error"]["code"] == "404"
    assert httpx.get(url).status_code == 405


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = runner.invoke(app, ["dev-upstream", "--port", str(port)])
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "is another server on it? pick another --port"
    )
    res = runner.invoke(app, ["dev-upstream", "--host", "no-such-host.invalid"])
    assert res.exit_code == 2 and res.stderr.startswith("error: cannot listen on no-such-host")
    assert len(res.stderr.strip().splitlines()) == 1


def test_cli_import_stays_light() -> None:
    """`ponder --help` must not pay for the server: uvicorn and starlette load on use."""
    code = (
        "import sys; from ponder.cli import app; "
        "heavy = {'uvicorn', 'starlette', 'fastapi'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
        },
    },
}
SQUARE = {
    "type": "function",
    "function": {"name": "square", "parameters": {"type": "object", "properties": {}}},
}


def test_calls_the_tool_it_is_offered_and_answers_its_result(server: ProxyServer) -> None:
    client = OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    ask = [{"role": "user", "content": "What is 3 + 4?"}]
    r = client.chat.completions.create(model="dev-small", messages=ask, tools=[LOOKUP, SQUARE])  # type: ignore[arg-type,list-item]
    [call] = r.choices[0].message.tool_calls or []
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"query": "What is 3 + 4?", "limit": 7}  # type: ignore[union-attr]
    named = client.chat.completions.create(
        model="dev-small",
        messages=ask,  # type: ignore[arg-type]
        tools=[LOOKUP, SQUARE],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "square"}},
    )
    assert named.choices[0].message.tool_calls[0].function.name == "square"  # type: ignore[index,union-attr]
    none = client.chat.completions.create(
        model="dev-small",
        messages=ask,  # type: ignore[arg-type]
        tools=[LOOKUP],  # type: ignore[list-item]
        tool_choice="none",
    )
    assert none.choices[0].message.content == "3 + 4 = 7. The answer is 7."
    back = [
        *ask,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "seven"},
    ]
    final = client.chat.completions.create(model="dev-small", messages=back, tools=[LOOKUP])  # type: ignore[arg-type,list-item]
    assert final.choices[0].message.content == "The tool answered: seven"
    bad = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "m", "messages": ask, "tools": [{"type": "function"}]},
    )
    assert bad.status_code == 400 and "tools" in bad.json()["error"]["message"]


def test_answers_in_the_json_it_is_asked_for(server: ProxyServer) -> None:
    client = OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    ask = [{"role": "user", "content": "Is 97 prime?"}]
    schema = {
        "type": "object",
        "properties": {
            "prime": {"type": "boolean"},
            "n": {"type": "integer"},
            "verdict": {"type": "string", "enum": ["yes", "no"]},
            "why": {"type": "string"},
        },
    }
    r = client.chat.completions.create(
        model="dev-small",
        messages=ask,  # type: ignore[arg-type]
        response_format={"type": "json_schema", "json_schema": {"name": "v", "schema": schema}},
    )
    doc = json.loads(r.choices[0].message.content or "")
    assert doc == {"prime": True, "n": 97, "verdict": "yes", "why": answer("Is 97 prime?")}
    obj = client.chat.completions.create(
        model="dev-small",
        messages=ask,  # type: ignore[arg-type]
        response_format={"type": "json_object"},
    )
    assert json.loads(obj.choices[0].message.content or "") == {"answer": answer("Is 97 prime?")}
