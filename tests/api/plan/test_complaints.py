"""A complaint end to end over HTTP (seed 002: the regiebehandelaar is the client's complaint
address, forwards the complaint to the right provider and watches it to closure), and every
refusal on the way."""

from __future__ import annotations

from typing import Any

from tests.api.plan.world import PlanWorld, coding, issue, ref
from zorgleefplan.plan import codes


def complaint(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": coding(codes.TASK_SYSTEM, codes.KLACHT),
        "for": ref("Patient/p1"),
        "requester": ref("Patient/p1"),
        "owner": ref("PractitionerRole/pr-a"),
        "description": "De thuiszorg kwam drie keer niet opdagen zonder bericht.",
        **extra,
    }


def forwarded(parent: str, owner: str = "Organization/o-zorg", **extra: Any) -> dict[str, Any]:
    fields = {
        "partOf": [ref(f"Task/{parent}")],
        "requester": ref("PractitionerRole/pr-a"),
        "owner": ref(owner),
        "description": "Klacht over gemiste bezoeken in week 12; graag afhandelen.",
    }
    return complaint(**(fields | extra))


def moved(task: dict[str, Any], status: str, **extra: Any) -> dict[str, Any]:
    return {**task, "status": status, **extra}


async def created(world: PlanWorld, body: dict[str, Any], who: dict[str, str]) -> dict[str, Any]:
    r = await world.post(body, who)
    assert r.status_code == 201, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_a_complaint_from_filing_to_closure(world: PlanWorld) -> None:
    client, regie = world.client_p1(), world.professional("a")
    provider = world.headers(
        fhir_user="PractitionerRole/pr-zorg",
        organization="Organization/o-zorg",
        scope="user/*.cruds",
    )
    await world.put(
        {
            "resourceType": "PractitionerRole",
            "id": "pr-zorg",
            "organization": ref("Organization/o-zorg"),
        }
    )
    # The client files it at the regiebehandelaar ...
    filed = await created(world, complaint(), client)
    # ... whom it reaches; the provider sees nothing yet.
    assert [t["id"] for t in await world.search("Task?code=" + codes.KLACHT, regie)] == [
        filed["id"]
    ]
    assert (await world.get(f"Task/{filed['id']}", provider)).status_code == 404
    filed = (await world.put_as(moved(filed, "in-progress"), regie)).json()

    # The regiebehandelaar forwards it to the provider it concerns.
    part = await created(world, forwarded(filed["id"]), regie)
    # The provider (practitioner and backend of the organisation) reads and handles that part,
    # and nothing else: not the complaint itself, not the plan.
    for who in (provider, world.backend("o-zorg")):
        assert (await world.get(f"Task/{part['id']}", who)).status_code == 200
        assert (await world.get(f"Task/{filed['id']}", who)).status_code == 404
        assert await world.search("CarePlan", who) == []
    part = (await world.put_as(moved(part, "received"), provider)).json()
    part = (await world.put_as(moved(part, "in-progress"), world.backend("o-zorg"))).json()

    # The complaint stays open while its forwarded part is.
    r = await world.put_as(moved(filed, "completed"), regie)
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.status"]
    assert f"Task/{part['id']}" in issue(r)["diagnostics"]

    outcome = {"text": "Planning aangepast; excuses aangeboden aan cliënt."}
    r = await world.put_as(
        moved(
            part,
            "completed",
            output=[{"type": {"text": "afhandeling"}, "valueString": outcome["text"]}],
        ),
        provider,
    )
    assert r.status_code == 200, r.text
    r = await world.put_as(moved(filed, "completed"), regie)
    assert r.status_code == 200, r.text

    # The client follows all of it in their own plan.
    tasks = {t["id"]: t for t in await world.search("Task?code=" + codes.KLACHT, client)}
    assert tasks[filed["id"]]["status"] == "completed"
    assert tasks[part["id"]]["status"] == "completed"
    assert tasks[part["id"]]["partOf"] == [ref(f"Task/{filed['id']}")]
    history = await world.search(f"Task/{part['id']}/_history", client)
    assert [v["status"] for v in history] == ["completed", "in-progress", "received", "requested"]


async def test_only_the_client_or_their_proxy_files_a_complaint(world: PlanWorld) -> None:
    r = await world.post(complaint(requester=ref("RelatedPerson/vm1")), world.holder())
    assert r.status_code == 201, r.text
    # A professional (here the regiebehandelaar) cannot file one for the client.
    r = await world.post(complaint(requester=ref("PractitionerRole/pr-a")), world.professional("a"))
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.requester"]
    r = await world.post(complaint(), world.professional("a"))
    assert r.status_code == 403 and issue(r)["expression"] == ["Task.requester"]
    # The proxy files in their own name.
    r = await world.post(complaint(), world.holder())
    assert r.status_code == 403 and issue(r)["expression"] == ["Task.requester"]


async def test_a_complaint_goes_to_the_regiebehandelaar(world: PlanWorld) -> None:
    client = world.client_p1()
    r = await world.post(complaint(owner=ref("Organization/o-zorg")), client)
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.owner"]
    assert "PractitionerRole/pr-a" in issue(r)["diagnostics"]
    r = await world.post(complaint(description=" "), client)
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.description"]
    # Without a regiebehandelaar there is no complaint address.
    team = await world.stored("CareTeam", "team-p1")
    assert (await world.put_as({**team, "status": "inactive"}, client)).status_code == 200
    r = await world.post(complaint(), client)
    assert r.status_code == 422 and "geen regiebehandelaar" in issue(r)["diagnostics"]


async def test_only_the_regiebehandelaar_forwards_and_progresses_it(world: PlanWorld) -> None:
    client, regie = world.client_p1(), world.professional("a")
    filed = await created(world, complaint(), client)
    # The client cannot forward it themselves, nor move it along.
    r = await world.post(forwarded(filed["id"]), client)
    assert r.status_code == 403 and issue(r)["expression"] == ["Task.requester"]
    r = await world.put_as(moved(filed, "in-progress"), client)
    assert r.status_code == 403 and issue(r)["expression"] == ["Task.status"]
    # A forwarded part names the regiebehandelaar as requester and a provider as owner.
    r = await world.post(forwarded(filed["id"], requester=ref("Patient/p1")), regie)
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.requester"]
    r = await world.post(forwarded(filed["id"], owner="Patient/p1"), regie)
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.owner"]
    r = await world.post(forwarded("nergens"), regie)
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.partOf"]
    part = await created(world, forwarded(filed["id"]), regie)
    # The provider handles it; it cannot hand it on, rewrite it, nor cancel it.
    provider = world.backend("o-zorg")
    r = await world.put_as({**part, "owner": ref("Organization/o-c")}, provider)
    assert r.status_code in (403, 422), r.text
    r = await world.put_as({**part, "description": "niets aan de hand"}, provider)
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.description"]
    r = await world.put_as(moved(part, "cancelled"), provider)
    assert r.status_code == 403 and issue(r)["expression"] == ["Task.status"]
    # ... and the regiebehandelaar does not handle it in the provider's place.
    r = await world.put_as(moved(part, "in-progress"), regie)
    assert r.status_code == 403 and "zorgaanbieder" in issue(r)["diagnostics"]
    r = await world.put_as(
        moved(part, "rejected", statusReason={"text": "niet onze zorg"}), provider
    )
    assert r.status_code == 200, r.text
    # A closed complaint takes no new parts.
    filed = (await world.put_as(moved(filed, "completed"), regie)).json()
    r = await world.post(forwarded(filed["id"]), regie)
    assert r.status_code == 422 and "afgesloten" in issue(r)["diagnostics"]


async def test_the_client_may_withdraw_a_complaint(world: PlanWorld) -> None:
    filed = await created(world, complaint(), world.client_p1())
    r = await world.put_as(moved(filed, "cancelled"), world.professional("a"))
    assert r.status_code == 403
    r = await world.put_as(moved(filed, "cancelled"), world.holder())
    assert r.status_code == 200, r.text
    r = await world.put_as(moved(filed, "in-progress"), world.professional("a"))
    assert r.status_code == 422


async def test_after_a_handover_the_new_regiebehandelaar_takes_the_complaint_over(
    world: PlanWorld,
) -> None:
    filed = await created(world, complaint(), world.client_p1())
    team = await world.stored("CareTeam", "team-p1")
    team["participant"][0]["period"]["end"] = "2024-12-31"
    team["participant"].append(
        {
            "role": team["participant"][0]["role"],
            "member": ref("PractitionerRole/pr-b"),
            "period": {"start": "2025-01-01"},
        }
    )
    assert (await world.put_as(team, world.client_p1())).status_code == 200
    b = world.professional("b")
    r = await world.put_as({**filed, "owner": ref("PractitionerRole/pr-c")}, b)
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.owner"]
    r = await world.put_as(moved(filed, "in-progress", owner=ref("PractitionerRole/pr-b")), b)
    assert r.status_code == 200, r.text
