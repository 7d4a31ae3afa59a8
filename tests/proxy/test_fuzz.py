"""Bad input against the proxy over real HTTP: schemathesis from the proxy's own OpenAPI
schema, then hand-made cases (malformed and hostile bodies, lying headers, a slow client).
Every answer must be a 4xx with an OpenAI error body, and the next valid request a 200.
``bench/bench_fuzz.py`` runs the same with more examples and prints the figures."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.proxy.fuzz_cases import CASES, CHAT, Case
from tests.proxy.fuzzing import (
    Target,
    fuzz_schema,
    running_proxy,
    send,
    slow_client_and_others,
    valid_request_ok,
)


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    with running_proxy(body_timeout=1.0, max_body_bytes=1_500_000) as t:
        yield t


def test_the_schema_describes_requests_auth_and_errors(target: Target) -> None:
    """What the fuzzer reads: without the body, the key and the error shape in the schema,
    schemathesis would only ever get 401s or flag every 400 as undocumented."""
    schema = httpx.get(f"{target.url}/openapi.json").json()
    op = schema["paths"][CHAT]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ChatRequest"}
    chat = schema["components"]["schemas"]["ChatRequest"]
    assert {"model", "messages", "stream", "ponder", "temperature", "stop"} <= set(
        chat["properties"]
    )
    assert chat["additionalProperties"] is False  # unknown parameters are refused
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert op["security"] == [{"HTTPBearer": []}]
    assert "422" not in op["responses"]  # FastAPI's default; the proxy answers 400
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for status in ("400", "401", "404", "408", "413", "429", "502", "504"):
        assert op["responses"][status]["content"]["application/json"]["schema"] == error
    assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_schemathesis_finds_no_failure(target: Target) -> None:
    tally = fuzz_schema(target, examples=40, seed=0)
    failures = {k: v[0][:600] for k, v in tally.failures.items()}
    assert not failures, failures
    assert tally.server_errors == 0 and tally.hangs == 0
    assert tally.recovered and all(tally.recovered.values()), tally.recovered
    op = f"POST {CHAT}"
    assert tally.cases[(op, "negative")] >= 30  # the schema gave the fuzzer a body to break
    # Positive cases reached the router and the upstream, not only the validators.
    assert tally.statuses[(op, "positive", 200)] > 0, tally.statuses
    assert tally.checks[(op, "response_schema_conformance")] >= 60


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_a_4xx_with_an_openai_error(target: Target, case: Case) -> None:
    outcome = send(target, case)
    assert outcome.problem is None, outcome.problem
    assert valid_request_ok(target), "the next valid request failed"


def test_a_slow_client_is_cut_off_while_others_are_served(target: Target) -> None:
    """A body trickled a byte every quarter of the timeout gets a 408 once the whole-body
    deadline passes (a per-read timeout would wait for ever); requests from others meanwhile
    are answered at once."""
    outcome, others = slow_client_and_others(target)
    assert outcome.status == 408 and outcome.problem is None, outcome.problem
    assert outcome.seconds < target.body_timeout + 2
    assert len(others) == 3 and max(others) < target.body_timeout, others
    assert valid_request_ok(target)
