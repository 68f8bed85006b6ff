"""The who-is-who, field by field, on the complete network and on what a narrow view leaves."""

from __future__ import annotations

import copy

from tests.plan_fixture import (
    FUTURE,
    PAST,
    Resource,
    evaluation,
    find,
    network,
    only,
    plan_network,
    without,
)
from zorgleefplan.plan import codes
from zorgleefplan.plan.summary import CENTRAL_CONTACT, Summary, summarize
from zorgleefplan.store.model import AccessConstraint


def summary_of(resources: list[Resource], access: AccessConstraint | None = None) -> Summary:
    return summarize(plan_network(resources, access))


def test_the_plan_and_the_client() -> None:
    s = summary_of(network())
    assert s.plan == "CarePlan/plan-p1"
    assert s.title == "Zorgleefplan Ans Berends"
    assert s.status == "active"
    assert s.domains == ("Zvw", "Wmo")
    assert s.client is not None and s.client.name == "Ans Berends"


def test_the_care_network_regiebehandelaar_first() -> None:
    s = summary_of(network())
    assert [(r.role, r.party.reference) for r in s.roles] == [
        (codes.REGIEBEHANDELAAR, "PractitionerRole/pr-wv"),
        (codes.AANSPREEKPUNT, "PractitionerRole/pr-wmo"),
        (codes.COORDINEREND_ZORGVERLENER, "PractitionerRole/pr-wv"),
        (codes.INDICEREND_ZORGVERLENER, "PractitionerRole/pr-ha"),
        (codes.MANTELZORGER, "RelatedPerson/rp-dochter"),
    ]
    (regie,) = s.role(codes.REGIEBEHANDELAAR)
    assert regie.party.name == "Sanne de Vries"
    assert regie.party.qualification == "wijkverpleegkundige"
    assert regie.party.organization == "Organization/o-wijk"
    assert regie.party.organization_name == "Wijkzorg Oost"
    # Her own number first, then her organisation's; the complaint address is the organisation's.
    assert [c["value"] for c in regie.party.telecom] == ["06-11112222", "030-1234567"]
    assert regie.party.address[0]["city"] == "Utrecht"
    assert regie.period == {"start": "2024-02-01T00:00:00Z"}
    assert (regie.source, regie.path) == ("CareTeam/ct1", "CareTeam.participant[0]")
    assert regie.note is None
    (indicerend,) = s.role(codes.INDICEREND_ZORGVERLENER)
    assert (indicerend.party.name, indicerend.party.organization_name) == (
        "Pieter Jansen",
        "Huisartsenpraktijk Lindenhof",
    )


def test_without_an_aanspreekpunt_the_regiebehandelaar_is_named_as_one() -> None:
    resources = copy.deepcopy(network())
    find(resources, "CareTeam/ct1")["participant"].pop(2)
    s = summary_of(resources)
    (contact,) = s.role(codes.AANSPREEKPUNT)
    assert contact.party.reference == "PractitionerRole/pr-wv"
    assert contact.note == CENTRAL_CONTACT
    assert s.roles[1] is contact


def test_ended_participants_and_inactive_teams_are_not_in_the_network() -> None:
    resources = copy.deepcopy(network())
    find(resources, "CareTeam/ct1")["participant"][1]["period"] = {"end": "2021-01-01"}
    assert not summary_of(resources).role(codes.INDICEREND_ZORGVERLENER)
    find(resources, "CareTeam/ct1")["status"] = "inactive"
    assert summary_of(resources).roles == ()


def test_volmacht_and_representatives() -> None:
    s = summary_of(network())
    assert s.volmacht.stated is True
    assert s.volmacht.path == "CarePlan.extension[0]"
    (entry,) = s.volmacht.entries
    assert entry.consent == "Consent/volmacht"
    (holder,) = entry.holders
    assert (holder.name, holder.telecom[0]["value"]) == ("Ingrid Berends", "06-99990000")
    (rep,) = s.representatives
    assert (rep.party.name, rep.roles) == ("Kees Smit", ("bewindvoerder",))


def test_a_revoked_volmacht_has_no_holder_whatever_the_plan_says() -> None:
    resources = copy.deepcopy(network())
    find(resources, "Consent/volmacht")["status"] = "inactive"
    s = summary_of(resources)
    assert s.volmacht.stated is True and s.volmacht.entries == ()


def test_goals() -> None:
    s = summary_of(network())
    assert [(g.reference, g.description, g.status, g.due) for g in s.goals] == [
        ("Goal/g1", "Wond aan het been is genezen", "active", "2099-06-01"),
        ("Goal/g2", "Zelfstandig thuis blijven wonen", "active", "2099-12-31"),
    ]


def test_every_agreement_with_responsible_performer_status_and_progress() -> None:
    s = summary_of(network())
    rows = [
        (
            v.item.description,
            v.responsible.label if v.responsible else None,
            [p.label for p in v.performers],
            v.item.status,
            [n.text for n in v.item.notes],
        )
        for v in s.of_kind(codes.AFSPRAAK)
    ]
    assert rows == [
        (
            "Wondzorg en medicatie",
            "Sanne de Vries",
            ["Sanne de Vries"],
            "in-progress",
            ["Wond sluit goed"],
        ),
        (
            "Huishoudelijke hulp",
            "Fatima El Amrani",
            ["Gemeente Utrecht, Wmo-loket"],
            "scheduled",
            [],
        ),
    ]
    assert [v.item.path for v in s.of_kind(codes.AFSPRAAK)] == [
        "CarePlan.activity[0]",
        "CarePlan.activity[1]",
    ]
    assert s.of_kind(codes.AFSPRAAK)[0].item.goals == ("Goal/g1",)


def test_crisis_waarneming_and_informal_care() -> None:
    s = summary_of(network())
    (crisis,) = s.of_kind(codes.CRISISAFSPRAAK)
    assert crisis.item.description == "Bij acute verwardheid: huisartsenpost bellen"
    assert crisis.responsible is not None and crisis.responsible.name == "Pieter Jansen"
    (stand_in,) = s.of_kind(codes.WAARNEMING)
    assert [p.name for p in stand_in.performers] == ["Pieter Jansen"]
    assert stand_in.responsible is not None and stand_in.responsible.name == "Sanne de Vries"
    (task,) = s.of_kind(codes.MANTELZORGTAAK)
    assert [p.name for p in task.performers] == ["Ingrid Berends"]


def test_next_evaluation_moments_soonest_first_and_overdue_flagged() -> None:
    resources = copy.deepcopy(network())
    resources.append(
        {
            **evaluation("eval-late", "requested", PAST, "Achterstallige evaluatie"),
            "basedOn": [{"reference": "CarePlan/plan-p1"}],
        }
    )
    s = summary_of(resources)
    assert [(v.item.source, v.item.when_text, v.overdue) for v in s.next_evaluations] == [
        ("Task/eval-late", PAST, True),
        ("Task/eval-next", FUTURE, False),
    ]
    # The completed one is history, not a next moment.
    assert "Task/eval-done" not in {v.item.source for v in s.next_evaluations}
    upcoming = s.next_evaluations[1]
    assert upcoming.responsible is not None and upcoming.responsible.name == "Sanne de Vries"


def test_cited_resources_are_those_the_summary_names() -> None:
    s = summary_of(network())
    assert s.cited[0] == "CarePlan/plan-p1"
    for key in (
        "Patient/p1",
        "CareTeam/ct1",
        "PractitionerRole/pr-wv",
        "Practitioner/dr-wv",
        "Organization/o-wijk",
        "Consent/volmacht",
        "RelatedPerson/rp-dochter",
        "RelatedPerson/rp-bewind",
        "Goal/g1",
        "Task/eval-next",
    ):
        assert key in s.cited, key
    for key in ("Task/eval-done", "Task/ho1", "Consent/toegang-ha", "Provenance/prov-ho1"):
        assert key not in s.cited, key


def test_a_narrow_view_shows_the_plan_and_nothing_behind_it() -> None:
    """A professional who may see only the CarePlan: the plan's own statements, the directory
    data it names, and nothing of the Consent, CareTeam, RelatedPersons, Goals or Tasks."""
    s = summary_of(network(), only("CarePlan"))
    assert s.client is None
    assert s.roles == ()
    assert s.volmacht.stated is True  # the plan itself says so
    assert s.volmacht.entries == ()  # but who holds it is not theirs to see
    assert s.representatives == () and s.goals == () and s.next_evaluations == ()
    (task,) = s.of_kind(codes.MANTELZORGTAAK)
    (performer,) = task.performers
    assert (performer.visible, performer.name) == (False, None)
    assert {r.split("/")[0] for r in s.cited} <= {
        "CarePlan",
        "PractitionerRole",
        "Practitioner",
        "Organization",
    }
    # The evaluation lives in a Task it may not see: absent, not half-shown.
    assert all(v.item.detailed for v in s.items)


def test_a_plan_that_states_no_volmacht() -> None:
    resources = without(network(), "Consent/volmacht")
    plan = find(resources, "CarePlan/plan-p1")
    plan["extension"][0]["extension"] = [{"url": codes.VOLMACHT_AANWEZIG, "valueBoolean": False}]
    s = summary_of(resources)
    assert s.volmacht.stated is False and s.volmacht.entries == ()
    plan.pop("extension")
    assert summary_of(resources).volmacht.stated is None
