"""``Patient/[id]/$erase`` with real tokens: the client (or their legal representative) destroys
the whole plan; nothing of it is left in any table or in the database file, the audit log is
kept and records the erasure in counts; everyone else learns nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.test_consent_access import ROOT, STAFF_SCOPES, permit, ref, volmacht
from tests.support import mint_access_token
from zorgleefplan.access import codes
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.config import Settings
from zorgleefplan.errors import Conflict
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.store.model import AccessConstraint

CLIENT = "p1"
# What the client's plan holds and no other record does: none of it may survive the erasure.
NAME = "Geertruida Vernietigd"
BSN = "999911120"
SECRETS = (NAME, BSN, "kaartclub op donderdag", "Hortensiastraat 12", "mentorschap sinds 2019")


def erase_body(patient: str = CLIENT) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "confirm", "valueString": f"Patient/{patient}"}],
    }


class Plans:
    """p1's plan (Patient, CarePlan, a Goal with three versions, a deleted Goal, a volmacht
    holder, a mentor, an access Consent for the huisarts pr1) and p2's plan; p2 has a
    Communication about p1's Goal and the directory an Organization."""

    def __init__(self, app: FastAPI, settings: Settings, client: httpx.AsyncClient) -> None:
        self.repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())
        self.settings = settings
        self.client = client

    async def put(self, resource: dict[str, Any]) -> None:
        await self.repo.update(resource["resourceType"], resource["id"], resource)

    async def build(self) -> None:
        await self.put({"resourceType": "Organization", "id": "o1", "name": "Huisartsen"})
        await self.put({"resourceType": "Practitioner", "id": "dr1"})
        await self.put(
            {
                "resourceType": "PractitionerRole",
                "id": "pr1",
                "practitioner": ref("Practitioner/dr1"),
                "organization": ref("Organization/o1"),
            }
        )
        await self.put(
            {
                "resourceType": "Patient",
                "id": CLIENT,
                "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": BSN}],
                "name": [{"text": NAME}],
                "address": [{"line": ["Hortensiastraat 12"]}],
            }
        )
        await self.put({"resourceType": "Patient", "id": "p2", "name": [{"text": "Bert Blijft"}]})
        for patient in (CLIENT, "p2"):
            await self.put(
                {
                    "resourceType": "CarePlan",
                    "id": f"plan-{patient}",
                    "status": "active",
                    "intent": "plan",
                    "subject": ref(f"Patient/{patient}"),
                }
            )
        for text in ("wandelen", "fietsen", "kaartclub op donderdag"):
            await self.put(self.goal("goal-p1", text))
        await self.put(self.goal("old-goal", "kaartclub op donderdag"))
        await self.repo.delete("Goal", "old-goal")
        await self.put(self.goal("goal-p2", "tuinieren", "p2"))
        await self.put(
            {
                "resourceType": "Communication",
                "id": "note-p2",
                "status": "completed",
                "subject": ref("Patient/p2"),
                "about": [ref("Goal/goal-p1")],
            }
        )
        for id_, extra in (
            ("vm1", {}),
            (
                "mentor",
                {
                    "relationship": [
                        {"coding": [{"system": codes.CONTACT_ROLE_SYSTEM, "code": codes.MENTOR}]}
                    ],
                    "name": [{"text": "mentorschap sinds 2019"}],
                },
            ),
        ):
            await self.put(
                {
                    "resourceType": "RelatedPerson",
                    "id": id_,
                    "active": True,
                    "patient": ref(f"Patient/{CLIENT}"),
                    **extra,
                }
            )
        await self.put(volmacht("RelatedPerson/vm1"))
        await self.put(permit("PractitionerRole/pr1", "Goal"))

    @staticmethod
    def goal(id_: str, text: str, patient: str = CLIENT) -> dict[str, Any]:
        return {
            "resourceType": "Goal",
            "id": id_,
            "lifecycleStatus": "active",
            "description": {"text": text},
            "subject": ref(f"Patient/{patient}"),
        }

    def headers(self, **kwargs: Any) -> dict[str, str]:
        token = mint_access_token(self.settings.data_dir, ROOT, **kwargs)
        return {"Authorization": f"Bearer {token}"}

    def client_p1(self, **kwargs: Any) -> dict[str, str]:
        return self.headers(patient=CLIENT, **kwargs)

    def holder(self) -> dict[str, str]:
        return self.headers(fhir_user="RelatedPerson/vm1", patient=CLIENT)

    def mentor(self) -> dict[str, str]:
        return self.headers(fhir_user="RelatedPerson/mentor", patient=CLIENT)

    def huisarts(self) -> dict[str, str]:
        return self.headers(
            fhir_user="PractitionerRole/pr1", organization="Organization/o1", scope=STAFF_SCOPES
        )

    async def erase(
        self, headers: dict[str, str], patient: str = CLIENT, **kw: Any
    ) -> httpx.Response:
        body = kw.pop("json", erase_body(patient))
        return await self.client.post(
            f"/fhir/Patient/{patient}/$erase", json=body, headers=headers, **kw
        )

    async def log(self) -> list[dict[str, Any]]:
        r = await self.client.get(
            f"/fhir/AuditEvent?patient={CLIENT}&_count=500", headers=self.client_p1()
        )
        assert r.status_code == 200, r.text
        return [e["resource"] for e in r.json().get("entry", [])]

    async def ids_of(self, patient: str) -> list[str]:
        """The ids in ``patient``'s plan, as that client sees them."""
        r = await self.client.get(
            f"/fhir/Patient/{patient}/$everything", headers=self.headers(patient=patient)
        )
        assert r.status_code == 200, r.text
        return sorted(e["resource"]["id"] for e in r.json().get("entry", []))

    async def intact(self) -> bool:
        r = await self.client.get("/fhir/Goal/goal-p1", headers=self.client_p1())
        return r.status_code == 200


@pytest.fixture
async def plans(app: FastAPI, settings: Settings, secured_client: httpx.AsyncClient) -> Plans:
    built = Plans(app, settings, secured_client)
    await built.build()
    return built


def _details(event: dict[str, Any]) -> dict[str, str]:
    (patient,) = [e for e in event["entity"] if e["what"]["reference"] == f"Patient/{CLIENT}"]
    return {d["type"]: d["valueString"] for d in patient["detail"]}


def _database(settings: Settings) -> bytes:
    path = settings.database_path
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def test_the_client_erases_the_plan_and_nothing_of_it_is_left(plans: Plans) -> None:
    client = plans.client
    mine = plans.client_p1()
    # Some history first: the client's own change (with Provenance), a professional's read.
    r = await client.post("/fhir/Goal", json=plans.goal("x", "zwemmen"), headers=mine)
    assert r.status_code == 201, r.text
    new_goal = r.json()["id"]
    assert (await client.get("/fhir/Goal/goal-p1", headers=plans.huisarts())).status_code == 200
    assert NAME.encode() in _database(plans.settings)

    r = await plans.erase(mine)
    assert r.status_code == 200, r.text
    result = {p["name"]: p for p in r.json()["parameter"]}
    erased = {
        part["part"][0]["valueCode"]: part["part"][1]["valueInteger"]
        for part in r.json()["parameter"]
        if part["name"] == "erased"
    }
    assert erased == {
        "CarePlan": 1,
        "Consent": 2,
        "Goal": 3,
        "Patient": 1,
        "Provenance": 1,
        "RelatedPerson": 2,
    }
    assert result["resources"]["valueInteger"] == 10
    assert result["versions"]["valueInteger"] == 13  # goal-p1 3, old-goal 2 (a deletion)

    # Reads are 404, not 410: no history is left to say that anything was there.
    for path in (
        "Patient/p1",
        "Goal/goal-p1",
        f"Goal/{new_goal}",
        "Goal/old-goal",
        "Goal/goal-p1/_history/1",
        "Goal/goal-p1/_history",
        "Patient/p1/$everything",
    ):
        assert (await client.get(f"/fhir/{path}", headers=mine)).status_code == 404, path
    for path in ("Goal", "Provenance", "Goal/_history", "Consent"):
        r = await client.get(f"/fhir/{path}", headers=mine)
        assert r.status_code == 200 and r.json().get("entry", []) == [], path
    r = await client.get("/fhir/_history", headers=mine)  # only shared data is left
    left = {e["resource"]["resourceType"] for e in r.json()["entry"]}
    # the directory, and the PlanDefinitions the server installs
    assert left == {"Organization", "Practitioner", "PractitionerRole", "PlanDefinition"}
    assert await plans.ids_of("p2") == ["goal-p2", "note-p2", "p2", "plan-p2"]
    # An erased id cannot bring the plan back, not for the client and not for the operator.
    r = await client.put("/fhir/Goal/goal-p1", json=plans.goal("goal-p1", "terug"), headers=mine)
    assert r.status_code == 409, r.text
    assert "wandelen" not in r.text
    with pytest.raises(Conflict):
        await plans.put({"resourceType": "Patient", "id": CLIENT})

    # The access log is kept, and says what went in counts.
    log = await plans.log()
    erasure = next(e for e in log if e["subtype"][0]["code"] == "erase")
    assert erasure["action"] == "D" and erasure["outcome"] == "0"
    assert result["auditEvent"]["valueReference"] == {"reference": f"AuditEvent/{erasure['id']}"}
    assert erasure["agent"][0]["who"] == ref(f"Patient/{CLIENT}")
    assert _details(erasure) == {
        **{t: str(n) for t, n in erased.items()},
        "resources": "10",
        "versions": "13",
    }
    assert any(e["subtype"][0]["code"] == "read" for e in log), "earlier records are kept"
    r = await client.get(f"/fhir/AuditEvent/{erasure['id']}", headers=mine)
    assert r.status_code == 200

    # p2's note about the erased Goal is p2's record: it stays, its reference dangling.
    r = await client.get("/fhir/Communication/note-p2", headers=plans.headers(patient="p2"))
    assert r.json()["about"] == [ref("Goal/goal-p1")]

    # Nothing of the plan is left in any table but the audit log (and that reference of p2's
    # note), nor anywhere in the database file.
    with sqlite3.connect(plans.settings.database_path) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"resource", "resource_version", "idx_string", "retired_id"} <= set(tables)
        (note,) = db.execute("SELECT rid FROM resource WHERE id = 'note-p2'").fetchone()
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):
                text = " ".join(str(v) for v in row)
                for secret in SECRETS:
                    assert secret not in text, (table, secret)
                of_the_note = (table == "resource_version" and row[2] == "note-p2") or (
                    table == "idx_reference" and row[0] == note
                )
                if table != "audit_event" and not of_the_note:
                    for trace in ("Patient/p1", "goal-p1", "old-goal", "plan-p1", new_goal):
                        assert trace not in text, (table, trace)
        assert db.execute("SELECT COUNT(*) FROM audit_event WHERE patient = 'p1'").fetchone()[0]
        assert db.execute("SELECT COUNT(*) FROM resource WHERE compartment = 'p1'").fetchone() == (
            0,
        )
    raw = _database(plans.settings)
    for secret in SECRETS:
        assert secret.encode() not in raw, secret


async def test_a_legal_representative_erases_on_behalf_of_the_client(plans: Plans) -> None:
    r = await plans.erase(plans.mentor())
    assert r.status_code == 200, r.text
    assert not await plans.intact()
    erasure = next(e for e in await plans.log() if e["subtype"][0]["code"] == "erase")
    person = erasure["agent"][0]
    assert person["who"] == ref("RelatedPerson/mentor")
    assert {"valueReference": ref(f"Patient/{CLIENT}")} in [
        {"valueReference": x["valueReference"]} for x in person["extension"]
    ]
    basis = [x["valueString"] for x in erasure["extension"]]
    assert basis == ["representative RelatedPerson/mentor"]


async def test_no_one_else_may_erase_and_those_who_cannot_see_the_client_learn_nothing(
    plans: Plans,
) -> None:
    regie_team = {
        "resourceType": "CareTeam",
        "id": "team",
        "status": "active",
        "subject": ref(f"Patient/{CLIENT}"),
        "participant": [
            {
                "role": [
                    {"coding": [{"system": codes.ZLP_ROLE_SYSTEM, "code": codes.REGIEBEHANDELAAR}]}
                ],
                "member": ref("PractitionerRole/pr1"),
                "period": {"start": "2020-01-01T00:00:00Z"},
            }
        ],
    }
    await plans.put(regie_team)
    outsider = plans.headers(
        fhir_user="PractitionerRole/pr9", organization="Organization/o9", scope=STAFF_SCOPES
    )
    # Those who see the client are refused; the reason names no data.
    for who in (plans.holder(), plans.huisarts()):
        r = await plans.erase(who)
        assert r.status_code == 403, r.text
        assert "legal representative" in r.text and "wandelen" not in r.text
    # Those who do not get the answer a client who never existed gets.
    answers = []
    for who in (
        outsider,
        plans.headers(patient="p2"),
        plans.headers(organization="Organization/o1", scope="system/*.cruds"),
    ):
        r = await plans.erase(who)
        answers.append((r.status_code, r.json()["issue"][0]["diagnostics"]))
    r = await plans.erase(outsider, "nobody")
    answers.append((r.status_code, r.json()["issue"][0]["diagnostics"].replace("nobody", CLIENT)))
    assert {a for a in answers} == {(404, f"Patient/{CLIENT} is not known")}
    # The client erasing a plan that is not theirs, or one that does not exist: 404 too.
    r = await plans.erase(plans.client_p1(), "p2")
    assert r.status_code == 404
    assert (await plans.erase(plans.headers(patient="nobody"), "nobody")).status_code == 404
    assert await plans.intact()
    assert await plans.ids_of("p2") == ["goal-p2", "note-p2", "p2", "plan-p2"]


async def test_the_erasure_must_be_confirmed_for_this_client(plans: Plans) -> None:
    mine = plans.client_p1()
    wrong = [
        (None, "Parameters"),
        ({"resourceType": "Patient"}, "Parameters"),
        ({"resourceType": "Parameters"}, "Parameters.parameter"),
        (erase_body("p2"), "Parameters.parameter[0].valueString"),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "confirm", "valueBoolean": True}],
            },
            "Parameters.parameter[0].valueString",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [*erase_body()["parameter"], {"name": "force"}],
            },
            "Parameters.parameter[1].name",
        ),
    ]
    for body, path in wrong:
        if body is None:
            r = await plans.client.post(f"/fhir/Patient/{CLIENT}/$erase", headers=mine)
        else:
            r = await plans.erase(mine, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["issue"][0]["expression"] == [path], body
    r = await plans.erase(mine, params={"confirm": f"Patient/{CLIENT}"})
    assert r.status_code == 400
    r = await plans.client.get(f"/fhir/Patient/{CLIENT}/$erase", headers=mine)
    assert r.status_code == 405
    # A token that may not delete everything the plan holds may not erase it.
    r = await plans.erase(plans.client_p1(scope="launch/patient patient/*.rs patient/Patient.d"))
    assert r.status_code == 403 and "scope" in r.text
    assert await plans.intact()
    meta = await plans.client.get("/fhir/metadata")
    patient = next(x for x in meta.json()["rest"][0]["resource"] if x["type"] == "Patient")
    assert {
        "name": "erase",
        "definition": "https://zorgleefplan.nl/fhir/OperationDefinition/Patient-erase",
    }.items() <= next(op for op in patient["operation"] if op["name"] == "erase").items()
