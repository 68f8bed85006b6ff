"""The client's Consents govern every access over the API: volmacht, access Consents for
professionals and backends (nested exceptions included), the regiebehandelaar, and writes that
touch only what the principal may touch. Changes count from the next request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import mint_access_token
from zorgleefplan.access import codes
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.store.model import AccessConstraint

ROOT = "http://test"
STAFF_SCOPES = "user/*.cruds"
NOW_PERIOD = {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}
PAST_PERIOD = {"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"}


def ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def volmacht(holder: str, *, status: str = "active", period: dict | None = None) -> dict:
    return {
        "resourceType": "Consent",
        "id": "volmacht",
        "status": status,
        "scope": {"coding": [{"system": codes.CONSENT_SCOPE_SYSTEM, "code": codes.SCOPE_ADR}]},
        "category": [{"coding": [{"system": codes.CONSENT_CATEGORY_SYSTEM, "code": "acd"}]}],
        "patient": ref("Patient/p1"),
        "provision": {
            "type": "permit",
            "period": period or NOW_PERIOD,
            "code": [{"coding": [{"system": codes.LIVING_WILL_SYSTEM, "code": codes.VOLMACHT}]}],
            "actor": [
                {
                    "role": {"coding": [{"system": codes.ROLE_CODE_SYSTEM, "code": "RESPRSN"}]},
                    "reference": ref(holder),
                }
            ],
        },
    }


def access_consent(provision: dict, id_: str = "toegang") -> dict:
    return {
        "resourceType": "Consent",
        "id": id_,
        "status": "active",
        "scope": {"coding": [{"system": codes.CONSENT_SCOPE_SYSTEM, "code": codes.SCOPE_PRIVACY}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": ref("Patient/p1"),
        "provision": provision,
    }


def actor(reference: str) -> dict:
    return {
        "role": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "PRCP",
                }
            ]
        },
        "reference": ref(reference),
    }


def action(code: str) -> dict:
    return {"coding": [{"system": codes.CONSENT_ACTION_SYSTEM, "code": code}]}


def resource_class(type_: str) -> dict:
    return {"system": codes.RESOURCE_TYPES_SYSTEM, "code": type_}


def permit(actor_ref: str, type_: str, *actions: str) -> dict:
    """An access Consent permitting ``actor_ref`` the ``actions`` on one resource type."""
    return access_consent(
        {
            "type": "permit",
            "actor": [actor(actor_ref)],
            "action": [action(a) for a in actions or ("access",)],
            "class": [resource_class(type_)],
        }
    )


class World:
    """Two clients' plans, a huisarts (PractitionerRole pr1 of Organization o1), another
    professional (pr2 of o2), a volmacht holder (RelatedPerson vm1 of p1)."""

    def __init__(self, app: FastAPI, settings: Settings, client: httpx.AsyncClient) -> None:
        self.repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())
        self.settings = settings
        self.client = client

    async def put(self, resource: dict[str, Any]) -> None:
        await self.repo.update(resource["resourceType"], resource["id"], resource)

    async def build(self) -> None:
        for org in ("o1", "o2"):
            await self.put({"resourceType": "Organization", "id": org, "name": org})
        for n, org in (("1", "o1"), ("2", "o2")):
            await self.put({"resourceType": "Practitioner", "id": f"dr{n}"})
            await self.put(
                {
                    "resourceType": "PractitionerRole",
                    "id": f"pr{n}",
                    "practitioner": ref(f"Practitioner/dr{n}"),
                    "organization": ref(f"Organization/{org}"),
                }
            )
        for patient in ("p1", "p2"):
            await self.put({"resourceType": "Patient", "id": patient})
            await self.put(
                {
                    "resourceType": "CarePlan",
                    "id": f"plan-{patient}",
                    "status": "active",
                    "intent": "plan",
                    "subject": ref(f"Patient/{patient}"),
                }
            )
            await self.put(
                {
                    "resourceType": "Goal",
                    "id": f"goal-{patient}",
                    "lifecycleStatus": "active",
                    "description": {"text": "wandelen"},
                    "subject": ref(f"Patient/{patient}"),
                }
            )
        await self.put(
            {
                "resourceType": "RelatedPerson",
                "id": "vm1",
                "active": True,
                "patient": ref("Patient/p1"),
            }
        )

    def headers(self, **kwargs: Any) -> dict[str, str]:
        token = mint_access_token(self.settings.data_dir, ROOT, **kwargs)
        return {"Authorization": f"Bearer {token}"}

    def huisarts(self) -> dict[str, str]:
        return self.headers(
            fhir_user="PractitionerRole/pr1", organization="Organization/o1", scope=STAFF_SCOPES
        )

    def holder(self) -> dict[str, str]:
        return self.headers(fhir_user="RelatedPerson/vm1", patient="p1")

    def client_p1(self) -> dict[str, str]:
        return self.headers(patient="p1")

    async def ids(self, path: str, headers: dict[str, str]) -> list[str]:
        r = await self.client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        return sorted(e["resource"]["id"] for e in r.json().get("entry", []))


@pytest.fixture
async def world(app: FastAPI, settings: Settings, secured_client: httpx.AsyncClient) -> World:
    built = World(app, settings, secured_client)
    await built.build()
    return built


# --------------------------------------------------------------------------- volmacht


async def test_volmacht_holder_acts_for_the_client_until_the_volmacht_ends(world: World) -> None:
    assert await world.ids("/fhir/Goal", world.holder()) == []  # no volmacht yet
    await world.put(volmacht("RelatedPerson/vm1"))
    assert await world.ids("/fhir/Goal", world.holder()) == ["goal-p1"]
    r = await world.client.post(
        "/fhir/Goal",
        json={
            "resourceType": "Goal",
            "lifecycleStatus": "proposed",
            "description": {"text": "zwemmen"},
            "subject": ref("Patient/p1"),
        },
        headers=world.holder(),
    )
    assert r.status_code == 201, r.text
    # The client revokes the volmacht: the holder's next request sees nothing.
    r = await world.client.put(
        "/fhir/Consent/volmacht",
        json=volmacht("RelatedPerson/vm1", status="inactive"),
        headers=world.client_p1(),
    )
    assert r.status_code == 200, r.text
    assert await world.ids("/fhir/Goal", world.holder()) == []


async def test_an_expired_volmacht_gives_nothing(world: World) -> None:
    await world.put(volmacht("RelatedPerson/vm1", period=PAST_PERIOD))
    assert await world.ids("/fhir/Goal", world.holder()) == []
    assert (await world.client.get("/fhir/Goal/goal-p1", headers=world.holder())).status_code == 404


async def test_the_volmacht_holder_cannot_change_the_volmacht(world: World) -> None:
    await world.put(volmacht("RelatedPerson/vm1"))
    widened = volmacht("RelatedPerson/vm1", period={"start": "2020-01-01T00:00:00Z"})
    r = await world.client.put("/fhir/Consent/volmacht", json=widened, headers=world.holder())
    assert r.status_code == 403


# --------------------------------------------------------------------------- professionals


async def test_a_professional_sees_nothing_without_consent(world: World) -> None:
    assert await world.ids("/fhir/Goal", world.huisarts()) == []
    assert await world.ids("/fhir/CarePlan", world.huisarts()) == []
    r = await world.client.get("/fhir/Goal/goal-p1", headers=world.huisarts())
    assert r.status_code == 404
    # Directory data belongs to no client and stays readable.
    r = await world.client.get("/fhir/Practitioner/dr2", headers=world.huisarts())
    assert r.status_code == 200


async def test_an_access_consent_permits_the_named_classes_only(world: World) -> None:
    await world.put(permit("PractitionerRole/pr1", "Goal"))
    assert await world.ids("/fhir/Goal", world.huisarts()) == ["goal-p1"]  # not p2's
    assert await world.ids("/fhir/CarePlan", world.huisarts()) == []
    other = world.headers(
        fhir_user="PractitionerRole/pr2", organization="Organization/o2", scope=STAFF_SCOPES
    )
    assert await world.ids("/fhir/Goal", other) == []


async def test_deny_all_except_my_huisarts_in_a_nested_provision(world: World) -> None:
    await world.put(
        access_consent(
            {
                "type": "deny",
                "provision": [
                    {
                        "type": "permit",
                        "actor": [actor("Practitioner/dr1")],
                        "action": [action("access")],
                    }
                ],
            }
        )
    )
    # The Consent names the Practitioner behind the huisarts's PractitionerRole.
    assert await world.ids("/fhir/CarePlan", world.huisarts()) == ["plan-p1"]
    other = world.headers(
        fhir_user="PractitionerRole/pr2", organization="Organization/o2", scope=STAFF_SCOPES
    )
    assert await world.ids("/fhir/CarePlan", other) == []


async def test_an_organisation_consent_covers_its_backend(world: World) -> None:
    await world.put(permit("Organization/o1", "CarePlan"))
    backend = world.headers(organization="Organization/o1", scope="system/*.rs")
    assert await world.ids("/fhir/CarePlan", backend) == ["plan-p1"]
    other = world.headers(organization="Organization/o2", scope="system/*.rs")
    assert await world.ids("/fhir/CarePlan", other) == []


async def test_the_regiebehandelaar_reads_the_plan_and_updates_the_care_plan(
    world: World,
) -> None:
    team = {
        "resourceType": "CareTeam",
        "id": "team-p1",
        "status": "active",
        "subject": ref("Patient/p1"),
        "participant": [
            {
                "role": [
                    {"coding": [{"system": codes.ZLP_ROLE_SYSTEM, "code": codes.REGIEBEHANDELAAR}]}
                ],
                "member": ref("PractitionerRole/pr1"),
                "period": NOW_PERIOD,
            }
        ],
    }
    await world.put(team)
    assert await world.ids("/fhir/CarePlan", world.huisarts()) == ["plan-p1"]
    plan = {
        "resourceType": "CarePlan",
        "id": "plan-p1",
        "status": "active",
        "intent": "plan",
        "title": "bijgewerkt door de regiebehandelaar",
        "subject": ref("Patient/p1"),
    }
    r = await world.client.put("/fhir/CarePlan/plan-p1", json=plan, headers=world.huisarts())
    assert r.status_code == 200, r.text
    # The regiebehandelaar may not change who has access.
    r = await world.client.put(
        "/fhir/Consent/x",
        json=access_consent({"type": "permit", "actor": [actor("Organization/o1")]}, "x"),
        headers=world.huisarts(),
    )
    assert r.status_code in (403, 404)
    r = await world.client.get("/fhir/Consent/x", headers=world.client_p1())
    assert r.status_code == 404  # nothing was stored
    # Another client's plan stays out of reach.
    plan_p2 = {**plan, "id": "plan-p2", "subject": ref("Patient/p2")}
    r = await world.client.put("/fhir/CarePlan/plan-p2", json=plan_p2, headers=world.huisarts())
    assert r.status_code in (403, 404)


async def test_a_professional_writes_only_their_own_records(world: World) -> None:
    await world.put(permit("PractitionerRole/pr1", "Goal", "access", "correct"))

    def goal(expressed_by: str) -> dict:
        return {
            "resourceType": "Goal",
            "lifecycleStatus": "proposed",
            "description": {"text": "valpreventie"},
            "subject": ref("Patient/p1"),
            "expressedBy": ref(expressed_by),
        }

    r = await world.client.post(
        "/fhir/Goal", json=goal("PractitionerRole/pr1"), headers=world.huisarts()
    )
    assert r.status_code == 201, r.text
    r = await world.client.post(
        "/fhir/Goal", json=goal("PractitionerRole/pr2"), headers=world.huisarts()
    )
    assert r.status_code == 403
    r = await world.client.delete("/fhir/Goal/goal-p1", headers=world.huisarts())
    assert r.status_code == 403  # professionals never delete


# --------------------------------------------------------------------------- provenance


async def test_every_change_by_a_proxy_leaves_provenance_on_behalf_of_the_client(
    world: World,
) -> None:
    await world.put(volmacht("RelatedPerson/vm1"))
    r = await world.client.post(
        "/fhir/Goal",
        json={
            "resourceType": "Goal",
            "lifecycleStatus": "proposed",
            "description": {"text": "zwemmen"},
            "subject": ref("Patient/p1"),
        },
        headers=world.holder(),
    )
    goal_id = r.json()["id"]
    assert (
        await world.client.delete(f"/fhir/Goal/{goal_id}", headers=world.holder())
    ).status_code == 204
    r = await world.client.get(
        f"/fhir/Provenance?target=Goal/{goal_id}&_sort=_lastUpdated", headers=world.client_p1()
    )
    assert r.status_code == 200, r.text
    found = [e["resource"] for e in r.json()["entry"]]
    assert [p["activity"]["coding"][0]["code"] for p in found] == ["CREATE", "DELETE"]
    created, deleted = found
    assert created["target"] == [{"reference": f"Goal/{goal_id}/_history/1"}]
    assert deleted["target"] == [{"reference": f"Goal/{goal_id}/_history/2"}]
    author = created["agent"][0]
    assert author["who"] == {"reference": "RelatedPerson/vm1"}
    assert author["onBehalfOf"] == {"reference": "Patient/p1"}
    assert author["type"]["coding"][0]["code"] == "author"
    app = created["agent"][-1]
    assert app["who"]["identifier"]["value"] == "test-app"
    assert created["recorded"] == created["meta"]["lastUpdated"]
    # Provenance belongs to the plan: another client and an outsider never see it.
    for outsider in (world.headers(patient="p2"), world.huisarts()):
        r = await world.client.get(f"/fhir/Provenance?target=Goal/{goal_id}", headers=outsider)
        assert r.json().get("entry", []) == []


async def test_a_professionals_change_names_them_and_their_organisation(world: World) -> None:
    await world.put(permit("PractitionerRole/pr1", "Goal", "access", "correct"))
    goal = {
        "resourceType": "Goal",
        "lifecycleStatus": "proposed",
        "description": {"text": "valpreventie"},
        "subject": ref("Patient/p1"),
        "expressedBy": ref("PractitionerRole/pr1"),
    }
    r = await world.client.post("/fhir/Goal", json=goal, headers=world.huisarts())
    assert r.status_code == 201, r.text
    r = await world.client.get(
        f"/fhir/Provenance?target=Goal/{r.json()['id']}", headers=world.client_p1()
    )
    (provenance,) = [e["resource"] for e in r.json()["entry"]]
    whos = [agent["who"] for agent in provenance["agent"]]
    assert whos[:2] == [{"reference": "PractitionerRole/pr1"}, {"reference": "Organization/o1"}]
    assert "onBehalfOf" not in provenance["agent"][0]


# --------------------------------------------------------------------------- break-the-glass


def emergency(reason: str = "bewusteloos binnengebracht, medicatie onbekend") -> dict[str, str]:
    return {"X-Break-The-Glass-Patient": "p1", "X-Break-The-Glass-Reason": reason}


async def test_break_the_glass_opens_read_only_access_and_tells_the_client(world: World) -> None:
    await world.put(volmacht("RelatedPerson/vm1"))
    headers = world.huisarts()
    assert await world.ids("/fhir/CarePlan", headers) == []
    r = await world.client.get("/fhir/CarePlan", headers={**headers, **emergency()})
    assert [e["resource"]["id"] for e in r.json()["entry"]] == ["plan-p1"]
    # The window stays open without the headers, for this client only, and read-only.
    assert await world.ids("/fhir/Goal", headers) == ["goal-p1"]
    plan = {
        "resourceType": "CarePlan",
        "id": "plan-p1",
        "status": "revoked",
        "intent": "plan",
        "subject": ref("Patient/p1"),
    }
    r = await world.client.put("/fhir/CarePlan/plan-p1", json=plan, headers=headers)
    assert r.status_code == 403
    # The client (and whoever else is told) finds one Communication about it in their plan.
    r = await world.client.get(
        "/fhir/Communication?category=https://zorgleefplan.nl/fhir/CodeSystem/melding|break-the-glass",
        headers=world.client_p1(),
    )
    (notice,) = [e["resource"] for e in r.json()["entry"]]
    assert notice["sender"] == ref("PractitionerRole/pr1")
    assert {"reference": "Patient/p1"} in notice["recipient"]
    assert {"reference": "RelatedPerson/vm1"} in notice["recipient"]
    assert notice["reasonCode"][0]["text"].startswith("bewusteloos")
    # Sending the headers again within the window opens nothing new.
    await world.client.get("/fhir/CarePlan", headers={**headers, **emergency("nog steeds")})
    r = await world.client.get("/fhir/Communication", headers=world.client_p1())
    assert len(r.json()["entry"]) == 1


async def test_a_client_can_forbid_break_the_glass_for_a_named_actor(world: World) -> None:
    await world.put(
        access_consent({"type": "deny", "actor": [actor("PractitionerRole/pr1")]}, "geen-nood")
    )
    headers = {**world.huisarts(), **emergency()}
    r = await world.client.get("/fhir/CarePlan", headers=headers)
    assert r.status_code == 200 and r.json().get("entry", []) == []
    r = await world.client.get("/fhir/Communication", headers=world.client_p1())
    assert r.json().get("entry", []) == []  # nothing opened, nothing announced


async def test_break_the_glass_is_for_practitioners_and_needs_a_reason(world: World) -> None:
    backend = world.headers(organization="Organization/o1", scope="system/*.rs")
    r = await world.client.get("/fhir/CarePlan", headers={**backend, **emergency()})
    assert r.json().get("entry", []) == []
    half = {"X-Break-The-Glass-Patient": "p1"}
    r = await world.client.get("/fhir/CarePlan", headers={**world.huisarts(), **half})
    assert r.status_code == 400
    assert "reason" in r.json()["issue"][0]["diagnostics"]


async def test_break_the_glass_access_ends_with_its_window(world: World) -> None:
    await world.put(
        {
            "resourceType": "Communication",
            "id": "old-emergency",
            "status": "completed",
            "category": [
                {
                    "coding": [
                        {
                            "system": "https://zorgleefplan.nl/fhir/CodeSystem/melding",
                            "code": "break-the-glass",
                        }
                    ]
                }
            ],
            "subject": ref("Patient/p1"),
            "sent": "2026-01-01T08:00:00Z",  # long before the window
            "sender": ref("PractitionerRole/pr1"),
        }
    )
    assert await world.ids("/fhir/CarePlan", world.huisarts()) == []


# --------------------------------------------------------------------------- the access log


async def access_log(world: World) -> list[dict]:
    r = await world.client.get("/fhir/AuditEvent?patient=p1&_count=100", headers=world.client_p1())
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json().get("entry", [])]


def entity_refs(event: dict) -> list[str]:
    return [e["what"]["reference"] for e in event["entity"] if "what" in e]


def basis(event: dict) -> list[str]:
    return [
        x["valueString"]
        for x in event.get("extension", [])
        if x["url"].endswith("audit-decision-basis")
    ]


async def test_a_professionals_read_shows_in_the_clients_access_log(world: World) -> None:
    await world.put(permit("PractitionerRole/pr1", "Goal"))
    r = await world.client.get("/fhir/Goal/goal-p1", headers=world.huisarts())
    assert r.status_code == 200
    (event,) = [e for e in await access_log(world) if e["subtype"][0]["code"] == "read"]
    assert event["action"] == "R" and event["outcome"] == "0"
    assert event["agent"][0]["who"] == ref("PractitionerRole/pr1")
    assert ref("Organization/o1") in [a["who"] for a in event["agent"]]
    assert "Goal/goal-p1/_history/1" in entity_refs(event)
    assert "Patient/p1" in entity_refs(event)
    assert basis(event) == ["consent Consent/toegang provision"]
    # Another client's log does not show it.
    r = await world.client.get("/fhir/AuditEvent?patient=p2", headers=world.headers(patient="p2"))
    assert all(
        "Goal/goal-p1/_history/1" not in entity_refs(e["resource"])
        for e in r.json().get("entry", [])
    )


async def test_searches_and_refusals_are_logged_for_the_client(world: World) -> None:
    await world.put(volmacht("RelatedPerson/vm1"))
    r = await world.client.get("/fhir/Goal?subject=Patient/p1", headers=world.holder())
    assert r.status_code == 200
    r = await world.client.put(
        "/fhir/Consent/volmacht", json=volmacht("RelatedPerson/vm1"), headers=world.holder()
    )
    assert r.status_code == 403
    events = await access_log(world)
    search = next(e for e in events if e["subtype"][0]["code"] == "search-type")
    assert search["action"] == "E"
    assert "Goal/goal-p1/_history/1" in entity_refs(search)
    queries = [e for e in search["entity"] if "query" in e]
    assert queries, "the search query is recorded"
    refused = next(e for e in events if e["outcome"] != "0")
    assert refused["subtype"][0]["code"] == "update"
    assert refused["agent"][0]["who"] == ref("RelatedPerson/vm1")


async def test_break_the_glass_is_an_emergency_record_in_the_log(world: World) -> None:
    r = await world.client.get("/fhir/CarePlan", headers={**world.huisarts(), **emergency()})
    assert r.status_code == 200
    events = await access_log(world)
    flagged = [
        e
        for e in events
        if any(
            x["url"].endswith("audit-emergency") and x["valueBoolean"]
            for x in e.get("extension", [])
        )
    ]
    assert flagged
    assert any(
        c["code"] == "ETREAT" for e in flagged for p in e["purposeOfEvent"] for c in p["coding"]
    )


async def test_an_id_taken_in_another_plan_is_refused_without_showing_anything(
    world: World,
) -> None:
    theirs = {
        "resourceType": "Goal",
        "id": "goal-p1",
        "lifecycleStatus": "active",
        "description": {"text": "overschreven?"},
        "subject": ref("Patient/p2"),
    }
    p2 = world.headers(patient="p2")
    r = await world.client.put("/fhir/Goal/goal-p1", json=theirs, headers=p2)
    assert r.status_code == 409  # p2 may create in their plan, but not under this id
    assert "overschreven" not in r.text and "wandelen" not in r.text
    r = await world.client.get("/fhir/Goal/goal-p1", headers=world.client_p1())
    assert r.json()["description"]["text"] == "wandelen"


# --------------------------------------------------------------------------- $everything


async def test_everything_is_the_plan_as_far_as_the_requester_may_see_it(world: World) -> None:
    r = await world.client.get("/fhir/Patient/p1/$everything", headers=world.client_p1())
    assert r.status_code == 200, r.text
    mine = sorted(
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in r.json()["entry"]
    )
    assert mine == ["CarePlan/plan-p1", "Goal/goal-p1", "Patient/p1", "RelatedPerson/vm1"]
    await world.put(permit("PractitionerRole/pr1", "Goal"))
    r = await world.client.get("/fhir/Patient/p1/$everything", headers=world.huisarts())
    assert [e["resource"]["id"] for e in r.json()["entry"]] == ["goal-p1"]
    # Another client's, an outsider's and a missing client's answers look the same.
    other = world.headers(
        fhir_user="PractitionerRole/pr2", organization="Organization/o2", scope=STAFF_SCOPES
    )
    hidden = await world.client.get("/fhir/Patient/p1/$everything", headers=other)
    missing = await world.client.get("/fhir/Patient/nobody/$everything", headers=other)
    assert hidden.status_code == missing.status_code == 404
    r = await world.client.get("/fhir/Patient/p2/$everything", headers=world.client_p1())
    assert r.status_code == 404


async def test_everything_pages_filters_and_is_audited(world: World) -> None:
    headers = world.client_p1()
    r = await world.client.get("/fhir/Patient/p1/$everything?_count=2", headers=headers)
    seen = [e["resource"]["id"] for e in r.json()["entry"]]
    while next_link := [x["url"] for x in r.json()["link"] if x["relation"] == "next"]:
        r = await world.client.get(next_link[0].removeprefix("http://test"), headers=headers)
        seen += [e["resource"]["id"] for e in r.json()["entry"]]
    assert sorted(seen) == ["goal-p1", "p1", "plan-p1", "vm1"]
    r = await world.client.get("/fhir/Patient/p1/$everything?_type=Goal,CarePlan", headers=headers)
    assert sorted(e["resource"]["id"] for e in r.json()["entry"]) == ["goal-p1", "plan-p1"]
    r = await world.client.get("/fhir/Patient/p1/$everything?onbekend=1", headers=headers)
    assert r.status_code == 400
    r = await world.client.post("/fhir/Patient/p1/$everything", json={}, headers=headers)
    assert r.status_code == 405
    events = await access_log(world)
    assert any(e["subtype"][0]["code"] == "operation" for e in events)


async def test_paging_across_a_consent_change_is_rechecked_on_every_page(world: World) -> None:
    for i in range(4):
        await world.put(
            {
                "resourceType": "Goal",
                "id": f"extra-{i}",
                "lifecycleStatus": "active",
                "description": {"text": f"doel {i}"},
                "subject": ref("Patient/p1"),
            }
        )
    consent = permit("PractitionerRole/pr1", "Goal")
    await world.put(consent)
    r = await world.client.get("/fhir/Goal?_count=2", headers=world.huisarts())
    assert len(r.json()["entry"]) == 2
    next_url = next(x["url"] for x in r.json()["link"] if x["relation"] == "next")
    # The client withdraws the consent between two pages.
    r = await world.client.put(
        "/fhir/Consent/toegang", json={**consent, "status": "inactive"}, headers=world.client_p1()
    )
    assert r.status_code == 200, r.text
    r = await world.client.get(next_url.removeprefix("http://test"), headers=world.huisarts())
    assert r.status_code == 200
    assert r.json().get("entry", []) == []
    assert "extra-" not in r.text and "goal-p1" not in r.text
