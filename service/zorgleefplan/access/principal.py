"""Who is asking: the principal every request carries.

Requests to the FHIR API resolve their principal from the bearer token (zorgleefplan.auth).
``ANONYMOUS`` is the requester of the few unauthenticated endpoints (the CapabilityStatement);
``DEVELOPMENT`` is unrestricted and reachable only by code that builds the app with it (tests
of FHIR behaviour, tools), never from a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PrincipalKind = Literal[
    "anonymous", "development", "patient", "related-person", "practitioner", "system"
]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    subject: str  # stable identifier of the person or system (account id, client id)
    display: str = ""
    fhir_user: str | None = None  # e.g. "Patient/123", "PractitionerRole/9"
    patient: str | None = None  # the client whose plan is in context
    client_id: str | None = None  # the app acting
    scopes: frozenset[str] = field(default_factory=frozenset)  # granted scope strings
    organization: str | None = None  # e.g. "Organization/5": a backend's or practitioner's org
    token_id: str | None = None  # jti of the access token the request carried


DEVELOPMENT = Principal(kind="development", subject="development", display="development principal")
ANONYMOUS = Principal(kind="anonymous", subject="anonymous", display="anonymous")
