"""The pure parts of the plan's rules: what is a volmacht, how a handover Task is read, and
how the exception to the separation of roles is recorded."""

from __future__ import annotations

from typing import Any

import pytest

from zorgleefplan.access import codes as access_codes
from zorgleefplan.errors import InvalidResource
from zorgleefplan.plan import codes
from zorgleefplan.plan.handover import read_handover
from zorgleefplan.plan.role_separation import exception_recorded
from zorgleefplan.plan.volmacht import holders, is_volmacht_consent


def cc(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def consent(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "scope": cc(access_codes.CONSENT_SCOPE_SYSTEM, "adr"),
        "provision": {
            "type": "permit",
            "code": [cc(access_codes.LIVING_WILL_SYSTEM, "VOL")],
            "actor": [
                {
                    "role": cc(access_codes.ROLE_CODE_SYSTEM, "RESPRSN"),
                    "reference": {"reference": "RelatedPerson/vm1"},
                },
                {
                    "role": cc(access_codes.ROLE_CODE_SYSTEM, "PROV"),
                    "reference": {"reference": "Practitioner/x"},
                },
            ],
        },
        **extra,
    }


def test_a_volmacht_is_an_advance_directive_of_type_vol() -> None:
    assert is_volmacht_consent(consent())
    assert holders(consent()) == [(0, "RelatedPerson/vm1")]
    # nl-core puts the type in category: read there too, as the access engine does
    in_category = consent(category=[cc(access_codes.LIVING_WILL_SYSTEM, "VOL")])
    in_category["provision"].pop("code")
    assert is_volmacht_consent(in_category)
    assert not is_volmacht_consent(
        consent(scope=cc(access_codes.CONSENT_SCOPE_SYSTEM, "patient-privacy"))
    )
    other = consent()
    other["provision"]["code"] = [cc(access_codes.LIVING_WILL_SYSTEM, "NR")]
    assert not is_volmacht_consent(other)
    assert not is_volmacht_consent({"resourceType": "Goal"}) and not is_volmacht_consent(None)


def handover_task(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "for": {"reference": "Patient/p1"},
        "requester": {"reference": "Patient/p1"},
        "owner": {"reference": "PractitionerRole/b"},
        "input": [
            {"type": cc("http://example.org/other", "x"), "valueString": "?"},
            {
                "type": cc(codes.HANDOVER_PARTY_SYSTEM, codes.OVERDRAGEND),
                "valueReference": {"reference": "PractitionerRole/a"},
            },
        ],
        "restriction": {"period": {"start": "2025-07-01", "end": "2025-07-14"}},
        **extra,
    }


def test_a_handover_task_is_read_into_its_parties_and_period() -> None:
    h = read_handover(handover_task())
    assert (h.client, h.requester, h.giver, h.receiver) == (
        "p1",
        "Patient/p1",
        "PractitionerRole/a",
        "PractitionerRole/b",
    )
    assert h.giver_path == "Task.input[1].valueReference"
    assert h.period.end is not None and h.period.end.day == 15


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"for": {"reference": "Group/g"}}, "Task.for"),
        ({"owner": {"reference": "Organization/o"}}, "Task.owner"),
        ({"owner": {"reference": "PractitionerRole/a"}}, "Task.owner"),
        ({"requester": {"display": "de buurvrouw"}}, "Task.requester"),
        ({"input": []}, "Task.input"),
        (
            {"restriction": {"period": {"start": "2025-07-14", "end": "2025-07-01"}}},
            "Task.restriction.period.end",
        ),
    ],
)
def test_an_incomplete_handover_task_names_what_is_missing(
    change: dict[str, Any], path: str
) -> None:
    with pytest.raises(InvalidResource) as caught:
        read_handover(handover_task(**change))
    assert caught.value.expression == [path]


def exception(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"extension": [{"url": codes.EXT_ROLE_EXCEPTION, "extension": list(parts)}]}


REASON = {
    "url": codes.ROLE_EXCEPTION_REDEN,
    "valueCodeableConcept": cc(codes.ROLE_EXCEPTION_REASON_SYSTEM, codes.GEEN_ANDERE_ZORGVERLENER),
}
NETWORK = {"url": codes.ROLE_EXCEPTION_LEREND_NETWERK, "valueBoolean": True}


def test_the_exception_needs_a_reason_and_a_lerend_netwerk() -> None:
    assert not exception_recorded({})
    assert exception_recorded(exception(REASON, NETWORK))
    note = {"url": codes.ROLE_EXCEPTION_TOELICHTING, "valueString": "alleen zij spreekt Pools"}
    assert exception_recorded(exception(NETWORK, note, REASON))
    for parts, path in (
        ((NETWORK,), "CareTeam.extension[0].extension"),
        ((REASON,), "CareTeam.extension[0].extension"),
        ((REASON, {**NETWORK, "valueBoolean": False}), "CareTeam.extension[0].extension[1]"),
        (
            (REASON, NETWORK, {"url": "wie", "valueString": "?"}),
            "CareTeam.extension[0].extension[2]",
        ),
        ((REASON, REASON, NETWORK), "CareTeam.extension[0].extension[1]"),
        ((REASON, NETWORK, {**note, "valueString": 3}), "CareTeam.extension[0].extension[2]"),
    ):
        with pytest.raises(InvalidResource) as caught:
            exception_recorded(exception(*parts))
        assert caught.value.expression == [path], parts
