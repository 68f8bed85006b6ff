"""Profiles over the API: writes that break a claimed profile or a Dutch identifier are refused,
``$validate`` reports without storing (and without revealing what the caller may not read), the
project's SearchParameters find the regiebehandelaar and the volmacht, and the
CapabilityStatement lists it all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.profile_examples import (
    VALID,
    Json,
    client,
    naaste,
    ref,
    zorgleefplan,
)
from tests.support import mint_access_token
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.plan import codes
from zorgleefplan.plan.identifiers import BIG
from zorgleefplan.store.model import AccessConstraint

ROOT = "http://test"


def network() -> list[Json]:
    """The example of every profile, with the resources they refer to."""
    supporting: list[Json] = [
        {"resourceType": "PractitionerRole", "id": id_}
        for id_ in ("wijkverpleegkundige", "psychiater", "spv", "huisarts")
    ]
    buur = {**naaste(), "id": "buur", "relationship": [naaste()["relationship"][1]]}
    goal = {
        "resourceType": "Goal",
        "id": "wandelen",
        "lifecycleStatus": "active",
        "description": {"text": "Elke dag een half uur wandelen"},
        "subject": ref("Patient/p1"),
    }
    return [*(make() for make in VALID.values()), *supporting, buur, goal]


def transaction(resources: list[Json]) -> Json:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


@pytest.fixture
async def stored(client: httpx.AsyncClient) -> httpx.AsyncClient:
    r = await client.post("/fhir", json=transaction(network()))
    assert r.status_code == 200, r.text
    return client


def error(r: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    first: dict[str, Any] = body["issue"][0]
    assert first["severity"] == "error"
    return first


def outcome(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def all_ok(r: httpx.Response) -> None:
    (only,) = outcome(r)
    assert only["severity"] == "information" and "No problems found" in only["diagnostics"]


# --------------------------------------------------------------------------- writes


async def test_a_conforming_network_is_stored(stored: httpx.AsyncClient) -> None:
    for resource in network():
        r = await stored.get(f"/fhir/{resource['resourceType']}/{resource['id']}")
        assert r.status_code == 200, (resource["id"], r.text)


async def test_a_write_breaking_its_profile_is_refused(stored: httpx.AsyncClient) -> None:
    plan = zorgleefplan()
    del plan["extension"]
    del plan["id"]
    issue = error(await stored.post("/fhir/CarePlan", json=plan))
    assert issue["expression"] == ["CarePlan.extension"]
    assert "'volmacht'" in issue["diagnostics"] and "profile Zorgleefplan" in issue["diagnostics"]
    r = await stored.get("/fhir/CarePlan", params={"subject": "Patient/p1"})
    assert r.json()["total"] == 1  # only the stored plan

    changed = {**zorgleefplan(), "intent": "order"}
    issue = error(await stored.put("/fhir/CarePlan/plan", json=changed))
    assert issue["expression"] == ["CarePlan.intent"] and "must be 'plan'" in issue["diagnostics"]
    assert (await stored.get("/fhir/CarePlan/plan")).json()["meta"]["versionId"] == "1"


async def test_a_patch_breaking_the_profile_is_refused(stored: httpx.AsyncClient) -> None:
    r = await stored.patch(
        "/fhir/Patient/p1",
        json=[{"op": "remove", "path": "/name"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert error(r)["expression"] == ["Patient.name"]
    assert (await stored.get("/fhir/Patient/p1")).json()["meta"]["versionId"] == "1"


async def test_a_transaction_with_one_bad_entry_stores_nothing(client: httpx.AsyncClient) -> None:
    resources = network()
    bad = next(r for r in resources if r["id"] == "dochter")
    del bad["name"]
    r = await client.post("/fhir", json=transaction(resources))
    assert 400 <= r.status_code < 500
    assert "RelatedPerson.name" in r.text
    assert (await client.get("/fhir/Patient/p1")).status_code == 404


async def test_claims_unknown_profiles_of_ours_are_refused_foreign_ones_accepted(
    client: httpx.AsyncClient,
) -> None:
    person = {
        "resourceType": "Practitioner",
        "meta": {"profile": [codes.structure_definition("x")]},
    }
    issue = error(await client.post("/fhir/Practitioner", json=person))
    assert issue["expression"] == ["Practitioner.meta.profile[0]"]
    assert issue["code"] == "not-supported"
    person["meta"]["profile"] = [
        "http://nictiz.nl/fhir/StructureDefinition/nl-core-HealthProfessional-Practitioner"
    ]
    assert (await client.post("/fhir/Practitioner", json=person)).status_code == 201


async def test_dutch_identifiers_are_checked_on_every_write(client: httpx.AsyncClient) -> None:
    person = {"resourceType": "Practitioner", "identifier": [{"system": BIG, "value": "1234"}]}
    issue = error(await client.post("/fhir/Practitioner", json=person))
    assert issue["expression"] == ["Practitioner.identifier[0].value"]
    assert "BIG number has 11 digits" in issue["diagnostics"]
    person["identifier"][0]["value"] = "19012345601"
    assert (await client.post("/fhir/Practitioner", json=person)).status_code == 201


# --------------------------------------------------------------------------- $validate, type level


async def test_validate_a_conforming_resource(client: httpx.AsyncClient) -> None:
    all_ok(await client.post("/fhir/Patient/$validate", json=client_without_id()))
    r = await client.get("/fhir/Patient")
    assert r.json()["total"] == 0  # nothing stored


def client_without_id() -> Json:
    patient = client()
    del patient["id"]
    return patient


async def test_validate_reports_every_problem(client: httpx.AsyncClient) -> None:
    patient = client_without_id()
    patient["identifier"][0]["value"] = "999911121"
    del patient["name"]
    issues = outcome(await client.post("/fhir/Patient/$validate", json=patient))
    assert [(i["severity"], i["expression"]) for i in issues] == [
        ("error", ["Patient.identifier[0].value"]),
        ("error", ["Patient.name"]),
    ]
    assert "elfproef" in issues[0]["diagnostics"]


async def test_validate_reports_structural_errors(client: httpx.AsyncClient) -> None:
    issues = outcome(
        await client.post("/fhir/Patient/$validate", json={"resourceType": "Patient", "hair": 1})
    )
    assert issues[0]["severity"] == "error" and issues[0]["expression"] == ["Patient.hair"]


async def test_validate_against_the_profile_parameter(client: httpx.AsyncClient) -> None:
    plain = {"resourceType": "Patient", "gender": "female"}
    all_ok(await client.post("/fhir/Patient/$validate", json=plain))
    r = await client.post(
        "/fhir/Patient/$validate", params={"profile": codes.PROFILE_CLIENT}, json=plain
    )
    assert {tuple(i["expression"]) for i in outcome(r)} == {
        ("Patient.identifier",),
        ("Patient.name",),
    }
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": plain},
            {"name": "mode", "valueCode": "profile"},
            {"name": "profile", "valueUri": codes.PROFILE_CLIENT},
        ],
    }
    assert len(outcome(await client.post("/fhir/Patient/$validate", json=parameters))) == 3


async def test_validate_reports_warnings_and_foreign_profiles(client: httpx.AsyncClient) -> None:
    plan = zorgleefplan()
    del plan["goal"]
    plan["meta"]["profile"].append("http://example.org/fhir/StructureDefinition/plan")
    issues = outcome(await client.post("/fhir/CarePlan/$validate", json=plan))
    assert [i["severity"] for i in issues] == ["warning", "information"]
    assert "zlp-plan-1" in issues[0]["diagnostics"]
    assert "not validated against it" in issues[1]["diagnostics"]


@pytest.mark.parametrize(
    ("params", "body", "fragment"),
    [
        ({}, None, "needs the resource"),
        ({}, {"resourceType": "Goal"}, "must be a Patient or a Parameters"),
        ({"mode": "replace"}, {"resourceType": "Patient"}, "mode must be one of"),
        ({"mode": "delete"}, {"resourceType": "Patient"}, "mode delete needs"),
        ({"mode": "update"}, {"resourceType": "Patient"}, "mode update needs the resource's id"),
        ({"mode": "profile"}, {"resourceType": "Patient"}, "needs the profile parameter"),
        ({"color": "red"}, {"resourceType": "Patient"}, "does not take the parameter"),
        (
            {},
            {"resourceType": "Parameters", "parameter": [{"name": "strict", "valueBoolean": True}]},
            "takes the parameters resource, mode and profile",
        ),
        (
            {},
            {"resourceType": "Parameters", "parameter": [{"name": "mode", "valueString": "x"}]},
            "mode must be given as valueCode",
        ),
    ],
)
async def test_validate_refuses_a_request_it_cannot_do(
    client: httpx.AsyncClient, params: dict[str, str], body: Json | None, fragment: str
) -> None:
    r = await client.post("/fhir/Patient/$validate", params=params, json=body)
    assert fragment in error(r, 400)["diagnostics"]


@pytest.mark.parametrize(
    "profile", [codes.structure_definition("onbekend"), "http://example.org/StructureDefinition/x"]
)
async def test_validate_refuses_an_unknown_profile(client: httpx.AsyncClient, profile: str) -> None:
    r = await client.post(
        "/fhir/Patient/$validate", params={"profile": profile}, json={"resourceType": "Patient"}
    )
    assert "is not known to this server" in error(r, 400)["diagnostics"]


async def test_validate_an_update_at_the_type_level(stored: httpx.AsyncClient) -> None:
    all_ok(await stored.post("/fhir/Patient/$validate", params={"mode": "update"}, json=client()))
    missing = {**client(), "id": "nobody"}
    r = await stored.post("/fhir/Patient/$validate", params={"mode": "update"}, json=missing)
    assert error(r, 404)["code"] == "not-found"


# --------------------------------------------------------------------------- $validate, instance


async def test_validate_a_stored_resource(stored: httpx.AsyncClient) -> None:
    all_ok(await stored.get("/fhir/CarePlan/plan/$validate"))
    all_ok(await stored.post("/fhir/CarePlan/plan/$validate"))
    goal = (await stored.get("/fhir/Goal/wandelen/$validate")).json()
    assert goal["issue"][0]["severity"] == "information"
    r = await stored.get(
        "/fhir/PractitionerRole/huisarts/$validate", params={"profile": codes.PROFILE_CLIENT}
    )
    assert "a profile of Patient, not of PractitionerRole" in outcome(r)[0]["diagnostics"]


async def test_validate_a_new_version_of_a_stored_resource(stored: httpx.AsyncClient) -> None:
    changed = {**zorgleefplan(), "careTeam": [ref("CareTeam/netwerk"), ref("CareTeam/ander")]}
    issues = outcome(await stored.post("/fhir/CarePlan/plan/$validate", json=changed))
    assert issues[0]["expression"] == ["CarePlan.careTeam"]
    assert (await stored.get("/fhir/CarePlan/plan")).json()["meta"]["versionId"] == "1"
    other = {**zorgleefplan(), "id": "ander"}
    r = await stored.post("/fhir/CarePlan/plan/$validate", json=other)
    assert "must equal the id in the URL" in error(r, 400)["diagnostics"]


async def test_validate_modes_at_the_instance_level(stored: httpx.AsyncClient) -> None:
    (note,) = outcome(await stored.get("/fhir/Task/boodschappen/$validate?mode=delete"))
    assert note["severity"] == "information" and "Task/boodschappen exists" in note["diagnostics"]
    assert (await stored.get("/fhir/Task/boodschappen")).status_code == 200  # not deleted
    r = await stored.post("/fhir/Patient/p1/$validate?mode=create", json=client())
    assert "mode create is for" in error(r, 400)["diagnostics"]
    assert error(await stored.get("/fhir/Patient/nobody/$validate"), 404)["code"] == "not-found"


# --------------------------------------------------------------------------- $validate and access


@pytest.fixture
async def secured(app: FastAPI, settings: Settings, secured_client: httpx.AsyncClient) -> Settings:
    repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())
    async with repo.transaction() as tx:
        for resource in network():
            await tx.update(resource["resourceType"], resource["id"], resource)
    return settings


def bearer(settings: Settings, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_access_token(settings.data_dir, ROOT, **kwargs)}"}


async def test_validate_never_reveals_what_the_caller_may_not_read(
    secured: Settings, secured_client: httpx.AsyncClient
) -> None:
    """A professional the client's access Consent does not name: as for a read."""
    stranger = bearer(secured, fhir_user="PractitionerRole/spv", scope="user/*.cruds")
    calls = [
        ("GET", "/fhir/CarePlan/plan/$validate", None),
        ("POST", "/fhir/CarePlan/plan/$validate", None),
        ("GET", "/fhir/Task/boodschappen/$validate?mode=delete", None),
        ("POST", "/fhir/Patient/$validate?mode=update", client()),
    ]
    for method, url, body in calls:
        r = await secured_client.request(method, url, json=body, headers=stranger)
        assert error(r, 404)["diagnostics"].endswith("is not known"), (url, r.text)
    # The huisarts the access Consent permits, and the client, may.
    huisarts = bearer(secured, fhir_user="PractitionerRole/huisarts", scope="user/*.cruds")
    all_ok(await secured_client.get("/fhir/CarePlan/plan/$validate", headers=huisarts))
    own = bearer(secured, patient="p1")
    all_ok(await secured_client.get("/fhir/CarePlan/plan/$validate", headers=own))


async def test_validate_needs_the_scope_for_what_it_checks(
    secured: Settings, secured_client: httpx.AsyncClient
) -> None:
    read_only = bearer(secured, patient="p1", scope="launch/patient patient/Patient.rs")
    all_ok(await secured_client.get("/fhir/Patient/p1/$validate", headers=read_only))
    for r in (
        await secured_client.post("/fhir/Patient/$validate", json=client(), headers=read_only),
        await secured_client.get("/fhir/Patient/p1/$validate?mode=update", headers=read_only),
        await secured_client.get("/fhir/Patient/p1/$validate?mode=delete", headers=read_only),
        await secured_client.get("/fhir/CarePlan/plan/$validate", headers=read_only),
    ):
        assert error(r, 403)["code"] == "forbidden"
    writer = bearer(secured, patient="p1", scope="launch/patient patient/Patient.cu")
    all_ok(await secured_client.post("/fhir/Patient/$validate", json=client(), headers=writer))


# --------------------------------------------------------------------------- search parameters


async def ids(client: httpx.AsyncClient, path: str, **params: str) -> list[str]:
    r = await client.get(f"/fhir/{path}", params=params)
    assert r.status_code == 200, r.text
    return sorted(
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in r.json().get("entry", [])
    )


async def test_find_the_regiebehandelaar(stored: httpx.AsyncClient) -> None:
    found = await ids(
        stored, "CareTeam", subject="Patient/p1", _include="CareTeam:regiebehandelaar"
    )
    assert found == ["CareTeam/netwerk", "PractitionerRole/wijkverpleegkundige"]
    found = await ids(
        stored, "PractitionerRole", **{"_has:CareTeam:regiebehandelaar:subject": "Patient/p1"}
    )
    assert found == ["PractitionerRole/wijkverpleegkundige"]
    assert await ids(stored, "CareTeam", regiebehandelaar="PractitionerRole/psychiater") == []


async def test_find_participants_by_role(stored: httpx.AsyncClient) -> None:
    token = f"{codes.ROLE_SYSTEM}|{codes.MANTELZORGER}"
    assert await ids(stored, "CareTeam", **{"participant-role": token}) == ["CareTeam/netwerk"]
    token = f"{codes.ROLE_SYSTEM}|{codes.VRIJWILLIGER}"
    assert await ids(stored, "CareTeam", **{"participant-role": token}) == []


async def test_find_the_volmacht_and_its_holder(stored: httpx.AsyncClient) -> None:
    assert await ids(stored, "Consent", gevolmachtigde="RelatedPerson/dochter") == [
        "Consent/volmacht"
    ]
    assert await ids(stored, "Consent", gevolmachtigde="RelatedPerson/buur") == []
    found = await ids(stored, "Consent", patient="Patient/p1", _include="Consent:gevolmachtigde")
    assert found == ["Consent/toegang", "Consent/volmacht", "RelatedPerson/dochter"]
    found = await ids(stored, "CarePlan", volmacht="Consent/volmacht", _include="CarePlan:volmacht")
    assert found == ["CarePlan/plan", "Consent/volmacht"]


# --------------------------------------------------------------------------- CapabilityStatement


async def test_capability_statement_lists_profiles_search_parameters_and_validate(
    client: httpx.AsyncClient,
) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    rest = statement["rest"][0]
    assert "accepted without validation" in rest["documentation"]
    resources = {r["type"]: r for r in rest["resource"]}
    assert resources["Consent"]["supportedProfile"] == [
        codes.PROFILE_TOEGANGSTOESTEMMING,
        codes.PROFILE_VOLMACHTVERLENING,
    ]
    assert resources["CarePlan"]["supportedProfile"] == [codes.PROFILE_ZORGLEEFPLAN]
    assert "supportedProfile" not in resources["Goal"]
    params = {p["name"]: p["definition"] for p in resources["CareTeam"]["searchParam"]}
    assert (
        params["regiebehandelaar"]
        == f"{codes.CANONICAL_BASE}/SearchParameter/careteam-regiebehandelaar"
    )
    validate = [op for op in resources["Task"]["operation"] if op["name"] == "validate"]
    assert [op["definition"] for op in validate] == [
        "http://hl7.org/fhir/OperationDefinition/Resource-validate"
    ]
    assert "operation" not in resources["AuditEvent"]
