"""HTTP ⇄ FHIR: the ASGI app under ``/fhir``.

It only translates: read and limit the body, build a FhirRequest, hand it to the dispatcher
(or the bundle processor) with a repository bound to the requester, render the response.
Every interaction is listed in the OpenAPI document so it describes the real surface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from zorgleefplan.access.audit import AuditLog
from zorgleefplan.access.policy import AccessDecision
from zorgleefplan.access.principal import ANONYMOUS, Principal
from zorgleefplan.auth.bearer import principal_from_claims, token_from_header
from zorgleefplan.auth.services import AuthServices, public_root
from zorgleefplan.errors import InvalidRequest, ZlpError
from zorgleefplan.fhir.audit_trail import interaction_code, records_for
from zorgleefplan.fhir.body import (
    FORM,
    JSON_PATCH,
    JSON_TYPES,
    check_format,
    media_type,
    parse_json,
    read_body,
    require_media_type,
)
from zorgleefplan.fhir.break_glass import emergency_request, open_emergency_access
from zorgleefplan.fhir.bundle import process_bundle
from zorgleefplan.fhir.dispatch import dispatch
from zorgleefplan.fhir.interactions import Context
from zorgleefplan.fhir.outcome import FHIR_JSON, error_response, unexpected_error_response
from zorgleefplan.fhir.repository import FhirServices, Repository
from zorgleefplan.fhir.request import FhirRequest, FhirResponse, etag, http_date
from zorgleefplan.fhir.scope_gate import bounded_by_scopes
from zorgleefplan.store.model import AccessConstraint, StoredVersion

PREFIX = "/fhir"
_CONTENT_TYPE = f"{FHIR_JSON}; charset=utf-8"
_PATCH_TYPES = frozenset({JSON_PATCH, *JSON_TYPES})


PrincipalResolver = Callable[[Request], Awaitable[Principal]]


async def bearer_principal(request: Request) -> Principal:
    """The requester, from the bearer access token (401 when missing or not valid)."""
    auth: AuthServices = request.app.state.auth
    token = token_from_header(request.headers.get("authorization"))
    claims = auth.verifier.verify(
        token, issuer=auth.issuer(request), audience=auth.audience(request)
    )
    return principal_from_claims(claims)


def _is_metadata(request: Request) -> bool:
    # The CapabilityStatement is public: clients read it to find the authorization server.
    return request.method == "GET" and request.scope["path"].rstrip("/") == PREFIX + "/metadata"


def base_url(request: Request, services: FhirServices) -> str:
    return public_root(request, services.settings) + PREFIX


async def _fhir_request(request: Request, path: str, services: FhirServices) -> FhirRequest:
    settings = services.settings
    # Parsed as Starlette's query_params would, without building its multi-dict on every read
    query = request.scope["query_string"].decode("latin-1")
    params = tuple(parse_qsl(query, keep_blank_values=True))
    # ASGI header names are lower case already
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
    requested_format = next((v for k, v in reversed(params) if k == "_format"), None)
    check_format(requested_format, headers.get("accept"))
    body: Any = None
    kind = ""
    if request.method in ("POST", "PUT", "PATCH"):
        raw = await read_body(request, settings.max_body_bytes)
        is_search = path == "_search" or path.endswith("/_search")
        if is_search and media_type(headers.get("content-type")) == FORM:
            params = params + tuple(
                parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
            )
        elif not raw.strip():
            pass  # interactions that need a body say so (after the method is known to fit)
        else:
            allowed = _PATCH_TYPES if request.method == "PATCH" else JSON_TYPES
            kind = require_media_type(headers.get("content-type"), allowed)
            body = parse_json(raw, settings.max_json_depth)
    return FhirRequest(request.method, path, params, headers, body, kind)


class Reply:
    """A FHIR interaction's HTTP response as two raw ASGI messages (Starlette's Response
    rebuilds and rescans its header list, a measurable part of a read)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.body = body
        self.headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]
        if status >= 200 and status not in (204, 304):
            self.headers.append((b"content-length", str(len(body)).encode("latin-1")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def render(resp: FhirResponse, base: str) -> Reply:
    headers = dict(resp.headers)
    if resp.version is not None:
        headers["ETag"] = etag(resp.version.version)
        headers["Last-Modified"] = http_date(resp.version.last_updated)
    if resp.location:
        headers["Location"] = f"{base}/{resp.location}"
        headers["Content-Location"] = headers["Location"]
    if resp.status in (204, 304) or resp.body is None:
        return Reply(resp.status, headers, b"")
    content = resp.body if isinstance(resp.body, bytes) else orjson.dumps(resp.body)
    headers["Content-Type"] = _CONTENT_TYPE
    return Reply(resp.status, headers, content)


async def handle(
    request: Request, services: FhirServices, principal: Principal, audit: AuditLog
) -> Reply:
    path = request.scope["path"].removeprefix(PREFIX).strip("/")
    base = base_url(request, services)
    trail = _Trail(request, path, principal)
    try:
        req = await _fhir_request(request, path, services)
        trail.request = req
        emergency = emergency_request(req.headers)
        decision = await services.policy.decide(
            principal, emergency_patient=emergency.patient if emergency else None
        )
        trail.decision = decision
        if emergency is not None:
            await open_emergency_access(services, decision, emergency)
        access = bounded_by_scopes(decision.constraint, principal)
        repo = Repository(services, principal, access, decision=decision)
        ctx = Context(repo=repo, base=base)
        if path == "" and request.method == "POST":
            if req.body is None:
                raise InvalidRequest("POST to the base needs a batch or transaction Bundle")
            result = await process_bundle(req.body, req, ctx)
        else:
            result = await dispatch(req, ctx)
    except ZlpError as exc:
        await trail.record(audit, (), exc.status_hint, exc)
        raise
    await trail.record(audit, result.touched, result.status, None)
    return render(result, base)


class _Trail:
    """What the audit trail of one request needs, gathered as the request is handled."""

    def __init__(self, request: Request, path: str, principal: Principal) -> None:
        self.method = request.method
        self.path = path
        self.principal = principal
        self.request: FhirRequest | None = None
        self.decision: AccessDecision | None = None

    async def record(
        self,
        audit: AuditLog,
        touched: tuple[StoredVersion, ...],
        status: int,
        error: ZlpError | None,
    ) -> None:
        # The CapabilityStatement holds no personal data; the development principal is no
        # real actor (tests and tools build the app with it).
        if self.path == "metadata" or self.principal.kind == "development":
            return
        req = self.request
        body_type = req.body.get("type") if req and isinstance(req.body, dict) else None
        interaction = interaction_code(self.method, self.path, body_type)
        decision = self.decision or AccessDecision(self.principal, AccessConstraint(grants=()))
        records = records_for(
            decision,
            interaction,
            req.params if req else (),
            touched,
            status=status,
            error=error,
        )
        await audit.record_all(records)


class FhirApp:
    """The ASGI app serving ``/fhir``.

    Called by the application's front door (app.py) ahead of FastAPI's middleware and router:
    the FHIR dispatcher routes by path itself, and FastAPI's route matching, middleware and
    dependency solving cost more than the whole interaction on a read (measured with bench/).
    So it renders its own errors. The OpenAPI document still lists every operation.
    """

    def __init__(self, resolve_principal: PrincipalResolver) -> None:
        self._resolve_principal = resolve_principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        state = scope["app"].state
        response: ASGIApp
        try:
            metadata = _is_metadata(request)
            principal = ANONYMOUS if metadata else await self._resolve_principal(request)
            response = await handle(request, state.services, principal, state.audit)
        except ZlpError as exc:
            response = error_response(exc)
        except Exception as exc:
            response = unexpected_error_response(exc)
        await response(scope, receive, send)


def is_fhir_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


# (path, method, operation id, summary): one OpenAPI operation per interaction.
_ROUTES: list[tuple[str, str, str, str]] = [
    ("/metadata", "GET", "capabilities", "CapabilityStatement of this server"),
    ("", "GET", "search-system", "Search across all types"),
    ("", "POST", "batch-transaction", "Process a batch or transaction Bundle"),
    ("/_search", "POST", "search-system-post", "Search across all types (form-encoded)"),
    ("/_history", "GET", "history-system", "History of all resources"),
    ("/{resource_type}", "GET", "search-type", "Search one type"),
    ("/{resource_type}", "POST", "create", "Create (conditional with If-None-Exist)"),
    ("/{resource_type}", "PUT", "conditional-update", "Update the one resource matching"),
    ("/{resource_type}", "PATCH", "conditional-patch", "Patch the one resource matching"),
    ("/{resource_type}", "DELETE", "conditional-delete", "Delete the one resource matching"),
    ("/{resource_type}/_search", "POST", "search-type-post", "Search one type (form-encoded)"),
    ("/{resource_type}/_history", "GET", "history-type", "History of one type"),
    ("/{resource_type}/{id}", "GET", "read", "Read the current version"),
    ("/{resource_type}/{id}", "PUT", "update", "Update, or create with this id"),
    ("/{resource_type}/{id}", "PATCH", "patch", "JSON Patch or FHIRPath Patch"),
    ("/{resource_type}/{id}", "DELETE", "delete", "Delete (a versioned tombstone)"),
    ("/{resource_type}/{id}/_history", "GET", "history-instance", "History of one resource"),
    ("/{resource_type}/{id}/_history/{version_id}", "GET", "vread", "Read one version"),
]


def describe(app: FastAPI) -> None:
    """List the FHIR API at /fhir in the app's OpenAPI document."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build_openapi()
            document.setdefault("paths", {}).update(_openapi_paths())
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _openapi_paths() -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    for path, method, operation_id, summary in _ROUTES:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in ("resource_type", "id", "version_id")
            if "{" + name + "}" in path
        ]
        operation: dict[str, Any] = {
            "tags": ["FHIR"],
            "summary": summary,
            "operationId": operation_id,
            "responses": {
                "200": {"description": "FHIR resource or Bundle", "content": {FHIR_JSON: {}}},
                "4XX": {"description": "OperationOutcome", "content": {FHIR_JSON: {}}},
            },
        }
        if parameters:
            operation["parameters"] = parameters
        if method in ("POST", "PUT", "PATCH"):
            types = [JSON_PATCH, FHIR_JSON] if method == "PATCH" else [FHIR_JSON]
            if operation_id.endswith("-post"):
                types = [FORM]
            operation["requestBody"] = {"content": {t: {} for t in types}}
        paths.setdefault(PREFIX + path, {})[method.lower()] = operation
    return paths
