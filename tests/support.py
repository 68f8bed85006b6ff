"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from zorgleefplan.auth import tokens
from zorgleefplan.auth.keys import SigningKeys

PATIENT_SCOPES = "launch/patient patient/*.cruds"


def mint_access_token(
    data_dir: Path,
    root: str,
    *,
    patient: str | None = None,
    scope: str = PATIENT_SCOPES,
    fhir_user: str | None = None,
    lifetime: int = 900,
    now: float | None = None,
    client_id: str = "test-app",
) -> str:
    """A real access token signed with the server's own key in ``data_dir``, as the token
    endpoint would issue it (tests of the resource server, not of the OAuth flows)."""
    return tokens.issue(
        SigningKeys.open(data_dir),
        issuer=root,
        audience=root + "/fhir",
        subject=fhir_user or f"Patient/{patient}",
        client_id=client_id,
        scope=scope,
        lifetime=lifetime,
        now=now,
        patient=patient,
        fhir_user=fhir_user or (f"Patient/{patient}" if patient else None),
    ).token
