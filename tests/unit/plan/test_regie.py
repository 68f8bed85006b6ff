"""The regiebehandelaar over time: designations read from CareTeams, clashes, and the handover
as a change of a CareTeam (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from zorgleefplan.access.engine import decide_read
from zorgleefplan.access.facts import Period, client_facts
from zorgleefplan.access.principal import Principal
from zorgleefplan.plan import codes
from zorgleefplan.plan.regie import clash, designations, hand_over, holder_at

REGIE = {"coding": [{"system": codes.ROLE_SYSTEM, "code": codes.REGIEBEHANDELAAR}]}
AANSPREEKPUNT = {"coding": [{"system": codes.ROLE_SYSTEM, "code": codes.AANSPREEKPUNT}]}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def team(*participants: dict[str, Any], id_: str = "t1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "id": id_,
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "participant": list(participants),
        **extra,
    }


def member(who: str, *roles: dict[str, Any], **period: str) -> dict[str, Any]:
    return {
        "role": list(roles or (REGIE,)),
        "member": {"reference": who},
        "period": period or {"start": "2024-01-01"},
        "onBehalfOf": {"reference": "Organization/o-a"},
    }


def test_designations_count_while_the_team_is_active_and_within_its_period() -> None:
    t = team(
        member("PractitionerRole/a", start="2024-01-01"),
        member("PractitionerRole/x", AANSPREEKPUNT),
        period={"end": "2025-12-31"},
    )
    (d,) = designations(t)
    assert (d.team, d.index, d.member) == ("t1", 0, "PractitionerRole/a")
    assert d.period == Period(at(2024, 1, 1), at(2026, 1, 1))
    assert d.path == "CareTeam.participant[0]"
    assert designations({**t, "status": "inactive"}) == []
    assert designations({**t, "status": "proposed"}) == []
    assert designations(None) == []


def test_two_people_overlapping_clash_one_after_the_other_do_not() -> None:
    a = designations(team(member("PractitionerRole/a", start="2024-01-01", end="2024-12-31")))
    b_after = designations(team(member("PractitionerRole/b", start="2025-01-01"), id_="t2"))
    b_during = designations(team(member("PractitionerRole/b", start="2024-06-01"), id_="t2"))
    a_again = designations(team(member("PractitionerRole/a", start="2024-06-01"), id_="t3"))
    assert clash(b_after, a) == ()
    found = clash(b_during, a)
    assert [d.member for d in found] == ["PractitionerRole/b", "PractitionerRole/a"]
    assert clash(a_again, a) == ()  # the same person twice is still one regiebehandelaar
    both = designations(
        team(member("PractitionerRole/a"), member("PractitionerRole/b", start="2030-01-01"))
    )
    assert clash(both, []) != ()
    assert holder_at([*a, *b_after], at(2025, 6, 1)) == b_after[0]
    assert holder_at(a, at(2023, 1, 1)) is None


def test_a_permanent_handover_ends_a_where_b_begins() -> None:
    t = team(member("PractitionerRole/a"), member("PractitionerRole/x", AANSPREEKPUNT))
    (held,) = designations(t)
    start = at(2025, 7, 1, 10)
    after = hand_over(t, held, "PractitionerRole/b", start, None, "Organization/o-b")
    assert t["participant"][0]["period"] == {"start": "2024-01-01"}  # the input is untouched
    a, x, b = after["participant"]
    assert a["member"] == {"reference": "PractitionerRole/a"}
    assert a["period"] == {"start": "2024-01-01", "end": "2025-07-01T09:59:59.999999Z"}
    assert a["onBehalfOf"] == {"reference": "Organization/o-a"}
    assert x == t["participant"][1]
    assert b["member"] == {"reference": "PractitionerRole/b"}
    assert b["period"] == {"start": "2025-07-01T10:00:00Z"}
    assert b["onBehalfOf"] == {"reference": "Organization/o-b"}
    found = designations(after)
    assert clash(found, []) == ()
    assert holder_at(found, at(2025, 7, 1, 9, 59, 59)).member == "PractitionerRole/a"  # type: ignore[union-attr]
    assert holder_at(found, start).member == "PractitionerRole/b"  # type: ignore[union-attr]


def test_a_temporary_handover_brings_a_back_and_keeps_a_s_other_roles() -> None:
    t = team(
        member("PractitionerRole/a", REGIE, AANSPREEKPUNT, start="2024-01-01", end="2030-12-31")
    )
    (held,) = designations(t)
    after = hand_over(t, held, "PractitionerRole/b", at(2025, 7, 1), at(2025, 7, 15))
    kept, a_before, b, a_after = after["participant"]
    assert kept["role"] == [AANSPREEKPUNT]
    assert kept["period"] == {"start": "2024-01-01", "end": "2030-12-31"}
    assert a_before["role"] == [REGIE] and a_after["role"] == [REGIE]
    assert a_before["period"]["end"] == "2025-06-30T23:59:59.999999Z"
    assert b["period"] == {"start": "2025-07-01T00:00:00Z", "end": "2025-07-14T23:59:59.999999Z"}
    assert "onBehalfOf" not in b
    assert a_after["period"] == {"start": "2025-07-15T00:00:00Z", "end": "2030-12-31"}
    found = designations(after)
    assert clash(found, []) == ()
    moments = [at(2025, 6, 30, 23, 59), at(2025, 7, 1), at(2025, 7, 14, 23, 59), at(2025, 7, 15)]
    holders = [holder_at(found, m).member[-1] for m in moments]  # type: ignore[union-attr]
    assert holders == ["a", "b", "b", "a"]
    # The access engine reads the same: B directs during the handover, A before and after.
    facts = client_facts("p1", care_teams=[after])
    b_user = Principal("practitioner", "b", fhir_user="PractitionerRole/b")
    assert [decide_read(b_user, facts, m).allowed for m in moments] == [False, True, True, False]


def test_a_handover_at_the_start_of_a_s_designation_leaves_no_empty_period() -> None:
    t = team(member("PractitionerRole/a", start="2026-01-01"))
    (held,) = designations(t)
    after = hand_over(t, held, "PractitionerRole/b", at(2026, 1, 1), None)
    assert [p["member"]["reference"] for p in after["participant"]] == ["PractitionerRole/b"]
