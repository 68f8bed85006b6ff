"""Revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.auth.conftest import ASSERTION_TYPE, FORM, ROOT, KeyPair, code_form, make_code
from zorgleefplan.auth.registry import App
from zorgleefplan.auth.services import AuthServices
from zorgleefplan.auth.tokens import TokenRevoked

pytestmark = pytest.mark.usefixtures("account")


async def patient_tokens(http: httpx.AsyncClient, auth: AuthServices, app: App) -> dict[str, Any]:
    code = await make_code(auth, app)
    r = await http.post("/oauth/token", data=code_form(app, code), headers=FORM)
    assert r.status_code == 200, r.text
    return r.json()


def backend_auth(app: App, key: KeyPair) -> dict[str, str]:
    return {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": key.assertion(app.client_id),
    }


async def introspect(http: httpx.AsyncClient, app: App, key: KeyPair, token: str) -> dict[str, Any]:
    r = await http.post(
        "/oauth/introspect", data={"token": token, **backend_auth(app, key)}, headers=FORM
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.json()


async def test_revoking_an_access_token_takes_effect_at_once(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    tokens = await patient_tokens(http, auth, public_app)
    access = tokens["access_token"]
    r = await http.post(
        "/oauth/revoke", data={"token": access, "client_id": public_app.client_id}, headers=FORM
    )
    assert r.status_code == 200
    with pytest.raises(TokenRevoked):
        auth.verifier.verify(access, issuer=ROOT, audience=ROOT + "/fhir")
    # The refresh token (another credential of the grant) still works.
    r = await http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": public_app.client_id,
        },
        headers=FORM,
    )
    assert r.status_code == 200


async def test_revoking_a_refresh_token_revokes_the_grant(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    tokens = await patient_tokens(http, auth, public_app)
    r = await http.post(
        "/oauth/revoke",
        data={
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": public_app.client_id,
        },
        headers=FORM,
    )
    assert r.status_code == 200
    with pytest.raises(TokenRevoked):
        auth.verifier.verify(tokens["access_token"], issuer=ROOT, audience=ROOT + "/fhir")
    r = await http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": public_app.client_id,
        },
        headers=FORM,
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_revocation_refusals_and_unknown_tokens(
    http: httpx.AsyncClient,
    auth: AuthServices,
    public_app: App,
    backend_app: App,
    backend_key: KeyPair,
) -> None:
    unknown = await http.post(
        "/oauth/revoke", data={"token": "nonsense", "client_id": public_app.client_id}, headers=FORM
    )
    assert unknown.status_code == 200
    no_token = await http.post(
        "/oauth/revoke", data={"client_id": public_app.client_id}, headers=FORM
    )
    assert no_token.status_code == 400 and no_token.json()["error"] == "invalid_request"
    tokens = await patient_tokens(http, auth, public_app)
    anonymous = await http.post(
        "/oauth/revoke", data={"token": tokens["access_token"]}, headers=FORM
    )
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    # Another client may not revoke this app's token.
    other = await http.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"], **backend_auth(backend_app, backend_key)},
        headers=FORM,
    )
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    auth.verifier.verify(tokens["access_token"], issuer=ROOT, audience=ROOT + "/fhir")


async def test_introspection_of_live_and_revoked_tokens(
    http: httpx.AsyncClient,
    auth: AuthServices,
    public_app: App,
    backend_app: App,
    backend_key: KeyPair,
) -> None:
    tokens = await patient_tokens(http, auth, public_app)
    live = await introspect(http, backend_app, backend_key, tokens["access_token"])
    assert live["active"] is True
    assert live["client_id"] == public_app.client_id and live["sub"] == "anna"
    assert live["patient"] == "p1" and live["fhirUser"] == "Patient/p1"
    assert live["token_type"] == "Bearer" and "patient/*.rs" in live["scope"].split()
    assert live["exp"] - live["iat"] == auth.settings.access_token_lifetime
    refresh = await introspect(http, backend_app, backend_key, tokens["refresh_token"])
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    await http.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "client_id": public_app.client_id},
        headers=FORM,
    )
    assert (await introspect(http, backend_app, backend_key, tokens["access_token"])) == {
        "active": False
    }
    assert (await introspect(http, backend_app, backend_key, tokens["refresh_token"])) == {
        "active": False
    }


async def test_introspection_of_forged_and_expired_tokens(
    http: httpx.AsyncClient, auth: AuthServices, backend_app: App, backend_key: KeyPair
) -> None:
    from zorgleefplan.auth import tokens as access_tokens
    from zorgleefplan.auth.keys import SigningKeys

    expired = access_tokens.issue(
        auth.keys,
        issuer=ROOT,
        audience=ROOT + "/fhir",
        subject="anna",
        client_id="x",
        scope="patient/*.rs",
        lifetime=60,
        now=1_000_000,
    ).token
    assert (await introspect(http, backend_app, backend_key, expired)) == {"active": False}
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as other_dir:
        forged = access_tokens.issue(
            SigningKeys.open(Path(other_dir)),
            issuer=ROOT,
            audience=ROOT + "/fhir",
            subject="anna",
            client_id="x",
            scope="patient/*.rs",
            lifetime=600,
        ).token
    assert (await introspect(http, backend_app, backend_key, forged)) == {"active": False}
    assert (await introspect(http, backend_app, backend_key, "garbage")) == {"active": False}


async def test_introspection_requires_client_authentication(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    tokens = await patient_tokens(http, auth, public_app)
    for data in (
        {"token": tokens["access_token"]},
        {"token": tokens["access_token"], "client_id": public_app.client_id},
    ):
        r = await http.post("/oauth/introspect", data=data, headers=FORM)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        assert "active" not in r.json()


async def test_confidential_app_introspects_only_its_own_tokens(
    http: httpx.AsyncClient,
    auth: AuthServices,
    public_app: App,
    confidential_app: App,
    app_key: KeyPair,
) -> None:
    others = await patient_tokens(http, auth, public_app)
    assert (await introspect(http, confidential_app, app_key, others["access_token"])) == {
        "active": False
    }
