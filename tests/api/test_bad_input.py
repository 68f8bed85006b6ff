"""Bad input never hurts: a 4xx OperationOutcome that says what is wrong, nothing stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


async def stored_count(client: httpx.AsyncClient) -> int:
    r = await client.get("/fhir/_history", params={"_total": "accurate", "_count": "0"})
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def assert_outcome(
    r: httpx.Response, status: int | tuple[int, ...], needle: str = ""
) -> dict[str, Any]:
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text)
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    text = " ".join(i.get("diagnostics", "") for i in body["issue"])
    assert needle.lower() in text.lower(), text
    return body


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("not json", b"{nope", "json"),
    ("empty", b"", "empty"),
    ("array", b"[1,2]", "object"),
    ("wrong resource type", b'{"resourceType":"Goal"}', "Goal"),
    ("no resource type", b'{"name":[]}', ""),
    ("wrong primitive type", b'{"resourceType":"Patient","active":"yes"}', ""),
    ("wrong complex type", b'{"resourceType":"Patient","name":"Jansen"}', ""),
    ("unknown element", b'{"resourceType":"Patient","colour":"blue"}', ""),
    ("unknown code", b'{"resourceType":"Patient","gender":"banana"}', "gender"),
    (
        "bad id",
        b'{"resourceType":"Patient","contained":[{"resourceType":"Patient","id":"a b"}]}',
        "",
    ),
]


@pytest.mark.parametrize(("name", "raw", "needle"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_bad_bodies_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, name: str, raw: bytes, needle: str
) -> None:
    before = await stored_count(client)
    r = await client.post("/fhir/Patient", content=raw)
    assert_outcome(r, (400, 422), needle)
    r = await client.put("/fhir/Patient/x1", content=raw)
    assert_outcome(r, (400, 422))
    assert await stored_count(client) == before


async def test_bad_references(client: httpx.AsyncClient) -> None:
    before = await stored_count(client)
    cases = [
        ({"reference": "Patient/does-not-exist"}, "does not resolve"),
        ({"reference": "Goal/1"}, "Goal"),
        ({"reference": "not a reference"}, ""),
        ({"reference": "urn:uuid:0f4e6b0e-0000-4000-8000-000000000000"}, ""),
    ]
    for subject, needle in cases:
        plan = {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": subject,
        }
        r = await client.post("/fhir/CarePlan", json=plan)
        assert_outcome(r, (400, 422), needle)
    assert await stored_count(client) == before


async def test_error_carries_element_path(client: httpx.AsyncClient) -> None:
    plan = {
        "resourceType": "CarePlan",
        "status": "banana",
        "intent": "plan",
        "subject": {"reference": "Patient/x"},
    }
    body = assert_outcome(await client.post("/fhir/CarePlan", json=plan), (400, 422))
    paths = [e for i in body["issue"] for e in i.get("expression", [])]
    assert any("status" in p for p in paths), paths


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/fhir/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"}
    )
    assert_outcome(r, 415)


async def test_xml_format_is_406(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.get("/fhir/metadata", params={"_format": "xml"}), 406)
    r = await client.get("/fhir/Patient", headers={"Accept": "application/fhir+xml"})
    assert_outcome(r, 406)


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.post("/fhir/Patient/1/_history"), (405,))
    assert_outcome(await client.delete("/fhir/metadata"), (404, 405))


async def test_unknown_paths_are_outcomes(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.get("/fhir/Patient/1/_history/1/extra"), (400, 404))
    assert_outcome(await client.get("/nothing-here"), 404)


async def test_bad_id_in_url(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.get("/fhir/Patient/" + "x" * 65), 400)
    assert_outcome(await client.put("/fhir/Patient/a%20b", json={"resourceType": "Patient"}), 400)


async def test_deeply_nested_body(client: httpx.AsyncClient) -> None:
    deep = b'{"resourceType":"Patient","extension":' + b"[" * 200 + b"]" * 200 + b"}"
    assert_outcome(await client.post("/fhir/Patient", content=deep), 400, "nested")
    very_deep = b"[" * 100_000 + b"]" * 100_000
    assert_outcome(await client.post("/fhir/Patient", content=very_deep), 400)


async def test_bad_search_parameters(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.get("/fhir/Patient", params={"colour": "blue"}), 400, "colour")
    assert_outcome(await client.get("/fhir/Patient", params={"birthdate": "yesterday"}), 400)
    assert_outcome(await client.get("/fhir/Patient", params={"_count": "-1"}), 400)
    assert_outcome(await client.get("/fhir/Patient", params={"_cursor": "garbage!"}), 400)
    lenient = await client.get(
        "/fhir/Patient", params={"colour": "blue"}, headers={"Prefer": "handling=lenient"}
    )
    assert lenient.status_code == 200


async def test_bad_preconditions(client: httpx.AsyncClient) -> None:
    r = await client.get("/fhir/Patient/1", headers={"If-Modified-Since": "not a date"})
    assert_outcome(r, (400, 404))
    r = await client.post(
        "/fhir/Patient", json={"resourceType": "Patient"}, headers={"If-None-Exist": "colour=blue"}
    )
    assert_outcome(r, 400, "colour")
