"""The FHIR API as a resource server: no request without a valid bearer token, scopes as an
upper bound, and a client (Patient principal) confined to their own plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import mint_access_token
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.auth import tokens
from zorgleefplan.auth.keys import SigningKeys
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.store.model import AccessConstraint

ROOT = "http://test"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(settings: Settings, patient: str = "p1", **kwargs: Any) -> dict[str, str]:
    return bearer(mint_access_token(settings.data_dir, ROOT, patient=patient, **kwargs))


def goal(patient: str, text: str = "wandelen") -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": text},
        "subject": {"reference": f"Patient/{patient}"},
    }


@pytest.fixture
async def plans(app: FastAPI, secured_client: httpx.AsyncClient, settings: Settings) -> None:
    """Two clients with a Goal each, and a shared Practitioner (written as the development
    principal: clients cannot write directory data)."""
    repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())
    await repo.update("Practitioner", "dr1", {"resourceType": "Practitioner", "id": "dr1"})
    for patient in ("p1", "p2"):
        headers = token_for(settings, patient)
        r = await secured_client.put(
            f"/fhir/Patient/{patient}",
            json={"resourceType": "Patient", "id": patient},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        r = await secured_client.put(
            f"/fhir/Goal/g-{patient}", json={**goal(patient), "id": f"g-{patient}"}, headers=headers
        )
        assert r.status_code == 201, r.text


def challenge(response: httpx.Response) -> str:
    assert response.json()["resourceType"] == "OperationOutcome"
    return response.headers["WWW-Authenticate"]


# --------------------------------------------------------------------------- tokens


async def test_the_capability_statement_needs_no_token(secured_client: httpx.AsyncClient) -> None:
    r = await secured_client.get("/fhir/metadata")
    assert r.status_code == 200
    assert r.json()["resourceType"] == "CapabilityStatement"


@pytest.mark.parametrize(
    "path", ["/fhir/Patient/p1", "/fhir/Goal", "/fhir", "/fhir/_history", "/fhir/metadata/x"]
)
async def test_no_token_is_401_with_a_bare_challenge(
    secured_client: httpx.AsyncClient, path: str
) -> None:
    r = await secured_client.get(path)
    assert r.status_code == 401
    assert challenge(r) == 'Bearer realm="zorgleefplan"'


async def test_writes_and_bundles_need_a_token_too(secured_client: httpx.AsyncClient) -> None:
    r = await secured_client.post("/fhir/Goal", json=goal("p1"))
    assert r.status_code == 401
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    r = await secured_client.post("/fhir", json=bundle)
    assert r.status_code == 401


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "Bearer  x y"],
)
async def test_malformed_credentials_are_refused(
    secured_client: httpx.AsyncClient, authorization: str
) -> None:
    r = await secured_client.get("/fhir/Goal", headers={"Authorization": authorization})
    assert r.status_code in (400, 401)
    assert "error=" in challenge(r)


async def test_expired_wrong_issuer_wrong_audience_forged_and_revoked_tokens_are_refused(
    app: FastAPI, secured_client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    keys = SigningKeys.open(settings.data_dir)
    common: dict[str, Any] = {
        "subject": "Patient/p1",
        "client_id": "app",
        "scope": "patient/*.rs",
        "patient": "p1",
        "fhir_user": "Patient/p1",
    }
    expired = tokens.issue(
        keys, issuer=ROOT, audience=f"{ROOT}/fhir", lifetime=60, now=1_000_000, **common
    )
    wrong_issuer = tokens.issue(
        keys, issuer="http://elders", audience=f"{ROOT}/fhir", lifetime=60, **common
    )
    wrong_audience = tokens.issue(
        keys, issuer=ROOT, audience="http://elders/fhir", lifetime=60, **common
    )
    forged = tokens.issue(
        SigningKeys.open(tmp_path / "other"),
        issuer=ROOT,
        audience=f"{ROOT}/fhir",
        lifetime=60,
        **common,
    )
    for issued in (expired, wrong_issuer, wrong_audience, forged):
        r = await secured_client.get("/fhir/Goal", headers=bearer(issued.token))
        assert r.status_code == 401, issued.claims
        assert 'error="invalid_token"' in challenge(r)
    good = tokens.issue(keys, issuer=ROOT, audience=f"{ROOT}/fhir", lifetime=60, **common)
    assert (await secured_client.get("/fhir/Goal", headers=bearer(good.token))).status_code == 200
    app.state.auth.revoked.add(good.claims.token_id, good.claims.expires_at)
    r = await secured_client.get("/fhir/Goal", headers=bearer(good.token))
    assert r.status_code == 401
    assert 'error="invalid_token"' in challenge(r)


# --------------------------------------------------------------------------- scopes


@pytest.mark.usefixtures("plans")
async def test_scopes_bound_each_interaction(
    secured_client: httpx.AsyncClient, settings: Settings
) -> None:
    read_goals = token_for(settings, scope="patient/Goal.rs")
    assert (await secured_client.get("/fhir/Goal/g-p1", headers=read_goals)).status_code == 200
    assert (await secured_client.get("/fhir/Goal", headers=read_goals)).status_code == 200
    for method, path, body in (
        ("POST", "/fhir/Goal", goal("p1")),
        ("PUT", "/fhir/Goal/g-p1", {**goal("p1"), "id": "g-p1"}),
        ("DELETE", "/fhir/Goal/g-p1", None),
        ("GET", "/fhir/Patient/p1", None),
        ("GET", "/fhir/Patient", None),
    ):
        r = await secured_client.request(method, path, json=body, headers=read_goals)
        assert r.status_code == 403, (method, path)
        assert 'error="insufficient_scope"' in challenge(r)
    only_read = token_for(settings, scope="patient/Goal.r")
    r = await secured_client.get("/fhir/Goal", headers=only_read)
    assert r.status_code == 403  # search needs "s"


@pytest.mark.usefixtures("plans")
async def test_types_outside_the_scopes_never_appear_in_includes(
    secured_client: httpx.AsyncClient, settings: Settings
) -> None:
    goals_only = token_for(settings, scope="patient/Goal.rs")
    r = await secured_client.get("/fhir/Goal?_include=Goal:subject", headers=goals_only)
    assert r.status_code == 200
    types = [e["resource"]["resourceType"] for e in r.json()["entry"]]
    assert types == ["Goal"]
    wider = token_for(settings, scope="patient/Goal.rs patient/Patient.r")
    r = await secured_client.get("/fhir/Goal?_include=Goal:subject", headers=wider)
    assert sorted(e["resource"]["resourceType"] for e in r.json()["entry"]) == ["Goal", "Patient"]


@pytest.mark.usefixtures("plans")
async def test_bundle_entries_are_held_to_the_scopes(
    secured_client: httpx.AsyncClient, settings: Settings
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": goal("p1"), "request": {"method": "POST", "url": "Goal"}},
            {"request": {"method": "DELETE", "url": "Patient/p1"}},
        ],
    }
    headers = token_for(settings, scope="patient/Goal.cruds")
    r = await secured_client.post("/fhir", json=bundle, headers=headers)
    assert r.status_code == 403
    r = await secured_client.get("/fhir/Goal", headers=headers)
    assert r.json()["total"] == 1  # the transaction stored nothing


# --------------------------------------------------------------------------- the client's plan


@pytest.mark.usefixtures("plans")
async def test_a_client_sees_their_own_plan_and_shared_directory_data_only(
    secured_client: httpx.AsyncClient, settings: Settings
) -> None:
    mine = token_for(settings, "p1")
    r = await secured_client.get("/fhir/Goal?_total=accurate", headers=mine)
    assert [e["resource"]["id"] for e in r.json()["entry"]] == ["g-p1"]
    assert r.json()["total"] == 1
    assert (await secured_client.get("/fhir/Goal/g-p1", headers=mine)).status_code == 200
    assert (await secured_client.get("/fhir/Practitioner/dr1", headers=mine)).status_code == 200
    hidden = await secured_client.get("/fhir/Goal/g-p2", headers=mine)
    missing = await secured_client.get("/fhir/Goal/nonexistent", headers=mine)
    assert hidden.status_code == missing.status_code == 404
    assert "g-p2" not in hidden.text.replace("Goal/g-p2 is not known", "")
    r = await secured_client.get("/fhir/Goal/g-p2/_history", headers=mine)
    assert r.status_code == 404
    r = await secured_client.get("/fhir/_history", headers=mine)
    assert "p2" not in r.text


@pytest.mark.usefixtures("plans")
async def test_a_client_cannot_write_into_another_plan_or_directory_data(
    secured_client: httpx.AsyncClient, settings: Settings
) -> None:
    mine = token_for(settings, "p1")
    r = await secured_client.post("/fhir/Goal", json=goal("p2"), headers=mine)
    assert r.status_code == 403
    r = await secured_client.put("/fhir/Goal/g-p2", json={**goal("p1"), "id": "g-p2"}, headers=mine)
    assert r.status_code == 409  # p1 may create in their plan, but the id is taken: no overwrite
    r = await secured_client.put("/fhir/Goal/g-p2", json={**goal("p2"), "id": "g-p2"}, headers=mine)
    assert r.status_code == 403  # as for a missing id: p1 may not create in p2's plan
    r = await secured_client.put(
        "/fhir/Practitioner/dr2",
        json={"resourceType": "Practitioner", "id": "dr2"},
        headers=mine,
    )
    assert r.status_code == 403
    assert (await secured_client.delete("/fhir/Goal/g-p2", headers=mine)).status_code == 404
    theirs = token_for(settings, "p2")
    r = await secured_client.get("/fhir/Goal/g-p2", headers=theirs)
    assert r.status_code == 200 and r.json()["meta"]["versionId"] == "1"
