"""Batch and transaction bundles."""

from __future__ import annotations

from typing import Any

import httpx

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"


def entry(
    method: str,
    url: str,
    resource: dict[str, Any] | None = None,
    full_url: str | None = None,
    **request: str,
) -> dict[str, Any]:
    e: dict[str, Any] = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        e["resource"] = resource
    if full_url:
        e["fullUrl"] = full_url
    return e


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


PATIENT_URN = "urn:uuid:6f0b1c3e-5d4e-4c59-9b1a-3f9e2a4d1c00"


async def history_total(client: httpx.AsyncClient) -> int:
    r = await client.get("/fhir/_history", params={"_total": "accurate", "_count": "0"})
    return int(r.json()["total"])


async def test_transaction_resolves_urn_uuid_references(client: httpx.AsyncClient) -> None:
    tx = bundle(
        "transaction",
        # the plan comes first but refers to the patient created in the same transaction
        entry(
            "POST",
            "CarePlan",
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": {"reference": PATIENT_URN},
            },
        ),
        entry(
            "POST",
            "Patient",
            {"resourceType": "Patient", "name": [{"family": "Berends"}]},
            full_url=PATIENT_URN,
        ),
    )
    r = await client.post("/fhir", json=tx)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    patient_loc = body["entry"][1]["response"]["location"]
    plan_loc = body["entry"][0]["response"]["location"]
    plan = (await client.get("/fhir/" + plan_loc.split("/_history")[0])).json()
    assert plan["subject"]["reference"] == patient_loc.split("/_history")[0]


async def test_transaction_is_all_or_nothing(client: httpx.AsyncClient) -> None:
    before = await history_total(client)
    tx = bundle(
        "transaction",
        entry("POST", "Patient", {"resourceType": "Patient"}),
        entry("POST", "Patient", {"resourceType": "Patient", "gender": "banana"}),
    )
    r = await client.post("/fhir", json=tx)
    assert 400 <= r.status_code < 500
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "entry[1]" in outcome["issue"][0]["diagnostics"]
    assert await history_total(client) == before


async def test_transaction_processing_order(client: httpx.AsyncClient) -> None:
    await client.put("/fhir/Patient/old", json={"resourceType": "Patient", "id": "old"})
    tx = bundle(
        "transaction",
        entry("GET", "Patient?_id=old,new"),
        entry("PUT", "Patient/new", {"resourceType": "Patient", "id": "new"}),
        entry("DELETE", "Patient/old"),
    )
    r = await client.post("/fhir", json=tx)
    assert r.status_code == 200, r.text
    got = r.json()["entry"][0]["resource"]
    # GET runs last: it sees the PUT and not the deleted patient
    assert [e["resource"]["id"] for e in got["entry"]] == ["new"]


async def test_transaction_conditional_create_and_reference(client: httpx.AsyncClient) -> None:
    existing = (
        await client.post(
            "/fhir/Patient",
            json={"resourceType": "Patient", "identifier": [{"system": BSN, "value": "999911120"}]},
        )
    ).json()
    tx = bundle(
        "transaction",
        entry(
            "POST",
            "Patient",
            {"resourceType": "Patient", "identifier": [{"system": BSN, "value": "999911120"}]},
            full_url=PATIENT_URN,
            ifNoneExist=f"identifier={BSN}|999911120",
        ),
        entry(
            "POST",
            "Goal",
            {
                "resourceType": "Goal",
                "lifecycleStatus": "active",
                "description": {"text": "zelfstandig wonen"},
                "subject": {"reference": PATIENT_URN},
            },
        ),
        entry(
            "POST",
            "Goal",
            {
                "resourceType": "Goal",
                "lifecycleStatus": "active",
                "description": {"text": "boodschappen"},
                "subject": {"reference": f"Patient?identifier={BSN}|999911120"},
            },
        ),
    )
    r = await client.post("/fhir", json=tx)
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    assert entries[0]["response"]["status"].startswith("200")
    for e in entries[1:]:
        goal = (await client.get("/fhir/" + e["response"]["location"].split("/_history")[0])).json()
        assert goal["subject"]["reference"] == f"Patient/{existing['id']}"


async def test_batch_entries_are_independent(client: httpx.AsyncClient) -> None:
    b = bundle(
        "batch",
        entry("POST", "Patient", {"resourceType": "Patient"}),
        entry("POST", "Patient", {"resourceType": "Patient", "gender": "banana"}),
        entry("GET", "Patient/nope"),
        entry("GET", "metadata-nope"),
    )
    r = await client.post("/fhir", json=b)
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"][:3] for e in body["entry"]]
    assert statuses[0] == "201"
    assert statuses[1] in ("400", "422") and statuses[2] == "404"
    assert body["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"


async def test_bad_bundles(client: httpx.AsyncClient) -> None:
    for bad in [
        {"resourceType": "Bundle", "type": "collection"},
        {"resourceType": "Patient"},
        {"resourceType": "Bundle", "type": "transaction", "entry": "x"},
        bundle("transaction", {"request": {"method": "FETCH", "url": "Patient"}}),
        bundle("transaction", {"resource": {"resourceType": "Patient"}}),
        bundle(
            "transaction",
            entry("POST", "http://elsewhere.org/Patient", {"resourceType": "Patient"}),
        ),
    ]:
        r = await client.post("/fhir", json=bad)
        assert 400 <= r.status_code < 500, (bad, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"
