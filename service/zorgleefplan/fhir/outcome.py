"""OperationOutcome: building them, and the single place errors become HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from zorgleefplan.errors import InsufficientScope, Unauthorized, ZlpError

FHIR_JSON = "application/fhir+json"
log = logging.getLogger("zorgleefplan")

# Statuses Starlette raises itself (unknown route, wrong method) and the FHIR issue code for each.
_HTTP_ISSUE_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly"}


def issue(
    severity: str, code: str, diagnostics: str, expression: list[str] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        entry["expression"] = expression
    return entry


def operation_outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_for_error(error: ZlpError) -> dict[str, Any]:
    issues = [issue(error.severity, error.issue_code, error.diagnostics, error.expression)]
    issues.extend(
        issue(e.severity, e.issue_code, e.diagnostics, e.expression) for e in error.issues
    )
    return operation_outcome(issues)


def information(diagnostics: str) -> dict[str, Any]:
    return operation_outcome([issue("information", "informational", diagnostics)])


def fhir_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def error_response(exc: ZlpError) -> Response:
    headers = None
    if isinstance(exc, Unauthorized | InsufficientScope):
        headers = {"WWW-Authenticate": exc.www_authenticate}
    return fhir_response(exc.status_hint, outcome_for_error(exc), headers=headers)


def unexpected_error_response(exc: Exception) -> Response:
    """A bug: logged in full, answered without details."""
    log.exception("unhandled error", exc_info=exc)
    return fhir_response(
        500,
        operation_outcome([issue("fatal", "exception", "internal error; it has been logged")]),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves the service as an OperationOutcome."""

    @app.exception_handler(ZlpError)
    async def _zlp(_: Request, exc: ZlpError) -> Response:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_ISSUE_CODES.get(exc.status_code, "processing")
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            detail = "no such endpoint; the FHIR API lives under /fhir"
        return fhir_response(
            exc.status_code,
            operation_outcome([issue("error", code, detail)]),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        issues = [
            issue(
                "error",
                "invalid",
                str(e.get("msg", "invalid value")),
                [".".join(str(p) for p in e.get("loc", ()))],
            )
            for e in exc.errors()
        ]
        return fhir_response(400, operation_outcome(issues))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        return unexpected_error_response(exc)
