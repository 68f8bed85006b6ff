"""Parsing the governing resources: realistic FHIR JSON, date precision, and broken input that
must never raise (an unreadable Consent grants nothing)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zorgleefplan.access import codes
from zorgleefplan.access.facts import (
    AddressedTask,
    Coding,
    client_facts,
    normalize_reference,
    parse_addressed_task,
    parse_care_team,
    parse_consent,
    parse_instant_range,
    parse_related_person,
)

VOLMACHT: dict[str, Any] = {
    "resourceType": "Consent",
    "id": "volmacht-1",
    "meta": {"profile": ["http://nictiz.nl/fhir/StructureDefinition/nl-core-AdvanceDirective"]},
    "status": "active",
    "scope": {"coding": [{"system": codes.CONSENT_SCOPE_SYSTEM, "code": "adr"}]},
    "category": [
        {"coding": [{"system": codes.CONSENT_CATEGORY_SYSTEM, "code": "acd"}]},
    ],
    "patient": {"reference": "Patient/p1", "display": "J. de Vries"},
    "dateTime": "2024-02-01T10:15:00+01:00",
    "sourceAttachment": {"title": "Volmacht zorgzaken, getekend"},
    "provision": {
        "type": "permit",
        "period": {"start": "2024-02-01", "end": "2029-12-31"},
        "code": [
            {"coding": [{"system": codes.LIVING_WILL_SYSTEM, "code": "VOL", "display": "Volmacht"}]}
        ],
        "actor": [
            {
                "role": {"coding": [{"system": codes.ROLE_CODE_SYSTEM, "code": "RESPRSN"}]},
                "reference": {
                    "reference": "https://zorgleefplan.example/fhir/RelatedPerson/rp-1",
                    "display": "A. de Vries (dochter)",
                },
            }
        ],
    },
}


def test_volmacht_is_read_field_by_field() -> None:
    c = parse_consent(VOLMACHT)
    assert c is not None and c.valid and not c.has_deny
    assert c.status == "active" and c.has_scope("adr") and not c.has_scope("patient-privacy")
    assert c.patient == "Patient/p1"
    assert c.date_time == datetime(2024, 2, 1, 9, 15, tzinfo=UTC)
    p = c.provision
    assert p is not None and p.type == "permit"
    assert p.codes == (Coding(codes.LIVING_WILL_SYSTEM, "VOL"),)
    assert p.actors[0].reference == "RelatedPerson/rp-1"
    assert p.actors[0].roles == (Coding(codes.ROLE_CODE_SYSTEM, "RESPRSN"),)
    assert p.period.start == datetime(2024, 2, 1, tzinfo=UTC)
    assert p.period.end == datetime(2030, 1, 1, tzinfo=UTC)  # end day lasts the whole day
    assert p.period.covers(datetime(2029, 12, 31, 23, 59, tzinfo=UTC))
    assert not p.period.covers(datetime(2030, 1, 1, tzinfo=UTC))


def test_nested_provisions_get_the_opposite_type_when_missing() -> None:
    c = parse_consent(
        {
            "resourceType": "Consent",
            "id": "c",
            "status": "active",
            "scope": {"coding": [{"code": "patient-privacy"}]},
            "provision": {
                "type": "permit",
                "provision": [{"class": [{"code": "Condition"}]}, {"type": "permit"}],
            },
        }
    )
    assert c is not None and c.valid and c.has_deny
    assert c.provision is not None
    assert [p.type for p in c.provision.provisions] == ["deny", "permit"]


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        ("2025", datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        ("2025-12", datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        ("2025-02-28", datetime(2025, 2, 28, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)),
        (
            "2025-02-28T23:30:00+02:00",
            datetime(2025, 2, 28, 21, 30, tzinfo=UTC),
            datetime(2025, 2, 28, 21, 30, 1, tzinfo=UTC),
        ),
        (
            "2025-02-28T23:30:00.5Z",
            datetime(2025, 2, 28, 23, 30, 0, 500000, tzinfo=UTC),
            datetime(2025, 2, 28, 23, 30, 0, 500001, tzinfo=UTC),
        ),
    ],
)
def test_date_precision(value: str, low: datetime, high: datetime) -> None:
    assert parse_instant_range(value) == (low, high)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Practitioner/1", "Practitioner/1"),
        ("https://x.example/fhir/PractitionerRole/a-b.c/_history/3", "PractitionerRole/a-b.c"),
        ("#contained", None),
        ("urn:uuid:1234", None),
        (42, None),
        (None, None),
    ],
)
def test_references_are_normalized(value: object, expected: str | None) -> None:
    assert normalize_reference(value) == expected


def _broken(path: list[str | int], value: object) -> dict[str, Any]:
    resource = copy.deepcopy(VOLMACHT)
    target: Any = resource
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return resource


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["provision"], "permit"),
        (["provision", "type"], "allow"),
        (["provision", "period"], {"start": "1 februari 2024"}),
        (["provision", "period", "end"], "2024-02-30"),
        (["provision", "actor"], {"reference": {"reference": "RelatedPerson/rp-1"}}),
        (["provision", "actor", 0], "RelatedPerson/rp-1"),
        (["provision", "actor", 0, "reference"], "RelatedPerson/rp-1"),
        (["provision", "code"], [{"coding": "VOL"}]),
        (["provision", "provision"], [{"type": "maybe"}]),
        (["provision", "provision"], [None]),
        (["scope"], "adr"),
        (["patient"], {"reference": 7}),
        (["dateTime"], "gisteren"),
        (["category"], {"coding": []}),
    ],
)
def test_a_broken_consent_is_kept_invalid_and_never_raises(
    path: list[str | int], value: object
) -> None:
    c = parse_consent(_broken(path, value))
    assert c is not None
    assert c.valid is False
    assert c.id == "volmacht-1" and c.status == "active"
    assert c.provision is None and c.scope == ()


def test_an_invalid_consent_still_says_whether_it_denies() -> None:
    broken = _broken(["provision", "provision"], [{"type": "deny", "period": {"end": "x"}}])
    c = parse_consent(broken)
    assert c is not None and not c.valid and c.has_deny


@pytest.mark.parametrize(
    "value",
    [None, "Consent", [], {}, {"resourceType": "Consent"}, {"resourceType": "Consent", "id": 5}],
)
def test_not_a_consent_with_an_id_is_dropped(value: object) -> None:
    assert parse_consent(value) is None
    assert client_facts("p1", consents=[value]).consents == ()


def test_care_team_and_related_person() -> None:
    team = parse_care_team(
        {
            "resourceType": "CareTeam",
            "id": "ct1",
            "status": "active",
            "subject": {"reference": "Patient/p1"},
            "participant": [
                {
                    "role": [
                        {"coding": [{"system": codes.ZLP_ROLE_SYSTEM, "code": "regiebehandelaar"}]}
                    ],
                    "member": {"reference": "PractitionerRole/huisarts"},
                    "onBehalfOf": {"reference": "Organization/praktijk"},
                    "period": {"start": "2024-01-01"},
                }
            ],
        }
    )
    assert team is not None and team.reference == "CareTeam/ct1" and team.subject == "Patient/p1"
    (p,) = team.participants
    assert p.member == "PractitionerRole/huisarts" and p.on_behalf_of == "Organization/praktijk"
    assert p.roles == (Coding(codes.ZLP_ROLE_SYSTEM, "regiebehandelaar"),)
    assert p.period.start == datetime(2024, 1, 1, tzinfo=UTC) and p.period.end is None

    person = parse_related_person(
        {
            "resourceType": "RelatedPerson",
            "id": "rp-m",
            "active": True,
            "patient": {"reference": "Patient/p1"},
            "relationship": [{"coding": [{"system": codes.CONTACT_ROLE_SYSTEM, "code": "15"}]}],
            "period": {"end": "2026"},
        }
    )
    assert person is not None and person.active is True and person.patient == "Patient/p1"
    assert person.has_role(codes.CONTACT_ROLE_SYSTEM, codes.MENTOR)
    assert person.period.end == datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "CareTeam", "id": "t", "participant": "all"},
        {"resourceType": "CareTeam", "id": "t", "participant": [{"period": {"start": "soon"}}]},
        {"resourceType": "CareTeam", "id": "t", "status": 1},
        {"resourceType": "RelatedPerson", "id": "r", "active": "yes"},
        {"resourceType": "RelatedPerson", "id": "r", "relationship": [{"coding": [7]}]},
    ],
)
def test_unreadable_teams_and_persons_are_dropped(resource: dict[str, Any]) -> None:
    facts = client_facts("p1", care_teams=[resource], related_persons=[resource])
    assert facts.care_teams == () and facts.related_persons == ()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "type",
        "period",
        "actor",
        "action",
        "class",
        "data",
        "purpose",
        "code",
        "provision",
        "reference",
        "role",
        "coding",
        "start",
        "end",
        "meaning",
        "system",
    ]
)
_shaped = st.recursive(
    _json,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    status=_json,
    scope=_shaped,
    patient=_shaped,
    provision=_shaped,
    date=_json,
)
def test_any_consent_shape_parses_without_raising(
    status: object, scope: object, patient: object, provision: object, date: object
) -> None:
    resource = {
        "resourceType": "Consent",
        "id": "fuzz",
        "status": status,
        "scope": scope,
        "patient": patient,
        "provision": provision,
        "dateTime": date,
    }
    consent = parse_consent(resource)
    assert consent is not None and consent.id == "fuzz"
    care = parse_care_team({"resourceType": "CareTeam", "id": "t", "participant": provision})
    person = parse_related_person(
        {"resourceType": "RelatedPerson", "id": "r", "relationship": scope, "period": patient}
    )
    assert care is None or care.id == "t"
    assert person is None or person.id == "r"


def test_handover_and_complaint_tasks_are_read_for_their_owner() -> None:
    def task(code: str, **extra: Any) -> dict[str, Any]:
        return {
            "resourceType": "Task",
            "id": "t1",
            "code": {"coding": [{"system": codes.WORKFLOW_TASK_SYSTEM, "code": code}]},
            "for": {"reference": "Patient/p1"},
            "owner": {"reference": "https://zorgleefplan.example/fhir/Organization/o6"},
            **extra,
        }

    handover = parse_addressed_task(task("regiebehandelaar-overdracht"))
    assert handover == AddressedTask("t1", "Organization/o6", "Patient/p1")
    assert handover.reference == "Task/t1"
    assert parse_addressed_task(task("klacht")) is not None
    # Any other Task, or one that cannot be read, is nobody's business here.
    assert parse_addressed_task(task("wlz-plaatsing")) is None
    assert parse_addressed_task({**task("klacht"), "code": {"coding": "klacht"}}) is None
    assert parse_addressed_task(task("klacht", owner="Organization/o6")) is None
    assert parse_addressed_task({**task("klacht"), "id": None}) is None
    facts = client_facts("p1", tasks=[task("klacht"), task("wlz-plaatsing"), "geen taak"])
    assert [t.id for t in facts.tasks] == ["t1"]
