"""The wire formats the test upstream speaks: token counting, OpenAI and Anthropic error
bodies, and the checks a ``/v1/messages`` request must pass (Anthropic's thinking rules)."""

from __future__ import annotations

import re
from typing import Any

_ERROR_KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    503: ("server_error", "service_unavailable"),
}

_ANTHROPIC_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

THINKING_TEXT = "Let me work through this step by step before answering."
"""The thinking block content returned by ``/v1/messages`` when thinking is enabled."""

MIN_THINKING_BUDGET = 1024


def count_tokens(text: str) -> int:
    """Deterministic token count used for ``usage``: whitespace-separated words."""
    return len(text.split())


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    return sum(count_tokens(_message_text(m)) for m in messages)


def _anthropic_prompt_tokens(body: dict[str, Any]) -> int:
    system = body.get("system")
    system_text = _message_text({"content": system}) if system is not None else ""
    return count_tokens(system_text) + _prompt_tokens(body)


def _stream_pieces(text: str) -> list[str]:
    """Split content into word-sized deltas whose concatenation is exactly ``text``."""
    pieces = re.findall(r"\s*\S+\s*", text) if text.strip() else [text]
    return pieces or [""]


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error payload."""
    err_type, default_code = _ERROR_KINDS.get(status, ("api_error", "error"))
    return {
        "error": {
            "message": message,
            "type": err_type,
            "param": None,
            "code": code if code is not None else default_code,
        }
    }


def anthropic_error_body(status: int, message: str) -> dict[str, Any]:
    """An Anthropic-style error payload."""
    err_type = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": err_type, "message": message}}


def _anthropic_invalid(body: dict[str, Any]) -> str | None:
    """Why a ``/v1/messages`` body would be rejected with a 400, or ``None``."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        return "max_tokens: Field required"
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return f"max_tokens: must be a positive integer, got {max_tokens!r}"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required (a non-empty list)"
    if body.get("stream") is True:
        return "stream: streaming is not supported by FakeUpstream's /v1/messages"
    thinking = body.get("thinking")
    if thinking is None:
        return None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind in ("disabled", "adaptive"):
        return None
    if kind != "enabled":
        return f"thinking.type: expected 'enabled', 'disabled' or 'adaptive', got {kind!r}"
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        return "thinking.enabled.budget_tokens: Field required"
    if budget < MIN_THINKING_BUDGET:
        return (
            "thinking.enabled.budget_tokens: Input should be greater than or equal to "
            f"{MIN_THINKING_BUDGET}"
        )
    if budget >= max_tokens:
        return "`max_tokens` must be greater than `thinking.budget_tokens`"
    return None


def _thinking_enabled(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
