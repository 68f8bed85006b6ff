"""Change feeds for an EHR that polls: type and system ``_history`` with ``_since`` give every
version exactly once, deletes included, while writes go on; and a conditional update by
business identifier upserts the EHR's own record — one resource however often (or however
concurrently) it is sent.

The poller does what a client can: continue from the last ``lastModified`` it saw plus one
microsecond. That is gap-free because a transaction's timestamp is assigned in commit order
(every version of one transaction shares it, and they become visible together), so no version
can commit later with an earlier timestamp.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import orjson

ROOT = "http://test"
EHR = "https://ehr.example.org/fhir/NamingSystem/careteam"
Key = tuple[str, str, str]  # type, id, etag


def goal(patient: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": text},
        "subject": {"reference": f"Patient/{patient}"},
    }


async def poll(client: httpx.AsyncClient, path: str, since: str | None) -> list[dict[str, Any]]:
    """One poll: every page of ``path`` since ``since``, following the next links."""
    url: str | None = f"/fhir/{path}?_count=7" + (f"&_since={quote(since)}" if since else "")
    entries: list[dict[str, Any]] = []
    while url:
        r = await client.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        entries.extend(body.get("entry", []))
        url = next((lk["url"] for lk in body.get("link", []) if lk["relation"] == "next"), None)
        url = url.removeprefix(ROOT) if url else None
    return entries


def key(entry: dict[str, Any]) -> Key:
    type_, id_ = entry["fullUrl"].rsplit("/", 2)[-2:]
    return type_, id_, entry["response"]["etag"]


def next_since(entries: list[dict[str, Any]], since: str | None) -> str | None:
    """Just after the latest version seen (microsecond precision, as the server keeps it)."""
    if not entries:
        return since
    latest = max(datetime.fromisoformat(e["response"]["lastModified"]) for e in entries)
    return (latest + timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")


async def follow_while_writing(
    client: httpx.AsyncClient, path: str, writers: list[Any]
) -> tuple[list[Key], list[dict[str, Any]]]:
    """Poll ``path`` until the writers are done (and once more); every key seen, in order."""
    seen: list[Key] = []
    polled: list[dict[str, Any]] = []
    since: str | None = None
    done = asyncio.Event()
    news = 0  # polls that found something

    async def write_all() -> None:
        await asyncio.gather(*writers)
        done.set()

    task = asyncio.create_task(write_all())
    while True:
        finished = done.is_set()
        entries = await poll(client, path, since)
        seen.extend(key(e) for e in entries)
        polled.extend(entries)
        news += bool(entries)
        since = next_since(entries, since)
        if finished:
            break
        await asyncio.sleep(0)
    await task
    assert news > 2, "the poller should have run while the writers wrote"
    return seen, polled


async def churn(client: httpx.AsyncClient, writer: int, rounds: int) -> None:
    """Create, update and (every third) delete Goals; Patients in between (other types)."""
    for i in range(rounds):
        r = await client.post("/fhir/Goal", content=orjson.dumps(goal("p1", f"{writer}-{i}")))
        assert r.status_code == 201, r.text
        made = r.json()
        made["description"] = {"text": f"{writer}-{i} bijgewerkt"}
        r = await client.put(f"/fhir/Goal/{made['id']}", content=orjson.dumps(made))
        assert r.status_code == 200, r.text
        if i % 3 == 0:
            assert (await client.delete(f"/fhir/Goal/{made['id']}")).status_code == 204
        patient = {"resourceType": "Patient", "id": f"w{writer}-{i}"}
        r = await client.put(f"/fhir/Patient/w{writer}-{i}", content=orjson.dumps(patient))
        assert r.status_code == 201, r.text


async def test_type_history_since_is_complete_and_without_repeats_under_concurrent_writes(
    client: httpx.AsyncClient,
) -> None:
    await client.put(
        "/fhir/Patient/p1", content=orjson.dumps({"resourceType": "Patient", "id": "p1"})
    )
    writers = [churn(client, w, 9) for w in range(4)]
    seen, polled = await follow_while_writing(client, "Goal/_history", writers)
    everything = [key(e) for e in await poll(client, "Goal/_history", None)]
    assert len(everything) == 4 * 9 * 2 + 4 * 3  # created, updated; a third deleted
    assert len(seen) == len(set(seen)), "a version came twice"
    assert sorted(seen) == sorted(everything), "a version was missed"
    deletes = [e for e in polled if e["request"]["method"] == "DELETE"]
    assert len(deletes) == 12 and all("resource" not in e for e in deletes)


async def test_system_history_since_is_complete_across_types(client: httpx.AsyncClient) -> None:
    await client.put(
        "/fhir/Patient/p1", content=orjson.dumps({"resourceType": "Patient", "id": "p1"})
    )
    start = next_since(await poll(client, "_history", None), None)
    writers = [churn(client, w, 6) for w in range(3)]
    seen: list[Key] = []
    since = start
    task = asyncio.gather(*writers)
    while not task.done():
        entries = await poll(client, "_history", since)
        seen.extend(key(e) for e in entries)
        since = next_since(entries, since)
        await asyncio.sleep(0)
    await task
    entries = await poll(client, "_history", since)
    seen.extend(key(e) for e in entries)
    everything = [key(e) for e in await poll(client, "_history", start)]
    assert len(everything) == 3 * 6 * 3 + 3 * 2  # Goal twice, Patient once; deletes
    assert len(seen) == len(set(seen)) and sorted(seen) == sorted(everything)
    assert {k[0] for k in seen} == {"Goal", "Patient"}


async def test_conditional_update_by_identifier_upserts_the_ehr_record(
    client: httpx.AsyncClient,
) -> None:
    await client.put(
        "/fhir/Patient/p1", content=orjson.dumps({"resourceType": "Patient", "id": "p1"})
    )

    def team(value: str, name: str) -> bytes:
        return orjson.dumps(
            {
                "resourceType": "CareTeam",
                "identifier": [{"system": EHR, "value": value}],
                "status": "active",
                "name": name,
                "subject": {"reference": "Patient/p1"},
            }
        )

    url = "/fhir/CareTeam?identifier=" + quote(f"{EHR}|team-1")
    first = await client.put(url, content=team("team-1", "Thuiszorg"))
    assert first.status_code == 201, first.text
    again = await client.put(url, content=team("team-1", "Thuiszorg"))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    renamed = await client.put(url, content=team("team-1", "Thuiszorg Noord"))
    assert renamed.status_code == 200 and renamed.json()["id"] == first.json()["id"]
    found = (await client.get(url)).json()
    assert [e["resource"]["name"] for e in found["entry"]] == ["Thuiszorg Noord"]
    # Sent several times at once (an EHR retrying): still one record.
    url2 = "/fhir/CareTeam?identifier=" + quote(f"{EHR}|team-2")
    results = await asyncio.gather(
        *(client.put(url2, content=team("team-2", f"Wijkteam {i}")) for i in range(6))
    )
    assert sorted(r.status_code for r in results) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    found = (await client.get(url2)).json()
    assert len(found["entry"]) == 1
    assert found["entry"][0]["resource"]["meta"]["versionId"] == "6"
