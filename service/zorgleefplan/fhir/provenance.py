"""The Provenance the server writes with every change: who changed what, for whom, through
which app — in the same transaction as the change itself.

The Provenance belongs to the changed resource's client compartment (its ``patient`` search
parameter would put it nowhere when the target is not the Patient), so it is visible exactly
to those who may see that plan's provenance.
"""

from __future__ import annotations

from typing import Any

from zorgleefplan.access.principal import Principal
from zorgleefplan.store.model import StoredVersion

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
CLIENT_ID_SYSTEM = "urn:ietf:params:oauth:client-id"
_ACTIVITY = {"POST": "CREATE", "PUT": "UPDATE", "PATCH": "UPDATE", "DELETE": "DELETE"}


def provenance_for(
    principal: Principal,
    changed: StoredVersion,
    recorded: str,
    *,
    on_behalf_of: str | None,
) -> dict[str, Any]:
    """The Provenance of ``changed`` (a new version or a deletion) made by ``principal``."""
    author: dict[str, Any] = {
        "type": _participant("author", "Author"),
        "who": _who(principal),
    }
    if on_behalf_of:
        author["onBehalfOf"] = {"reference": on_behalf_of}
    agents = [author]
    if principal.organization and principal.fhir_user:
        agents.append(
            {
                "type": _participant("custodian", "Custodian"),
                "who": {"reference": principal.organization},
            }
        )
    if principal.client_id:
        agents.append(
            {
                "type": _participant("assembler", "Assembler"),
                "who": {
                    "identifier": {"system": CLIENT_ID_SYSTEM, "value": principal.client_id},
                    "display": "app",
                },
            }
        )
    activity = _ACTIVITY.get(changed.method, "UPDATE")
    return {
        "resourceType": "Provenance",
        "target": [{"reference": f"{changed.type}/{changed.id}/_history/{changed.version}"}],
        "recorded": recorded,
        "activity": {"coding": [{"system": DATA_OPERATION, "code": activity}]},
        "agent": agents,
    }


def _participant(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": PARTICIPANT_TYPE, "code": code, "display": display}]}


def _who(principal: Principal) -> dict[str, Any]:
    if principal.fhir_user:
        return {"reference": principal.fhir_user}
    if principal.organization:  # a backend acts for its organisation
        return {"reference": principal.organization}
    return {"display": principal.display or principal.subject}
