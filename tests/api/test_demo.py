"""``zorgleefplan demo``: the network loads into a fresh data dir, loading again changes nothing,
and every printed login works — each account logs in through the pages of the demo app, the EHR
backend with the key in the data dir — and gets exactly what the client's consents promise."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.support import csrf_of, mint_access_token, s256
from zorgleefplan.app import create_app
from zorgleefplan.cli_demo import KEY_FILE, load_demo
from zorgleefplan.config import Settings
from zorgleefplan.plan import demo_network as demo

ROOT = "http://test"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PLAN = f"/fhir/CarePlan/{demo.PLAN}"
LOGINS = {login.username: login for login in demo.LOGINS}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application as served, on a data dir the demo was loaded into."""
    await load_demo(settings)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def _rows(settings: Settings) -> dict[str, int]:
    with sqlite3.connect(settings.database_path) as db:
        return {
            table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("resource_version", "auth_account", "auth_app")
        }


async def test_the_demo_loads_once_and_loading_again_changes_nothing(settings: Settings) -> None:
    first = await load_demo(settings)
    network = demo.demo_network(first.anchor)
    assert first.written == len(network.directory) + len(network.plan)
    assert first.new_accounts == tuple(LOGINS)
    key = (settings.data_dir / KEY_FILE).read_text()
    assert (settings.data_dir / KEY_FILE).stat().st_mode & 0o077 == 0
    before = _rows(settings)
    second = await load_demo(settings)
    assert (second.written, second.new_accounts, second.anchor) == (0, (), first.anchor)
    assert second.key_matches and (settings.data_dir / KEY_FILE).read_text() == key
    assert _rows(settings) == before
    # The client wrote her own plan: its Provenance names her, not a tool.
    with sqlite3.connect(settings.database_path) as db:
        bodies = [orjson.loads(b) for (b,) in db.execute(
            "SELECT body FROM resource_version WHERE type = 'Provenance'"
        )]  # fmt: skip
    assert len(bodies) == len(network.plan)
    assert {p["agent"][0]["who"]["reference"] for p in bodies} == {f"Patient/{demo.CLIENT}"}


@pytest.fixture
async def oauth(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the authorization server's endpoints (forms, no FHIR headers)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ROOT) as c:
        yield c


async def _log_in(app: FastAPI, oauth: httpx.AsyncClient, username: str) -> str:
    """The demo app's authorization code flow through the login and consent pages, as a
    browser follows it (with its own cookie jar); returns the access token."""
    login = LOGINS[username]
    verifier = secrets.token_urlsafe(48)
    (pgo, _) = demo.APPS
    params = {
        "response_type": "code",
        "client_id": pgo.client_id,
        "redirect_uri": demo.REDIRECT_URI,
        "scope": login.scope,
        "state": secrets.token_urlsafe(8),
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ROOT) as browser:
        start = await browser.get("/oauth/authorize", params=params)
        assert start.headers["location"] == "/oauth/login", start.text
        page = await browser.get("/oauth/login")
        form = {"username": username, "password": demo.PASSWORD, "csrf": csrf_of(page.text)}
        logged_in = await browser.post("/oauth/login", data=form)
        assert logged_in.status_code == 303, logged_in.text
        consent = await browser.get("/oauth/consent")
        assert login.name in consent.text
        decision = await browser.post(
            "/oauth/consent", data={"decision": "approve", "csrf": csrf_of(consent.text)}
        )
        assert decision.status_code == 303, decision.text
        callback = decision.headers["location"]
    assert callback.startswith(demo.REDIRECT_URI + "?")
    (code,) = parse_qs(urlsplit(callback).query)["code"]
    token = await oauth.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": demo.REDIRECT_URI,
            "client_id": pgo.client_id,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    assert token.json()["fhirUser"] == login.fhir_user
    return str(token.json()["access_token"])


async def _backend_token(oauth: httpx.AsyncClient, settings: Settings) -> str:
    private = json.loads((settings.data_dir / KEY_FILE).read_text())
    now = int(time.time())
    claims = {
        "iss": demo.EHR_APP,
        "sub": demo.EHR_APP,
        "aud": f"{ROOT}/oauth/token",
        "exp": now + 120,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    header = {"alg": "ES256", "kid": private["kid"], "typ": "JWT"}
    assertion = jwt.encode(header, claims, ECKey.import_key(private))
    token = await oauth.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "system/*.cruds",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


class Caller:
    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}

    async def ids(self, path: str) -> list[str]:
        r = await self.http.get(f"/fhir/{path}", headers=self.headers)
        assert r.status_code == 200, r.text
        return sorted(e["resource"]["id"] for e in r.json().get("entry", []))

    async def status(self, path: str) -> int:
        return (await self.http.get(f"/fhir/{path}", headers=self.headers)).status_code

    async def plan(self) -> dict[str, Any]:
        r = await self.http.get(PLAN, headers=self.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def put(self, resource: dict[str, Any]) -> int:
        path = f"/fhir/{resource['resourceType']}/{resource['id']}"
        return (await self.http.put(path, json=resource, headers=self.headers)).status_code


GOALS = ["demo-doel-huishouden", "demo-doel-mobiliteit", "demo-doel-pijn", "demo-doel-thuis"]
CONDITIONS = ["demo-artrose", "demo-heupfractuur"]
ACCESS_CONSENTS = [
    "demo-toegang-fysiotherapeut",
    "demo-toegang-gemeente",
    "demo-toegang-huisarts",
    "demo-toegang-thuiszorg",
]


async def test_the_client_and_her_daughter_log_in_and_act_on_the_plan(
    app: FastAPI, secured_client: httpx.AsyncClient, oauth: httpx.AsyncClient
) -> None:
    client = Caller(secured_client, await _log_in(app, oauth, "berends"))
    plan = await client.plan()
    assert plan["subject"] == {"reference": f"Patient/{demo.CLIENT}"}
    assert await client.ids("Consent") == sorted([*ACCESS_CONSENTS, demo.VOLMACHT])
    assert await client.status(f"AuditEvent?patient={demo.CLIENT}") == 200

    daughter = Caller(secured_client, await _log_in(app, oauth, "marieke"))
    assert await daughter.plan() == await client.plan()
    assert await daughter.ids("Goal") == GOALS
    volmacht = await daughter.http.get(f"/fhir/Consent/{demo.VOLMACHT}", headers=daughter.headers)
    earlier = {"start": "2000-01-01"}
    widened = {**volmacht.json(), "provision": {**volmacht.json()["provision"], "period": earlier}}
    assert await daughter.put(widened) == 403  # the volmacht is her mother's to change
    plan["description"] = "Bijgewerkt door Marieke namens haar moeder."
    assert await daughter.put(plan) == 200
    # Erasing the plan is not hers to do (a volmacht covers daden van beheer only).
    r = await secured_client.post(
        f"/fhir/Patient/{demo.CLIENT}/$erase",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "confirm", "valueString": f"Patient/{demo.CLIENT}"}],
        },
        headers=daughter.headers,
    )
    assert r.status_code == 403


async def test_each_professional_gets_what_the_consents_promise(
    app: FastAPI, secured_client: httpx.AsyncClient, oauth: httpx.AsyncClient, settings: Settings
) -> None:
    wijk = Caller(secured_client, await _log_in(app, oauth, "wijkverpleegkundige"))
    huisarts = Caller(secured_client, await _log_in(app, oauth, "huisarts"))
    wmo = Caller(secured_client, await _log_in(app, oauth, "wmo-consulent"))
    ehr = Caller(secured_client, await _backend_token(oauth, settings))

    # The regiebehandelaar: the plan, the network and the volmacht, not the access consents;
    # she updates the plan.
    plan = await wijk.plan()
    assert await wijk.ids("Goal") == GOALS
    assert await wijk.ids("CareTeam") == [demo.CARE_TEAM]
    assert await wijk.ids("Consent") == [demo.VOLMACHT]
    plan["activity"][-1]["detail"]["status"] = "in-progress"
    assert await wijk.put(plan) == 200

    # The huisarts: plan, goals, network and diagnoses; no consents, no naasten.
    assert (await huisarts.plan())["id"] == demo.PLAN
    assert await huisarts.ids("Condition") == CONDITIONS
    assert await huisarts.ids("CareTeam") == [demo.CARE_TEAM]
    assert await huisarts.ids("Consent") == []
    assert await huisarts.ids("RelatedPerson") == []
    # Not the regiebehandelaar nor the author: only her own activities are hers to change.
    assert await huisarts.put({**plan, "title": "Plan van de huisarts"}) == 403

    # The gemeente's Wmo-consulent: plan and goals, no diagnoses, read only.
    assert await wmo.ids("Goal") == GOALS
    assert await wmo.ids("Condition") == []
    assert await wmo.status("Condition/demo-artrose") == 404
    assert await wmo.put({**await wmo.plan(), "title": "Plan van de gemeente"}) == 403

    # The home-care EHR: what the consent names for its organisation, no diagnoses.
    assert (await ehr.plan())["id"] == demo.PLAN
    assert await ehr.ids("CareTeam") == [demo.CARE_TEAM]
    assert await ehr.ids("Condition") == []
    assert await ehr.ids("Consent") == []


async def test_the_checklist_of_the_demo_plan_is_sensible(app: FastAPI, settings: Settings) -> None:
    """The demo is a plan made with care: every item the data can speak to passes."""
    token = mint_access_token(
        settings.data_dir, ROOT, patient=demo.CLIENT, fhir_user=f"Patient/{demo.CLIENT}"
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as client:
        r = await client.get(f"{PLAN}/$checklist", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    items = [p for p in r.json()["parameter"] if p["name"] == "item"]
    verdicts = {
        _part(item, "id")["valueString"]: _part(item, "uitkomst")["valueCode"] for item in items
    }
    assert len(verdicts) == 34
    failed = sorted(k for k, v in verdicts.items() if v == "fail")
    assert failed == [], failed
    for item in ("001-regie-3", "003-zorgplan-e"):  # regiebehandelaar, coördinerend zorgverlener
        assert verdicts[item] == "pass", item


def _part(parameter: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in parameter["part"] if p["name"] == name)
