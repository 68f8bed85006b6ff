"""Search over HTTP: parameter types, modifiers, chains, _has, includes, sorting, paging."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"


async def post(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert r.status_code == 201, r.text
    return r.json()


async def search(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    r = await client.get(f"/fhir/{path}".rstrip("/"), params=params)
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return bundle


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


@pytest.fixture
async def network(client: httpx.AsyncClient) -> dict[str, Any]:
    """Two clients, a practitioner, care teams and plans."""
    anna = await post(
        client,
        {
            "resourceType": "Patient",
            "name": [{"family": "Berends", "given": ["Anna"]}],
            "identifier": [{"system": BSN, "value": "999911120"}],
            "birthDate": "1944-03-02",
            "gender": "female",
        },
    )
    kees = await post(
        client,
        {
            "resourceType": "Patient",
            "name": [{"family": "Bérends", "given": ["Kees"]}],
            "identifier": [{"system": BSN, "value": "999911132"}],
            "birthDate": "1942-07-15",
            "gender": "male",
        },
    )
    nurse = await post(client, {"resourceType": "Practitioner", "name": [{"family": "Visser"}]})
    team = await post(
        client,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{anna['id']}"},
            "participant": [{"member": {"reference": f"Practitioner/{nurse['id']}"}}],
        },
    )
    plans = []
    for i, (who, status) in enumerate([(anna, "active"), (anna, "draft"), (kees, "active")]):
        plans.append(
            await post(
                client,
                {
                    "resourceType": "CarePlan",
                    "status": status,
                    "intent": "plan",
                    "title": f"Zorgleefplan {i}",
                    "subject": {"reference": f"Patient/{who['id']}"},
                    **(
                        {"careTeam": [{"reference": f"CareTeam/{team['id']}"}]}
                        if who is anna
                        else {}
                    ),
                    "period": {"start": f"2026-0{i + 1}-01", "end": f"2026-0{i + 1}-28"},
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://example.org/domein",
                                    "code": "wmo" if i else "zvw",
                                }
                            ]
                        }
                    ],
                },
            )
        )
    return {"anna": anna, "kees": kees, "nurse": nurse, "team": team, "plans": plans}


async def test_token_and_reference(client: httpx.AsyncClient, network: dict[str, Any]) -> None:
    anna, plans = network["anna"], network["plans"]
    b = await search(client, "CarePlan", patient=f"Patient/{anna['id']}", status="active")
    assert ids(b) == [plans[0]["id"]]
    b = await search(client, "CarePlan", subject=anna["id"])
    assert ids(b) == [plans[0]["id"], plans[1]["id"]]
    b = await search(client, "CarePlan", status="draft,active")
    assert len(ids(b)) == 3
    b = await search(client, "CarePlan", **{"status:not": "active"})
    assert ids(b) == [plans[1]["id"]]
    b = await search(client, "CarePlan", category="http://example.org/domein|wmo")
    assert ids(b) == [plans[1]["id"], plans[2]["id"]]
    b = await search(client, "Patient", identifier=f"{BSN}|999911132")
    assert ids(b) == [network["kees"]["id"]]


async def test_string_is_accent_and_case_insensitive_prefix(
    client: httpx.AsyncClient, network: dict[str, Any]
) -> None:
    b = await search(client, "Patient", family="berends")
    assert sorted(ids(b)) == sorted([network["anna"]["id"], network["kees"]["id"]])
    b = await search(client, "Patient", **{"family:exact": "Bérends"})
    assert ids(b) == [network["kees"]["id"]]
    b = await search(client, "Patient", **{"name:contains": "ees"})
    assert ids(b) == [network["kees"]["id"]]


async def test_dates(client: httpx.AsyncClient, network: dict[str, Any]) -> None:
    b = await search(client, "Patient", birthdate="1944")
    assert ids(b) == [network["anna"]["id"]]
    b = await search(client, "Patient", birthdate="lt1943-01-01")
    assert ids(b) == [network["kees"]["id"]]
    b = await search(client, "CarePlan", date="ge2026-02-01")
    assert len(ids(b)) == 2
    b = await search(client, "CarePlan", date=["ge2026-02-01", "le2026-02-28"])
    assert ids(b) == [network["plans"][1]["id"]]


async def test_chain_and_has(client: httpx.AsyncClient, network: dict[str, Any]) -> None:
    b = await search(client, "CarePlan", **{"subject:Patient.identifier": f"{BSN}|999911132"})
    assert ids(b) == [network["plans"][2]["id"]]
    b = await search(client, "CarePlan", **{"patient.given": "anna"})
    assert len(ids(b)) == 2
    b = await search(client, "Patient", **{"_has:CarePlan:patient:status": "draft"})
    assert ids(b) == [network["anna"]["id"]]


async def test_include_revinclude_iterate(
    client: httpx.AsyncClient, network: dict[str, Any]
) -> None:
    b = await search(client, "CarePlan", status="draft", _include="CarePlan:subject")
    assert ids(b) == [network["plans"][1]["id"]]
    assert ids(b, "include") == [network["anna"]["id"]]
    b = await search(client, "Patient", _id=network["anna"]["id"], _revinclude="CarePlan:patient")
    assert sorted(ids(b, "include")) == sorted(p["id"] for p in network["plans"][:2])
    b = await search(
        client,
        "CarePlan",
        status="draft",
        _include=["CarePlan:care-team"],
        **{"_include:iterate": "CareTeam:participant"},
    )
    assert sorted(ids(b, "include")) == sorted([network["team"]["id"], network["nurse"]["id"]])


async def test_sort_count_total_and_paging(
    client: httpx.AsyncClient, network: dict[str, Any]
) -> None:
    b = await search(client, "CarePlan", _sort="-date", _count="2", _total="accurate")
    assert b["total"] == 3
    first = ids(b)
    assert first == [network["plans"][2]["id"], network["plans"][1]["id"]]
    nxt = next(link["url"] for link in b["link"] if link["relation"] == "next")
    r = await client.get(nxt)
    assert ids(r.json()) == [network["plans"][0]["id"]]
    assert not any(link["relation"] == "next" for link in r.json()["link"])


async def test_paging_while_data_changes_has_no_gaps_or_duplicates(
    client: httpx.AsyncClient, network: dict[str, Any]
) -> None:
    for i in range(7):
        await post(
            client,
            {
                "resourceType": "Goal",
                "lifecycleStatus": "active",
                "description": {"text": f"doel {i}"},
                "subject": {"reference": f"Patient/{network['anna']['id']}"},
            },
        )
    b = await search(client, "Goal", _count="3")
    seen = ids(b)
    await post(
        client,
        {
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "description": {"text": "late"},
            "subject": {"reference": f"Patient/{network['anna']['id']}"},
        },
    )
    while True:
        nxt = [link["url"] for link in b["link"] if link["relation"] == "next"]
        if not nxt:
            break
        b = (await client.get(nxt[0])).json()
        seen.extend(ids(b))
    assert len(seen) == len(set(seen)) == 8


async def test_summary_count_and_elements(
    client: httpx.AsyncClient, network: dict[str, Any]
) -> None:
    b = await search(client, "CarePlan", _summary="count")
    assert b["total"] == 3
    assert not b.get("entry")
    b = await search(client, "CarePlan", _elements="status")
    resource = b["entry"][0]["resource"]
    assert "status" in resource and "title" not in resource
    assert any(t["code"] == "SUBSETTED" for t in resource["meta"]["tag"])


async def test_post_search_equals_get(client: httpx.AsyncClient, network: dict[str, Any]) -> None:
    got = await search(client, "CarePlan", status="active")
    r = await client.post(
        "/fhir/CarePlan/_search",
        content=b"status=active",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert ids(r.json()) == ids(got)


async def test_system_search(client: httpx.AsyncClient, network: dict[str, Any]) -> None:
    b = await search(client, "", _id=network["anna"]["id"])
    assert ids(b) == [network["anna"]["id"]]


async def test_lenient_reports_ignored_parameters(
    client: httpx.AsyncClient, network: dict[str, Any]
) -> None:
    r = await client.get(
        "/fhir/CarePlan",
        params={"colour": "blue", "status": "draft"},
        headers={"Prefer": "handling=lenient"},
    )
    assert r.status_code == 200
    bundle = r.json()
    assert ids(bundle) == [network["plans"][1]["id"]]
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "colour" in outcome[0]["resource"]["issue"][0]["diagnostics"]
