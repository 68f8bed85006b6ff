"""The client's access log over FHIR: ``GET AuditEvent?patient=`` and ``GET AuditEvent/<id>``
for the client only, newest first and paged; AuditEvent is append-only (405 for every write
form); and the authorization server's events (login, token, consent decision) land in the right
client's log."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from tests.support import csrf_of, mint_access_token, s256
from zorgleefplan.access.audit import AuditLog, AuditRecord, render_row
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.auth import tokens
from zorgleefplan.auth.keys import SigningKeys
from zorgleefplan.auth.registry import new_account, new_app, utc_now
from zorgleefplan.config import Settings
from zorgleefplan.errors import StoreUnavailable
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.store.model import AccessConstraint

ROOT = "http://test"
REDIRECT = "http://localhost:8765/callback"
PASSWORD = "correct horse battery"
MARK = "Goal/audit-test-"  # entities of the records these tests seed


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def patient_token(settings: Settings, patient: str, **kwargs: Any) -> dict[str, str]:
    return bearer(mint_access_token(settings.data_dir, ROOT, patient=patient, **kwargs))


def practitioner_token(settings: Settings) -> dict[str, str]:
    return bearer(
        mint_access_token(
            settings.data_dir, ROOT, fhir_user="PractitionerRole/pr1", scope="user/*.cruds"
        )
    )


def backend_token(settings: Settings) -> dict[str, str]:
    issued = tokens.issue(
        SigningKeys.open(settings.data_dir),
        issuer=ROOT,
        audience=ROOT + "/fhir",
        subject="ehr-1",
        client_id="ehr-1",
        scope="system/*.cruds",
        lifetime=900,
        organization="Organization/o1",
    )
    return bearer(issued.token)


def audit(app: FastAPI) -> AuditLog:
    log: AuditLog = app.state.audit
    return log


@pytest.fixture
async def clients(app: FastAPI) -> None:
    repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())
    for pid in ("p1", "p2"):
        await repo.update("Patient", pid, {"resourceType": "Patient", "id": pid})


async def seed(app: FastAPI, patient: str, n: int) -> None:
    """``n`` records in ``patient``'s log, one after the other (so their order is known)."""
    for i in range(n):
        await audit(app).record(
            AuditRecord(
                action="R",
                subtype="read",
                who="PractitionerRole/pr1",
                client_id="ehr-1",
                patient=patient,
                entities=(f"{MARK}{patient}-{i}",),
                basis=("Consent/c1 provision[0]",),
            )
        )


def seeded(event: dict[str, Any]) -> str | None:
    for entity in event.get("entity", []):
        ref = entity.get("what", {}).get("reference", "")
        if ref.startswith(MARK):
            return str(ref.removeprefix(MARK))
    return None


async def whole_log(
    http: httpx.AsyncClient, headers: dict[str, str], patient: str, count: int
) -> tuple[list[dict[str, Any]], int]:
    """Every entry of the log, following next links; and how many pages that took."""
    events: list[dict[str, Any]] = []
    url: str | None = f"/fhir/AuditEvent?patient={patient}&_count={count}"
    pages = 0
    while url is not None:
        r = await http.get(url, headers=headers)
        assert r.status_code == 200, r.text
        bundle = r.json()
        assert bundle["type"] == "searchset"
        assert len(bundle.get("entry", [])) <= count
        events += [e["resource"] for e in bundle.get("entry", [])]
        pages += 1
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        if url is not None:
            assert "_cursor=" in url
            url = url.removeprefix(ROOT)
    return events, pages


# --------------------------------------------------------------------------- reading


async def test_a_client_reads_their_own_log_newest_first_in_pages(
    app: FastAPI, secured_client: httpx.AsyncClient, settings: Settings, clients: None
) -> None:
    await seed(app, "p1", 7)
    await seed(app, "p2", 2)
    headers = patient_token(settings, "p1")
    events, pages = await whole_log(secured_client, headers, "p1", 3)
    mine = [seeded(e) for e in events if seeded(e)]
    assert mine == [f"p1-{i}" for i in reversed(range(7))]
    assert pages >= 3
    assert all(e["resourceType"] == "AuditEvent" for e in events)
    patients = {
        ent["what"]["reference"]
        for e in events
        for ent in e.get("entity", [])
        if ent.get("role", {}).get("code") == "1"
    }
    assert patients == {"Patient/p1"}
    # The same log as Patient/p1, and one entry by id.
    r = await secured_client.get("/fhir/AuditEvent?patient=Patient/p1&_count=1", headers=headers)
    assert r.status_code == 200 and len(r.json()["entry"]) == 1
    first = events[0]
    r = await secured_client.get(f"/fhir/AuditEvent/{first['id']}", headers=headers)
    assert r.status_code == 200
    assert r.json() == first
    assert r.headers["ETag"] == 'W/"1"'


async def test_another_client_a_practitioner_and_a_backend_cannot_read_the_log(
    app: FastAPI, secured_client: httpx.AsyncClient, settings: Settings, clients: None
) -> None:
    await seed(app, "p1", 2)
    owner = patient_token(settings, "p1")
    events, _ = await whole_log(secured_client, owner, "p1", 50)
    entry_id = events[0]["id"]
    for headers in (
        patient_token(settings, "p2"),
        practitioner_token(settings),
        backend_token(settings),
    ):
        r = await secured_client.get("/fhir/AuditEvent?patient=p1", headers=headers)
        if r.status_code == 200:
            bundle = r.json()
            assert bundle.get("entry", []) == []
            assert bundle.get("total", 0) == 0
            assert "next" not in {link["relation"] for link in bundle["link"]}
        else:
            assert r.status_code == 403, r.text
        r = await secured_client.get(f"/fhir/AuditEvent/{entry_id}", headers=headers)
        assert r.status_code in (403, 404), r.text
        if r.status_code == 404:
            missing = await secured_client.get("/fhir/AuditEvent/nonexistent", headers=headers)
            assert missing.status_code == 404
            assert missing.json()["issue"][0]["code"] == r.json()["issue"][0]["code"]
    # A token without AuditEvent in its scopes does not open the log either.
    narrow = patient_token(settings, "p1", scope="launch/patient patient/Goal.rs")
    r = await secured_client.get("/fhir/AuditEvent?patient=p1", headers=narrow)
    assert r.status_code == 403


async def test_search_needs_the_patient_and_refuses_other_parameters(
    secured_client: httpx.AsyncClient, settings: Settings, clients: None
) -> None:
    headers = patient_token(settings, "p1")
    r = await secured_client.get("/fhir/AuditEvent", headers=headers)
    assert r.status_code == 400
    assert "patient" in r.json()["issue"][0]["diagnostics"]
    assert "required" in r.json()["issue"][0]["diagnostics"]
    r = await secured_client.get("/fhir/AuditEvent?patient=p1&action=R", headers=headers)
    assert r.status_code == 400
    lenient = {**headers, "Prefer": "handling=lenient"}
    r = await secured_client.get("/fhir/AuditEvent?patient=p1&action=R", headers=lenient)
    assert r.status_code == 200
    r = await secured_client.get("/fhir/AuditEvent?patient=p1&_cursor=garbage", headers=headers)
    assert r.status_code == 400


# --------------------------------------------------------------------------- append-only


def _bundle(kind: str, method: str, url: str, resource: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"request": {"method": method, "url": url}}
    if resource is not None:
        entry["resource"] = resource
        entry["fullUrl"] = "urn:uuid:" + secrets.token_hex(8)
    return {"resourceType": "Bundle", "type": kind, "entry": [entry]}


async def test_every_write_to_audit_event_is_405(
    app: FastAPI, secured_client: httpx.AsyncClient, settings: Settings, clients: None
) -> None:
    await seed(app, "p1", 1)
    headers = patient_token(settings, "p1")
    events, _ = await whole_log(secured_client, headers, "p1", 10)
    existing = events[0]
    id_ = existing["id"]
    event = {k: v for k, v in existing.items() if k not in ("id", "meta")}
    patch = [{"op": "replace", "path": "/outcome", "value": "0"}]
    patch_headers = {**headers, "Content-Type": "application/json-patch+json"}
    calls = [
        secured_client.post("/fhir/AuditEvent", json=event, headers=headers),
        secured_client.post(
            "/fhir/AuditEvent", json=event, headers={**headers, "If-None-Exist": "patient=p1"}
        ),
        secured_client.put(f"/fhir/AuditEvent/{id_}", json=existing, headers=headers),
        secured_client.put("/fhir/AuditEvent?patient=p1", json=event, headers=headers),
        secured_client.patch(f"/fhir/AuditEvent/{id_}", json=patch, headers=patch_headers),
        secured_client.patch("/fhir/AuditEvent?patient=p1", json=patch, headers=patch_headers),
        secured_client.delete(f"/fhir/AuditEvent/{id_}", headers=headers),
        secured_client.delete("/fhir/AuditEvent?patient=p1", headers=headers),
        secured_client.get(f"/fhir/AuditEvent/{id_}/_history", headers=headers),
        secured_client.get(f"/fhir/AuditEvent/{id_}/_history/1", headers=headers),
        secured_client.get("/fhir/AuditEvent/_history", headers=headers),
    ]
    for call in calls:
        r = await call
        assert r.status_code == 405, (r.request.method, str(r.request.url), r.text)
        outcome = r.json()
        assert outcome["resourceType"] == "OperationOutcome"
        if r.request.method != "GET":
            assert "append-only" in outcome["issue"][0]["diagnostics"]
    for kind in ("transaction", "batch"):
        for method, url, resource in (
            ("POST", "AuditEvent", event),
            ("PUT", f"AuditEvent/{id_}", existing),
            ("DELETE", f"AuditEvent/{id_}", None),
        ):
            r = await secured_client.post(
                "/fhir", json=_bundle(kind, method, url, resource), headers=headers
            )
            if kind == "transaction":
                assert r.status_code == 405, r.text
                assert "append-only" in r.json()["issue"][0]["diagnostics"]
            else:
                assert r.status_code == 200, r.text
                assert r.json()["entry"][0]["response"]["status"].startswith("405")
    # Nothing changed.
    r = await secured_client.get(f"/fhir/AuditEvent/{id_}", headers=headers)
    assert r.status_code == 200 and r.json() == existing


# --------------------------------------------------------------------------- authorization events


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ROOT) as c:
        yield c


async def register(app: FastAPI) -> str:
    auth = app.state.auth
    registered = new_app(
        name="Mijn Dossier App", kind="public", redirect_uris=[REDIRECT], created=utc_now()
    )
    await auth.registry.add_app(registered)
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    for username, link in (("anna", "Patient/p1"), ("bert", "Patient/p2")):
        await auth.registry.add_account(
            new_account(
                username=username,
                display_name=username.title(),
                fhir_users=[link],
                password_hash=hasher.hash(PASSWORD),
                created=utc_now(),
            )
        )
    return str(registered.client_id)


async def authorization_events(
    http: httpx.AsyncClient, settings: Settings, patient: str
) -> list[dict[str, Any]]:
    events, _ = await whole_log(http, patient_token(settings, patient), patient, 100)
    dcm = "http://dicom.nema.org/resources/ontology/DCM"
    return [e for e in events if (e["type"]["system"], e["type"]["code"]) == (dcm, "110114")]


def subtype(event: dict[str, Any]) -> str:
    return str(event["subtype"][-1]["code"])


async def test_login_token_and_consent_decision_land_in_the_clients_log(
    app: FastAPI,
    browser: httpx.AsyncClient,
    secured_client: httpx.AsyncClient,
    settings: Settings,
    clients: None,
) -> None:
    client_id = await register(app)
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid fhirUser launch/patient patient/*.rs",
        "state": "s1",
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    assert (await browser.get("/oauth/authorize", params=params)).status_code == 303
    csrf = csrf_of((await browser.get("/oauth/login")).text)
    # A wrong password first: someone tried to log in as anna.
    wrong = {"username": "anna", "password": "nope", "csrf": csrf}
    assert (await browser.post("/oauth/login", data=wrong)).status_code == 200
    right = {"username": "anna", "password": PASSWORD, "csrf": csrf}
    r = await browser.post("/oauth/login", data=right)
    assert r.status_code == 303 and r.headers["location"] == "/oauth/consent"
    csrf = csrf_of((await browser.get("/oauth/consent")).text)
    r = await browser.post("/oauth/consent", data={"decision": "approve", "csrf": csrf})
    assert r.status_code == 303, r.text
    (code,) = parse_qs(urlsplit(r.headers["location"]).query)["code"]
    token_form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    r = await browser.post("/oauth/token", data=token_form)
    assert r.status_code == 200, r.text
    # The same code again is refused, and that is recorded too (not in anyone's log).
    assert (await browser.post("/oauth/token", data=token_form)).status_code == 400

    events = await authorization_events(secured_client, settings, "p1")
    by_kind = {(subtype(e), e["outcome"]): e for e in events}
    assert set(by_kind) == {
        ("login", "4"),
        ("login", "0"),
        ("consent-decision", "0"),
        ("token", "0"),
    }
    # newest first: token, consent decision, login, failed login
    assert [subtype(e) for e in events] == ["token", "consent-decision", "login", "login"]
    assert [e["outcome"] for e in events][-2:] == ["0", "4"]

    failed = by_kind[("login", "4")]
    person = failed["agent"][0]
    assert person["who"]["identifier"]["value"] == "anna"
    body = orjson.dumps(events).decode()
    assert PASSWORD not in body and "nope" not in body and code not in body
    assert r.json().get("access_token", "x") not in body

    decision = by_kind[("consent-decision", "0")]
    assert decision["outcomeDesc"].startswith("approved: ")
    assert "patient/*.rs" in decision["outcomeDesc"]
    assert decision["agent"][0]["who"]["reference"] == "Patient/p1"
    apps = [a for a in decision["agent"] if a["type"]["coding"][0]["code"] == "110150"]
    assert apps[0]["who"]["identifier"]["value"] == client_id
    assert decision["entity"][0]["what"]["reference"] == "Patient/p1"

    issued = by_kind[("token", "0")]
    assert "authorization_code" in issued["outcomeDesc"]
    assert "patient/*.rs" in issued["outcomeDesc"]
    assert issued["agent"][0]["who"]["reference"] == "Patient/p1"
    assert issued["entity"][0]["what"]["reference"] == "Patient/p1"

    # Nothing of anna's landed in bert's log.
    assert await authorization_events(secured_client, settings, "p2") == []
    # The refused redemption is in the audit table, in nobody's log.
    store = app.state.services.store
    refused = [
        orjson.loads(render_row(r))
        for r in await _all_rows(store)
        if r.patient is None and b'"token"' in r.body
    ]
    assert any(e["outcome"] == "4" and "refused" in e["outcomeDesc"] for e in refused)


async def _all_rows(store: Any) -> list[Any]:
    """Every audit row, whichever client (read straight from the SQLite file)."""
    from zorgleefplan.store.model import AuditRow

    def query(conn: Any) -> list[AuditRow]:
        rows = conn.execute("SELECT id, recorded, patient, body FROM audit_event").fetchall()
        return [AuditRow(*row) for row in rows]

    return await store._on_reader(query)  # type: ignore[no-any-return]


async def test_a_consent_denial_is_recorded_for_the_client(
    app: FastAPI,
    browser: httpx.AsyncClient,
    secured_client: httpx.AsyncClient,
    settings: Settings,
    clients: None,
) -> None:
    client_id = await register(app)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "launch/patient patient/Goal.rs",
        "state": "s1",
        "code_challenge": s256("v" * 50),
        "code_challenge_method": "S256",
    }
    await browser.get("/oauth/authorize", params=params)
    csrf = csrf_of((await browser.get("/oauth/login")).text)
    await browser.post(
        "/oauth/login", data={"username": "bert", "password": PASSWORD, "csrf": csrf}
    )
    csrf = csrf_of((await browser.get("/oauth/consent")).text)
    r = await browser.post("/oauth/consent", data={"decision": "deny", "csrf": csrf})
    assert r.status_code == 303 and "access_denied" in r.headers["location"]
    events = await authorization_events(secured_client, settings, "p2")
    assert [subtype(e) for e in events] == ["consent-decision", "login"]
    assert events[0]["outcomeDesc"] == "denied: launch/patient patient/Goal.rs"
    assert await authorization_events(secured_client, settings, "p1") == []


async def test_when_the_audit_log_cannot_be_written_the_login_is_refused(
    app: FastAPI, browser: httpx.AsyncClient, clients: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id = await register(app)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "launch/patient patient/Goal.rs",
        "state": "s1",
        "code_challenge": s256("v" * 50),
        "code_challenge_method": "S256",
    }
    await browser.get("/oauth/authorize", params=params)
    csrf = csrf_of((await browser.get("/oauth/login")).text)

    async def broken(self: Any, rows: Any) -> None:
        raise StoreUnavailable("disk full")

    from zorgleefplan.store.sqlite import SqliteStore

    monkeypatch.setattr(SqliteStore, "append_audit", broken)
    r = await browser.post(
        "/oauth/login", data={"username": "anna", "password": PASSWORD, "csrf": csrf}
    )
    assert r.status_code == 503
    assert "location" not in r.headers
