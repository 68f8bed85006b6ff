"""A complete plan network (seed 002's mevrouw Berends) that passes every checklist item the
data can speak to; tests take it apart to make plans that fail for one reason each.

It keeps the write rules of the domain: one current regiebehandelaar, indicerend and
coördinerend zorgverlener different people, the plan stating its volmacht (``aanwezig`` and
the Consent), the handover Task of plan/handover.py (``input`` ``overdragend``, ``owner`` the one
taking over) with its Provenance and the Communication that told the client.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from zorgleefplan.access import codes as access_codes
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.plan import codes
from zorgleefplan.plan.network import PlanNetwork
from zorgleefplan.store.model import AccessConstraint, Grant

Resource = dict[str, Any]
CLIENT = "p1"
PLAN = "plan-p1"
FUTURE = "2099-03-01"
PAST = "2024-01-15"
ALWAYS = {"start": "2020-01-01T00:00:00Z"}


def ref(target: str, display: str | None = None) -> dict[str, str]:
    found = {"reference": target}
    if display:
        found["display"] = display
    return found


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return {"coding": [c]}


def role(*role_codes: str) -> list[dict[str, Any]]:
    return [coding(codes.ROLE_SYSTEM, c) for c in role_codes]


def kind(code: str) -> dict[str, Any]:
    return {
        "url": codes.EXT_PLAN_ITEM_KIND,
        "valueCodeableConcept": {"coding": [{"system": codes.PLAN_ITEM_SYSTEM, "code": code}]},
    }


def responsible(target: str) -> dict[str, Any]:
    return {"url": codes.EXT_RESPONSIBLE, "valueReference": ref(target)}


def activity(
    item_kind: str,
    description: str,
    *,
    performer: str | None,
    responsible_party: str | None,
    status: str = "in-progress",
    goal: str | None = None,
    progress: str | None = None,
) -> Resource:
    detail: Resource = {"status": status, "description": description}
    if performer:
        detail["performer"] = [ref(performer)]
    if goal:
        detail["goal"] = [ref(goal)]
    found: Resource = {"extension": [kind(item_kind)], "detail": detail}
    if responsible_party:
        found["extension"].append(responsible(responsible_party))
    if progress:
        found["progress"] = [{"text": progress, "time": "2025-05-01T10:00:00Z"}]
    return found


def person(type_: str, id_: str, given: str, family: str, **more: Any) -> Resource:
    return {
        "resourceType": type_,
        "id": id_,
        "name": [{"given": [given], "family": family}],
        **more,
    }


def phone(number: str) -> list[dict[str, str]]:
    return [{"system": "phone", "value": number, "use": "work"}]


def network() -> list[Resource]:
    """Every resource of the passing network, directory data first."""
    directory = [
        {
            "resourceType": "Organization",
            "id": "o-wijk",
            "name": "Wijkzorg Oost",
            "telecom": phone("030-1234567"),
            "address": [{"line": ["Dorpsstraat 1"], "postalCode": "3511 AA", "city": "Utrecht"}],
        },
        {"resourceType": "Organization", "id": "o-ha", "name": "Huisartsenpraktijk Lindenhof"},
        {"resourceType": "Organization", "id": "o-gem", "name": "Gemeente Utrecht, Wmo-loket"},
        {"resourceType": "Organization", "id": "o-x", "name": "Elders"},
        person("Practitioner", "dr-wv", "Sanne", "de Vries"),
        person("Practitioner", "dr-ha", "Pieter", "Jansen"),
        person("Practitioner", "dr-wmo", "Fatima", "El Amrani"),
        person("Practitioner", "dr-x", "Buiten", "Staander"),
        {
            "resourceType": "PractitionerRole",
            "id": "pr-wv",
            "practitioner": ref("Practitioner/dr-wv"),
            "organization": ref("Organization/o-wijk"),
            "code": [{"text": "wijkverpleegkundige"}],
            "telecom": phone("06-11112222"),
        },
        {
            "resourceType": "PractitionerRole",
            "id": "pr-ha",
            "practitioner": ref("Practitioner/dr-ha"),
            "organization": ref("Organization/o-ha"),
            "code": [{"text": "huisarts"}],
            "telecom": phone("030-7654321"),
        },
        {
            "resourceType": "PractitionerRole",
            "id": "pr-wmo",
            "practitioner": ref("Practitioner/dr-wmo"),
            "organization": ref("Organization/o-gem"),
            "code": [{"text": "Wmo-consulent"}],
            "telecom": [{"system": "email", "value": "wmo@utrecht.example"}],
        },
        {
            "resourceType": "PractitionerRole",
            "id": "pr-x",
            "practitioner": ref("Practitioner/dr-x"),
            "organization": ref("Organization/o-x"),
        },
    ]
    client = [
        person("Patient", CLIENT, "Ans", "Berends"),
        person(
            "RelatedPerson",
            "rp-dochter",
            "Ingrid",
            "Berends",
            active=True,
            patient=ref(f"Patient/{CLIENT}"),
            telecom=phone("06-99990000"),
            relationship=[
                coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "DAU", "dochter")
            ],
        ),
        person(
            "RelatedPerson",
            "rp-bewind",
            "Kees",
            "Smit",
            active=True,
            patient=ref(f"Patient/{CLIENT}"),
            relationship=[
                coding(
                    access_codes.CONTACT_ROLE_SYSTEM, access_codes.BEWINDVOERDER, "Bewindvoerder"
                )
            ],
        ),
        {
            "resourceType": "Consent",
            "id": "volmacht",
            "status": "active",
            "scope": coding(access_codes.CONSENT_SCOPE_SYSTEM, access_codes.SCOPE_ADR),
            "category": [coding(access_codes.CONSENT_CATEGORY_SYSTEM, access_codes.CATEGORY_ACD)],
            "patient": ref(f"Patient/{CLIENT}"),
            "provision": {
                "type": "permit",
                "period": ALWAYS,
                "code": [coding(access_codes.LIVING_WILL_SYSTEM, access_codes.VOLMACHT)],
                "actor": [
                    {
                        "role": coding(access_codes.ROLE_CODE_SYSTEM, access_codes.RESPRSN),
                        "reference": ref("RelatedPerson/rp-dochter"),
                    }
                ],
            },
        },
        access_consent("toegang-ha", "PractitionerRole/pr-ha", "CarePlan"),
        {
            "resourceType": "CareTeam",
            "id": "ct1",
            "status": "active",
            "subject": ref(f"Patient/{CLIENT}"),
            "participant": [
                {
                    "role": role(codes.REGIEBEHANDELAAR, codes.COORDINEREND_ZORGVERLENER),
                    "member": ref("PractitionerRole/pr-wv"),
                    "period": {"start": "2024-02-01T00:00:00Z"},
                },
                {
                    "role": role(codes.INDICEREND_ZORGVERLENER),
                    "member": ref("PractitionerRole/pr-ha"),
                    "period": ALWAYS,
                },
                {
                    "role": role(codes.AANSPREEKPUNT),
                    "member": ref("PractitionerRole/pr-wmo"),
                    "period": ALWAYS,
                },
                {
                    "role": role(codes.MANTELZORGER),
                    "member": ref("RelatedPerson/rp-dochter"),
                    "period": ALWAYS,
                },
            ],
        },
        goal("g1", "Wond aan het been is genezen", "2099-06-01"),
        {
            **goal("g2", "Zelfstandig thuis blijven wonen", "2099-12-31"),
            "expressedBy": ref(f"Patient/{CLIENT}"),
        },
        {
            "resourceType": "CarePlan",
            "id": PLAN,
            "extension": [
                {
                    "url": codes.EXT_VOLMACHT,
                    "extension": [
                        {"url": codes.VOLMACHT_AANWEZIG, "valueBoolean": True},
                        {"url": codes.VOLMACHT_CONSENT, "valueReference": ref("Consent/volmacht")},
                    ],
                }
            ],
            "status": "active",
            "intent": "plan",
            "title": "Zorgleefplan Ans Berends",
            "category": [coding(codes.DOMAIN_SYSTEM, c) for c in (codes.ZVW, codes.WMO)],
            "subject": ref(f"Patient/{CLIENT}"),
            "period": {"start": "2024-01-01"},
            "author": ref(f"Patient/{CLIENT}"),
            "careTeam": [ref("CareTeam/ct1")],
            "goal": [ref("Goal/g1"), ref("Goal/g2")],
            "activity": [
                activity(
                    codes.AFSPRAAK,
                    "Wondzorg en medicatie",
                    performer="PractitionerRole/pr-wv",
                    responsible_party="PractitionerRole/pr-wv",
                    goal="Goal/g1",
                    progress="Wond sluit goed",
                ),
                activity(
                    codes.AFSPRAAK,
                    "Huishoudelijke hulp",
                    performer="Organization/o-gem",
                    responsible_party="PractitionerRole/pr-wmo",
                    status="scheduled",
                    goal="Goal/g2",
                ),
                activity(
                    codes.CRISISAFSPRAAK,
                    "Bij acute verwardheid: huisartsenpost bellen",
                    performer="PractitionerRole/pr-ha",
                    responsible_party="PractitionerRole/pr-ha",
                    status="not-started",
                ),
                activity(
                    codes.WAARNEMING,
                    "Bij afwezigheid van de wijkverpleegkundige neemt de huisarts waar",
                    performer="PractitionerRole/pr-ha",
                    responsible_party="PractitionerRole/pr-wv",
                    status="not-started",
                ),
                activity(
                    codes.MANTELZORGTAAK,
                    "Dagelijks boodschappen doen",
                    performer="RelatedPerson/rp-dochter",
                    responsible_party="PractitionerRole/pr-wv",
                    goal="Goal/g2",
                ),
                {"extension": [kind(codes.EVALUATIEMOMENT)], "reference": ref("Task/eval-next")},
            ],
        },
        evaluation("eval-next", "requested", FUTURE, "Evaluatie met de cliënt en dochter"),
        {
            **evaluation("eval-done", "completed", PAST, "Eerste evaluatie"),
            "note": [
                {"authorReference": ref(f"Patient/{CLIENT}"), "text": "Tevreden over de wondzorg"}
            ],
        },
        {
            "resourceType": "Task",
            "id": "ho1",
            "status": "completed",
            "intent": "order",
            "code": coding(codes.TASK_SYSTEM, codes.REGIEBEHANDELAAR_OVERDRACHT),
            "description": "Overdracht in het MDO, mondeling en schriftelijk",
            "for": ref(f"Patient/{CLIENT}"),
            "requester": ref("PractitionerRole/pr-ha"),
            "owner": ref("PractitionerRole/pr-wv"),
            "restriction": {"period": {"start": "2024-02-01T00:00:00Z"}},
            "input": [
                {
                    "type": coding(codes.HANDOVER_PARTY_SYSTEM, codes.OVERDRAGEND),
                    "valueReference": ref("PractitionerRole/pr-ha"),
                },
                {"type": {"text": "over te dragen"}, "valueString": "medicatie, wondbeleid"},
            ],
        },
        {
            "resourceType": "Provenance",
            "id": "prov-ho1",
            "target": [ref("CareTeam/ct1")],
            "recorded": "2024-02-01T00:00:00Z",
            "entity": [{"role": "source", "what": ref("Task/ho1")}],
            "agent": [
                {
                    "role": [coding(codes.HANDOVER_PARTY_SYSTEM, codes.OVERDRAGEND)],
                    "who": ref("PractitionerRole/pr-ha"),
                },
                {
                    "role": [coding(codes.HANDOVER_PARTY_SYSTEM, codes.ONTVANGEND)],
                    "who": ref("PractitionerRole/pr-wv"),
                },
            ],
        },
        {
            "resourceType": "Communication",
            "id": "c-ho1",
            "status": "completed",
            "subject": ref(f"Patient/{CLIENT}"),
            "basedOn": [ref("Task/ho1")],
            "medium": [
                coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationMode", "WRITTEN")
            ],
            "sender": ref("PractitionerRole/pr-wv"),
            "recipient": [ref(f"Patient/{CLIENT}")],
            "payload": [{"contentString": "Uw regiebehandelaar is nu Sanne de Vries."}],
        },
    ]
    return directory + client


def access_consent(id_: str, actor: str, *classes: str) -> Resource:
    return {
        "resourceType": "Consent",
        "id": id_,
        "status": "active",
        "scope": coding(access_codes.CONSENT_SCOPE_SYSTEM, access_codes.SCOPE_PRIVACY),
        "category": [coding("http://loinc.org", "59284-0")],
        "patient": ref(f"Patient/{CLIENT}"),
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": coding(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PRCP"
                    ),
                    "reference": ref(actor),
                }
            ],
            "action": [coding(access_codes.CONSENT_ACTION_SYSTEM, access_codes.ACTION_ACCESS)],
            "class": [{"system": access_codes.RESOURCE_TYPES_SYSTEM, "code": c} for c in classes],
        },
    }


def goal(id_: str, description: str, due: str) -> Resource:
    return {
        "resourceType": "Goal",
        "id": id_,
        "lifecycleStatus": "active",
        "description": {"text": description},
        "subject": ref(f"Patient/{CLIENT}"),
        "target": [{"dueDate": due}],
    }


def evaluation(id_: str, status: str, when: str, description: str) -> Resource:
    return {
        "resourceType": "Task",
        "id": id_,
        "status": status,
        "intent": "plan",
        "code": coding(codes.PLAN_ITEM_SYSTEM, codes.EVALUATIEMOMENT),
        "description": description,
        "basedOn": [ref(f"CarePlan/{PLAN}")],
        "for": ref(f"Patient/{CLIENT}"),
        "owner": ref("PractitionerRole/pr-wv"),
        "restriction": {"period": {"start": when}},
    }


def by_key(resources: Iterable[Resource]) -> dict[str, Resource]:
    return {f"{r['resourceType']}/{r['id']}": copy.deepcopy(r) for r in resources}


# The records of a handover completed before the plan came to this service: the plan's rules let
# a handover complete only by the receiver's acceptance (plan/handover.py), so history like this
# arrives as a migration, which writes without them.
MIGRATED = frozenset({"Task/ho1", "Provenance/prov-ho1", "Communication/c-ho1"})


async def store(repo: Repository, resources: Iterable[Resource]) -> None:
    """Write ``resources`` in one transaction (they refer to each other in any order)."""
    migration = Repository(
        replace(repo.services, write_rules=()), repo.principal, repo.access, decision=repo.decision
    )
    resources = list(resources)
    async with repo.transaction() as tx:
        for resource in resources:
            if f"{resource['resourceType']}/{resource['id']}" not in MIGRATED:
                await tx.update(resource["resourceType"], resource["id"], copy.deepcopy(resource))
    async with migration.transaction() as tx:
        for resource in resources:
            if f"{resource['resourceType']}/{resource['id']}" in MIGRATED:
                await tx.update(resource["resourceType"], resource["id"], copy.deepcopy(resource))


# --------------------------------------------------------------------------- in-memory networks

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DIRECTORY_TYPES = frozenset({"Organization", "Practitioner", "PractitionerRole"})


def plan_network(
    resources: Iterable[Resource],
    access: AccessConstraint | None = None,
    now: datetime = NOW,
) -> PlanNetwork:
    """The network of the fixture's plan as ``access`` lets one see it, without a store: every
    resource of the client's compartment or the directory that the constraint allows."""
    access = access or AccessConstraint.unrestricted()
    visible = {
        key: resource
        for key, resource in by_key(resources).items()
        if access.allows(
            resource["resourceType"],
            resource["id"],
            None if resource["resourceType"] in DIRECTORY_TYPES else CLIENT,
        )
    }
    return PlanNetwork(
        plan=visible[f"CarePlan/{PLAN}"],
        client=CLIENT,
        now=now,
        resources=visible,
        rows=(),
        access=access,
    )


def only(*types: str) -> AccessConstraint:
    """What a professional with a consent for ``types`` sees: those types of the client's plan,
    and the directory."""
    return AccessConstraint(
        grants=(
            Grant(compartments=frozenset({CLIENT}), types=frozenset(types), include_shared=False),
            Grant(compartments=frozenset(), include_shared=True),
        )
    )


def find(resources: list[Resource], key: str) -> Resource:
    return next(r for r in resources if f"{r['resourceType']}/{r['id']}" == key)


def without(resources: list[Resource], *keys: str) -> list[Resource]:
    return [r for r in resources if f"{r['resourceType']}/{r['id']}" not in keys]
