"""``POST [base]/PlanDefinition/[id]/$apply``: a PlanDefinition's tasks for one client.

The body is a Parameters resource: ``subject`` (the client, ``Patient/<id>`` as a string or a
Reference), one Reference(Organization) per party role (``dossierhouder``, ``zorgkantoor``,
``onafhankelijke-clientondersteuner``; only the roles involved) and ``zorgbeeindiging``
(boolean). plan/placement.py decides which Tasks follow; here they are created in one store
transaction through the requester's repository, so the requester's write permission in the
client's plan applies to each Task and one refusal stores none. The answer is what R4 returns:
a CarePlan (not stored) whose one activity is a contained RequestGroup referencing the Tasks.

Every reference is resolved with the requester's access before anything is written: a client
they may not see answers as one that does not exist.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from zorgleefplan.access.principal import Principal
from zorgleefplan.errors import InvalidRequest, InvalidResource, ResourceGone, ResourceNotFound
from zorgleefplan.fhir.interactions import Context
from zorgleefplan.fhir.repository import Repository, new_id
from zorgleefplan.fhir.request import FhirRequest, FhirResponse
from zorgleefplan.plan import codes, placement

DEFINITION = f"{codes.CANONICAL_BASE}/OperationDefinition/PlanDefinition-apply"
SUBJECT = "subject"
_REFERENCE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})$")
# Who asks, as Task.requester may name them.
_REQUESTER_TYPES = frozenset(
    {"Patient", "RelatedPerson", "Practitioner", "PractitionerRole", "Organization"}
)


@dataclass
class _Given:
    subject: tuple[str, str] | None = None  # (reference, element path)
    parties: dict[str, tuple[str, str]] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)


async def plan_definition_apply(req: FhirRequest, ctx: Context, id_: str) -> FhirResponse:
    repo = ctx.repo
    given = _parameters(req, repo)
    definition: dict[str, Any] = orjson.loads(
        (await repo.read("PlanDefinition", id_)).body or b"{}"
    )
    if definition.get("status") != "active":
        raise InvalidResource(
            f"PlanDefinition/{id_} is {definition.get('status')!r}; only an active one is applied",
            expression=["PlanDefinition.status"],
        )
    if given.subject is None:
        raise InvalidRequest(
            "$apply needs the parameter subject (the client, Patient/<id>)",
            expression=["Parameters.parameter"],
        )
    for role in placement.REQUIRED_PARTIES:
        if role not in given.parties:
            raise InvalidRequest(
                f"$apply needs the parameter {role} (Reference to the Organization)",
                expression=["Parameters.parameter"],
            )
    await _resolve(repo, *given.subject, "Patient")
    for reference, path in given.parties.values():
        await _resolve(repo, reference, path, "Organization")
    application = placement.Application(
        subject=given.subject[0],
        parties={role: reference for role, (reference, _) in given.parties.items()},
        flags=given.flags,
        requester=_requester(repo.principal),
        authored=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        group=f"urn:uuid:{uuid.uuid4()}",
    )
    applied = placement.apply_plan(definition, application, new_id)
    async with repo.transaction() as tx_repo:
        stored = [await tx_repo.create(task, task["id"]) for task in applied.tasks]
    return FhirResponse(200, body=applied.care_plan, touched=tuple(stored))


def _parameters(req: FhirRequest, repo: Repository) -> _Given:
    body = req.body
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InvalidRequest("$apply takes a Parameters resource as its body")
    repo.services.validator.validate(body)
    given = _Given()
    seen: set[str] = set()
    for i, parameter in enumerate(body.get("parameter", [])):
        name = parameter.get("name")
        path = f"Parameters.parameter[{i}]"
        if name in seen:
            raise InvalidRequest(f"the parameter {name} is given twice", expression=[path])
        seen.add(name)
        if name == SUBJECT:
            given.subject = (_reference(parameter, path, "Patient"), path)
        elif name in placement.PARTY_ROLES:
            reference = _reference(parameter, path, "Organization")
            if reference in (r for r, _ in given.parties.values()):
                raise InvalidRequest(
                    f"{reference} cannot fill two roles; {name} must be another organisation",
                    expression=[path],
                )
            given.parties[name] = (reference, path)
        elif name in placement.FLAGS:
            value = parameter.get("valueBoolean")
            if not isinstance(value, bool):
                raise InvalidRequest(f"{name} must be a valueBoolean", expression=[path])
            given.flags[name] = value
        elif not req.lenient:
            known = ", ".join((SUBJECT, *placement.PARTY_ROLES, *placement.FLAGS))
            raise InvalidRequest(
                f"$apply does not take the parameter {name!r} here; it takes {known}",
                expression=[f"{path}.name"],
            )
    return given


def _reference(parameter: dict[str, Any], path: str, type_: str) -> str:
    """The relative reference of a parameter (valueReference, or valueString as R4 defines
    subject), which must point at a ``type_``."""
    if "valueReference" in parameter:
        value, here = parameter["valueReference"].get("reference"), f"{path}.valueReference"
    elif "valueString" in parameter:
        value, here = parameter["valueString"], f"{path}.valueString"
    else:
        raise InvalidRequest(
            f"{parameter.get('name')} must be a reference to a {type_}", expression=[path]
        )
    match = _REFERENCE.match(value) if isinstance(value, str) else None
    if match is None or match.group("type") != type_:
        raise InvalidRequest(
            f"{parameter.get('name')} must reference a {type_} as {type_}/<id>, not {value!r}",
            expression=[here],
        )
    return f"{type_}/{match.group('id')}"


async def _resolve(repo: Repository, reference: str, path: str, type_: str) -> None:
    """The reference must resolve with the requester's access (missing and hidden alike)."""
    try:
        await repo.read(type_, reference.split("/", 1)[1])
    except (ResourceNotFound, ResourceGone):
        raise InvalidResource(
            f"{reference} is not known", expression=[path], issue_code="not-found"
        ) from None


def _requester(principal: Principal) -> str | None:
    """The requester as a Task may name them: their FHIR user, a client's own Patient, or the
    organisation a backend acts for; the development principal is nobody."""
    if principal.kind == "system":
        return principal.organization
    user = principal.fhir_user or (f"Patient/{principal.patient}" if principal.patient else None)
    if principal.kind in ("patient", "related-person", "practitioner") and user:
        match = _REFERENCE.match(user)
        if match and match.group("type") in _REQUESTER_TYPES:
            return user
    return None
