"""The plan's rules on write over HTTP, each with writes that pass and writes that are refused
(a 4xx OperationOutcome naming the element path, nothing stored): the plan's owner, the
volmacht and the plan's statement about it, the regiebehandelaar (one at a time, a
PractitionerRole with a period, designated by the client or their proxy), and the separation
of indicerend and coördinerend zorgverlener."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.api.plan.world import (
    PlanWorld,
    care_team,
    coding,
    issue,
    ref,
    regie,
    role,
    volmacht,
)
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.errors import InvalidResource
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.plan import codes
from zorgleefplan.store.model import AccessConstraint

JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def plan(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": "plan-p1",
        "status": "active",
        "intent": "plan",
        "subject": ref("Patient/p1"),
        **extra,
    }


def statement(present: bool, *consents: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"url": codes.VOLMACHT_AANWEZIG, "valueBoolean": present}]
    parts += [{"url": codes.VOLMACHT_CONSENT, "valueReference": ref(c)} for c in consents]
    return {"url": codes.EXT_VOLMACHT, "extension": parts}


async def refused(r: Any, status: int, path: str) -> str:
    assert r.status_code == status, r.text
    found = issue(r)
    assert found["expression"] == [path], found
    diagnostics: str = found["diagnostics"]
    return diagnostics


# --------------------------------------------------------------------------- the plan's owner


async def test_the_plans_subject_cannot_change(world: PlanWorld) -> None:
    # A is regiebehandelaar of both clients: the access engine lets A write plans in both.
    await world.put(
        care_team(regie("PractitionerRole/pr-a"), id_="team-p2") | {"subject": ref("Patient/p2")}
    )
    a = world.professional("a")
    assert (await world.put_as(plan(title="ons plan"), a)).status_code == 200
    moved = plan(subject=ref("Patient/p2"))
    await refused(await world.put_as(moved, a), 422, "CarePlan.subject")
    ops = [{"op": "replace", "path": "/subject/reference", "value": "Patient/p2"}]
    r = await world.client.patch("/fhir/CarePlan/plan-p1", json=ops, headers={**a, **JSON_PATCH})
    await refused(r, 422, "CarePlan.subject")
    # Not even the development principal (tools) moves a plan.
    with pytest.raises(InvalidResource) as caught:
        await world.repo.update("CarePlan", "plan-p1", moved)
    assert caught.value.expression == ["CarePlan.subject"]
    stored = await world.stored("CarePlan", "plan-p1")
    assert stored["subject"] == ref("Patient/p1") and stored["title"] == "ons plan"


async def test_the_plan_belongs_to_a_patient(world: PlanWorld) -> None:
    await world.put({"resourceType": "Group", "id": "g1", "type": "person", "actual": True})
    with pytest.raises(InvalidResource) as caught:
        await world.repo.update("CarePlan", "plan-g", plan(id="plan-g", subject=ref("Group/g1")))
    assert caught.value.expression == ["CarePlan.subject"]


# --------------------------------------------------------------------------- the volmacht


async def test_a_volmacht_names_a_related_person_of_the_same_client(world: PlanWorld) -> None:
    client = world.client_p1()
    r = await world.put_as(volmacht(id_="v2"), client)
    assert r.status_code == 201, r.text
    # Another client's naaste: the same answer as a missing one.
    other = await refused(
        await world.put_as(volmacht("RelatedPerson/naaste-p2", id_="v3"), client),
        422,
        "Consent.provision.actor[0].reference",
    )
    missing = await refused(
        await world.put_as(volmacht("RelatedPerson/nergens", id_="v3"), client),
        422,
        "Consent.provision.actor[0].reference",
    )
    assert other.replace("naaste-p2", "X") == missing.replace("nergens", "X")
    # A professional is no gevolmachtigde.
    await refused(
        await world.put_as(volmacht("Practitioner/dr-a", id_="v3"), client),
        422,
        "Consent.provision.actor[0].reference",
    )
    # Without a holder.
    nameless = volmacht(id_="v3")
    nameless["provision"]["actor"] = []
    await refused(await world.put_as(nameless, client), 422, "Consent.provision.actor")
    assert (await world.get("Consent/v3", client)).status_code == 404


async def test_the_plan_states_whether_there_is_a_volmacht(world: PlanWorld) -> None:
    client = world.client_p1()
    r = await world.put_as(plan(extension=[statement(True, "Consent/volmacht")]), client)
    assert r.status_code == 200, r.text
    # Saying there is none while there is one, or pointing at something that is no volmacht.
    await refused(
        await world.put_as(plan(extension=[statement(False)]), client),
        422,
        "CarePlan.extension[0].extension[0]",
    )
    await world.put(
        {
            "resourceType": "Consent",
            "id": "toegang",
            "status": "active",
            "scope": coding(
                "http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"
            ),
            "category": [coding("http://loinc.org", "59284-0")],
            "patient": ref("Patient/p1"),
            "provision": {"type": "permit"},
        }
    )
    for target in ("Consent/toegang", "Consent/nergens"):
        await refused(
            await world.put_as(plan(extension=[statement(True, target)]), client),
            422,
            "CarePlan.extension[0].extension[1].valueReference",
        )
    # Malformed statements never reach the rule: the volmacht extension's own definition
    # (profiles/StructureDefinition-volmacht.json) refuses them wherever it is used.
    malformed = statement(True, "Consent/volmacht")
    malformed["extension"].append({"url": "houder", "valueString": "dochter"})
    for wrong in (statement(True), statement(False, "Consent/volmacht"), malformed):
        r = await world.put_as(plan(extension=[wrong]), client)
        assert r.status_code == 422, r.text
        assert issue(r)["expression"][0].startswith("CarePlan.extension[0]"), r.text
    # The client revokes the volmacht: the plan still referencing it does not block unrelated
    # updates (the client must always be able to revoke) ...
    revoked = volmacht(status="inactive")
    assert (await world.put_as(revoked, client)).status_code == 200
    r = await world.put_as(plan(extension=[statement(True, "Consent/volmacht")], title="y"), client)
    assert r.status_code == 200, r.text
    # ... but a new statement cannot reference it, and may now say there is none.
    assert (await world.put_as(plan(), client)).status_code == 200
    await refused(
        await world.put_as(plan(extension=[statement(True, "Consent/volmacht")]), client),
        422,
        "CarePlan.extension[0].extension[1].valueReference",
    )
    r = await world.put_as(plan(extension=[statement(False)]), client)
    assert r.status_code == 200, r.text


async def test_a_plan_of_another_client_cannot_borrow_a_volmacht(world: PlanWorld) -> None:
    r = await world.put_as(
        {
            **plan(id="plan-p2", subject=ref("Patient/p2")),
            "extension": [statement(True, "Consent/volmacht")],
        },
        world.headers(patient="p2"),
    )
    # p2 cannot see p1's Consent: the same answer as for a missing one.
    await refused(r, 422, "CarePlan.extension[0].extension[1].valueReference")


# --------------------------------------------------------------------------- regiebehandelaar


async def test_one_regiebehandelaar_at_a_time(world: PlanWorld) -> None:
    client = world.client_p1()
    two = care_team(regie("PractitionerRole/pr-a"), regie("PractitionerRole/pr-b"))
    diagnostics = await refused(await world.put_as(two, client), 422, "CareTeam.participant[0]")
    assert "maar één regiebehandelaar" in diagnostics
    # ... also across the client's teams ...
    second = care_team(regie("PractitionerRole/pr-c"), id_="team-wmo")
    diagnostics = await refused(await world.put_as(second, client), 422, "CareTeam.participant[0]")
    assert "CareTeam/team-p1" in diagnostics
    # ... but not when that team is not active, nor for periods that follow each other.
    inactive = {**second, "status": "inactive"}
    assert (await world.put_as(inactive, client)).status_code == 201
    after = care_team(
        regie("PractitionerRole/pr-a", {"start": "2020-01-01", "end": "2030-12-31"}),
        regie("PractitionerRole/pr-b", {"start": "2031-01-01"}),
    )
    r = await world.put_as(after, client)
    assert r.status_code == 200, r.text
    # Reactivating the other team would make two.
    await refused(
        await world.put_as({**second, "status": "active"}, client), 422, "CareTeam.participant[0]"
    )


async def test_the_regiebehandelaar_is_a_practitioner_role_with_a_start(world: PlanWorld) -> None:
    client = world.client_p1()
    await refused(
        await world.put_as(care_team(regie("Practitioner/dr-a")), client),
        422,
        "CareTeam.participant[0].member",
    )
    bare = regie("PractitionerRole/pr-a")
    del bare["period"]
    await refused(
        await world.put_as(care_team(bare), client), 422, "CareTeam.participant[0].period.start"
    )


async def test_the_client_or_their_proxy_designates(world: PlanWorld) -> None:
    swap = care_team(
        regie("PractitionerRole/pr-a", {"start": "2020-01-01", "end": "2024-12-31"}),
        regie("PractitionerRole/pr-b", {"start": "2025-01-01"}),
    )
    r = await world.put_as(swap, world.holder())
    assert r.status_code == 200, r.text
    back = care_team(regie("PractitionerRole/pr-a"))
    r = await world.put_as(back, world.client_p1())
    assert r.status_code == 200, r.text
    # The regiebehandelaar may not change the designation (the access engine already refuses
    # every CareTeam write by a professional), nor may anyone else.
    for who in (world.professional("a"), world.professional("c"), world.backend("o-a")):
        r = await world.put_as(swap, who)
        assert r.status_code in (403, 404), r.text
    members = [
        p["member"]["reference"] for p in (await world.stored("CareTeam", "team-p1"))["participant"]
    ]
    assert members == ["PractitionerRole/pr-a"]


async def test_an_unrelated_change_of_a_team_is_not_checked_against_the_others(
    world: PlanWorld,
) -> None:
    # A second active team with an overlapping regiebehandelaar, stored before the rules
    # existed (seeded without them).
    before_rules = Repository(
        replace(world.repo.services, write_rules=()), DEVELOPMENT, AccessConstraint.unrestricted()
    )
    legacy = care_team(regie("PractitionerRole/pr-c"), id_="team-oud")
    await before_rules.update("CareTeam", "team-oud", legacy)
    client = world.client_p1()
    # Adding a mantelzorger to team-p1 is not refused for it ...
    mantelzorger = {"role": role(codes.MANTELZORGER), "member": ref("RelatedPerson/vm1")}
    r = await world.put_as(care_team(regie("PractitionerRole/pr-a"), mantelzorger), client)
    assert r.status_code == 200, r.text
    # ... but changing a designation in either team is checked against the other.
    later = care_team(regie("PractitionerRole/pr-a", {"start": "2021-01-01"}), mantelzorger)
    await refused(await world.put_as(later, client), 422, "CareTeam.participant[0]")
    ended = care_team(regie("PractitionerRole/pr-c", {"start": "2020-01-01", "end": "2020-06-30"}))
    r = await world.put_as({**ended, "id": "team-oud"}, client)
    await refused(r, 422, "CareTeam.participant[0]")
    r = await world.put_as({**legacy, "status": "inactive"}, client)
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------- role separation


def roles_team(*extension: dict[str, Any], indicerend: str, coordinerend: str) -> dict:
    team = care_team(
        regie("PractitionerRole/pr-a"),
        {"role": role(codes.INDICEREND_ZORGVERLENER), "member": ref(indicerend)},
        {"role": role(codes.COORDINEREND_ZORGVERLENER), "member": ref(coordinerend)},
        id_="team-ggz",
    )
    return {**team, "extension": list(extension)} if extension else team


def exception(reason: str = codes.VERZOEK_CLIENT, network: Any = True) -> dict[str, Any]:
    return {
        "url": codes.EXT_ROLE_EXCEPTION,
        "extension": [
            {
                "url": codes.ROLE_EXCEPTION_REDEN,
                "valueCodeableConcept": coding(codes.ROLE_EXCEPTION_REASON_SYSTEM, reason),
            },
            {"url": codes.ROLE_EXCEPTION_LEREND_NETWERK, "valueBoolean": network},
            {"url": codes.ROLE_EXCEPTION_TOELICHTING, "valueString": "cliënt wil één gezicht"},
        ],
    }


async def test_indicerend_and_coordinerend_are_different_people(world: PlanWorld) -> None:
    client = world.client_p1()
    r = await world.put_as(
        roles_team(indicerend="PractitionerRole/pr-b", coordinerend="PractitionerRole/pr-c"),
        client,
    )
    assert r.status_code == 201, r.text
    # The same person — even through two of their roles (pr-b2 is B's second role).
    await world.put(
        {
            "resourceType": "PractitionerRole",
            "id": "pr-b2",
            "practitioner": ref("Practitioner/dr-b"),
            "organization": ref("Organization/o-c"),
        }
    )
    same = roles_team(indicerend="PractitionerRole/pr-b", coordinerend="PractitionerRole/pr-b2")
    diagnostics = await refused(await world.put_as(same, client), 422, "CareTeam.participant[1]")
    assert "Practitioner/dr-b" in diagnostics and codes.EXT_ROLE_EXCEPTION in diagnostics
    # With the exception recorded (reason and lerend netwerk), it is allowed.
    r = await world.put_as({**same, "extension": [exception()]}, client)
    assert r.status_code == 200, r.text
    for reason in (codes.GEEN_ANDERE_ZORGVERLENER,):
        r = await world.put_as({**same, "extension": [exception(reason)]}, client)
        assert r.status_code == 200, r.text


async def test_the_roles_clash_across_the_clients_teams_too(world: PlanWorld) -> None:
    client = world.client_p1()
    coordinator = care_team(
        {
            "role": role(codes.COORDINEREND_ZORGVERLENER),
            "member": ref("PractitionerRole/pr-c"),
            "period": {"start": "2020-01-01"},
        },
        id_="team-coord",
    )
    assert (await world.put_as(coordinator, client)).status_code == 201
    indicating = care_team(
        {"role": role(codes.INDICEREND_ZORGVERLENER), "member": ref("PractitionerRole/pr-c")},
        id_="team-ind",
    )
    await refused(await world.put_as(indicating, client), 422, "CareTeam.participant[0]")
    # Not at the same time: no clash.
    indicating["participant"][0]["period"] = {"start": "2019-01-01", "end": "2019-12-31"}
    assert (await world.put_as(indicating, client)).status_code == 201


async def test_an_incomplete_exception_is_refused(world: PlanWorld) -> None:
    client = world.client_p1()
    same = roles_team(indicerend="PractitionerRole/pr-b", coordinerend="PractitionerRole/pr-b")
    await refused(
        await world.put_as({**same, "extension": [exception(network=False)]}, client),
        422,
        "CareTeam.extension[0].extension[1]",
    )
    await refused(
        await world.put_as({**same, "extension": [exception(reason="zomaar")]}, client),
        422,
        "CareTeam.extension[0].extension[0].valueCodeableConcept",  # bound to the reasons
    )
    await refused(
        await world.put_as({**same, "extension": [exception(), exception()]}, client),
        422,
        "CareTeam.extension[1]",
    )
    assert (await world.get("CareTeam/team-ggz", client)).status_code == 404
