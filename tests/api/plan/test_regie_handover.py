"""Handing over the regiebehandelaar role with a Task, over HTTP with real tokens: the happy
path (permanent and temporary), every refusal, and what the server records and tells."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.plan.world import PlanWorld, handover, issue
from zorgleefplan.access.engine import decide_read
from zorgleefplan.access.facts import client_facts
from zorgleefplan.access.principal import Principal
from zorgleefplan.plan import codes


async def request_handover(world: PlanWorld, **kwargs: Any) -> dict[str, Any]:
    r = await world.post(handover(**kwargs), world.professional("a"))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def with_status(task: dict[str, Any], status: str, **extra: Any) -> dict[str, Any]:
    return {**task, "status": status, **extra}


def regie_members(team: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [
        (p["member"]["reference"], p["period"])
        for p in team["participant"]
        if p["role"][0]["coding"][0]["code"] == codes.REGIEBEHANDELAAR
    ]


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def regie_read(world: PlanWorld, key: str) -> list[str]:
    return [p["id"] for p in await world.search("CarePlan", world.professional(key))]


async def test_a_permanent_handover_moves_the_role_once_b_accepts(world: PlanWorld) -> None:
    task = await request_handover(world)
    b = world.professional("b")
    # B, who has no access to the plan, reads and finds the Task addressed to them ...
    assert (await world.get(f"Task/{task['id']}", b)).status_code == 200
    assert [t["id"] for t in await world.search("Task", b)] == [task["id"]]
    # ... and nothing else of the plan until the handover is complete.
    assert await regie_read(world, "b") == []
    assert (await world.get("CareTeam/team-p1", b)).status_code == 404
    assert (await world.get("Patient/p1", b)).status_code == 404
    # The client's access log says on which basis B read it.
    r = await world.get("AuditEvent?patient=p1&_count=50", world.client_p1())
    reads = [
        e["resource"]
        for e in r.json()["entry"]
        if e["resource"]["subtype"][0]["code"] == "read"
        and e["resource"]["agent"][0]["who"] == {"reference": "PractitionerRole/pr-b"}
    ]
    assert [
        x["valueString"] for x in reads[0]["extension"] if x["url"].endswith("decision-basis")
    ] == [f"addressed-task Task/{task['id']}"]

    r = await world.put_as(with_status(task, "accepted"), b)
    assert r.status_code == 200, r.text

    team = await world.stored("CareTeam", "team-p1")
    (a_member, a_period), (b_member, b_period) = regie_members(team)
    assert (a_member, b_member) == ("PractitionerRole/pr-a", "PractitionerRole/pr-b")
    assert "end" not in b_period
    # A's designation ends at the last microsecond before B's begins: no gap, no overlap.
    assert parse(a_period["end"]) + timedelta(microseconds=1) == parse(b_period["start"])
    assert team["participant"][-1]["onBehalfOf"] == {"reference": "Organization/o-b"}
    # B now directs the plan; A no longer sees it.
    assert await regie_read(world, "b") == ["plan-p1"]
    assert await regie_read(world, "a") == []

    # Both sides recorded in one Provenance of the CareTeam change.
    provenances = await world.search(
        "Provenance?target=CareTeam/team-p1&agent=PractitionerRole/pr-a", world.client_p1()
    )
    (record,) = [
        p
        for p in provenances
        if p["activity"]["coding"][0]["code"] == "regiebehandelaar-overdracht"
    ]
    assert record["target"] == [
        {"reference": f"CareTeam/team-p1/_history/{team['meta']['versionId']}"}
    ]
    sides = {a["who"]["reference"]: a["role"][0]["coding"][0]["code"] for a in record["agent"]}
    assert sides == {
        "PractitionerRole/pr-a": codes.OVERDRAGEND,
        "PractitionerRole/pr-b": codes.ONTVANGEND,
    }
    assert record["entity"] == [
        {"role": "source", "what": {"reference": f"Task/{task['id']}/_history/2"}}
    ]
    assert record["occurredPeriod"] == {"start": b_period["start"]}

    # The client (and the volmacht holder, and A) are told.
    (notice,) = await world.search(f"Communication?based-on=Task/{task['id']}", world.client_p1())
    recipients = {r["reference"] for r in notice["recipient"]}
    assert {"Patient/p1", "RelatedPerson/vm1", "PractitionerRole/pr-a"} <= recipients
    assert notice["sender"] == {"reference": "PractitionerRole/pr-b"}
    assert notice["about"] == [{"reference": "CareTeam/team-p1"}]
    text = notice["payload"][0]["contentString"]
    assert "Bas Verpleegkundige is vanaf" in text and "Anna Arts heeft de rol overgedragen" in text
    assert (await world.stored("Task", task["id"]))["status"] == "accepted"


async def test_the_client_or_their_volmacht_holder_may_ask_for_the_handover(
    world: PlanWorld,
) -> None:
    r = await world.post(handover(requester="RelatedPerson/vm1"), world.holder())
    assert r.status_code == 201, r.text
    # B cannot see the daughter's RelatedPerson the Task names, and need not: a reference the
    # Task already held is not checked against B's access again.
    assert (await world.get("RelatedPerson/vm1", world.professional("b"))).status_code == 404
    r = await world.put_as(with_status(r.json(), "accepted"), world.professional("b"))
    assert r.status_code == 200, r.text
    assert await regie_read(world, "b") == ["plan-p1"]
    # ... and hand back to A at the client's request.
    back = handover(
        requester="Patient/p1", giver="PractitionerRole/pr-b", receiver="PractitionerRole/pr-a"
    )
    r = await world.post(back, world.client_p1())
    assert r.status_code == 201, r.text
    r = await world.put_as(with_status(r.json(), "accepted"), world.professional("a"))
    assert r.status_code == 200, r.text
    assert await regie_read(world, "a") == ["plan-p1"]
    assert await regie_read(world, "b") == []


async def test_b_cannot_slip_a_reference_to_hidden_data_into_the_task(world: PlanWorld) -> None:
    task = await request_handover(world)
    b = world.professional("b")
    answers = []
    for target in ("RelatedPerson/nergens", "RelatedPerson/vm1"):
        noted = {**task, "note": [{"authorReference": {"reference": target}, "text": "zie"}]}
        r = await world.put_as(noted, b)
        assert r.status_code == 422, r.text
        answers.append(r.text.replace(target, "X"))
    assert answers[0] == answers[1]  # a hidden resource answers as a missing one


async def test_a_temporary_handover_returns_the_role_to_a_at_its_end(world: PlanWorld) -> None:
    end = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    task = await request_handover(world, period={"end": end})
    r = await world.put_as(with_status(task, "accepted"), world.professional("b"))
    assert r.status_code == 200, r.text
    team = await world.stored("CareTeam", "team-p1")
    (_, a_before), (_, b_period), (a_again, a_after) = regie_members(team)
    assert a_again == "PractitionerRole/pr-a"
    assert b_period["end"] == f"{end}T23:59:59.999999Z"
    assert a_after == {
        "start": f"{(parse(end + 'T00:00:00Z') + timedelta(days=1)).isoformat()}".replace(
            "+00:00", "Z"
        )
    }
    assert parse(a_before["end"]) + timedelta(microseconds=1) == parse(b_period["start"])
    # Now B directs; the day after the end, the engine reads A as regiebehandelaar again.
    assert await regie_read(world, "b") == ["plan-p1"]
    facts = client_facts("p1", care_teams=[team])
    after_end = parse(end + "T00:00:00Z") + timedelta(days=1, seconds=1)
    for key, during, after in (("a", False, True), ("b", True, False)):
        who = Principal(
            "practitioner",
            key,
            fhir_user=f"PractitionerRole/pr-{key}",
            organization=f"Organization/o-{key}",
        )
        assert decide_read(who, facts, datetime.now(UTC)).allowed is during, key
        assert decide_read(who, facts, after_end).allowed is after, key
    (notice,) = await world.search(f"Communication?based-on=Task/{task['id']}", world.client_p1())
    assert "Daarna is Anna Arts weer uw regiebehandelaar" in notice["payload"][0]["contentString"]


async def test_b_may_refuse_and_nothing_changes(world: PlanWorld) -> None:
    task = await request_handover(world)
    before = await world.stored("CareTeam", "team-p1")
    refusal = with_status(task, "rejected", statusReason={"text": "geen capaciteit"})
    r = await world.put_as(refusal, world.professional("b"))
    assert r.status_code == 200, r.text
    after = await world.stored("CareTeam", "team-p1")
    assert after["meta"]["versionId"] == before["meta"]["versionId"]
    assert await regie_read(world, "b") == []
    assert await regie_read(world, "a") == ["plan-p1"]
    (notice,) = await world.search(f"Communication?based-on=Task/{task['id']}", world.client_p1())
    text = notice["payload"][0]["contentString"]
    assert "niet aanvaard" in text and "geen capaciteit" in text
    # A refused handover is final.
    r = await world.put_as(with_status(task, "accepted"), world.professional("b"))
    assert r.status_code == 422
    assert issue(r)["expression"] == ["Task.status"]


async def test_nobody_but_b_accepts(world: PlanWorld) -> None:
    task = await request_handover(world)
    accepted = with_status(task, "accepted")
    for who in (world.professional("a"), world.client_p1(), world.holder()):
        r = await world.put_as(accepted, who)
        assert r.status_code == 403, r.text
        assert issue(r)["expression"] == ["Task.status"]
        assert "ontvangende zorgverlener" in issue(r)["diagnostics"]
    # C (and B's organisation's backend) cannot even see it: the same answer as a missing Task.
    for who in (world.professional("c"), world.backend("o-b")):
        r = await world.put_as(accepted, who)
        assert r.status_code in (403, 404), r.text
        assert (await world.get(f"Task/{task['id']}", who)).status_code == 404
    assert (await world.stored("Task", task["id"]))["status"] == "requested"
    assert regie_members(await world.stored("CareTeam", "team-p1"))[0][1] == {
        "start": "2020-01-01T00:00:00Z"
    }


async def test_b_may_only_change_the_status_not_the_handover(world: PlanWorld) -> None:
    task = await request_handover(world)
    b = world.professional("b")
    for field, value in (
        ("owner", {"reference": "PractitionerRole/pr-c"}),
        ("restriction", {"period": {"end": "2099-01-01"}}),
    ):
        r = await world.put_as({**task, field: value, "status": "accepted"}, b)
        assert r.status_code in (403, 422), r.text
    r = await world.put_as({**task, "note": [{"text": "ik bel de cliënt eerst"}]}, b)
    assert r.status_code == 200, r.text
    # B can write nothing else in the plan.
    r = await world.put_as(
        {
            "resourceType": "CarePlan",
            "id": "plan-p1",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/p1"},
            "title": "van B",
        },
        b,
    )
    assert r.status_code in (403, 404)


async def test_the_requester_may_cancel_before_b_decides(world: PlanWorld) -> None:
    task = await request_handover(world)
    r = await world.put_as(with_status(task, "cancelled"), world.professional("b"))
    assert r.status_code == 403
    r = await world.put_as(with_status(task, "cancelled"), world.professional("a"))
    assert r.status_code == 200, r.text
    r = await world.put_as(with_status(task, "accepted"), world.professional("b"))
    assert r.status_code == 422


async def test_only_the_regiebehandelaar_hands_over(world: PlanWorld) -> None:
    # C is not the regiebehandelaar: naming themselves as the one handing over does not work.
    r = await world.post(
        handover(requester="PractitionerRole/pr-c", giver="PractitionerRole/pr-c"),
        world.professional("c"),
    )
    assert r.status_code == 403  # C may not write in p1's plan at all
    r = await world.post(
        handover(requester="Patient/p1", giver="PractitionerRole/pr-c"), world.client_p1()
    )
    assert r.status_code == 422
    assert issue(r)["expression"] == ["Task.input[0].valueReference"]
    assert "niet de regiebehandelaar" in issue(r)["diagnostics"]
    # A asks in the client's name: requester must be who asks.
    r = await world.post(handover(requester="Patient/p1"), world.professional("a"))
    assert r.status_code == 403
    assert issue(r)["expression"] == ["Task.requester"]
    # Handing over to oneself is no handover.
    r = await world.post(handover(receiver="PractitionerRole/pr-a"), world.professional("a"))
    assert r.status_code == 422
    assert issue(r)["expression"] == ["Task.owner"]
    # Without the one handing over.
    task = handover()
    task["input"] = []
    r = await world.post(task, world.professional("a"))
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.input"]
    # Created as accepted: the acceptance is B's.
    r = await world.post({**handover(), "status": "accepted"}, world.professional("a"))
    assert r.status_code == 422 and issue(r)["expression"] == ["Task.status"]


async def test_a_handover_would_never_leave_the_client_without_a_regiebehandelaar(
    world: PlanWorld,
) -> None:
    # The client had planned A's designation to end in a month.
    ends = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    team = await world.stored("CareTeam", "team-p1")
    team["participant"][0]["period"] = {"start": "2020-01-01T00:00:00Z", "end": ends}
    assert (await world.put_as(team, world.client_p1())).status_code == 200
    # A temporary handover that outlasts A's designation would end in nobody.
    later = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    r = await world.post(handover(period={"end": later}), world.professional("a"))
    assert r.status_code == 422
    assert issue(r)["expression"] == ["Task.restriction.period"]
    # A handover starting after A's designation has ended hands over nothing.
    r = await world.post(handover(period={"start": later}), world.professional("a"))
    assert r.status_code == 422
    assert "niet de regiebehandelaar" in issue(r)["diagnostics"]
    # A temporary handover that is already over.
    r = await world.post(handover(period={"end": "2021-01-01"}), world.professional("a"))
    assert r.status_code == 422
    assert issue(r)["expression"] == ["Task.restriction.period.end"]


async def test_an_acceptance_after_the_client_changed_the_designation_is_refused(
    world: PlanWorld,
) -> None:
    task = await request_handover(world)
    # Meanwhile the client designates C instead of A.
    team = await world.stored("CareTeam", "team-p1")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    team["participant"][0]["period"]["end"] = now
    team["participant"].append(
        {
            "role": team["participant"][0]["role"],
            "member": {"reference": "PractitionerRole/pr-c"},
            "period": {"start": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()},
        }
    )
    r = await world.put_as(team, world.client_p1())
    assert r.status_code == 200, r.text
    r = await world.put_as(with_status(task, "accepted"), world.professional("b"))
    assert r.status_code == 409, r.text
    assert "niet de regiebehandelaar" in issue(r)["diagnostics"]
    # Nothing was stored: the Task is still requested, the team as the client left it.
    assert (await world.stored("Task", task["id"]))["status"] == "requested"
    members = [m for m, _ in regie_members(await world.stored("CareTeam", "team-p1"))]
    assert members == ["PractitionerRole/pr-a", "PractitionerRole/pr-c"]
    assert await world.search(f"Communication?based-on=Task/{task['id']}", world.client_p1()) == []


async def test_a_temporary_handover_that_ran_out_before_b_accepted_is_refused(
    world: PlanWorld,
) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1)
    task = await request_handover(world, period={"end": soon.isoformat().replace("+00:00", "Z")})
    await asyncio.sleep((soon - datetime.now(UTC)).total_seconds() + 0.05)
    r = await world.put_as(with_status(task, "accepted"), world.professional("b"))
    assert r.status_code == 409, r.text
    assert issue(r)["expression"] == ["Task.restriction.period.end"]
    assert (await world.stored("Task", task["id"]))["status"] == "requested"
    assert await regie_read(world, "a") == ["plan-p1"]
