"""Against a real server process over HTTP: a FHIR client library round trip, durability."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from fhirpy import AsyncFHIRClient

from tests.support import Server, mint_access_token, start_server


def _bearer(server: Server, patient: str) -> dict[str, str]:
    root = server.base.removesuffix("/fhir")
    return {"Authorization": f"Bearer {mint_access_token(server.data_dir, root, patient=patient)}"}


async def test_fhirpy_round_trip(server: Server) -> None:
    client = AsyncFHIRClient(
        server.base,
        extra_headers={"Accept": "application/fhir+json", **_bearer(server, "berends")},
    )
    # The client's own Patient resource, under the id their token names.
    patient = client.resource(
        "Patient",
        id="berends",
        name=[{"family": "Berends", "given": ["Anna"]}],
        identifier=[{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999911120"}],
    )
    await patient.save()
    plan = client.resource(
        "CarePlan",
        status="active",
        intent="plan",
        title="Zorgleefplan mevrouw Berends",
        subject=patient.to_reference(),
    )
    await plan.save()
    found = await client.resources("CarePlan").search(patient=patient.id).fetch_all()
    assert [p.id for p in found] == [plan.id]
    plan["status"] = "completed"
    await plan.save()
    again = await client.reference("CarePlan", plan.id).to_resource()
    assert again["status"] == "completed" and again["meta"]["versionId"] == "2"
    by_chain = (
        await client.resources("CarePlan")
        .search(**{"subject:Patient.identifier": "http://fhir.nl/fhir/NamingSystem/bsn|999911120"})
        .fetch_all()
    )
    assert [p.id for p in by_chain] == [plan.id]
    await plan.delete()
    assert await client.resources("CarePlan").search(patient=patient.id).fetch_all() == []


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    created = []
    try:
        with httpx.Client(headers=_bearer(first, "p1")) as http:
            r = http.put(
                f"{first.base}/Patient/p1",
                json={"resourceType": "Patient", "id": "p1"},
                headers={"Content-Type": "application/fhir+json"},
            )
            assert r.status_code == 201
            for i in range(50):
                r = http.post(
                    f"{first.base}/Goal",
                    json={
                        "resourceType": "Goal",
                        "lifecycleStatus": "active",
                        "description": {"text": f"doel {i}"},
                        "subject": {"reference": "Patient/p1"},
                    },
                    headers={"Content-Type": "application/fhir+json"},
                )
                assert r.status_code == 201
                created.append(r.json()["id"])
    finally:
        first.stop(signal.SIGKILL)
    second = start_server(data)
    try:
        with httpx.Client(headers=_bearer(second, "p1")) as http:
            for gid in created:
                assert http.get(f"{second.base}/Goal/{gid}").status_code == 200
    finally:
        second.stop()


def test_unknown_routes_and_errors_are_fhir_over_the_wire(server: Server) -> None:
    with httpx.Client(headers=_bearer(server, "p1")) as http:
        r = http.post(
            f"{server.base}/Patient",
            content=b"{broken",
            headers={"Content-Type": "application/fhir+json"},
        )
        assert r.status_code == 400
        assert r.json()["resourceType"] == "OperationOutcome"
        r = httpx.get(f"{server.base}/metadata")  # public: no token
        assert r.json()["resourceType"] == "CapabilityStatement"
        r = httpx.get(f"{server.base}/Patient/p1")
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.json()["resourceType"] == "OperationOutcome"
