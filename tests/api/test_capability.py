"""The CapabilityStatement is true: everything it lists works, and it lists what works."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from zorgleefplan.fhir.resource_types import SUPPORTED_TYPES

SAMPLE_VALUES = {
    "token": "x",
    "string": "x",
    "date": "2020-01-01",
    "uri": "http://example.org/x",
    "quantity": "5",
    "number": "5",
}


def reference_value(param: dict[str, Any], statement: dict[str, Any], type_: str) -> str:
    return "Patient/1" if "patient" in param["name"] else "1"


@pytest.fixture
async def statement(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/fhir/metadata")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    return r.json()


async def test_lists_every_served_type_with_every_interaction(statement: dict[str, Any]) -> None:
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == set(SUPPORTED_TYPES)
    # AuditEvent is written by the server into an append-only log: read and search only.
    audit = resources.pop("AuditEvent")
    assert {i["code"] for i in audit["interaction"]} == {"read", "search-type"}
    assert audit["searchInclude"] == [] and audit["searchRevInclude"] == []
    assert [p["name"] for p in audit["searchParam"]] == ["patient"]
    for r in resources.values():
        assert not any(rev.startswith("AuditEvent:") for rev in r["searchRevInclude"])
        codes = {i["code"] for i in r["interaction"]}
        assert codes == {
            "read",
            "vread",
            "update",
            "patch",
            "delete",
            "history-instance",
            "history-type",
            "create",
            "search-type",
        }
    system = {i["code"] for i in statement["rest"][0]["interaction"]}
    assert system == {"transaction", "batch", "search-system", "history-system"}


async def test_every_listed_search_parameter_is_accepted(
    client: httpx.AsyncClient, statement: dict[str, Any]
) -> None:
    checked = 0
    for resource in statement["rest"][0]["resource"]:
        type_ = resource["type"]
        for param in resource["searchParam"]:
            kind = param["type"]
            value = (
                reference_value(param, statement, type_)
                if kind == "reference"
                else SAMPLE_VALUES.get(kind, "x")
            )
            r = await client.get(f"/fhir/{type_}", params={param["name"]: value})
            assert r.status_code == 200, (type_, param["name"], r.text)
            checked += 1
    assert checked > 250


async def test_every_listed_include_is_accepted(
    client: httpx.AsyncClient, statement: dict[str, Any]
) -> None:
    for resource in statement["rest"][0]["resource"]:
        type_ = resource["type"]
        for include in resource["searchInclude"]:
            r = await client.get(f"/fhir/{type_}", params={"_include": include})
            assert r.status_code == 200, (type_, include, r.text)
        for rev in resource["searchRevInclude"]:
            r = await client.get(f"/fhir/{type_}", params={"_revinclude": rev})
            assert r.status_code == 200, (type_, rev, r.text)


async def test_unlisted_parameters_are_refused(
    client: httpx.AsyncClient, statement: dict[str, Any]
) -> None:
    listed = {
        p["name"]
        for r in statement["rest"][0]["resource"]
        if r["type"] == "CarePlan"
        for p in r["searchParam"]
    }
    assert "patient" in listed and "subject" in listed and "_lastUpdated" in listed
    r = await client.get("/fhir/CarePlan", params={"_text": "x"})
    assert r.status_code == 400


async def test_the_audit_event_interactions_it_does_not_list_are_refused(
    client: httpx.AsyncClient,
) -> None:
    event = {"resourceType": "AuditEvent", "id": "a1"}
    refused = [
        client.post("/fhir/AuditEvent", json=event),
        client.put("/fhir/AuditEvent/a1", json=event),
        client.delete("/fhir/AuditEvent/a1"),
        client.get("/fhir/AuditEvent/a1/_history"),
        client.get("/fhir/AuditEvent/a1/_history/1"),
        client.get("/fhir/AuditEvent/_history"),
    ]
    for call in refused:
        r = await call
        assert r.status_code == 405, (r.request.method, r.request.url, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"
    assert (await client.get("/fhir/AuditEvent", params={"patient": "p1"})).status_code == 200
    assert (await client.get("/fhir/AuditEvent/a1")).status_code == 404


async def test_every_listed_operation_works_and_no_other_is_served(
    statement: dict[str, Any], client: httpx.AsyncClient
) -> None:
    listed = {
        (r["type"], op["name"])
        for r in statement["rest"][0]["resource"]
        for op in r.get("operation", [])
    }
    assert listed == {("Patient", "everything"), ("CarePlan", "summary"), ("CarePlan", "checklist")}
    r = await client.put("/fhir/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert r.status_code == 201
    r = await client.get("/fhir/Patient/p1/$everything")
    assert r.status_code == 200 and r.json()["type"] == "searchset"
    for unlisted in ("/fhir/Patient/p1/$summary", "/fhir/CarePlan/x/$everything"):
        assert (await client.get(unlisted)).status_code in (400, 404, 501)
