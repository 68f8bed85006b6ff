"""The authorization matrix over HTTP: principal x consent state x interaction, generated from
the rules (issue 4, the consent engine's docstring) and checked against an oracle written here,
independently of the implementation.

Every cell asserts the decision (allow or deny) and that nothing hidden leaks: no hidden id
anywhere in the response (paging cursors decoded), no hidden count in ``total``, the same status
and message shape for a hidden existing resource as for a missing one, and, for a refused write,
that nothing was stored (checked afterwards as the client).

One world per consent state for the reads (they never change it) and one for the writes (each
write cell gets its own fresh targets, so cells never see each other's changes). A test is one
interaction in one consent state; it runs every principal and reports every failing cell.
Break-the-glass is not wired into HTTP yet and is not part of the matrix.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
import pytest_asyncio
from fastapi import FastAPI

from tests.support import mint_access_token
from zorgleefplan.access import codes
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.app import create_app
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.store.model import AccessConstraint

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = "http://test"
FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
NOW_PERIOD = {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}
PAST_PERIOD = {"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"}
CELL_SYSTEM = "urn:zorgleefplan:test:cell"
MISSING_ID = "nergens-0000"  # never stored anywhere

# --------------------------------------------------------------------------- dimensions

STATES = ("none", "permit", "nested-deny", "expired", "revoked", "deny-actor")

# principal -> token claims (mint_access_token keyword arguments)
STAFF = "user/*.cruds"
PRINCIPALS: dict[str, dict[str, str]] = {
    "client-p1": {"patient": "p1"},
    "client-p2": {"patient": "p2"},
    "volmacht-active": {"fhir_user": "RelatedPerson/vm-active", "patient": "p1"},
    "volmacht-expired": {"fhir_user": "RelatedPerson/vm-expired", "patient": "p1"},
    "volmacht-revoked": {"fhir_user": "RelatedPerson/vm-revoked", "patient": "p1"},
    "mentor": {"fhir_user": "RelatedPerson/mentor", "patient": "p1"},
    "bewindvoerder": {"fhir_user": "RelatedPerson/bewind", "patient": "p1"},
    "regiebehandelaar": {
        "fhir_user": "PractitionerRole/pr-regie",
        "organization": "Organization/o-regie",
        "scope": STAFF,
    },
    "regie-ended": {
        "fhir_user": "PractitionerRole/pr-regie-old",
        "organization": "Organization/o-regie",
        "scope": STAFF,
    },
    "team-consented": {
        "fhir_user": "PractitionerRole/pr-team",
        "organization": "Organization/o-team",
        "scope": STAFF,
    },
    "team-unconsented": {
        "fhir_user": "PractitionerRole/pr-team2",
        "organization": "Organization/o-team",
        "scope": STAFF,
    },
    "outsider": {
        "fhir_user": "PractitionerRole/pr-out",
        "organization": "Organization/o-out",
        "scope": STAFF,
    },
    "backend-consented": {"organization": "Organization/o-ok", "scope": "system/*.cruds"},
    "backend-other": {"organization": "Organization/o-other", "scope": "system/*.cruds"},
}

# --------------------------------------------------------------------------- the oracle
# Written from the rules in issue 4 and the engine's docstring, not from its code.

PROXIES = frozenset({"volmacht-active", "mentor"})  # an active volmacht; a legal care role
# Who makes a Subscription in the world. The client's own lives in their plan; anyone else's in
# a compartment of its own ("own:<principal>" here), seen by nobody else.
SUBSCRIBERS = ("client-p1", "volmacht-active", "team-consented", "backend-consented")
OWN = "own:"
# The regiebehandelaar's standing read: the plan and its care network (and the client's active
# advance directives, the volmacht among them); not the access Consents, not Provenance.
REGIE_READ = frozenset(
    {"Patient", "CarePlan", "CareTeam", "Goal", "Task", "Condition", "Communication"}
    | {"RelatedPerson"}
)
REGIE_WRITE = frozenset({"CarePlan", "Task"})  # create and update, never delete
ACTIVE_DIRECTIVES = frozenset({("Consent", "volmacht-active")})
CONSENTED = frozenset({"team-consented", "backend-consented"})  # named in the access Consent
NAMED_IN_DENY = frozenset({"team-consented", "regiebehandelaar"})  # state deny-actor


def consent_classes(principal: str, state: str) -> frozenset[str]:
    """What the client's access Consents let a professional or backend read in p1's plan.
    The permit: Goal and CarePlan, action access; a nested deny takes Goal out; an expired or
    revoked permit gives nothing; a deny naming the actor wins over every permit."""
    if principal not in CONSENTED or state in ("none", "expired", "revoked"):
        return frozenset()
    if state == "deny-actor" and principal in NAMED_IN_DENY:
        return frozenset()
    if state == "nested-deny":
        return frozenset({"CarePlan"})
    return frozenset({"Goal", "CarePlan"})


def can_read(principal: str, state: str, type_: str, id_: str, compartment: str | None) -> bool:
    if compartment is None:
        return True  # directory data belongs to no client
    if compartment.startswith(OWN):
        return principal == compartment.removeprefix(OWN)  # someone's own Subscription
    if principal == "client-p2":
        return compartment == "p2"
    if compartment != "p1":
        return False
    if principal == "client-p1" or principal in PROXIES:
        return True
    if principal == "regiebehandelaar" and state != "deny-actor":
        return type_ in REGIE_READ or (type_, id_) in ACTIVE_DIRECTIVES
    return type_ in consent_classes(principal, state)


def can_write(principal: str, state: str, action: str, type_: str) -> bool:
    """For Goal and CarePlan of p1 (the types the write cells touch)."""
    if principal == "client-p1" or principal in PROXIES:
        return True
    if principal == "regiebehandelaar" and state != "deny-actor":
        return type_ in REGIE_WRITE and action in ("create", "update")
    return False  # the access Consent grants action access only; professionals never delete


# --------------------------------------------------------------------------- resources


def ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def volmacht(id_: str, holder: str, period: dict[str, str], status: str = "active") -> dict:
    return {
        "resourceType": "Consent",
        "id": id_,
        "status": status,
        "scope": coding(codes.CONSENT_SCOPE_SYSTEM, codes.SCOPE_ADR),
        "category": [coding(codes.CONSENT_CATEGORY_SYSTEM, codes.CATEGORY_ACD)],
        "patient": ref("Patient/p1"),
        "provision": {
            "type": "permit",
            "period": period,
            "code": [coding(codes.LIVING_WILL_SYSTEM, codes.VOLMACHT)],
            "actor": [
                {"role": coding(codes.ROLE_CODE_SYSTEM, codes.RESPRSN), "reference": ref(holder)}
            ],
        },
    }


def consent_actor(reference: str) -> dict[str, Any]:
    role = coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PRCP")
    return {"role": role, "reference": ref(reference)}


def access_consent(id_: str, provision: dict[str, Any], status: str = "active") -> dict:
    return {
        "resourceType": "Consent",
        "id": id_,
        "status": status,
        "scope": coding(codes.CONSENT_SCOPE_SYSTEM, codes.SCOPE_PRIVACY),
        "category": [coding("http://loinc.org", "59284-0")],
        "patient": ref("Patient/p1"),
        "provision": provision,
    }


def permit_provision(period: dict[str, str] | None = None) -> dict[str, Any]:
    provision: dict[str, Any] = {
        "type": "permit",
        "actor": [consent_actor("PractitionerRole/pr-team"), consent_actor("Organization/o-ok")],
        "action": [coding(codes.CONSENT_ACTION_SYSTEM, codes.ACTION_ACCESS)],
        "class": [
            {"system": codes.RESOURCE_TYPES_SYSTEM, "code": "Goal"},
            {"system": codes.RESOURCE_TYPES_SYSTEM, "code": "CarePlan"},
        ],
    }
    if period:
        provision["period"] = period
    return provision


def related_person(id_: str, role: tuple[str, str] | None = None) -> dict[str, Any]:
    person: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": id_,
        "active": True,
        "patient": ref("Patient/p1"),
    }
    if role:
        person["relationship"] = [coding(*role)]
    return person


def goal(id_: str | None, patient: str = "p1", cell: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Goal"}
    if id_:
        resource["id"] = id_
    if cell:
        resource["identifier"] = [{"system": CELL_SYSTEM, "value": cell}]
    resource |= {
        "lifecycleStatus": "active",
        "description": {"text": "wandelen"},
        "subject": ref(f"Patient/{patient}"),
    }
    return resource


def care_plan(
    id_: str | None, patient: str = "p1", cell: str | None = None, goal_id: str | None = None
) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "CarePlan"}
    if id_:
        resource["id"] = id_
    if cell:
        resource["identifier"] = [{"system": CELL_SYSTEM, "value": cell}]
    resource |= {"status": "active", "intent": "plan", "subject": ref(f"Patient/{patient}")}
    if goal_id:
        resource["goal"] = [ref(f"Goal/{goal_id}")]
    return resource


BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {"Goal": goal, "CarePlan": care_plan}

# Compartment types searched for the ground truth (what exists, seen by the two clients).
COMPARTMENT_TYPES = (
    "Patient",
    "CarePlan",
    "Goal",
    "CareTeam",
    "Condition",
    "Consent",
    "RelatedPerson",
    "Task",
    "Provenance",
    "Subscription",
)
# Shared data: the seeded directory and the definitions the service installs on start.
DIRECTORY_TYPES = frozenset({"Organization", "Practitioner", "PractitionerRole", "PlanDefinition"})


# --------------------------------------------------------------------------- the world


@dataclass
class Resp:
    status: int
    text: str
    request: str  # method, url and body as sent: ids named there are not leaks

    def json(self) -> Any:
        return orjson.loads(self.text) if self.text else None


@dataclass
class World:
    state: str
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    repo: Repository
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    # (type, id) -> compartment, for every current resource
    current: dict[tuple[str, str], str | None] = field(default_factory=dict)
    # (type, id) -> compartment, for every resource that ever existed (deleted ones included)
    ever: dict[tuple[str, str], str | None] = field(default_factory=dict)
    subscriptions: dict[str, str] = field(default_factory=dict)  # principal -> Subscription id
    cells: itertools.count = field(default_factory=itertools.count)

    def headers(self, principal: str) -> dict[str, str]:
        if principal not in self.tokens:
            token = mint_access_token(self.settings.data_dir, ROOT, **PRINCIPALS[principal])
            self.tokens[principal] = {"Authorization": f"Bearer {token}"}
        return self.tokens[principal]

    async def call(
        self,
        principal: str,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Resp:
        all_headers = {**self.headers(principal), **(headers or {})}
        content = None
        if body is not None:
            content = orjson.dumps(body)
            all_headers.setdefault("Content-Type", FHIR_JSON)
        r = await self.client.request(method, url, content=content, headers=all_headers)
        sent = f"{method} {url} {all_headers.get('If-None-Exist', '')} " + (
            content.decode() if content else ""
        )
        return Resp(r.status_code, r.text, sent)

    async def put(self, resource: dict[str, Any]) -> None:
        await self.repo.update(resource["resourceType"], resource["id"], resource)

    def sees(self, principal: str, type_: str, id_: str) -> bool:
        # A resource this world did not survey (made by a write cell) belongs to p1's plan.
        compartment = self.ever.get((type_, id_), None if type_ in DIRECTORY_TYPES else "p1")
        return can_read(principal, self.state, type_, id_, compartment)

    def hidden_ids(self, principal: str) -> set[str]:
        return {
            i for (t, i), c in self.ever.items() if not can_read(principal, self.state, t, i, c)
        }

    def visible_current(self, principal: str, type_: str) -> set[str]:
        return {i for (t, i) in self.current if t == type_ and self.sees(principal, t, i)}

    def cell(self) -> str:
        return f"c{next(self.cells)}"


async def open_world(state: str, data_dir: Path) -> AsyncIterator[World]:
    settings = Settings(data_dir=data_dir)
    app = create_app(settings)
    with pytest.MonkeyPatch.context() as patch:
        # httpx's ASGITransport tries to import sniffio (absent here) on every request to find
        # out whether trio runs; these tests run on asyncio only, and the failed import was a
        # fifth of the run time.
        patch.setattr(httpx._transports.asgi, "is_running_trio", lambda: False)
        async for world in _serve(state, app, settings):
            yield world


async def _serve(state: str, app: FastAPI, settings: Settings) -> AsyncIterator[World]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ROOT) as client:
            repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())
            world = World(state, app, client, settings, repo)
            await build(world)
            await survey(world)
            yield world


async def build(w: World) -> None:
    orgs = ("o-regie", "o-team", "o-out", "o-ok", "o-other")
    for org in orgs:
        await w.put({"resourceType": "Organization", "id": org, "name": org})
    for role, org in (
        ("pr-regie", "o-regie"),
        ("pr-regie-old", "o-regie"),
        ("pr-team", "o-team"),
        ("pr-team2", "o-team"),
        ("pr-out", "o-out"),
    ):
        await w.put({"resourceType": "Practitioner", "id": f"dr-{role}"})
        await w.put(
            {
                "resourceType": "PractitionerRole",
                "id": role,
                "practitioner": ref(f"Practitioner/dr-{role}"),
                "organization": ref(f"Organization/{org}"),
            }
        )
    for patient in ("p1", "p2"):
        await w.put({"resourceType": "Patient", "id": patient})
        await w.put(goal(f"goal-{patient}", patient))
        await w.put(care_plan(f"plan-{patient}", patient, goal_id=f"goal-{patient}"))
    await w.put(goal("goal-p1-deleted"))
    await w.repo.delete("Goal", "goal-p1-deleted")
    await w.put(
        {
            "resourceType": "Condition",
            "id": "cond-p1",
            "code": {"text": "COPD"},
            "subject": ref("Patient/p1"),
        }
    )
    await w.put(
        {
            "resourceType": "Task",
            "id": "task-p1",
            "status": "requested",
            "intent": "order",
            "for": ref("Patient/p1"),
            "basedOn": [ref("CarePlan/plan-p1")],
            "owner": ref("PractitionerRole/pr-regie"),
        }
    )
    regie = coding(codes.ZLP_ROLE_SYSTEM, codes.REGIEBEHANDELAAR)
    member = coding(codes.ZLP_ROLE_SYSTEM, "aanspreekpunt")
    await w.put(
        {
            "resourceType": "CareTeam",
            "id": "team-p1",
            "status": "active",
            "subject": ref("Patient/p1"),
            "participant": [
                {
                    "role": [regie],
                    "member": ref("PractitionerRole/pr-regie"),
                    # after pr-regie-old: a client has one regiebehandelaar at a time
                    "period": NOW_PERIOD | {"start": "2021-01-02T00:00:00Z"},
                },
                {
                    "role": [regie],
                    "member": ref("PractitionerRole/pr-regie-old"),
                    "period": PAST_PERIOD,
                },
                {"role": [member], "member": ref("PractitionerRole/pr-team"), "period": NOW_PERIOD},
                {
                    "role": [member],
                    "member": ref("PractitionerRole/pr-team2"),
                    "period": NOW_PERIOD,
                },
            ],
        }
    )
    for holder in ("vm-active", "vm-expired", "vm-revoked"):
        await w.put(related_person(holder))
    await w.put(related_person("mentor", (codes.CONTACT_ROLE_SYSTEM, codes.MENTOR)))
    await w.put(related_person("bewind", (codes.CONTACT_ROLE_SYSTEM, codes.BEWINDVOERDER)))
    await w.put(volmacht("volmacht-active", "RelatedPerson/vm-active", NOW_PERIOD))
    await w.put(volmacht("volmacht-expired", "RelatedPerson/vm-expired", PAST_PERIOD))
    await w.put(volmacht("volmacht-revoked", "RelatedPerson/vm-revoked", NOW_PERIOD))
    # The client revokes over the API (a change counts from the next request).
    revoked = volmacht("volmacht-revoked", "RelatedPerson/vm-revoked", NOW_PERIOD, "inactive")
    r = await w.call("client-p1", "PUT", "/fhir/Consent/volmacht-revoked", revoked)
    assert r.status == 200, r.text

    if w.state in ("permit", "deny-actor", "revoked"):
        await w.put(access_consent("toegang", permit_provision()))
    elif w.state == "nested-deny":
        nested = permit_provision() | {
            "provision": [
                {
                    "type": "deny",
                    "class": [{"system": codes.RESOURCE_TYPES_SYSTEM, "code": "Goal"}],
                }
            ]
        }
        await w.put(access_consent("toegang", nested))
    elif w.state == "expired":
        await w.put(access_consent("toegang", permit_provision(PAST_PERIOD)))
    if w.state == "revoked":
        body = access_consent("toegang", permit_provision(), status="inactive")
        r = await w.call("client-p1", "PUT", "/fhir/Consent/toegang", body)
        assert r.status == 200, r.text
    if w.state == "deny-actor":
        deny = {
            "type": "deny",
            "actor": [
                consent_actor("PractitionerRole/pr-team"),
                consent_actor("PractitionerRole/pr-regie"),
            ],
        }
        await w.put(access_consent("weigering", deny))
    for owner in SUBSCRIBERS:  # status off: the server leaves them as they are
        body = {
            "resourceType": "Subscription",
            "status": "off",
            "reason": "sync",
            "criteria": "Goal",
            "channel": {"type": "rest-hook", "endpoint": f"https://hooks.example.org/{owner}"},
        }
        r = await w.call(owner, "POST", "/fhir/Subscription", body)
        assert r.status == 201, r.text
        w.subscriptions[owner] = r.json()["id"]


async def survey(w: World) -> None:
    """The ground truth: what exists, as the two clients see their own plans (cross-checked
    against what was seeded), plus the directory and the deleted Goal."""
    for patient in ("p1", "p2"):
        for type_ in COMPARTMENT_TYPES:
            r = await w.call(f"client-{patient}", "GET", f"/fhir/{type_}?_count=1000")
            assert r.status == 200, r.text
            for entry in r.json().get("entry", []):
                w.current[(type_, entry["resource"]["id"])] = patient
    for type_ in DIRECTORY_TYPES:
        r = await w.call("client-p1", "GET", f"/fhir/{type_}?_count=1000")
        for entry in r.json().get("entry", []):
            w.current[(type_, entry["resource"]["id"])] = None
    for owner, id_ in w.subscriptions.items():
        w.current.setdefault(("Subscription", id_), OWN + owner)
        # Its Provenance lives with it (the client's own: already surveyed in their plan).
        r = await w.call(owner, "GET", f"/fhir/Provenance?target=Subscription/{id_}")
        (entry,) = r.json()["entry"]
        w.current.setdefault(("Provenance", entry["resource"]["id"]), OWN + owner)
    w.ever = dict(w.current)
    w.ever[("Goal", "goal-p1-deleted")] = "p1"
    seeded = {
        ("Goal", "goal-p1"),
        ("Task", "task-p1"),
        ("CareTeam", "team-p1"),
        ("Consent", "volmacht-revoked"),
        ("RelatedPerson", "mentor"),
        ("Condition", "cond-p1"),
        ("Patient", "p2"),
    }
    assert seeded <= set(w.current), "the clients must see their whole plans"
    assert w.current[("Subscription", w.subscriptions["client-p1"])] == "p1"
    assert ("Consent", "toegang") in w.current or w.state == "none"
    assert any(t == "Provenance" for t, _ in w.current), "the client's revocation left none"


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=STATES)
async def read_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    data_dir = tmp_path_factory.mktemp(f"read-{request.param}") / "data"
    async for world in open_world(request.param, data_dir):
        yield world


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=STATES)
async def write_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    data_dir = tmp_path_factory.mktemp(f"write-{request.param}") / "data"
    async for world in open_world(request.param, data_dir):
        yield world


# --------------------------------------------------------------------------- checks


async def for_each_principal(run: Callable[[str], Any]) -> None:
    """Runs one cell per principal, concurrently (cells never share what they change)."""
    await asyncio.gather(*(run(principal) for principal in PRINCIPALS))


class Cells:
    """Collects failing cells so one test reports all of them."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.count = 0

    def check(self, ok: bool, cell: str, detail: str) -> None:
        if not ok:
            self.failures.append(f"{cell}: {detail}")

    def done(self) -> None:
        assert not self.failures, f"{len(self.failures)} failing cells:\n" + "\n".join(
            self.failures
        )


def _id_pattern(id_: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9\-.]){re.escape(id_)}(?![A-Za-z0-9\-.])")


def _cursor_text(url: str) -> str:
    out = []
    for token in parse_qs(urlsplit(url).query).get("_cursor", []):
        try:
            out.append(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
        except ValueError:
            out.append(token)
    return " ".join(out)


def leaks(w: World, principal: str, resp: Resp) -> list[str]:
    """Hidden ids that the response shows and the request did not name. Self links echo the
    request and are left out; paging cursors are decoded and searched."""
    text = resp.text
    body = resp.json() if resp.text.startswith("{") else None
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        links = body.get("link", [])
        shown = {k: v for k, v in body.items() if k != "link"}
        text = orjson.dumps(shown).decode() + " ".join(
            (lk["url"] if lk.get("relation") != "self" else "") + " " + _cursor_text(lk["url"])
            for lk in links
        )
    disclosed = referenced_by_visible(w, principal, body)
    return [
        id_
        for id_ in w.hidden_ids(principal) - disclosed
        if _id_pattern(id_).search(text) and not _id_pattern(id_).search(resp.request)
    ]


_REFERENCE = re.compile(r'"reference":"[A-Za-z]+/([A-Za-z0-9\-.]+)')


def referenced_by_visible(w: World, principal: str, body: Any) -> set[str]:
    """Ids that resources the principal may see refer to (a visible Goal names its subject).
    Those references are the visible resource's own data, not a disclosure by the server."""
    if not isinstance(body, dict):
        return set()
    resources = [body] + [e["resource"] for e in body.get("entry", []) if "resource" in e]
    out: set[str] = set()
    for resource in resources:
        type_, id_ = resource.get("resourceType"), resource.get("id")
        if type_ in ("Bundle", "OperationOutcome") or not isinstance(id_, str):
            continue
        if w.sees(principal, type_, id_):
            out |= set(_REFERENCE.findall(orjson.dumps(resource).decode()))
    return out


def shape(resp: Resp, *ids: str) -> tuple[int, str]:
    """Status and OperationOutcome with the requested ids blanked: a hidden resource and a
    missing one must give the same."""
    text = resp.text
    for id_ in ids:
        text = _id_pattern(id_).sub("<id>", text)
    return resp.status, text


def entries(resp: Resp, mode: str | None = None) -> list[tuple[str, str]]:
    body = resp.json() or {}
    return [
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in body.get("entry", [])
        if "resource" in e
        and e["resource"].get("resourceType") != "OperationOutcome"
        and (mode is None or e.get("search", {}).get("mode") == mode)
    ]


def expect_search(
    cells: Cells,
    w: World,
    principal: str,
    resp: Resp,
    matches: Iterable[tuple[str, str]],
    included: Iterable[tuple[str, str]] = (),
) -> None:
    cell = f"[{w.state}] {principal} {resp.request.split(' ')[1]}"
    cells.count += 1
    want_matches, want_included = sorted(set(matches)), sorted(set(included))
    if resp.status != 200:
        cells.check(False, cell, f"status {resp.status}: {resp.text[:300]}")
        return
    body = resp.json()
    got = sorted(entries(resp, "match"))
    cells.check(got == want_matches, cell, f"matches {got}, expected {want_matches}")
    got_inc = sorted(entries(resp, "include"))
    cells.check(got_inc == want_included, cell, f"included {got_inc}, expected {want_included}")
    if "total" in body:
        cells.check(
            body["total"] == len(want_matches),
            cell,
            f"total {body['total']}, expected {len(want_matches)}",
        )
    found = leaks(w, principal, resp)
    cells.check(not found, cell, f"hidden ids in the response: {found}")


# --------------------------------------------------------------------------- reads

# read: all of these; vread and instance history: the first six (the same access path)
READ_TARGETS = (
    ("Patient", "p1"),
    ("Goal", "goal-p1"),
    ("CarePlan", "plan-p1"),
    ("Consent", "volmacht-active"),
    ("Consent", "toegang"),
    ("Goal", "goal-p2"),
    ("Patient", "p2"),
    ("Condition", "cond-p1"),
    ("Task", "task-p1"),
    ("CareTeam", "team-p1"),
    ("RelatedPerson", "mentor"),
    ("Consent", "volmacht-revoked"),
)


def _instance_urls(kind: str, type_: str, id_: str) -> str:
    return {
        "read": f"/fhir/{type_}/{id_}",
        "vread": f"/fhir/{type_}/{id_}/_history/1",
        "history-instance": f"/fhir/{type_}/{id_}/_history",
    }[kind]


@pytest.mark.parametrize("kind", ["read", "vread", "history-instance"])
async def test_instance_reads(read_world: World, kind: str) -> None:
    w, cells = read_world, Cells()

    async def run(principal: str) -> None:
        missing: dict[str, Resp] = {}
        for type_, id_ in READ_TARGETS if kind == "read" else READ_TARGETS[:6]:
            if (type_, id_) not in w.ever:
                continue
            cells.count += 1
            cell = f"[{w.state}] {principal} {kind} {type_}/{id_}"
            r = await w.call(principal, "GET", _instance_urls(kind, type_, id_))
            if w.sees(principal, type_, id_):
                cells.check(r.status == 200, cell, f"status {r.status}, expected 200")
                body = r.json() or {}
                if kind == "history-instance":
                    got = {e["resource"]["id"] for e in body.get("entry", [])}
                    cells.check(got == {id_}, cell, f"history entries {got}")
                else:
                    cells.check(body.get("id") == id_, cell, "not the resource asked for")
            else:
                if type_ not in missing:
                    url = _instance_urls(kind, type_, MISSING_ID)
                    missing[type_] = await w.call(principal, "GET", url)
                cells.check(r.status == 404, cell, f"status {r.status}, expected 404")
                cells.check(
                    shape(r, id_) == shape(missing[type_], MISSING_ID),
                    cell,
                    f"differs from a missing one: {r.text[:200]} vs {missing[type_].text[:200]}",
                )
            found = leaks(w, principal, r)
            cells.check(not found, cell, f"hidden ids in the response: {found}")

    await for_each_principal(run)
    cells.done()


@pytest.mark.parametrize(
    ("kind", "url", "visible_status"),
    [
        ("read", "/fhir/Goal/goal-p1-deleted", 410),
        ("vread", "/fhir/Goal/goal-p1-deleted/_history/1", 200),
        ("vread", "/fhir/Goal/goal-p1-deleted/_history/2", 410),
        ("history-instance", "/fhir/Goal/goal-p1-deleted/_history", 200),
    ],
)
async def test_a_hidden_deleted_resource_looks_missing(
    read_world: World, kind: str, url: str, visible_status: int
) -> None:
    w, cells = read_world, Cells()

    async def run(principal: str) -> None:
        cells.count += 1
        cell = f"[{w.state}] {principal} {kind} {url}"
        r = await w.call(principal, "GET", url)
        if w.sees(principal, "Goal", "goal-p1-deleted"):
            cells.check(r.status == visible_status, cell, f"status {r.status}")
        else:
            missing = await w.call(principal, "GET", url.replace("goal-p1-deleted", MISSING_ID))
            cells.check(
                shape(r, "goal-p1-deleted") == shape(missing, MISSING_ID),
                cell,
                f"differs from a missing one: {r.status} {r.text[:200]} vs "
                f"{missing.status} {missing.text[:200]}",
            )
        found = leaks(w, principal, r)
        cells.check(not found, cell, f"hidden ids in the response: {found}")

    await for_each_principal(run)
    cells.done()


@pytest.mark.parametrize("type_", COMPARTMENT_TYPES)
async def test_type_search_with_accurate_total(read_world: World, type_: str) -> None:
    w, cells = read_world, Cells()

    async def run(principal: str) -> None:
        want = {(type_, i) for i in w.visible_current(principal, type_)}
        r = await w.call(principal, "GET", f"/fhir/{type_}?_total=accurate")
        expect_search(cells, w, principal, r, want)
        if type_ not in ("Goal", "CarePlan", "Consent", "Provenance"):
            return
        r = await w.call(principal, "GET", f"/fhir/{type_}?_summary=count")
        cells.count += 1
        cell = f"[{w.state}] {principal} {type_}?_summary=count"
        total = (r.json() or {}).get("total")
        cells.check(r.status == 200, cell, f"status {r.status}")
        cells.check(total == len(want), cell, f"total {total}, expected {len(want)}")
        cells.check(not entries(r), cell, "entries in a count")

    await for_each_principal(run)
    cells.done()


def _visible(w: World, principal: str, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(t, i) for t, i in pairs if (t, i) in w.current and w.sees(principal, t, i)}


# The seeded references the include/chain/_has searches follow (source, param, target).
LINKS = {
    ("CarePlan", "plan-p1", "goal"): ("Goal", "goal-p1"),
    ("CarePlan", "plan-p2", "goal"): ("Goal", "goal-p2"),
    ("CarePlan", "plan-p1", "subject"): ("Patient", "p1"),
    ("CarePlan", "plan-p2", "subject"): ("Patient", "p2"),
    ("Goal", "goal-p1", "subject"): ("Patient", "p1"),
    ("Goal", "goal-p2", "subject"): ("Patient", "p2"),
    ("Task", "task-p1", "based-on"): ("CarePlan", "plan-p1"),
}


def _sources(w: World, principal: str, type_: str, param: str, target: tuple[str, str]) -> set:
    return _visible(
        w,
        principal,
        {(s, i) for (s, i, p), t in LINKS.items() if s == type_ and p == param and t == target},
    )


def _targets(w: World, principal: str, sources: Iterable[tuple[str, str]], param: str) -> set:
    return _visible(
        w, principal, {LINKS[(s, i, param)] for s, i in sources if (s, i, param) in LINKS}
    )


def expected_include(w: World, principal: str) -> tuple[set, set]:
    plans = _visible(w, principal, {("CarePlan", i) for t, i in w.current if t == "CarePlan"})
    return plans, _targets(w, principal, plans, "goal")


def expected_revinclude(w: World, principal: str) -> tuple[set, set]:
    patients = _visible(w, principal, {("Patient", "p1"), ("Patient", "p2")})
    goals = set().union(*(_sources(w, principal, "Goal", "subject", p) for p in patients))
    return patients, goals


def expected_iterate(w: World, principal: str) -> tuple[set, set]:
    goals = _visible(w, principal, {("Goal", i) for t, i in w.current if t == "Goal"})
    plans = set().union(*(_sources(w, principal, "CarePlan", "goal", g) for g in goals))
    return goals, plans | _targets(w, principal, plans, "subject")


def expected_chain_patient(w: World, principal: str) -> tuple[set, set]:
    # The chained criterion reads the Patient: a hidden Patient matches nothing.
    if not w.sees(principal, "Patient", "p1"):
        return set(), set()
    return _sources(w, principal, "Goal", "subject", ("Patient", "p1")), set()


def expected_chain_goal(w: World, principal: str) -> tuple[set, set]:
    plans = _visible(w, principal, {("CarePlan", "plan-p1"), ("CarePlan", "plan-p2")})
    return {p for p in plans if _targets(w, principal, {p}, "goal")}, set()


def expected_has_goal(w: World, principal: str) -> tuple[set, set]:
    patients = _visible(w, principal, {("Patient", "p1"), ("Patient", "p2")})
    return {p for p in patients if _sources(w, principal, "Goal", "subject", p)}, set()


def expected_has_task(w: World, principal: str) -> tuple[set, set]:
    plans = _visible(w, principal, {("CarePlan", "plan-p1"), ("CarePlan", "plan-p2")})
    return {p for p in plans if _sources(w, principal, "Task", "based-on", p)}, set()


SEARCHES: dict[str, tuple[str, Callable[[World, str], tuple[set, set]]]] = {
    "include": ("CarePlan?_include=CarePlan:goal", expected_include),
    "revinclude": ("Patient?_revinclude=Goal:subject", expected_revinclude),
    "include-iterate": (
        "Goal?_revinclude=CarePlan:goal&_include:iterate=CarePlan:subject",
        expected_iterate,
    ),
    "chain-patient": ("Goal?subject:Patient._id=p1", expected_chain_patient),
    "chain-goal": ("CarePlan?goal:Goal.lifecycle-status=active", expected_chain_goal),
    "has-goal": ("Patient?_has:Goal:subject:lifecycle-status=active", expected_has_goal),
    "has-task": ("CarePlan?_has:Task:based-on:status=requested", expected_has_task),
}


@pytest.mark.parametrize("name", SEARCHES)
async def test_includes_chains_and_has(read_world: World, name: str) -> None:
    w, cells = read_world, Cells()
    query, expected = SEARCHES[name]

    async def run(principal: str) -> None:
        r = await w.call(principal, "GET", f"/fhir/{query}&_total=accurate")
        matches, included = expected(w, principal)
        expect_search(cells, w, principal, r, matches, included)

    await for_each_principal(run)
    cells.done()


async def _history_truth(w: World, path: str) -> dict[tuple[str, str, str], str | None]:
    """Every version under ``path`` (type, id, etag), from the two clients' views (and each
    subscriber's view of their own Subscription and its Provenance)."""
    truth: dict[tuple[str, str, str], str | None] = {}
    for who in ("client-p1", "client-p2", *SUBSCRIBERS):
        r = await w.call(who, "GET", f"/fhir/{path}?_count=1000")
        for e in r.json()["entry"]:
            type_, id_ = e["fullUrl"].rsplit("/", 2)[-2:]
            compartment = w.ever.get((type_, id_), who.removeprefix("client-"))
            if who.startswith("client-") or compartment == OWN + who:
                truth[(type_, id_, e["response"]["etag"])] = compartment
    return truth


@pytest.mark.parametrize("path", ["Goal/_history", "CarePlan/_history", "_history"])
async def test_type_and_system_history(read_world: World, path: str) -> None:
    w, cells = read_world, Cells()
    truth = await _history_truth(w, path)

    async def run(principal: str) -> None:
        cells.count += 1
        cell = f"[{w.state}] {principal} {path}"
        r = await w.call(principal, "GET", f"/fhir/{path}?_total=accurate&_count=1000")
        if r.status != 200:
            cells.check(False, cell, f"status {r.status}")
            return
        body = r.json()
        got = sorted(
            (*e["fullUrl"].rsplit("/", 2)[-2:], e["response"]["etag"]) for e in body["entry"]
        )
        want = sorted(k for k, c in truth.items() if can_read(principal, w.state, k[0], k[1], c))
        cells.check(got == want, cell, f"versions {got}, expected {want}")
        cells.check(body.get("total") == len(want), cell, f"total {body.get('total')}")
        found = leaks(w, principal, r)
        cells.check(not found, cell, f"hidden ids in the response: {found}")

    await for_each_principal(run)
    cells.done()


@pytest.mark.parametrize("path", ["Goal", "Consent", "CarePlan", "Goal/_history"])
async def test_paging_follows_next_and_stays_within_the_grants(
    read_world: World, path: str
) -> None:
    w, cells = read_world, Cells()
    type_ = path.split("/")[0]
    truth = await _history_truth(w, path) if path.endswith("_history") else {}

    async def run(principal: str) -> None:
        cells.count += 1
        cell = f"[{w.state}] {principal} {path} paged"
        url: str | None = f"{ROOT}/fhir/{path}?_count=1&_total=accurate"
        seen: list[tuple[str, str]] = []
        totals: set[int] = set()
        pages = 0
        while url and pages < 50:
            pages += 1
            r = await w.call(principal, "GET", url.removeprefix(ROOT))
            if r.status != 200:
                cells.check(False, cell, f"page {pages}: status {r.status}")
                break
            body = r.json()
            seen.extend(
                tuple(e["fullUrl"].rsplit("/", 2)[-2:])  # tombstones carry no resource
                for e in body.get("entry", [])
                if e.get("search", {}).get("mode", "match") == "match"
            )
            if "total" in body:
                totals.add(body["total"])
            found = leaks(w, principal, r)
            cells.check(not found, cell, f"page {pages}: hidden ids {found}")
            url = next((lk["url"] for lk in body.get("link", []) if lk["relation"] == "next"), None)
        if path.endswith("_history"):
            want_ids = {k[1] for k, c in truth.items() if can_read(principal, w.state, *k[:2], c)}
            want_count = sum(1 for k, c in truth.items() if can_read(principal, w.state, *k[:2], c))
            cells.check({i for _, i in seen} == want_ids, cell, f"ids {seen}")
        else:
            want_ids = w.visible_current(principal, type_)
            want_count = len(want_ids)
            cells.check(sorted(i for _, i in seen) == sorted(want_ids), cell, f"ids {seen}")
        cells.check(len(seen) == want_count, cell, f"{len(seen)} entries, expected {want_count}")
        cells.check(totals <= {want_count}, cell, f"totals {totals}, expected {want_count}")

    await for_each_principal(run)
    cells.done()


# --------------------------------------------------------------------------- writes


async def fresh_target(w: World, type_: str) -> tuple[str, str, dict[str, Any]]:
    """A new resource of p1 for one write cell: its id, its identifier value, its body."""
    cell = w.cell()
    id_ = f"w-{type_.lower()}-{cell}"
    resource = BUILDERS[type_](id_, "p1", cell)
    version, _ = await w.repo.update(type_, id_, resource)
    w.current[(type_, id_)] = "p1"
    w.ever[(type_, id_)] = "p1"
    return id_, cell, orjson.loads(version.body or b"{}")


async def stored(w: World, type_: str, id_: str) -> dict[str, Any] | None:
    """The resource as the client sees it (None when absent or deleted)."""
    r = await w.call("client-p1", "GET", f"/fhir/{type_}/{id_}")
    return r.json() if r.status == 200 else None


async def count_cell(w: World, type_: str, cell: str) -> int:
    r = await w.call("client-p1", "GET", f"/fhir/{type_}?identifier={CELL_SYSTEM}|{cell}")
    assert r.status == 200, r.text
    return len(r.json().get("entry", []))


def changed(resource: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in resource.items() if k != "meta"}
    if out["resourceType"] == "Goal":
        out["description"] = {"text": "gewijzigd"}
    else:
        out["title"] = "gewijzigd"
    return out


def was_changed(resource: dict[str, Any] | None) -> bool:
    if resource is None:
        return False
    return (
        resource.get("title") == "gewijzigd"
        or resource.get("description", {}).get("text") == "gewijzigd"
    )


def patch_ops(type_: str) -> list[dict[str, Any]]:
    if type_ == "Goal":
        return [{"op": "replace", "path": "/description/text", "value": "gewijzigd"}]
    return [{"op": "add", "path": "/title", "value": "gewijzigd"}]


WRITE_KINDS = (
    "create",
    "update",
    "patch",
    "delete",
    "conditional-create",
    "conditional-update",
    "conditional-delete",
    "transaction",
    "batch",
)


def same_as_missing(
    cells: Cells, cell: str, hidden: Resp, missing: Resp, hidden_id: str, missing_id: str
) -> None:
    cells.check(
        shape(hidden, hidden_id) == shape(missing, missing_id),
        cell,
        f"a hidden resource answers {hidden.status} {hidden.text[:200]!r}, "
        f"a missing one {missing.status} {missing.text[:200]!r}",
    )


def _blank_cells(text: str) -> str:
    return re.sub(r"(w|nergens)-(goal-|careplan-)?c\d+|\bc\d+\b", "<cell>", text)


def same_shape(cells: Cells, cell: str, hidden: Resp, missing: Resp) -> None:
    a = (hidden.status, _blank_cells(hidden.text))
    b = (missing.status, _blank_cells(missing.text))
    cells.check(
        a == b,
        cell,
        f"a hidden resource answers {hidden.status} {hidden.text[:200]!r}, "
        f"a missing one {missing.status} {missing.text[:200]!r}",
    )


async def write_cell(
    w: World, cells: Cells, probes: Cells, principal: str, kind: str, type_: str
) -> None:
    """One write cell. ``probes`` collects the hidden-versus-missing comparisons of a refused
    PUT (update, transaction entry), checked by the test below."""
    cells.count += 1
    state = w.state
    cell = f"[{state}] {principal} {kind} {type_}"
    readable = can_read(principal, state, type_, "x", "p1")
    build = BUILDERS[type_]
    base = f"/fhir/{type_}"
    missing_id = f"nergens-{w.cell()}"  # this cell's own missing id: cells run concurrently

    def leak_check(r: Resp) -> None:
        found = leaks(w, principal, r)
        cells.check(not found, cell, f"hidden ids in the response: {found}")

    if kind == "create":
        new_cell = w.cell()
        r = await w.call(principal, "POST", base, build(None, "p1", new_cell))
        allowed = can_write(principal, state, "create", type_)
        cells.check(r.status == (201 if allowed else 403), cell, f"status {r.status}: {r.text}")
        n = await count_cell(w, type_, new_cell)
        cells.check(n == (1 if allowed else 0), cell, f"{n} stored")
        leak_check(r)
        return

    id_, ident, before = await fresh_target(w, type_)
    body = changed(before)
    url = f"{base}/{id_}"
    may_update = can_write(principal, state, "update", type_)
    may_delete = can_write(principal, state, "delete", type_)

    if kind in ("update", "patch", "transaction"):
        patch_headers = {"Content-Type": JSON_PATCH}

        def tx(resource: dict[str, Any]) -> dict[str, Any]:
            entry = {
                "resource": resource,
                "request": {"method": "PUT", "url": f"{type_}/{resource['id']}"},
            }
            return {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}

        async def attempt(target: str) -> Resp:
            if kind == "update":
                return await w.call(principal, "PUT", f"{base}/{target}", {**body, "id": target})
            if kind == "patch":
                ops = patch_ops(type_)
                return await w.call(principal, "PATCH", f"{base}/{target}", ops, patch_headers)
            return await w.call(principal, "POST", "/fhir", tx({**body, "id": target}))

        r = await attempt(id_)
        after = await stored(w, type_, id_)
        if may_update:
            cells.check(r.status == 200, cell, f"status {r.status}: {r.text[:300]}")
            cells.check(was_changed(after), cell, "the change was not stored")
            if kind == "transaction" and r.status == 200:
                status = r.json()["entry"][0]["response"]["status"]
                cells.check(status.startswith("200"), cell, f"entry status {status}")
        else:
            cells.check(r.status in (403, 404), cell, f"status {r.status}: {r.text[:300]}")
            cells.check(after == before, cell, "a refused change was stored")
            if readable:
                cells.check(r.status == 403, cell, f"status {r.status}, expected 403")
            else:
                miss = await attempt(missing_id)
                same_as_missing(probes, cell, r, miss, id_, missing_id)
                created = await stored(w, type_, missing_id)
                cells.check(created is None, cell, "a refused write to a missing id was stored")
        leak_check(r)
        return

    if kind == "delete":
        r = await w.call(principal, "DELETE", url)
        after = await stored(w, type_, id_)
        if may_delete:
            cells.check(r.status == 204, cell, f"status {r.status}: {r.text[:300]}")
            cells.check(after is None, cell, "not deleted")
        else:
            cells.check(after == before, cell, "a refused delete took effect")
            if readable:
                cells.check(r.status == 403, cell, f"status {r.status}, expected 403")
            else:
                cells.check(r.status == 404, cell, f"status {r.status}, expected 404")
                miss = await w.call(principal, "DELETE", f"{base}/{missing_id}")
                same_as_missing(cells, cell, r, miss, id_, missing_id)
        leak_check(r)
        return

    condition = f"identifier={CELL_SYSTEM}|{ident}"
    unmatched = f"identifier={CELL_SYSTEM}|{missing_id}"
    if kind == "conditional-create":
        new = build(None, "p1", ident)
        r = await w.call(principal, "POST", base, new, {"If-None-Exist": condition})
        n = await count_cell(w, type_, ident)
        if readable:
            # The visible match is returned; nothing new is made.
            cells.check(r.status == 200, cell, f"status {r.status}: {r.text[:300]}")
            cells.check(n == 1, cell, f"{n} with the identifier")
        else:
            # A hidden match behaves as absent: a create, decided like any create.
            allowed = can_write(principal, state, "create", type_)
            cells.check(r.status == (201 if allowed else 403), cell, f"status {r.status}")
            cells.check(n == (2 if allowed else 1), cell, f"{n} with the identifier")
            probe = build(None, "p1", missing_id)
            miss = await w.call(principal, "POST", base, probe, {"If-None-Exist": unmatched})
            same_shape(cells, cell, r, miss)
        leak_check(r)
        return

    if kind == "conditional-update":
        cond_body = {k: v for k, v in body.items() if k != "id"}
        r = await w.call(principal, "PUT", f"{base}?{condition}", cond_body)
        after = await stored(w, type_, id_)
        n = await count_cell(w, type_, ident)
        if may_update:
            cells.check(r.status == 200, cell, f"status {r.status}: {r.text[:300]}")
            cells.check(was_changed(after), cell, "the change was not stored")
        else:
            cells.check(after == before, cell, "a refused change was stored")
            cells.check(n == 1, cell, f"{n} with the identifier: something was created")
            if readable:
                cells.check(r.status == 403, cell, f"status {r.status}, expected 403")
            else:
                cells.check(r.status == 403, cell, f"status {r.status}, expected 403 (create)")
                miss = await w.call(principal, "PUT", f"{base}?{unmatched}", cond_body)
                same_shape(cells, cell, r, miss)
        leak_check(r)
        return

    if kind == "conditional-delete":
        r = await w.call(principal, "DELETE", f"{base}?{condition}")
        after = await stored(w, type_, id_)
        if may_delete:
            cells.check(r.status == 204, cell, f"status {r.status}: {r.text[:300]}")
            cells.check(after is None, cell, "not deleted")
        else:
            cells.check(after == before, cell, "a refused delete took effect")
            if readable:
                cells.check(r.status == 403, cell, f"status {r.status}, expected 403")
            else:
                miss = await w.call(principal, "DELETE", f"{base}?{unmatched}")
                same_shape(cells, cell, r, miss)
        leak_check(r)
        return

    assert kind == "batch"
    new_cell = w.cell()
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"{type_}/{id_}"}},
            {"request": {"method": "GET", "url": f"{type_}/{missing_id}"}},
            {"resource": body, "request": {"method": "PUT", "url": f"{type_}/{id_}"}},
            {"resource": build(None, "p1", new_cell), "request": {"method": "POST", "url": type_}},
        ],
    }
    r = await w.call(principal, "POST", "/fhir", batch)
    cells.check(r.status == 200, cell, f"status {r.status}: {r.text[:300]}")
    if r.status != 200:
        return
    got = r.json()["entry"]
    statuses = [int(e["response"]["status"].split()[0]) for e in got]
    may_create = can_write(principal, state, "create", type_)
    want_read = 200 if readable else 404
    want_put = 200 if may_update else (403 if readable else None)
    cells.check(statuses[0] == want_read, cell, f"GET entry {statuses[0]}, expected {want_read}")
    if not readable:
        hidden_outcome = _blank_cells(orjson.dumps(got[0]["response"]).decode())
        missing_outcome = _blank_cells(
            orjson.dumps(got[1]["response"]).decode().replace(missing_id, id_)
        )
        cells.check(
            re.sub(r'"lastModified":"[^"]*"', "", hidden_outcome)
            == re.sub(r'"lastModified":"[^"]*"', "", missing_outcome),
            cell,
            f"GET of a hidden entry {got[0]['response']} vs a missing one {got[1]['response']}",
        )
    if want_put is not None:
        cells.check(statuses[2] == want_put, cell, f"PUT entry {statuses[2]}, expected {want_put}")
    else:
        cells.check(statuses[2] in (403, 404), cell, f"PUT entry {statuses[2]}")
    cells.check(statuses[3] == (201 if may_create else 403), cell, f"POST entry {statuses[3]}")
    after = await stored(w, type_, id_)
    cells.check(was_changed(after) == may_update, cell, f"PUT stored: {was_changed(after)}")
    n = await count_cell(w, type_, new_cell)
    cells.check(n == (1 if may_create else 0), cell, f"POST stored {n}")
    leak_check(r)


@pytest.mark.parametrize("type_", ["Goal", "CarePlan"])
@pytest.mark.parametrize("kind", WRITE_KINDS)
async def test_writes(write_world: World, kind: str, type_: str) -> None:
    w, cells = write_world, Cells()

    async def run(principal: str) -> None:
        await write_cell(w, cells, Cells(), principal, kind, type_)

    await for_each_principal(run)
    cells.done()


@pytest.mark.parametrize("kind", ["update", "transaction"])
async def test_a_refused_put_to_a_hidden_id_answers_as_for_a_missing_one(
    write_world: World, kind: str
) -> None:
    w, probes = write_world, Cells()

    async def run(principal: str) -> None:
        # one principal of each kind that cannot see p1's Goals (in every consent state)
        if principal in ("client-p2", "volmacht-expired", "outsider", "backend-other"):
            await write_cell(w, Cells(), probes, principal, kind, "Goal")

    await for_each_principal(run)
    probes.done()
