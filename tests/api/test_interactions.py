"""The RESTful interactions over the ASGI app: read, vread, create, update, patch, delete,
preconditions, conditional interactions and Prefer."""

from __future__ import annotations

from typing import Any

import httpx

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"


def patient(family: str = "Berends", bsn: str | None = None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "name": [{"family": family}], **extra}
    if bsn:
        resource["identifier"] = [{"system": BSN, "value": bsn}]
    return resource


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert r.status_code == 201, r.text
    return r.json()


# --------------------------------------------------------------------------- create / read


async def test_create_assigns_id_version_and_headers(client: httpx.AsyncClient) -> None:
    r = await client.post("/fhir/Patient", json=patient(id="ignored-client-id"))
    assert r.status_code == 201
    body = r.json()
    assert body["id"] != "ignored-client-id"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"] == f"http://test/fhir/Patient/{body['id']}/_history/1"
    assert r.headers["last-modified"].endswith("GMT")
    assert r.headers["content-type"].startswith("application/fhir+json")


async def test_read_returns_exactly_what_was_stored(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    r = await client.get(f"/fhir/Patient/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created
    assert r.headers["etag"] == 'W/"1"'


async def test_read_unknown_is_404_outcome(client: httpx.AsyncClient) -> None:
    r = await client.get("/fhir/Patient/does-not-exist")
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["code"] == "not-found"


async def test_unsupported_type_names_the_supported_ones(client: httpx.AsyncClient) -> None:
    r = await client.get("/fhir/Observation/1")
    assert r.status_code == 404
    text = r.json()["issue"][0]["diagnostics"]
    assert "Observation" in text and "CarePlan" in text and "Consent" in text


async def test_conditional_read_304(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    url = f"/fhir/Patient/{created['id']}"
    assert (await client.get(url, headers={"If-None-Match": 'W/"1"'})).status_code == 304
    assert (await client.get(url, headers={"If-None-Match": 'W/"2"'})).status_code == 200
    last = (await client.get(url)).headers["last-modified"]
    assert (await client.get(url, headers={"If-Modified-Since": last})).status_code == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert (await client.get(url, headers={"If-Modified-Since": old})).status_code == 200


# --------------------------------------------------------------------------- update / vread


async def test_update_versions_and_vread(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    pid = created["id"]
    changed = {**created, "name": [{"family": "Jansen"}]}
    r = await client.put(f"/fhir/Patient/{pid}", json=changed)
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"
    assert r.headers["etag"] == 'W/"2"'
    v1 = await client.get(f"/fhir/Patient/{pid}/_history/1")
    assert v1.status_code == 200 and v1.json()["name"][0]["family"] == "Berends"
    v2 = await client.get(f"/fhir/Patient/{pid}/_history/2")
    assert v2.json()["name"][0]["family"] == "Jansen"
    assert (await client.get(f"/fhir/Patient/{pid}/_history/3")).status_code == 404
    assert (await client.get(f"/fhir/Patient/{pid}/_history/x")).status_code == 404


async def test_update_as_create_with_client_id(client: httpx.AsyncClient) -> None:
    r = await client.put("/fhir/Patient/berends", json=patient(id="berends"))
    assert r.status_code == 201
    assert r.json()["id"] == "berends"
    r = await client.put("/fhir/Patient/berends", json=patient(id="berends"))
    assert r.status_code == 200 and r.json()["meta"]["versionId"] == "2"


async def test_update_id_must_match_url(client: httpx.AsyncClient) -> None:
    r = await client.put("/fhir/Patient/a", json=patient(id="b"))
    assert r.status_code == 400
    r = await client.put("/fhir/Patient/a", json=patient())
    assert r.status_code == 400
    assert (await client.get("/fhir/Patient/a")).status_code == 404


async def test_if_match_optimistic_locking(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    url = f"/fhir/Patient/{created['id']}"
    ok = await client.put(url, json=created, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = await client.put(url, json=created, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    bad = await client.put(url, json=created, headers={"If-Match": "banana"})
    assert bad.status_code == 400
    assert (await client.get(url)).json()["meta"]["versionId"] == "2"


# --------------------------------------------------------------------------- delete


async def test_delete_is_a_versioned_tombstone(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    url = f"/fhir/Patient/{created['id']}"
    r = await client.delete(url)
    assert r.status_code == 204
    assert r.headers["etag"] == 'W/"2"'
    gone = await client.get(url)
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    assert (await client.delete(url)).status_code == 204  # idempotent
    assert (await client.get(f"{url}/_history/1")).status_code == 200
    assert (await client.get(f"{url}/_history/2")).status_code == 410
    hist = (await client.get(f"{url}/_history")).json()
    assert [e["request"]["method"] for e in hist["entry"]] == ["DELETE", "POST"]
    assert "resource" not in hist["entry"][0]
    # re-create after delete continues the version line
    again = await client.put(url, json={**created, "meta": {}})
    assert again.status_code == 201 and again.json()["meta"]["versionId"] == "3"


async def test_delete_unknown_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/fhir/Patient/nobody")).status_code == 404


# --------------------------------------------------------------------------- conditional


async def test_conditional_create(client: httpx.AsyncClient) -> None:
    header = {"If-None-Exist": f"identifier={BSN}|999911120"}
    first = await client.post("/fhir/Patient", json=patient(bsn="999911120"), headers=header)
    assert first.status_code == 201
    second = await client.post("/fhir/Patient", json=patient(bsn="999911120"), headers=header)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    await create(client, patient(bsn="999911120"))  # now two match
    third = await client.post("/fhir/Patient", json=patient(bsn="999911120"), headers=header)
    assert third.status_code == 412


async def test_conditional_update_zero_one_many(client: httpx.AsyncClient) -> None:
    url = f"/fhir/Patient?identifier={BSN}|111222333"
    r = await client.put(url, json=patient(bsn="111222333"))
    assert r.status_code == 201
    pid = r.json()["id"]
    r = await client.put(url, json=patient("Jansen", bsn="111222333"))
    assert r.status_code == 200 and r.json()["id"] == pid and r.json()["meta"]["versionId"] == "2"
    wrong_id = await client.put(url, json=patient(bsn="111222333", id="other"))
    assert wrong_id.status_code == 400
    await create(client, patient(bsn="111222333"))
    assert (await client.put(url, json=patient(bsn="111222333"))).status_code == 412
    assert (await client.put("/fhir/Patient", json=patient())).status_code == 400


async def test_conditional_delete(client: httpx.AsyncClient) -> None:
    created = await create(client, patient(bsn="123456782"))
    assert (await client.delete(f"/fhir/Patient?identifier={BSN}|000000000")).status_code == 204
    r = await client.delete(f"/fhir/Patient?identifier={BSN}|123456782")
    assert r.status_code == 204
    assert (await client.get(f"/fhir/Patient/{created['id']}")).status_code == 410
    await create(client, patient("A", bsn="999990019"))
    await create(client, patient("B", bsn="999990019"))
    assert (await client.delete(f"/fhir/Patient?identifier={BSN}|999990019")).status_code == 412


# --------------------------------------------------------------------------- Prefer


async def test_prefer_return(client: httpx.AsyncClient) -> None:
    minimal = await client.post(
        "/fhir/Patient", json=patient(), headers={"Prefer": "return=minimal"}
    )
    assert minimal.status_code == 201 and minimal.content == b""
    assert minimal.headers["location"]
    outcome = await client.post(
        "/fhir/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"}
    )
    assert outcome.json()["resourceType"] == "OperationOutcome"
    full = await client.post(
        "/fhir/Patient", json=patient(), headers={"Prefer": "return=representation"}
    )
    assert full.json()["resourceType"] == "Patient"


# --------------------------------------------------------------------------- patch


async def test_json_patch(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    r = await client.patch(
        f"/fhir/Patient/{created['id']}",
        content=b'[{"op":"add","path":"/gender","value":"female"}]',
        headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["gender"] == "female" and r.json()["meta"]["versionId"] == "2"
    hist = (await client.get(f"/fhir/Patient/{created['id']}/_history")).json()
    assert hist["entry"][0]["request"]["method"] == "PATCH"


async def test_patch_result_is_validated(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    r = await client.patch(
        f"/fhir/Patient/{created['id']}",
        content=b'[{"op":"add","path":"/gender","value":"banana"}]',
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code in (400, 422)
    assert r.json()["resourceType"] == "OperationOutcome"
    assert (await client.get(f"/fhir/Patient/{created['id']}")).json()["meta"]["versionId"] == "1"


async def test_fhirpath_patch(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": "Patient.name.family"},
                    {"name": "value", "valueString": "Visser"},
                ],
            }
        ],
    }
    r = await client.patch(f"/fhir/Patient/{created['id']}", json=parameters)
    assert r.status_code == 200, r.text
    assert r.json()["name"][0]["family"] == "Visser"


async def test_patch_may_not_change_id(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    r = await client.patch(
        f"/fhir/Patient/{created['id']}",
        content=b'[{"op":"replace","path":"/id","value":"other"}]',
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert 400 <= r.status_code < 500
    assert (await client.get("/fhir/Patient/other")).status_code == 404
