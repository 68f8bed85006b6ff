"""``POST [base]/Patient/[id]/$erase``: the client destroys their whole plan (vernietiging).

Seed 003 §2.2.2: the client may at any time see, copy and destroy the plan; WGBO art. 7:455.
Who may: the client, or their legal representative (see ``decide_erasure`` in the consent
engine for why a volmacht holder may not). The body is a Parameters resource whose ``confirm``
restates the plan being destroyed (``Patient/[id]``): the erasure cannot be undone.

Everything in the client's compartment goes in one store transaction — every version, every
index value, the Provenance — and the ids are never used again; resources outside the
compartment that refer into it (other clients' plans, shared directory data) are theirs and stay,
their references dangling. The audit record of the erasure is written in the same transaction
(so no erasure goes unrecorded) and kept, like the rest of the client's access log, for the
legal retention period; it says how much of each type went, never what it held.

Whoever may not erase gets 404 when they cannot see the client (the answer a client who never
existed gets) and 403 when they can. After the erasure every read is 404, not 410: no history
remains to say that something was there.
"""

from __future__ import annotations

from typing import Any

from zorgleefplan.access.audit import new_audit_id, to_row
from zorgleefplan.access.engine import WriteDecision, decide_erasure
from zorgleefplan.access.facts import ClientFacts
from zorgleefplan.errors import Forbidden, InvalidRequest, ResourceNotFound
from zorgleefplan.fhir.audit_trail import erasure_record
from zorgleefplan.fhir.everything import compartment_types
from zorgleefplan.fhir.interactions import Context
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.fhir.request import FhirRequest, FhirResponse
from zorgleefplan.fhir.scope_gate import check_scope
from zorgleefplan.plan.codes import CANONICAL_BASE
from zorgleefplan.store.model import AccessConstraint, Erasure

OPERATION = "$erase"
DEFINITION = f"{CANONICAL_BASE}/OperationDefinition/Patient-erase"
CONFIRM = "confirm"
_SERVER_WRITTEN = frozenset({"AuditEvent", "Provenance"})
_RESULT_PARAMS = frozenset({"_format", "_pretty"})


def _check_confirmation(req: FhirRequest, patient: str) -> None:
    """400 unless the body is Parameters with ``confirm`` = ``Patient/[id]`` and nothing else."""
    expected = f"Patient/{patient}"
    for key, _ in req.params:
        if key not in _RESULT_PARAMS:
            raise InvalidRequest(
                f"{OPERATION} takes its parameters in the body, not {key!r}", expression=[key]
            )
    asked = f"a Parameters body with parameter {CONFIRM!r}, valueString {expected!r}"
    body = req.body
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InvalidRequest(f"{OPERATION} needs {asked}", expression=["Parameters"])
    parameters = body.get("parameter")
    if not isinstance(parameters, list) or not parameters:
        raise InvalidRequest(f"{OPERATION} needs {asked}", expression=["Parameters.parameter"])
    for index, parameter in enumerate(parameters):
        path = f"Parameters.parameter[{index}]"
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if name != CONFIRM:
            raise InvalidRequest(
                f"{OPERATION} takes only the parameter {CONFIRM!r}, not {name!r}",
                expression=[f"{path}.name"],
            )
        if parameter.get("valueString") != expected:
            raise InvalidRequest(
                f"{CONFIRM} must be the string {expected!r}: the plan named in the request "
                "is destroyed for good",
                expression=[f"{path}.valueString"],
            )


def _decide(repo: Repository, patient: str) -> WriteDecision:
    decision = repo.decision
    if decision.constraint.is_unrestricted:  # the development principal: tools and tests
        return WriteDecision(True, (), "unrestricted")
    # No facts: the principal has no relation to this client at all.
    facts = decision.facts.get(patient) or ClientFacts(patient)
    return decide_erasure(repo.principal, facts, decision.now)


def _parameters(erasure: Erasure, audit_id: str) -> dict[str, Any]:
    erased = [
        {
            "name": "erased",
            "part": [
                {"name": "type", "valueCode": type_},
                {"name": "count", "valueInteger": count},
            ],
        }
        for type_, count in erasure.resources
    ]
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resources", "valueInteger": erasure.total},
            {"name": "versions", "valueInteger": erasure.versions},
            *erased,
            {"name": "auditEvent", "valueReference": {"reference": f"AuditEvent/{audit_id}"}},
        ],
    }


async def patient_erase(req: FhirRequest, ctx: Context, patient: str) -> FhirResponse:
    _check_confirmation(req, patient)
    repo = ctx.repo
    # The erasure deletes every type the client can write: the token must allow that.
    for type_ in compartment_types(repo.services.registry):
        if type_ not in _SERVER_WRITTEN:
            check_scope(repo.principal, type_, "d")
    decision = _decide(repo, patient)
    async with repo.services.store.transaction() as tx:
        if not decision.allowed:
            if await tx.read("Patient", patient, repo.access) is not None:
                raise Forbidden(decision.reason)
            raise ResourceNotFound(f"Patient/{patient} is not known")
        # A Patient that was deleted still anchors its history: that is erased too.
        if await tx.read("Patient", patient, AccessConstraint.unrestricted()) is None:
            raise ResourceNotFound(f"Patient/{patient} is not known")
        erasure = await tx.erase_compartment(patient)
        audit_id = new_audit_id()
        record = erasure_record(repo.decision, patient, decision.basis, erasure)
        tx.append_audit([to_row(record, audit_id)])
    return FhirResponse(200, body=_parameters(erasure, audit_id))
