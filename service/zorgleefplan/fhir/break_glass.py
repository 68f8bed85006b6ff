"""Break-the-glass (seed 001: sharing without consent for a vital interest or a conflict of
duties): a practitioner names the client and gives a reason; the engine grants read-only access
to the emergency classes unless the client forbade it for them.

Each opening is recorded as a Communication in the client's plan, sent by the practitioner to
the client, their regiebehandelaar and their volmacht holder: it is the notification, it shows in
the client's plan, and it is the window — the access lasts ``Settings.break_glass_minutes`` from
it (see AccessPolicy) without the headers being sent again.

Headers: ``X-Break-The-Glass-Patient: <Patient id>`` and ``X-Break-The-Glass-Reason: <text>``
(both required together).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zorgleefplan.access.engine import people_to_notify
from zorgleefplan.access.policy import (
    BREAK_GLASS_CODE,
    BREAK_GLASS_SYSTEM,
    AccessDecision,
)
from zorgleefplan.errors import InvalidRequest
from zorgleefplan.fhir.repository import FhirServices, Repository, instant
from zorgleefplan.store.model import AccessConstraint

PATIENT_HEADER = "x-break-the-glass-patient"
REASON_HEADER = "x-break-the-glass-reason"
MAX_REASON = 1000
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class EmergencyRequest:
    patient: str
    reason: str


def emergency_request(headers: Mapping[str, str]) -> EmergencyRequest | None:
    """The break-the-glass request in the headers, if any (400 when half or malformed)."""
    patient = headers.get(PATIENT_HEADER, "").strip().removeprefix("Patient/")
    reason = headers.get(REASON_HEADER, "").strip()
    if not patient and not reason:
        return None
    if not patient or not reason:
        raise InvalidRequest(
            "break-the-glass needs both the client (X-Break-The-Glass-Patient) and a reason "
            "(X-Break-The-Glass-Reason)"
        )
    if not _ID.match(patient):
        raise InvalidRequest("X-Break-The-Glass-Patient is not a Patient id")
    if len(reason) > MAX_REASON:
        raise InvalidRequest(f"the break-the-glass reason is longer than {MAX_REASON} characters")
    return EmergencyRequest(patient, reason)


async def open_emergency_access(
    services: FhirServices, decision: AccessDecision, request: EmergencyRequest
) -> str | None:
    """Record and announce a new break-the-glass opening; returns the Communication id, or None
    when nothing was opened (refused by the client, not a practitioner, or already open)."""
    read = decision.reads.get(request.patient)
    if read is None or not read.emergency or request.patient in decision.open_emergencies:
        return None
    principal = decision.principal
    facts = decision.facts[request.patient]
    sent = instant(int(decision.now.timestamp() * 1_000_000))
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [
            {
                "coding": [
                    {
                        "system": BREAK_GLASS_SYSTEM,
                        "code": BREAK_GLASS_CODE,
                        "display": "Noodtoegang",
                    }
                ]
            }
        ],
        "priority": "urgent",
        "subject": {"reference": f"Patient/{request.patient}"},
        "sent": sent,
        "sender": {"reference": principal.fhir_user},
        "recipient": [{"reference": ref} for ref in people_to_notify(facts, decision.now)],
        "reasonCode": [
            {"coding": [{"system": ACT_REASON, "code": "ETREAT"}], "text": request.reason}
        ],
        "payload": [
            {
                "contentString": (
                    "Noodtoegang tot het zorgleefplan zonder toestemming vooraf, "
                    f"voor {services.settings.break_glass_minutes} minuten. Reden: {request.reason}"
                )
            }
        ],
    }
    # The server writes the record on the practitioner's behalf (they cannot write the plan).
    recorder = Repository(
        services,
        principal,
        AccessConstraint.unrestricted(),
        decision=AccessDecision.unrestricted(principal),
    )
    stored = await recorder.create(communication)
    return stored.id
