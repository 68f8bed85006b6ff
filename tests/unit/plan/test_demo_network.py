"""The demo network's data: valid Dutch test identifiers, references that resolve in load order,
and a plan that keeps the zorgleefplan's rules (one regiebehandelaar, the volmacht stated and
referenced, indicerend and coördinerend apart, every item kind, the evaluation moment due)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from zorgleefplan.access import codes as access_codes
from zorgleefplan.plan import codes
from zorgleefplan.plan import demo_network as demo

ANCHOR = date(2026, 2, 16)
NETWORK = demo.demo_network(ANCHOR)
EVERYTHING = (*NETWORK.directory, *NETWORK.plan)
BY_KEY = {f"{r['resourceType']}/{r['id']}": r for r in EVERYTHING}


def elfproef(bsn: str) -> bool:
    digits = [int(c) for c in bsn]
    return (
        len(digits) == 9
        and (sum((9 - i) * d for i, d in enumerate(digits[:8])) - digits[8]) % 11 == 0
    )


def walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from walk(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item, key)


def identifiers(system: str) -> list[str]:
    return [
        i["value"] for r in EVERYTHING for i in r.get("identifier", []) if i["system"] == system
    ]


def roles(participant: dict[str, Any]) -> set[str]:
    return {
        c["code"]
        for r in participant["role"]
        for c in r.get("coding", [])
        if c["system"] == codes.ROLE_SYSTEM
    }


def test_identifiers_are_valid_dutch_test_identifiers() -> None:
    bsns = identifiers(demo.BSN_SYSTEM)
    assert bsns and all(elfproef(b) and b.startswith("99999") for b in bsns)
    assert not elfproef("999990045")  # the check can fail
    for system, length in ((demo.AGB_SYSTEM, 8), (demo.URA_SYSTEM, 8), (demo.BIG_SYSTEM, 11)):
        found = identifiers(system)
        assert found and all(v.isdigit() and len(v) == length for v in found), system
    assert len(set(identifiers(demo.AGB_SYSTEM))) == len(identifiers(demo.AGB_SYSTEM))


def test_every_reference_points_at_a_resource_stored_before_it() -> None:
    seen: set[str] = set()
    for resource in EVERYTHING:
        key = f"{resource['resourceType']}/{resource['id']}"
        for name, value in walk(resource):
            if name == "reference" and isinstance(value, str):
                assert value in seen or value == key, (key, value)
        seen.add(key)
    assert len(seen) == len(EVERYTHING)  # no id twice


def test_nothing_claims_a_profile_and_the_plan_is_all_the_clients() -> None:
    client = {"reference": f"Patient/{demo.CLIENT}"}
    for resource in EVERYTHING:
        assert "meta" not in resource
    for resource in NETWORK.plan[1:]:
        owner = resource.get("subject") or resource.get("patient")
        assert owner is not None and owner["reference"] == client["reference"], resource["id"]


def test_one_regiebehandelaar_and_the_indicerend_is_not_the_coordinerend() -> None:
    team = BY_KEY[f"CareTeam/{demo.CARE_TEAM}"]
    regie = [p for p in team["participant"] if codes.REGIEBEHANDELAAR in roles(p)]
    assert len(regie) == 1
    (designated,) = regie
    assert designated["member"]["reference"] == f"PractitionerRole/{demo.WIJKVERPLEEGKUNDIGE}"
    assert designated["period"]["start"] == ANCHOR.isoformat()
    members = {
        role: {p["member"]["reference"] for p in team["participant"] if role in roles(p)}
        for role in (codes.INDICEREND_ZORGVERLENER, codes.COORDINEREND_ZORGVERLENER)
    }
    assert all(len(m) == 1 for m in members.values())
    assert members[codes.INDICEREND_ZORGVERLENER].isdisjoint(
        members[codes.COORDINEREND_ZORGVERLENER]
    )
    assert codes.MANTELZORGER in {c for p in team["participant"] for c in roles(p)}


def test_the_plan_states_the_volmacht_and_it_is_an_active_volmacht_of_the_client() -> None:
    plan = BY_KEY[f"CarePlan/{demo.PLAN}"]
    (extension,) = [e for e in plan["extension"] if e["url"] == codes.EXT_VOLMACHT]
    parts = {e["url"]: e for e in extension["extension"]}
    assert parts["aanwezig"]["valueBoolean"] is True
    consent = BY_KEY[parts["consent"]["valueReference"]["reference"]]
    assert consent["status"] == "active"
    assert consent["patient"]["reference"] == f"Patient/{demo.CLIENT}"
    assert consent["scope"]["coding"][0]["code"] == access_codes.SCOPE_ADR
    provision = consent["provision"]
    assert provision["code"][0]["coding"][0]["code"] == access_codes.VOLMACHT
    (holder,) = provision["actor"]
    assert holder["role"]["coding"][0]["code"] == access_codes.RESPRSN
    daughter = BY_KEY[holder["reference"]["reference"]]
    assert daughter["patient"]["reference"] == f"Patient/{demo.CLIENT}" and daughter["active"]


def test_the_plan_spans_the_laws_holds_every_item_kind_and_an_evaluation_is_due() -> None:
    plan = BY_KEY[f"CarePlan/{demo.PLAN}"]
    assert {c["coding"][0]["code"] for c in plan["category"]} == {codes.ZVW, codes.WMO, codes.WLZ}
    assert (plan["subject"], plan["author"]) == ({"reference": f"Patient/{demo.CLIENT}"},) * 2
    kinds: dict[str, list[dict[str, Any]]] = {}
    for activity in plan["activity"]:
        kind, responsible = activity["extension"]
        assert kind["url"] == codes.EXT_PLAN_ITEM_KIND
        assert responsible["url"] == codes.EXT_RESPONSIBLE
        assert responsible["valueReference"]["reference"].startswith("PractitionerRole/")
        (coding,) = kind["valueCodeableConcept"]["coding"]
        assert coding["system"] == codes.PLAN_ITEM_SYSTEM
        assert activity["detail"]["performer"], activity["detail"]["description"]
        kinds.setdefault(coding["code"], []).append(activity["detail"])
    assert set(kinds) == {
        codes.AFSPRAAK,
        codes.EVALUATIEMOMENT,
        codes.CRISISAFSPRAAK,
        codes.WAARNEMING,
        codes.MANTELZORGTAAK,
    }
    laws = {d["description"].split(":")[0] for d in kinds[codes.AFSPRAAK]}
    assert laws == {"Zvw", "Wmo", "Wlz"}
    (evaluation,) = kinds[codes.EVALUATIEMOMENT]
    assert evaluation["status"] == "scheduled"
    due = ANCHOR + timedelta(days=demo.EVALUATION_DAYS)
    assert evaluation["scheduledPeriod"]["start"] == due.isoformat()
    assert {g["reference"] for g in plan["goal"]} == {
        k for k, r in BY_KEY.items() if r["resourceType"] == "Goal"
    }


def test_the_network_is_the_same_for_the_same_day_and_knows_its_day() -> None:
    assert demo.demo_network(ANCHOR) == NETWORK
    assert demo.demo_network(ANCHOR + timedelta(days=1)) != NETWORK
    assert demo.anchor_of(BY_KEY[f"CarePlan/{demo.PLAN}"]) == ANCHOR
    assert demo.anchor_of({"created": "gisteren"}) is None
    patient = BY_KEY[f"Patient/{demo.CLIENT}"]
    assert ANCHOR.year - int(patient["birthDate"][:4]) == 80
    usernames = [login.username for login in demo.LOGINS]
    assert len(set(usernames)) == len(usernames)
    for login in demo.LOGINS:
        assert login.fhir_user in BY_KEY
