"""Route a FhirRequest to its interaction by method and path (relative to the FHIR base)."""

from __future__ import annotations

import re

from zorgleefplan.errors import InvalidRequest, MethodNotAllowed, NotSupported, UnknownResourceType
from zorgleefplan.fhir import audit_api, operations
from zorgleefplan.fhir import interactions as i
from zorgleefplan.fhir.capability import capability_statement
from zorgleefplan.fhir.interactions import Context
from zorgleefplan.fhir.request import FhirRequest, FhirResponse
from zorgleefplan.fhir.resource_types import SUPPORTED, SUPPORTED_TYPES
from zorgleefplan.fhir.scope_gate import check_scope

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _check_type(type_: str) -> str:
    if type_ not in SUPPORTED:
        raise UnknownResourceType(
            f"resource type {type_!r} is not served here; supported types: "
            + ", ".join(SUPPORTED_TYPES)
        )
    return type_


def _check_id(id_: str) -> str:
    if not _ID.match(id_):
        raise InvalidRequest(f"{id_!r} is not a valid resource id", expression=["id"])
    return id_


# SMART permission letter per method at the type level and the instance level.
_TYPE_LETTERS = {"GET": "s", "POST": "c", "PUT": "u", "PATCH": "u", "DELETE": "d"}
_INSTANCE_LETTERS = {"GET": "r", "PUT": "u", "PATCH": "u", "DELETE": "d"}


def _refuse(method: str, allowed: str) -> MethodNotAllowed:
    return MethodNotAllowed(f"{method} is not allowed here; allowed: {allowed}")


async def dispatch(req: FhirRequest, ctx: Context) -> FhirResponse:
    """Perform one interaction. Bundles are handled by the caller (see fhir/bundle.py)."""
    parts = [p for p in req.path.split("/") if p] if req.path else []
    method = req.method
    if any(p.startswith("$") for p in parts):
        return await _operation(req, ctx, parts)
    match parts:
        case []:
            if method == "GET":
                check_scope(ctx.repo.principal, None, "s")
                return await i.search(req, ctx, None)
            raise _refuse(method, "GET, and POST for batch/transaction bundles")
        case ["metadata"]:
            if method == "GET":
                services = ctx.repo.services
                body = capability_statement(services.registry, ctx.base, services.started)
                return FhirResponse(200, body=body)
            raise _refuse(method, "GET")
        case ["_search"]:
            if method == "POST":
                check_scope(ctx.repo.principal, None, "s")
                return await i.search(req, ctx, None)
            raise _refuse(method, "POST")
        case ["_history"]:
            if method == "GET":
                check_scope(ctx.repo.principal, None, "s")
                return await i.history(req, ctx)
            raise _refuse(method, "GET")
        case ["AuditEvent", *rest]:
            return await _audit_event(req, ctx, rest)
        case [type_]:
            _check_type(type_)
            handler = {
                "GET": i.search,
                "POST": i.create,
                "PUT": i.conditional_update,
                "PATCH": i.conditional_patch,
                "DELETE": i.conditional_delete,
            }.get(method)
            if handler is None:
                raise _refuse(method, "GET, POST, PUT, PATCH, DELETE")
            check_scope(ctx.repo.principal, type_, _TYPE_LETTERS[method])
            return await handler(req, ctx, type_)
        case [type_, "_search"]:
            _check_type(type_)
            if method == "POST":
                check_scope(ctx.repo.principal, type_, "s")
                return await i.search(req, ctx, type_)
            raise _refuse(method, "POST")
        case [type_, "_history"]:
            _check_type(type_)
            if method == "GET":
                check_scope(ctx.repo.principal, type_, "s")
                return await i.history(req, ctx, type_)
            raise _refuse(method, "GET")
        case [type_, id_]:
            _check_type(type_)
            _check_id(id_)
            instance = {"GET": i.read, "PUT": i.update, "PATCH": i.patch, "DELETE": i.delete}
            handler = instance.get(method)
            if handler is None:
                raise _refuse(method, "GET, PUT, PATCH, DELETE")
            check_scope(ctx.repo.principal, type_, _INSTANCE_LETTERS[method])
            return await handler(req, ctx, type_, id_)
        case [type_, id_, "_history"]:
            _check_type(type_)
            _check_id(id_)
            if method == "GET":
                check_scope(ctx.repo.principal, type_, "r")
                return await i.history(req, ctx, type_, id_)
            raise _refuse(method, "GET")
        case [type_, id_, "_history", vid]:
            _check_type(type_)
            _check_id(id_)
            if method == "GET":
                check_scope(ctx.repo.principal, type_, "r")
                return await i.vread(req, ctx, type_, id_, vid)
            raise _refuse(method, "GET")
    raise InvalidRequest(f"/{req.path} is not a FHIR endpoint of this server")


async def _operation(req: FhirRequest, ctx: Context, parts: list[str]) -> FhirResponse:
    """``[type]/$name`` or ``[type]/[id]/$name``, from the table in fhir/operations.py."""
    match parts:
        case [type_, name] if name.startswith("$"):
            id_ = None
        case [type_, id_, name] if name.startswith("$"):
            _check_id(id_)
        case _:
            name = next(p for p in parts if p.startswith("$"))
            raise NotSupported(f"operation {name} is not supported at /{req.path}")
    _check_type(type_)
    op = operations.find(type_, id_ is not None, name[1:])
    if op is None:
        level = "instance" if id_ is not None else "type"
        raise NotSupported(f"operation {name} is not supported on {type_} at the {level} level")
    if req.method not in op.methods:
        raise _refuse(req.method, ", ".join(sorted(op.methods)))
    check_scope(ctx.repo.principal, op.scope_type, op.scope_letter)
    return await op.handler(req, ctx, id_)


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def _audit_event(req: FhirRequest, ctx: Context, rest: list[str]) -> FhirResponse:
    """AuditEvent: read and search only (the server writes the log; it has no history)."""
    method = req.method
    principal = ctx.repo.principal
    match rest:
        case []:
            if method == "GET":
                check_scope(principal, "AuditEvent", "s")
                return await audit_api.search(req, ctx)
        case ["_search"]:
            if method != "POST":
                raise _refuse(method, "POST")
            check_scope(principal, "AuditEvent", "s")
            return await audit_api.search(req, ctx)
        case ["_history", *_] | [_, "_history", *_]:
            if method == "GET":
                raise audit_api.no_history()
        case [id_]:
            _check_id(id_)
            if method == "GET":
                check_scope(principal, "AuditEvent", "r")
                return await audit_api.read(req, ctx, id_)
        case _:
            raise InvalidRequest(f"/{req.path} is not a FHIR endpoint of this server")
    if method in _WRITES:
        raise audit_api.append_only()
    raise _refuse(method, "GET")
