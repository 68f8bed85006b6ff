"""The patient-app flow end to end against a real ``zorgleefplan serve``, driven by a real OAuth
client library: authlib's AsyncOAuth2Client with PKCE S256 authorizes (the login and consent
pages are followed with form posts, as a browser would), exchanges the code, reads the client's
plan data with the bearer token, and refreshes."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from tests.support import PatientAppWorld, csrf_of, seed_patient_app, start_server

REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: the client reads the Location
WORLD = PatientAppWorld(
    redirect_uri=REDIRECT,
    patients=(
        {"resourceType": "Patient", "id": "p1", "name": [{"given": ["Anna"]}]},
        {"resourceType": "Patient", "id": "p2", "name": [{"given": ["Bert"]}]},
    ),
)
PASSWORD = WORLD.password
SCOPE = "openid fhirUser launch/patient offline_access patient/Patient.rs patient/CarePlan.rs"


async def pages(root: str, authorize_url: str) -> str:
    """Follow /oauth/authorize, log in, approve with remember; the app's callback URL."""
    async with httpx.AsyncClient(base_url=root, timeout=10) as browser:
        start = await browser.get(authorize_url)
        assert start.status_code == 303 and start.headers["location"] == "/oauth/login"
        login_page = await browser.get("/oauth/login")
        login = await browser.post(
            "/oauth/login",
            data={"username": "anna", "password": PASSWORD, "csrf": csrf_of(login_page.text)},
        )
        assert login.status_code == 303, login.text
        consent = await browser.get(login.headers["location"])
        assert "Mijn Dossier App" in consent.text
        decision = await browser.post(
            "/oauth/consent",
            data={"decision": "approve", "remember": "yes", "csrf": csrf_of(consent.text)},
        )
        assert decision.status_code == 303, decision.text
        return decision.headers["location"]


async def test_authlib_client_authorizes_reads_and_refreshes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    client_id = await seed_patient_app(data_dir, WORLD)
    server = start_server(data_dir)
    root = f"http://127.0.0.1:{server.port}"
    try:
        verifier = secrets.token_urlsafe(48)
        async with AsyncOAuth2Client(
            client_id=client_id,
            redirect_uri=REDIRECT,
            scope=SCOPE,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
            timeout=10,
        ) as app:
            url, state = app.create_authorization_url(
                f"{root}/oauth/authorize", code_verifier=verifier
            )
            callback = await pages(root, url)
            assert callback.startswith(REDIRECT + "?")
            assert f"state={state}" in callback
            token = await app.fetch_token(
                f"{root}/oauth/token",
                authorization_response=callback,
                state=state,
                code_verifier=verifier,
            )
            assert token["patient"] == "p1"
            assert token["fhirUser"] == "Patient/p1"
            assert "refresh_token" in token

            own = await app.get(f"{root}/fhir/Patient/p1")
            assert own.status_code == 200, own.text
            assert own.json()["id"] == "p1"
            other = await app.get(f"{root}/fhir/Patient/p2")
            assert other.status_code == 404  # another client's record stays hidden
            anonymous = httpx.get(f"{root}/fhir/Patient/p1")
            assert anonymous.status_code == 401

            first_refresh = token["refresh_token"]
            refreshed = await app.refresh_token(f"{root}/oauth/token")
            assert refreshed["access_token"] != token["access_token"]
            assert refreshed["refresh_token"] != first_refresh
            again = await app.get(f"{root}/fhir/Patient/p1")
            assert again.status_code == 200

            # The rotated-away refresh token is refused (reuse detection).
            with pytest.raises(OAuthError):
                await app.refresh_token(f"{root}/oauth/token", refresh_token=first_refresh)
    finally:
        server.stop()
