"""The one declaration of OpenAI parameters (issue 21): the wire schema, the router's lists
and the library's check all agree with it, and no other module keeps a list of its own."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from pydantic import create_model

from ponder import Menu
from ponder import _openai_params as declared
from ponder.errors import RequestError, UnsupportedParameterError
from ponder.proxy._errors import ApiError
from ponder.proxy._wire import ChatRequest
from ponder.router._llm import request_params
from ponder.router._request import answer_tokens

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "What is 6 times 7?"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def test_the_wire_schema_is_the_declaration() -> None:
    """Every field of a proxy request is declared, every declared wire parameter is a
    field, and each passed one has the declared type and bounds in ``/openapi.json``."""
    schema = ChatRequest.model_json_schema()
    assert set(schema["properties"]) == declared.WIRE
    one = create_model("One", **declared.PASSED_FIELDS).model_json_schema()
    for name in declared.PASSED:
        assert schema["properties"][name] == one["properties"][name], name
    assert schema["properties"]["max_tokens"]["anyOf"][0] == {
        "type": "integer",
        "minimum": 1,
        "maximum": declared.INT32,
    }


def test_the_lists_are_derived() -> None:
    assert declared.ANSWER_KEYS == ("max_tokens", "max_completion_tokens")
    assert {"tools", "tool_choice", "parallel_tool_calls", "response_format"} <= declared.PASSED
    assert {"model", "n", "stream", "api_base", "input_cost_per_token"} <= declared.OWNED
    assert not declared.PASSED & declared.OWNED
    assert answer_tokens({"max_tokens": 5, "max_completion_tokens": 9, "seed": 99}) == 9
    # What litellm is handed: every passed parameter, none of the router's own.
    arm = Menu.parse({"arms": [{"model": "openai/x", "input_price": 1, "output_price": 1}]})
    everything = {name: 1 for name in declared.PASSED | declared.OWNED}
    assert set(request_params(arm.arms[0], everything)) == declared.PASSED


def _literal_names(node: ast.AST) -> set[str]:
    if isinstance(node, (ast.Set, ast.Tuple, ast.List)):
        return {
            e.value
            for e in node.elts
            if isinstance(e, ast.Constant) and e.value in declared.BY_NAME
        }
    return set()


def test_no_other_module_lists_parameters() -> None:
    """``git grep`` finds the parameter lists in one module: no other set, tuple or list
    literal in the package names two declared parameters."""
    found = []
    for path in sorted((ROOT / "ponder").rglob("*.py")):
        if path.name == "_openai_params.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = _literal_names(node)
            if len(names) >= 2:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {sorted(names)}")
    assert found == []


def _proxy_verdict(params: dict[str, Any]) -> bool:
    from pydantic import ValidationError

    try:
        body = {"model": "ponder/auto", "messages": MESSAGES, **params}
        ChatRequest.model_validate(body).openai_params()
    except (ValidationError, ApiError):
        return False
    return True


def _library_verdict(params: dict[str, Any]) -> bool:
    try:
        declared.check_params(params)
    except RequestError:
        return False
    return True


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"temperature": 0.5, "max_tokens": 10.0, "seed": -3},
        {"temperature": 5},
        {"temperature": float("nan")},
        {"top_p": 1.5},
        {"max_tokens": 0},
        {"max_tokens": 1.5},
        {"stop": ["a", "b"]},
        {"stop": 5},
        {"logit_bias": {"42": 100}},
        {"logit_bias": {"42": 101}},
        {"user": "x" * 257},
        {"tools": [TOOL], "tool_choice": "auto", "parallel_tool_calls": False},
        {"tools": []},
        {"tools": [{"type": "function"}]},
        {"tool_choice": {"type": "function", "function": {"name": "f"}}},
        {"tool_choice": "sometimes"},
        {"tool_choice": "auto"},
        {"parallel_tool_calls": True},
        {"tools": [TOOL], "tool_choice": "none"},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}},
        {"response_format": {"type": "xml"}},
        {"response_format": "json"},
        {"logprobs": True},
        {"functions": []},
        {"api_base": "http://elsewhere"},
        {"input_cost_per_token": 0.0},
    ],
)
def test_the_library_and_the_proxy_apply_one_rule(params: dict[str, Any]) -> None:
    assert _library_verdict(params) == _proxy_verdict(params)


def test_refusals_say_what_and_why() -> None:
    with pytest.raises(UnsupportedParameterError, match=r"logprobs.*supported: .*tools"):
        declared.check_params({"logprobs": True})
    with pytest.raises(UnsupportedParameterError, match=r"^n: set by the router.*samples"):
        declared.check_params({"n": 2})
    with pytest.raises(RequestError, match="temperature"):
        declared.check_params({"temperature": 3})
    # None means "not given", as an SDK sends it
    assert declared.check_params({"temperature": None, "max_tokens": 8.0}) == {"max_tokens": 8}


def test_what_a_request_needs_of_an_arm() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    assert declared.needs({}, MESSAGES) == frozenset()
    assert declared.needs({"tools": [TOOL]}, MESSAGES) == {"tools"}
    assert declared.needs({"response_format": {"type": "json_object"}}, MESSAGES) == frozenset()
    schema = {"type": "json_schema", "json_schema": {"name": "a"}}
    assert declared.needs({"response_format": schema}, MESSAGES) == {"json_schema"}
    parts = [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}]
    assert declared.needs({}, parts) == {"images"}
