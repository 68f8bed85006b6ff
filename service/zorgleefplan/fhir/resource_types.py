"""The resource types this server serves (the zorgleefplan resource set)."""

from __future__ import annotations

SUPPORTED_TYPES: tuple[str, ...] = (
    "ActivityDefinition",
    "AuditEvent",
    "CarePlan",
    "CareTeam",
    "Communication",
    "Condition",
    "Consent",
    "Goal",
    "Organization",
    "Patient",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Provenance",
    "RelatedPerson",
    "Subscription",
    "Task",
)

SUPPORTED = frozenset(SUPPORTED_TYPES)

# Written by the server into an append-only log (fhir/audit_api.py): read and search only.
SERVER_WRITTEN = frozenset({"AuditEvent"})
