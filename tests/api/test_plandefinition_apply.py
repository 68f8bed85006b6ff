"""``POST PlanDefinition/[id]/$apply`` over HTTP: the installed Wlz placement definition becomes
the client's Tasks in one transaction, through the requester's own access; every refusal is a
4xx OperationOutcome and leaves nothing stored."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tests.support import mint_access_token
from zorgleefplan.access import codes as access_codes
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.config import Settings
from zorgleefplan.fhir import plandefinition_apply
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.plan import codes, placement
from zorgleefplan.store.model import AccessConstraint, Page, SearchQuery

APPLY = "/fhir/PlanDefinition/wlz-plaatsing/$apply"
OCO = codes.ONAFHANKELIJKE_CLIENTONDERSTEUNER
ROOT = "http://test"
STAFF_SCOPES = "user/*.cruds"


def ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def parameters(*entries: tuple[str, Any]) -> dict[str, Any]:
    params = []
    for name, value in entries:
        if isinstance(value, bool):
            params.append({"name": name, "valueBoolean": value})
        elif name == "subject":
            params.append({"name": name, "valueString": value})
        else:
            params.append({"name": name, "valueReference": ref(value)})
    return {"resourceType": "Parameters", "parameter": params}


def placement_for(subject: str = "Patient/p1", *, oco: bool = False) -> dict[str, Any]:
    entries: list[tuple[str, Any]] = [
        ("subject", subject),
        (codes.DOSSIERHOUDER, "Organization/aanbieder"),
        (codes.ZORGKANTOOR, "Organization/kantoor"),
    ]
    if oco:
        entries.append((OCO, "Organization/oco"))
    return parameters(*entries)


class Store:
    """The application's store as the unrestricted development principal sees it."""

    def __init__(self, app: FastAPI) -> None:
        self.repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())

    async def put(self, resource: dict[str, Any]) -> None:
        await self.repo.update(resource["resourceType"], resource["id"], resource)

    async def all(self, type_: str) -> list[dict[str, Any]]:
        page = await self.repo.search(SearchQuery((type_,)), Page(count=500))
        return [orjson.loads(row.body) for row in page.rows if row.body]

    async def build(self) -> None:
        for org in ("aanbieder", "kantoor", "oco", "o1"):
            await self.put({"resourceType": "Organization", "id": org, "name": org})
        await self.put({"resourceType": "Practitioner", "id": "dr1"})
        await self.put(
            {
                "resourceType": "PractitionerRole",
                "id": "pr1",
                "practitioner": ref("Practitioner/dr1"),
                "organization": ref("Organization/o1"),
            }
        )
        for patient in ("p1", "p2"):
            await self.put({"resourceType": "Patient", "id": patient})


@pytest.fixture
async def store(dev_app: FastAPI) -> Store:
    built = Store(dev_app)
    await built.build()
    return built


@pytest.fixture
async def secured_store(app: FastAPI) -> Store:
    built = Store(app)
    await built.build()
    return built


def task_ids(plan: dict[str, Any]) -> list[str]:
    (group,) = plan["contained"]
    return [a["resource"]["reference"] for s in group["action"] for a in s["action"]]


def owner_of(task: dict[str, Any]) -> str | None:
    return task.get("owner", {}).get("reference")


# --------------------------------------------------------------------------- the definition


async def test_the_placement_definition_is_installed_on_start(client: httpx.AsyncClient) -> None:
    r = await client.get("/fhir/PlanDefinition/wlz-plaatsing")
    assert r.status_code == 200
    stored = r.json()
    assert stored["meta"]["versionId"] == "1"
    del stored["meta"]
    assert stored == placement.packaged_plan_definition()


async def test_the_capability_statement_lists_apply(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    (resource,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "PlanDefinition"]
    assert {"name": "apply", "definition": plandefinition_apply.DEFINITION} in [
        {k: op[k] for k in ("name", "definition")} for op in resource["operation"]
    ]


# --------------------------------------------------------------------------- applying


@pytest.mark.parametrize("oco", [False, True], ids=["zonder-oco", "met-oco"])
async def test_apply_creates_the_tasks_owned_by_the_parties_in_step_order(
    client: httpx.AsyncClient, store: Store, oco: bool
) -> None:
    r = await client.post(APPLY, json=placement_for(oco=oco))
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["resourceType"] == "CarePlan" and "id" not in plan  # the answer is not stored
    assert await store.all("CarePlan") == []
    tasks = {f"Task/{t['id']}": t for t in await store.all("Task")}
    ordered = [tasks[i] for i in task_ids(plan)]
    assert sorted(tasks) == sorted(task_ids(plan))
    assert len(tasks) == (21 if oco else 22)  # 2.1 only without, OCO owns no task in steps 2-6
    steps = [
        e["valuePositiveInt"] for t in ordered for e in t["extension"] if "plan-stap" in e["url"]
    ]
    assert steps == sorted(steps) and steps[0] == 2
    first = ordered[0]
    assert first["description"].startswith("Wanneer de kans groot is") == oco
    owners = {owner_of(t) for t in ordered}
    assert owners == {"Organization/aanbieder", "Organization/kantoor", None}
    parties = {
        inner["valueReference"]["reference"]
        for t in ordered
        for e in t["extension"]
        if e["url"] == codes.EXT_PARTY
        for inner in e["extension"]
        if inner["url"] == "partij"
    }
    assert ("Organization/oco" in parties) == oco
    assert all(t["for"] == ref("Patient/p1") for t in ordered)
    assert all("requester" not in t for t in ordered)  # the development principal is nobody


async def test_without_a_dossierhouder_only_step_1_applies(
    client: httpx.AsyncClient, store: Store
) -> None:
    body = parameters(
        ("subject", "Patient/p1"),
        (codes.ZORGKANTOOR, "Organization/kantoor"),
        (OCO, "Organization/oco"),
    )
    r = await client.post(APPLY, json=body)
    assert r.status_code == 200, r.text
    tasks = await store.all("Task")
    assert sorted(owner_of(t) or "" for t in tasks) == [
        "Organization/kantoor",
        "Organization/oco",
        "Organization/oco",
    ]
    assert {t["status"] for t in tasks} == {"requested"}


async def test_the_subject_may_be_given_as_a_reference(
    client: httpx.AsyncClient, store: Store
) -> None:
    body = placement_for()
    body["parameter"][0] = {"name": "subject", "valueReference": ref("Patient/p2")}
    body["parameter"].append({"name": "zorgbeeindiging", "valueBoolean": True})
    r = await client.post(APPLY, json=body)
    assert r.status_code == 200, r.text
    tasks = await store.all("Task")
    assert len(tasks) == 23 and {t["for"]["reference"] for t in tasks} == {"Patient/p2"}


# --------------------------------------------------------------------------- refusals


def bad_reference(body: dict[str, Any]) -> dict[str, Any]:
    body["parameter"][2]["valueReference"] = ref("Practitioner/dr1")
    return body


def same_org_twice(body: dict[str, Any]) -> dict[str, Any]:
    body["parameter"][2]["valueReference"] = ref("Organization/aanbieder")
    return body


def unknown_org(body: dict[str, Any]) -> dict[str, Any]:
    body["parameter"][1]["valueReference"] = ref("Organization/nergens")
    return body


def unknown_parameter(body: dict[str, Any]) -> dict[str, Any]:
    body["parameter"].append({"name": "encounter", "valueString": "Encounter/1"})
    return body


def no_subject(body: dict[str, Any]) -> dict[str, Any]:
    del body["parameter"][0]
    return body


def no_zorgkantoor(body: dict[str, Any]) -> dict[str, Any]:
    del body["parameter"][2]
    return body


def unknown_patient(body: dict[str, Any]) -> dict[str, Any]:
    body["parameter"][0]["valueString"] = "Patient/niemand"
    return body


def subject_not_a_patient(body: dict[str, Any]) -> dict[str, Any]:
    body["parameter"][0]["valueString"] = "Organization/kantoor"
    return body


def flag_not_boolean(body: dict[str, Any]) -> dict[str, Any]:
    body["parameter"].append({"name": "zorgbeeindiging", "valueString": "ja"})
    return body


def not_parameters(body: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Basic"}


@pytest.mark.parametrize(
    ("change", "status", "expression"),
    [
        (no_subject, 400, "Parameters.parameter"),
        (no_zorgkantoor, 400, "Parameters.parameter"),
        (subject_not_a_patient, 400, "Parameters.parameter[0].valueString"),
        (unknown_patient, 422, "Parameters.parameter[0]"),
        (bad_reference, 400, "Parameters.parameter[2].valueReference"),
        (unknown_org, 422, "Parameters.parameter[1]"),
        (same_org_twice, 400, "Parameters.parameter[2]"),
        (unknown_parameter, 400, "Parameters.parameter[3].name"),
        (flag_not_boolean, 400, "Parameters.parameter[3]"),
        (not_parameters, 400, None),
    ],
)
async def test_bad_parameters_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, store: Store, change: Any, status: int, expression: str | None
) -> None:
    r = await client.post(APPLY, json=change(placement_for()))
    assert r.status_code == status, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    if expression is not None:
        assert outcome["issue"][0]["expression"] == [expression]
    assert await store.all("Task") == []


async def test_an_unknown_plan_definition_is_404(client: httpx.AsyncClient, store: Store) -> None:
    r = await client.post("/fhir/PlanDefinition/bestaat-niet/$apply", json=placement_for())
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"
    assert await store.all("Task") == []


async def test_a_retired_plan_definition_is_not_applied(
    client: httpx.AsyncClient, store: Store
) -> None:
    retired = {**placement.packaged_plan_definition(), "status": "retired"}
    await store.put(retired)
    r = await client.post(APPLY, json=placement_for())
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["PlanDefinition.status"]
    assert await store.all("Task") == []


async def test_apply_is_post_only(client: httpx.AsyncClient) -> None:
    assert (await client.get(APPLY)).status_code == 405


# --------------------------------------------------------------------------- real tokens


def permit(actor: str, type_: str, action: str) -> dict[str, Any]:
    """The client's Consent permitting ``actor`` one action on one resource type."""
    return {
        "resourceType": "Consent",
        "id": f"toegang-{type_.lower()}",
        "status": "active",
        "scope": {
            "coding": [
                {"system": access_codes.CONSENT_SCOPE_SYSTEM, "code": access_codes.SCOPE_PRIVACY}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": ref("Patient/p1"),
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "v3-ParticipationType",
                                "code": "PRCP",
                            }
                        ]
                    },
                    "reference": ref(actor),
                }
            ],
            "action": [
                {"coding": [{"system": access_codes.CONSENT_ACTION_SYSTEM, "code": action}]}
            ],
            "class": [{"system": access_codes.RESOURCE_TYPES_SYSTEM, "code": type_}],
        },
    }


def staff(settings: Settings) -> dict[str, str]:
    token = mint_access_token(
        settings.data_dir,
        ROOT,
        fhir_user="PractitionerRole/pr1",
        organization="Organization/o1",
        scope=STAFF_SCOPES,
    )
    return {"Authorization": f"Bearer {token}"}


async def test_a_professional_without_write_permission_in_the_plan_is_refused(
    secured_client: httpx.AsyncClient, secured_store: Store, settings: Settings
) -> None:
    # pr1 may read the client and her Tasks, not write them.
    await secured_store.put(permit("PractitionerRole/pr1", "Patient", "access"))
    await secured_store.put(permit("PractitionerRole/pr1", "Task", "access"))
    r = await secured_client.post(APPLY, json=placement_for(), headers=staff(settings))
    assert r.status_code == 403, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert await secured_store.all("Task") == []
    assert await secured_store.all("Provenance") == []


async def test_a_client_the_professional_may_not_see_answers_as_unknown(
    secured_client: httpx.AsyncClient, secured_store: Store, settings: Settings
) -> None:
    hidden = await secured_client.post(APPLY, json=placement_for(), headers=staff(settings))
    missing = await secured_client.post(
        APPLY, json=placement_for("Patient/niemand"), headers=staff(settings)
    )
    assert hidden.status_code == missing.status_code == 422
    assert hidden.json()["issue"][0]["diagnostics"] == "Patient/p1 is not known"
    assert await secured_store.all("Task") == []


async def test_a_professional_permitted_to_correct_tasks_applies_as_requester(
    secured_client: httpx.AsyncClient, secured_store: Store, settings: Settings
) -> None:
    await secured_store.put(permit("PractitionerRole/pr1", "Patient", "access"))
    await secured_store.put(permit("PractitionerRole/pr1", "Task", "correct"))
    r = await secured_client.post(APPLY, json=placement_for(), headers=staff(settings))
    assert r.status_code == 200, r.text
    tasks = await secured_store.all("Task")
    assert len(tasks) == 22
    assert {t["requester"]["reference"] for t in tasks} == {"PractitionerRole/pr1"}
    assert r.json()["author"] == ref("PractitionerRole/pr1")
    provenance = await secured_store.all("Provenance")
    targets = {p["target"][0]["reference"].split("/_history")[0] for p in provenance}
    assert targets == {f"Task/{t['id']}" for t in tasks}


async def test_the_client_applies_in_their_own_plan_but_not_in_anothers(
    secured_client: httpx.AsyncClient, secured_store: Store, settings: Settings
) -> None:
    token = mint_access_token(settings.data_dir, ROOT, patient="p1")
    headers = {"Authorization": f"Bearer {token}"}
    other = await secured_client.post(APPLY, json=placement_for("Patient/p2"), headers=headers)
    assert other.status_code == 422
    own = await secured_client.post(APPLY, json=placement_for(), headers=headers)
    assert own.status_code == 200, own.text
    tasks = await secured_store.all("Task")
    assert {t["for"]["reference"] for t in tasks} == {"Patient/p1"}
    assert {t["requester"]["reference"] for t in tasks} == {"Patient/p1"}
