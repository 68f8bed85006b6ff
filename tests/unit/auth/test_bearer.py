"""Bearer header parsing and principals from token claims (zorgleefplan.auth.bearer), and the
401/403 challenges the OperationOutcome handler sends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from zorgleefplan.access.principal import Principal
from zorgleefplan.auth.bearer import principal_from_claims, token_from_header
from zorgleefplan.auth.tokens import AccessTokenClaims, TokenExpired
from zorgleefplan.errors import InsufficientScope, Unauthorized, ZlpError
from zorgleefplan.fhir.outcome import install_error_handlers

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


# --- the Authorization header ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN}", f"  Bearer {TOKEN} ", "Bearer a=="],
)
def test_bearer_token_is_taken_from_the_header(value: str) -> None:
    assert token_from_header(value) == value.split()[-1]


@pytest.mark.parametrize("value", [None, ""])
def test_missing_header_is_a_bare_challenge(value: str | None) -> None:
    with pytest.raises(Unauthorized) as caught:
        token_from_header(value)
    assert caught.value.status_hint == 401
    assert caught.value.error is None
    assert caught.value.www_authenticate == 'Bearer realm="zorgleefplan"'


@pytest.mark.parametrize(
    "value",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        TOKEN,
        f"Bearer {TOKEN} extra",
        f"Bearer {TOKEN},{TOKEN}",
        "Bearer a=b",
        'Bearer "quoted"',
        "Bearer tökén",
        f"Token {TOKEN}",
    ],
)
def test_malformed_header_is_invalid_request(value: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        token_from_header(value)
    assert caught.value.error == "invalid_request"
    assert caught.value.www_authenticate.startswith(
        'Bearer realm="zorgleefplan", error="invalid_request", error_description="'
    )


# --- principals -----------------------------------------------------------------------------


def _claims(**changes: Any) -> AccessTokenClaims:
    values: dict[str, Any] = {
        "issuer": "https://zorg.example",
        "subject": "account-7",
        "audience": ("https://zorg.example/fhir",),
        "client_id": "pgo-app",
        "scope": "patient/CarePlan.rs openid fhirUser launch/patient",
        "token_id": "jti-7",
        "issued_at": 1_800_000_000,
        "expires_at": 1_800_000_900,
        "kid": "kid-1",
        "patient": "p1",
        "fhir_user": "Patient/p1",
    }
    values.update(changes)
    return AccessTokenClaims(**values)


def test_patient_principal() -> None:
    principal = principal_from_claims(_claims())
    assert principal == Principal(
        kind="patient",
        subject="account-7",
        fhir_user="Patient/p1",
        patient="p1",
        client_id="pgo-app",
        scopes=frozenset({"patient/CarePlan.rs", "openid", "fhirUser", "launch/patient"}),
        token_id="jti-7",
    )


@pytest.mark.parametrize(
    ("fhir_user", "kind"),
    [
        ("RelatedPerson/r-1", "related-person"),
        ("Practitioner/dr.a", "practitioner"),
        ("PractitionerRole/9", "practitioner"),
    ],
)
def test_person_principals_by_fhir_user_type(fhir_user: str, kind: str) -> None:
    principal = principal_from_claims(
        _claims(fhir_user=fhir_user, organization="Organization/5", scope="user/CarePlan.rs")
    )
    assert principal.kind == kind
    assert principal.fhir_user == fhir_user
    assert principal.organization == "Organization/5"
    assert principal.patient == "p1"


def test_backend_service_principal() -> None:
    principal = principal_from_claims(
        _claims(
            subject="ehr-1",
            client_id="ehr-1",
            scope="system/CarePlan.rs system/Task.u",
            fhir_user=None,
            patient=None,
            organization="Organization/5",
        )
    )
    assert principal == Principal(
        kind="system",
        subject="ehr-1",
        client_id="ehr-1",
        scopes=frozenset({"system/CarePlan.rs", "system/Task.u"}),
        organization="Organization/5",
        token_id="jti-7",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"fhir_user": "Device/1"},
        {"fhir_user": "Patient"},
        {"fhir_user": "https://elsewhere.example/fhir/Patient/1"},
        {"fhir_user": "Patient/1/_history/2"},
        {"fhir_user": None},  # patient/ scopes and no user
        {"fhir_user": None, "scope": "system/CarePlan.rs"},  # a backend without organization
        {"fhir_user": None, "scope": "user/*.rs", "organization": "Organization/5"},
    ],
)
def test_tokens_naming_no_usable_principal_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized) as caught:
        principal_from_claims(_claims(**changes))
    assert caught.value.error == "invalid_token"


# --- the challenge reaches the client -------------------------------------------------------


def _app(error: ZlpError) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fail")
    async def fail() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "status", "challenge"),
    [
        (
            TokenExpired(),
            401,
            'Bearer realm="zorgleefplan", error="invalid_token", '
            'error_description="the access token has expired"',
        ),
        (
            Unauthorized("no token", error=None),
            401,
            'Bearer realm="zorgleefplan"',
        ),
        (
            InsufficientScope("no", scope="patient/Goal.u"),
            403,
            'Bearer realm="zorgleefplan", error="insufficient_scope", scope="patient/Goal.u"',
        ),
    ],
)
async def test_handler_sends_the_challenge_with_an_operation_outcome(
    error: ZlpError, status: int, challenge: str
) -> None:
    transport = httpx.ASGITransport(app=_app(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/fail")
    assert response.status_code == status
    assert response.headers["www-authenticate"] == challenge
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["diagnostics"] == error.diagnostics


async def test_other_errors_send_no_challenge() -> None:
    transport = httpx.ASGITransport(app=_app(ZlpError("bad")))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/fail")
    assert response.status_code == 400
    assert "www-authenticate" not in response.headers
