"""Errors on the wire: every failure becomes an OpenAI-style error body with the right status.

Clients written against OpenAI branch on the status and on ``error.type`` / ``error.code``;
keeping that shape means they handle a budget refusal (429) or an upstream failure (502)
without knowing ponder exists.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ponder.errors import (
    BudgetExceededError,
    MenuError,
    NoArmFitsError,
    PonderError,
    ProviderError,
    RequestError,
    StoreUnavailable,
    UnknownModelError,
    UnsupportedParameterError,
)

log = logging.getLogger("ponder.proxy")


class ApiError(Exception):
    """An error the proxy answers with directly (auth, size, bad body)."""

    def __init__(self, status: int, message: str, type_: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code


class ErrorObject(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """The body of every failure, declared so that the OpenAPI schema promises it too."""

    error: ErrorObject


_MEANING = {
    400: "Malformed JSON, a wrong type or value, an unsupported parameter, no user text, "
    "or no arm fits the cost ceiling (code no_arm_fits)",
    401: "Missing or unknown proxy key",
    404: "Unknown model or routing profile",
    405: "Method not allowed",
    408: "The request body was not received in time",
    413: "The request body is larger than max_body_bytes",
    429: "A spending budget has no room for the request's ceiling",
    502: "Every arm tried failed at the provider",
    503: "The shared store (Redis) is unreachable",
    504: "The provider timed out",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, all with the error body."""
    return {s: {"model": ErrorResponse, "description": _MEANING[s]} for s in statuses}


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    type_: str,
    code: str | None = None,
    *,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    # A message may quote the request; a lone surrogate in it would fail to encode (a 500).
    message = message.encode("utf-8", "replace").decode("utf-8")
    param = None if param is None else param.encode("utf-8", "replace").decode("utf-8")
    return JSONResponse(
        error_body(message, type_, code, param), status_code=status, headers=headers
    )


def from_ponder(exc: PonderError) -> ApiError:
    """The status and OpenAI error type of one of ponder's typed errors."""
    if isinstance(exc, BudgetExceededError):
        return ApiError(429, str(exc), "insufficient_quota", "budget_exhausted")
    if isinstance(exc, UnknownModelError):
        return ApiError(404, str(exc), "invalid_request_error", "model_not_found")
    if isinstance(exc, NoArmFitsError):
        return ApiError(400, str(exc), "invalid_request_error", "no_arm_fits")
    if isinstance(exc, UnsupportedParameterError):
        return ApiError(400, str(exc), "invalid_request_error", "unsupported_parameter")
    if isinstance(exc, (RequestError, MenuError)):
        return ApiError(400, str(exc), "invalid_request_error", None)
    if isinstance(exc, ProviderError):
        if exc.timeout:
            return ApiError(504, str(exc), "upstream_error", "upstream_timeout")
        return ApiError(502, str(exc), "upstream_error", "upstream_failed")
    if isinstance(exc, StoreUnavailable):
        return ApiError(503, str(exc), "service_unavailable", "store_unavailable")
    return ApiError(500, str(exc), "server_error", None)


def install(app: FastAPI) -> None:
    """Register handlers so that no error leaves the proxy in another shape."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.type, exc.code)

    @app.exception_handler(PonderError)
    async def _ponder(_: Request, exc: PonderError) -> JSONResponse:
        e = from_ponder(exc)
        return error_response(e.status, e.message, e.type, e.code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The deepest error is the most specific: for a union (content is a string or a
        # list of parts) the first error is often "not a string" when the list was meant.
        errors = exc.errors() or [{"loc": (), "msg": "invalid request"}]
        first = max(errors, key=lambda e: len(e.get("loc", ())))
        parts = (str(x) for x in first.get("loc", ()) if x != "body")
        loc = ".".join(p for p in parts if "[" not in p)[:200]  # not union tags: list[Part]
        if first.get("type") == "json_invalid":  # FastAPI puts the position in loc
            why = (first.get("ctx") or {}).get("error", "JSON decode error")
            message, loc = f"the body is not valid JSON: {why} (at character {loc})", ""
        else:
            message = f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
        return error_response(400, message, "invalid_request_error", None, param=loc or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_ = "invalid_request_error" if exc.status_code < 500 else "server_error"
        code = "not_found" if exc.status_code == 404 else None
        # Keep the exception's headers: a 405 must say which methods are allowed.
        return error_response(exc.status_code, str(exc.detail), type_, code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")  # the traceback goes to the log, not the client
        return error_response(500, "internal error", "server_error", None)
