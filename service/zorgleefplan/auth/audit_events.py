"""What the authorization server records in the audit log (NEN 7513): logins, token requests
(issued and refused) and the decisions on the consent screen.

Records go into the log of the client they concern, so the client sees them in their own
access log: a login into the account linked to Patient/x (also a failed one: someone tried),
a token that carries patient x, a decision for client x. Passwords, codes and tokens are never
recorded; scopes, grant types and the app are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from starlette.requests import Request

from zorgleefplan.access.audit import AuditLog, AuditRecord

SOURCE = "zorgleefplan-authorization-server"


def audit_log(request: Request) -> AuditLog:
    """The application's one AuditLog (built in the app lifespan, on ``app.state.audit``)."""
    return request.app.state.audit  # type: ignore[no-any-return]


def patient_id(reference: str | None) -> str | None:
    """ "Patient/x" → "x"; anything else → None."""
    if reference is None:
        return None
    type_, _, id_ = reference.partition("/")
    return id_ if type_ == "Patient" and id_ else None


def own_client(fhir_users: Iterable[str]) -> str | None:
    """The client an account is: its one Patient link (None for none or several)."""
    patients = [p for p in map(patient_id, fhir_users) if p is not None]
    return patients[0] if len(patients) == 1 else None


def login(
    *,
    username: str | None,
    display: str | None,
    fhir_users: Iterable[str],
    client_id: str | None,
    succeeded: bool,
    method: str,
) -> AuditRecord:
    return AuditRecord(
        action="E",
        subtype="login",
        outcome="0" if succeeded else "4",
        outcome_description=(
            f"{method} login succeeded" if succeeded else f"{method} login failed"
        ),
        who=username,
        who_display=display,
        client_id=client_id,
        patient=own_client(fhir_users),
        source=SOURCE,
    )


def consent_decision(
    *,
    username: str,
    display: str | None,
    acting_as: str | None,
    patient: str | None,
    client_id: str,
    scopes: Iterable[str],
    approved: bool,
    remember: bool,
) -> AuditRecord:
    client = patient_id(patient)
    proxy = acting_as is not None and not acting_as.startswith("Patient/")
    scope = " ".join(scopes)
    verdict = "approved" if approved else "denied"
    return AuditRecord(
        action="E",
        subtype="consent-decision",
        outcome="0",
        outcome_description=f"{verdict}: {scope}" + (" (remembered)" if remember else ""),
        who=acting_as or username,
        who_display=display,
        role=acting_as if acting_as and acting_as.startswith("PractitionerRole/") else None,
        client_id=client_id,
        patient=client,
        on_behalf_of=patient if proxy and client else None,
        basis=(f"account {username}",),
        source=SOURCE,
    )


def token_request(
    form: Mapping[str, str], status: int, body: Any, issued: Mapping[str, Any] | None
) -> AuditRecord:
    """A token request's outcome. ``issued`` is what the token endpoint stashed when it issued
    tokens (None when it refused)."""
    grant_type = form.get("grant_type") or "(none)"
    if issued is not None and status == 200:
        fhir_user = issued.get("fhir_user")
        patient = issued.get("patient")
        proxy = fhir_user is not None and patient and not fhir_user.startswith("Patient/")
        return AuditRecord(
            action="E",
            subtype="token",
            outcome="0",
            outcome_description=f"{grant_type}: access token issued for scope {issued['scope']}",
            who=fhir_user or issued.get("username"),
            role=fhir_user if fhir_user and fhir_user.startswith("PractitionerRole/") else None,
            organization=issued.get("organization"),
            client_id=issued["client_id"],
            patient=patient,
            on_behalf_of=f"Patient/{patient}" if proxy else None,
            source=SOURCE,
        )
    error = body.get("error", "error") if isinstance(body, dict) else "error"
    description = body.get("error_description") if isinstance(body, dict) else None
    return AuditRecord(
        action="E",
        subtype="token",
        outcome="8" if status >= 500 else "4",
        outcome_description=f"{grant_type}: refused ({error}"
        + (f": {description})" if description else ")"),
        client_id=form.get("client_id") or None,  # as claimed: the client was not accepted
        source=SOURCE,
    )
