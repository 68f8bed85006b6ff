"""Liveness and readiness: no token, no audit record, 503 with the reason when not ready."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import mint_access_token
from zorgleefplan import health
from zorgleefplan.config import Settings
from zorgleefplan.errors import StoreUnavailable
from zorgleefplan.store.model import AccessConstraint


async def test_live_needs_no_token(secured_client: httpx.AsyncClient) -> None:
    r = await secured_client.get("/health/live")
    assert r.status_code == 200
    assert r.json() == {"status": "pass"}
    assert r.headers["cache-control"] == "no-store"


async def test_ready_checks_the_store_and_the_keys(secured_client: httpx.AsyncClient) -> None:
    r = await secured_client.get("/health/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "pass", "checks": {"store": "pass", "signing-keys": "pass"}}


async def test_ready_is_503_with_the_reason_when_the_store_fails(
    app: FastAPI, secured_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("/secret/path/zorgleefplan.sqlite3: disk I/O error")

    monkeypatch.setattr(app.state.services.store, "read", broken)
    r = await secured_client.get("/health/ready")
    assert r.status_code == 503
    assert r.json() == {
        "status": "fail",
        "checks": {"store": "fail: not reachable", "signing-keys": "pass"},
    }
    # The details are for the log, not for an unauthenticated caller.
    assert "secret" not in r.text
    # Liveness does not depend on the store.
    assert (await secured_client.get("/health/live")).status_code == 200


async def test_ready_is_503_when_the_store_does_not_answer_in_time(
    app: FastAPI, secured_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hanging(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(60)

    monkeypatch.setattr(app.state.services.store, "read", hanging)
    monkeypatch.setattr(health, "STORE_TIMEOUT_S", 0.05)
    r = await secured_client.get("/health/ready")
    assert r.status_code == 503
    assert r.json()["checks"]["store"] == "fail: no answer within 0.05 s"


async def test_ready_is_503_when_the_signing_keys_cannot_be_read(
    app: FastAPI, secured_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable() -> None:
        raise ValueError("signing-keys.json holds no signing keys")

    monkeypatch.setattr(app.state.auth.keys, "signing_key", unreadable)
    r = await secured_client.get("/health/ready")
    assert r.status_code == 503
    assert r.json()["checks"] == {"store": "pass", "signing-keys": "fail: not loaded"}


async def test_the_probe_reads_nothing(app: FastAPI) -> None:
    # The readiness probe's lookup finds no resource, whatever is stored.
    store = app.state.services.store
    assert await store.read("Patient", health._PROBE_ID, AccessConstraint.unrestricted()) is None


async def test_health_requests_leave_no_audit_record(
    app: FastAPI, settings: Settings, secured_client: httpx.AsyncClient
) -> None:
    audit = app.state.audit
    # A FHIR request by a real patient is audited: the counter below does move.
    token = mint_access_token(settings.data_dir, "http://test", patient="p1")
    r = await secured_client.get("/fhir/Patient/p1", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404
    after_fhir = audit.batches
    assert after_fhir >= 1
    for path in ("/health/live", "/health/ready", "/health/ready"):
        assert (await secured_client.get(path)).status_code == 200
    assert audit.batches == after_fhir


def test_health_endpoints_are_in_the_openapi_document(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    assert set(paths["/health/live"]) == {"get"}
    assert set(paths["/health/ready"]) == {"get"}
    assert {"200", "503"} <= set(paths["/health/ready"]["get"]["responses"])
