"""What the FHIR API records in the audit log (NEN 7513) for each request.

One record per client whose plan the response touched (so each client's access log shows it),
naming the resources of that client, the query, who asked through which app, on whose behalf,
and the basis of the decision; a request that touched no client's data is recorded once, in the
log of the client in the token's context (if any). Refusals are recorded too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import urlencode

from zorgleefplan.access.audit import ERASURE, NOTIFICATION, Action, AuditRecord, Outcome
from zorgleefplan.access.engine import Basis
from zorgleefplan.access.policy import AccessDecision
from zorgleefplan.access.principal import Principal
from zorgleefplan.access.subscriber import is_client_compartment
from zorgleefplan.errors import ZlpError
from zorgleefplan.store.model import Erasure, StoredVersion

SOURCE = "zorgleefplan-fhir"
MAX_ENTITIES = 100  # per record; a bigger page is recorded by its query

_ACTIONS: dict[str, Action] = {
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "history-type": "R",
    "history-system": "R",
    "search-type": "E",
    "search-system": "E",
    "create": "C",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "batch": "E",
    "transaction": "E",
    "operation": "E",
    NOTIFICATION: "R",  # a disclosure to the subscriber's endpoint
}
_TYPE_LEVEL = {"GET": "search-type", "POST": "create", "PUT": "update", "PATCH": "patch"}
_INSTANCE_LEVEL = {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def interaction_code(method: str, path: str, body_type: str | None = None) -> str:
    """The FHIR restful-interaction code of a request (path relative to the FHIR base)."""
    parts = [p for p in path.split("/") if p]
    if any(p.startswith("$") for p in parts):
        return "operation"
    match parts:
        case []:
            return "search-system" if method == "GET" else (body_type or "batch")
        case ["_search"]:
            return "search-system"
        case ["_history"]:
            return "history-system"
        case [_]:
            return _TYPE_LEVEL.get(method, "delete")
        case [_, "_search"]:
            return "search-type"
        case [_, "_history"]:
            return "history-type"
        case [_, _]:
            return _INSTANCE_LEVEL.get(method, "read")
        case [_, _, "_history"]:
            return "history-instance"
    return "vread"


def _reference(stored: StoredVersion) -> str:
    return f"{stored.type}/{stored.id}/_history/{stored.version}"


def _outcome(status: int) -> Outcome:
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def records_for(
    decision: AccessDecision,
    interaction: str,
    query: Sequence[tuple[str, str]],
    touched: Sequence[StoredVersion],
    *,
    status: int,
    error: ZlpError | None = None,
) -> list[AuditRecord]:
    """The audit records of one FHIR request."""
    principal = decision.principal
    by_client: dict[str | None, list[StoredVersion]] = {}
    for stored in touched:
        # A subscriber's own compartment (their Subscriptions) is no client's plan.
        client = stored.compartment if is_client_compartment(stored.compartment) else None
        by_client.setdefault(client, []).append(stored)
    clients = [c for c in by_client if c is not None] or [principal.patient]
    query_text = urlencode(list(query)) or None
    return [
        _record(
            principal,
            interaction,
            client,
            tuple(_reference(s) for s in by_client.get(client, ())[:MAX_ENTITIES]),
            query_text,
            decision,
            status,
            error,
        )
        for client in clients
    ]


def erasure_record(
    decision: AccessDecision, patient: str, basis: Sequence[Basis], erasure: Erasure
) -> AuditRecord:
    """The record of an erasure of ``patient``'s plan: who, for whom, on which basis, and how
    many resources and versions of each type went — never what they held."""
    record = _record(decision.principal, "operation", patient, (), None, decision, 200, None)
    return replace(
        record,
        action="D",
        subtype=ERASURE,
        basis=tuple(f"{b.kind} {b.reference}" for b in basis),
        details=(
            *((type_, str(count)) for type_, count in erasure.resources),
            ("resources", str(erasure.total)),
            ("versions", str(erasure.versions)),
        ),
    )


def _record(
    principal: Principal,
    interaction: str,
    client: str | None,
    entities: tuple[str, ...],
    query: str | None,
    decision: AccessDecision,
    status: int,
    error: ZlpError | None,
) -> AuditRecord:
    read = decision.reads.get(client or "")
    basis = tuple(
        f"{b.kind} {b.reference}" + (f" {b.path}" if b.path else "")
        for b in (read.basis if read else ())
    )
    return AuditRecord(
        action=_ACTIONS.get(interaction, "E"),
        subtype=interaction,
        outcome=_outcome(status),
        outcome_description=error.diagnostics if error else None,
        who=principal.fhir_user or principal.organization or principal.subject,
        who_display=principal.display or None,
        role=principal.fhir_user if principal.kind == "practitioner" else None,
        organization=principal.organization,
        client_id=principal.client_id,
        patient=client,
        on_behalf_of=read.on_behalf_of if read else None,
        entities=entities,
        query=query,
        purpose_of_use=("ETREAT",) if read and read.emergency else decision.purpose_of_use,
        basis=basis,
        source=SOURCE,
        emergency=bool(read and read.emergency),
    )
