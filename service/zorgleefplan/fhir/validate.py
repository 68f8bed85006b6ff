"""``$validate``: does a resource conform, without storing anything.

- ``POST [type]/$validate``: the body is the resource, or a Parameters resource with the
  parameters of http://hl7.org/fhir/OperationDefinition/Resource-validate (``resource``,
  ``mode``, ``profile``); ``mode`` and ``profile`` may also be query parameters.
- ``GET [type]/[id]/$validate``: the stored resource. ``POST [type]/[id]/$validate``: the
  resource in the body as a new version of [id], or without a body the stored one. [id] is read
  through the caller's repository: a resource they may not read answers as a missing one.

What is checked: structure and required bindings (``fhir/validation.py``), Dutch identifiers
and the project's profiles (``fhir/conformance.py``) — those the resource claims in
``meta.profile`` and the ``profile`` parameter. ``mode``: absent or ``create`` (the content, at
the type level), ``update`` (the content, and [id] — or the body's id at the type level — must
exist for the caller), ``delete`` (only that [id] exists for the caller), ``profile`` (the
content against the ``profile`` parameter). Who may make the write, and the plan's own write
rules, are decided when it is made, not here.

The answer is 200 with an OperationOutcome: the issues found, or one information issue saying
that there were none. A 4xx means the validation itself could not be done (a bad request, an
unknown ``profile``, an [id] the caller cannot see).
"""

from __future__ import annotations

from typing import Any

import orjson

from zorgleefplan.errors import InvalidRequest, InvalidResource, NotSupported
from zorgleefplan.fhir.conformance import ConformanceIssue
from zorgleefplan.fhir.interactions import Context
from zorgleefplan.fhir.outcome import issue, operation_outcome
from zorgleefplan.fhir.repository import FhirServices
from zorgleefplan.fhir.request import FhirRequest, FhirResponse
from zorgleefplan.fhir.scope_gate import check_scope

DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
MODES = frozenset({"create", "update", "delete", "profile"})
_QUERY = frozenset({"mode", "profile", "_format", "_pretty"})
_MODE_LETTERS = {"update": "u", "delete": "d"}  # beyond the operation's own letter

Json = dict[str, Any]


async def resource_validate(
    req: FhirRequest, ctx: Context, type_: str, id_: str | None
) -> FhirResponse:
    resource, mode, profile = _arguments(req, type_)
    if resource is None and id_ is None and mode != "delete":
        raise InvalidRequest(f"{type_}/$validate needs the resource in the body")
    services = ctx.repo.services
    if profile is not None and services.conformance.profiles.get(profile) is None:
        raise NotSupported(
            f"profile {profile} is not known to this server; it validates against its own "
            "profiles (see the CapabilityStatement's supportedProfile)",
            expression=["profile"],
        )
    if mode == "profile" and profile is None:
        raise InvalidRequest("mode profile needs the profile parameter", expression=["mode"])
    if mode in _MODE_LETTERS:
        check_scope(ctx.repo.principal, type_, _MODE_LETTERS[mode])
    target = _target(resource, mode, id_)
    stored = await ctx.repo.read(type_, target) if target is not None else None
    touched = (stored,) if stored is not None else ()
    if mode == "delete":
        assert stored is not None
        note = f"{type_}/{stored.id} exists; whether you may delete it is decided when you do"
        return FhirResponse(200, body=_outcome([], note), touched=touched)
    if resource is None:
        assert stored is not None  # without a body there is an [id]
        resource = orjson.loads(stored.body or b"{}")
    elif id_ is not None and resource.get("id") != id_:
        raise InvalidRequest(
            f"the resource id {resource.get('id')!r} must equal the id in the URL ({id_})",
            expression=[f"{type_}.id"],
        )
    found = _content_issues(services, resource, profile)
    return FhirResponse(200, body=_outcome(found, f"{type_} conforms"), touched=touched)


def _content_issues(services: FhirServices, resource: Json, profile: str | None) -> list[Json]:
    """OperationOutcome issues of the content: structure first (profiles and identifiers are
    checked on a structurally valid resource only)."""
    try:
        services.validator.validate(resource)
    except InvalidResource as exc:
        return [
            issue("error", e.issue_code, e.diagnostics, e.expression) for e in (exc, *exc.issues)
        ]
    return [_issue(i) for i in services.conformance.issues(resource, [profile] if profile else [])]


def _target(resource: Json | None, mode: str | None, id_: str | None) -> str | None:
    """The stored resource the validation is about: [id], or the body's id for an update at
    the type level."""
    if id_ is not None:
        if mode == "create":
            raise InvalidRequest("mode create is for [type]/$validate", expression=["mode"])
        return id_
    if mode == "delete":
        raise InvalidRequest("mode delete needs [type]/[id]/$validate", expression=["mode"])
    if mode == "update":
        body_id = resource.get("id") if resource is not None else None
        if not isinstance(body_id, str):
            raise InvalidRequest("mode update needs the resource's id", expression=["id"])
        return body_id
    return None


def _arguments(req: FhirRequest, type_: str) -> tuple[Json | None, str | None, str | None]:
    """(resource, mode, profile) from the query and the body."""
    for key, _ in req.params:
        if key not in _QUERY and not req.lenient:
            raise InvalidRequest(f"$validate does not take the parameter {key!r}", expression=[key])
    mode, profile = req.param("mode"), req.param("profile")
    body = req.body
    resource: Json | None = None
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        found = _parameters(body)
        resource = found.get("resource")
        mode = found.get("mode", mode)
        profile = found.get("profile", profile)
    elif isinstance(body, dict) and body.get("resourceType") == type_:
        resource = body
    elif body is not None:
        raise InvalidRequest(f"the body must be a {type_} or a Parameters resource")
    if resource is not None and resource.get("resourceType") != type_:
        raise InvalidRequest(f"the resource parameter must be a {type_}", expression=["resource"])
    if mode is not None and mode not in MODES:
        raise InvalidRequest(
            f"mode must be one of {', '.join(sorted(MODES))}, not {mode!r}", expression=["mode"]
        )
    return resource, mode, profile


# Parameter name -> the value elements it may use, and the JSON type of its value.
_PARAMETERS: dict[str, tuple[tuple[str, ...], type]] = {
    "resource": (("resource",), dict),
    "mode": (("valueCode",), str),
    "profile": (("valueUri", "valueCanonical"), str),
}


def _parameters(body: Json) -> dict[str, Any]:
    """resource, mode and profile from a Parameters body, each at most once."""
    found: dict[str, Any] = {}
    parameters = body.get("parameter", [])
    if not isinstance(parameters, list):
        raise InvalidRequest("Parameters.parameter must be an array", expression=["parameter"])
    for i, parameter in enumerate(parameters):
        name = parameter.get("name") if isinstance(parameter, dict) else None
        where = f"Parameters.parameter[{i}]"
        if name not in _PARAMETERS or name in found:
            raise InvalidRequest(
                f"$validate takes the parameters resource, mode and profile, each at most "
                f"once, not {name!r} here",
                expression=[where],
            )
        keys, kind = _PARAMETERS[name]
        values = [parameter[k] for k in keys if k in parameter]
        if len(values) != 1 or not isinstance(values[0], kind):
            raise InvalidRequest(f"{name} must be given as {' or '.join(keys)}", expression=[where])
        found[name] = values[0]
    return found


def _issue(found: ConformanceIssue) -> Json:
    return issue(found.severity, found.code, found.message, [found.expression])


def _outcome(issues: list[Json], fine: str) -> Json:
    if not any(i["severity"] in ("error", "warning") for i in issues):
        issues = [*issues, issue("information", "informational", f"No problems found: {fine}")]
    return operation_outcome(issues)
