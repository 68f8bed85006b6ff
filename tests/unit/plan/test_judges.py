"""Every checklist item on plans that pass and plans that fail it, each for one reason, and the
honesty rules: cannot-tell for what the data cannot speak to or the caller cannot see."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.plan_fixture import (
    CLIENT,
    PAST,
    Resource,
    find,
    network,
    only,
    plan_network,
    ref,
    role,
    without,
)
from zorgleefplan.plan import codes
from zorgleefplan.plan.checklist import ITEMS, Judgement, judge_plan
from zorgleefplan.plan.judges import JUDGES
from zorgleefplan.store.model import AccessConstraint, Grant

Mutation = Callable[[list[Resource]], list[Resource] | None]

NOT_IN_DATA = {
    "001-informatie-3",
    "001-informatie-4",
    "001-informatie-5",
    "001-informatie-6",
    "001-informatie-7",
    "001-rolverdeling-3",
}


def judged(resources: list[Resource], item: str, **kwargs: Any) -> Judgement:
    (found,) = judge_plan(plan_network(resources, **kwargs), [item])
    return found


def plan(resources: list[Resource]) -> Resource:
    return find(resources, "CarePlan/plan-p1")


def activity(resources: list[Resource], index: int) -> Resource:
    found: Resource = plan(resources)["activity"][index]
    return found


def participants(resources: list[Resource]) -> list[Resource]:
    found: list[Resource] = find(resources, "CareTeam/ct1")["participant"]
    return found


def drop_extension(element: Resource, url: str) -> None:
    element["extension"] = [e for e in element.get("extension", []) if e["url"] != url]


def test_every_item_has_a_judge_and_every_judge_an_item() -> None:
    assert [i.id for i in ITEMS] == list(JUDGES)
    assert len({i.id for i in ITEMS}) == len(ITEMS) == 34


def test_the_complete_plan_passes_every_item_the_data_can_speak_to() -> None:
    results = judge_plan(plan_network(network()))
    verdicts = {j.item.id: j.finding.verdict for j in results}
    assert {i for i, v in verdicts.items() if v == "cannot-tell"} == NOT_IN_DATA
    assert {i for i, v in verdicts.items() if v == "pass"} == set(JUDGES) - NOT_IN_DATA
    for j in results:
        assert j.finding.reason
        if j.item.id not in NOT_IN_DATA:
            assert j.finding.evidence, j.item.id


def test_items_outside_the_data_are_cannot_tell_even_on_an_empty_plan() -> None:
    bare = [r for r in network() if r["resourceType"] in ("CarePlan", "Patient")]
    plan(bare).pop("activity")
    for item in NOT_IN_DATA:
        finding = judged(bare, item).finding
        assert finding.verdict == "cannot-tell"
        assert "zorgleefplan" in finding.reason


def _set(path: list[Any], value: Any) -> Mutation:
    """Set a nested element of one resource: path = [key, element, element, ...]."""

    def mutate(resources: list[Resource]) -> None:
        target: Any = find(resources, path[0])
        for step in path[1:-1]:
            target = target[step]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return mutate


def _no_privacy_consent(resources: list[Resource]) -> list[Resource]:
    return without(resources, "Consent/toegang-ha")


def _unnamed_responsible(resources: list[Resource]) -> list[Resource]:
    resources.append({"resourceType": "Organization", "id": "o-anon"})
    ext = next(e for e in activity(resources, 2)["extension"] if e["url"] == codes.EXT_RESPONSIBLE)
    ext["valueReference"] = ref("Organization/o-anon")
    return resources


def _two_regiebehandelaars(resources: list[Resource]) -> None:
    participants(resources)[1]["role"] = role(codes.REGIEBEHANDELAAR)


def _no_role(index: int) -> Mutation:
    def mutate(resources: list[Resource]) -> None:
        participants(resources)[index].pop("role")

    return mutate


def _without_roles(*role_codes: str) -> Mutation:
    def mutate(resources: list[Resource]) -> None:
        for p in participants(resources):
            p["role"] = [r for r in p["role"] if r["coding"][0]["code"] not in role_codes] or [
                {"text": "betrokkene"}
            ]

    return mutate


def _client_did_not_shape(resources: list[Resource]) -> None:
    plan(resources).pop("author")
    find(resources, "Goal/g2").pop("expressedBy")


def _client_does_nothing(resources: list[Resource]) -> None:
    del participants(resources)[3]
    activity(resources, 4)["detail"]["performer"] = [ref("PractitionerRole/pr-wv")]


def _no_evaluations(resources: list[Resource]) -> list[Resource]:
    plan(resources)["activity"].pop(5)
    return without(resources, "Task/eval-next", "Task/eval-done")


def _no_client_in_communication(resources: list[Resource]) -> None:
    find(resources, "Communication/c-ho1")["recipient"] = [ref("PractitionerRole/pr-ha")]


def _no_agent(side: str) -> Mutation:
    def mutate(resources: list[Resource]) -> None:
        provenance = find(resources, "Provenance/prov-ho1")
        provenance["agent"] = [
            a for a in provenance["agent"] if a["role"][0]["coding"][0]["code"] != side
        ]

    return mutate


def _only_party_input(resources: list[Resource]) -> None:
    task = find(resources, "Task/ho1")
    task["input"] = task["input"][:1]


def _drop(index: int, url: str) -> Mutation:
    def mutate(resources: list[Resource]) -> None:
        drop_extension(activity(resources, index), url)

    return mutate


def _no_goal_link(resources: list[Resource]) -> None:
    activity(resources, 0)["detail"].pop("goal")


def _no_goals(resources: list[Resource]) -> list[Resource]:
    plan(resources).pop("goal")
    for a in plan(resources)["activity"]:
        a.get("detail", {}).pop("goal", None)
    return without(resources, "Goal/g1", "Goal/g2")


def _undated_goal(resources: list[Resource]) -> None:
    find(resources, "Goal/g1").pop("target")
    plan(resources).pop("period")


def _no_waarneming(resources: list[Resource]) -> None:
    plan(resources)["activity"].pop(3)


# (item, what is wrong, mutation, expected fragment of the reason)
FAILS: list[tuple[str, str, Mutation, str]] = [
    ("001-informatie-1", "no access consent", _no_privacy_consent, "geen actieve toestemming"),
    (
        "001-informatie-1",
        "consent without what",
        _set(["Consent/toegang-ha", "provision", "class"], None),
        "welke gegevens",
    ),
    ("001-informatie-2", "no access consent", _no_privacy_consent, "geen toestemmingsvraag"),
    (
        "001-rolverdeling-1",
        "huisarts without expertise",
        _set(["PractitionerRole/pr-ha", "code"], None),
        "Pieter Jansen",
    ),
    (
        "001-rolverdeling-2",
        "agreement without performer",
        _set(["CarePlan/plan-p1", "activity", 1, "detail", "performer"], None),
        "Huishoudelijke hulp",
    ),
    (
        "001-rolverdeling-2",
        "agreement without responsible",
        _drop(1, codes.EXT_RESPONSIBLE),
        "Huishoudelijke hulp",
    ),
    (
        "001-mandaat-1",
        "crisis agreement without responsible",
        _drop(2, codes.EXT_RESPONSIBLE),
        "acute",
    ),
    ("001-mandaat-2", "participant without role", _no_role(2), "Fatima El Amrani"),
    (
        "001-mandaat-3",
        "no regiebehandelaar",
        _without_roles(codes.REGIEBEHANDELAAR),
        "geen regiebehandelaar",
    ),
    ("001-mandaat-3", "two regiebehandelaars", _two_regiebehandelaars, "meerdere"),
    ("001-regie-1", "client did not shape the plan", _client_did_not_shape, "mee opstelden"),
    ("001-regie-1", "client takes no part", _client_does_nothing, "uitvoeren"),
    (
        "001-regie-2",
        "coordinator without organisation",
        _set(["PractitionerRole/pr-wv", "organization"], None),
        "Sanne de Vries",
    ),
    (
        "001-regie-2",
        "no coordinator",
        _without_roles(codes.COORDINEREND_ZORGVERLENER),
        "geen coördinerend",
    ),
    (
        "001-regie-3",
        "aanspreekpunt without contact",
        _set(["PractitionerRole/pr-wmo", "telecom"], None),
        "Fatima El Amrani",
    ),
    (
        "001-regie-3",
        "neither aanspreekpunt nor regiebehandelaar",
        _without_roles(codes.AANSPREEKPUNT, codes.REGIEBEHANDELAAR),
        "geen aanspreekpunt",
    ),
    ("001-regie-4", "responsible without a name", _unnamed_responsible, "acute"),
    (
        "001-regie-5",
        "nobody coordinates",
        _without_roles(codes.REGIEBEHANDELAAR, codes.COORDINEREND_ZORGVERLENER),
        "geen regiebehandelaar of coördinerend",
    ),
    (
        "001-overdracht-1",
        "handover without manner",
        _set(["Task/ho1", "description"], None),
        "Task/ho1",
    ),
    ("001-overdracht-2", "client not told", _no_client_in_communication, "niet betrokken"),
    ("001-overdracht-3", "no medium", _set(["Communication/c-ho1", "medium"], None), "medium"),
    ("001-overdracht-4", "nothing handed over named", _only_party_input, "welke informatie"),
    ("001-overdracht-5", "receiver did not record", _no_agent(codes.ONTVANGEND), "overnemende"),
    ("001-overdracht-6", "giver did not record", _no_agent(codes.OVERDRAGEND), "overdragende"),
    ("001-monitoring-1", "no evaluation moments", _no_evaluations, "geen evaluatiemomenten"),
    (
        "001-monitoring-2",
        "client's voice missing",
        _set(["Task/eval-done", "note"], None),
        "Eerste evaluatie",
    ),
    (
        "001-monitoring-3",
        "nobody keeps the finger on the pulse",
        _set(["Task/eval-next", "owner"], None),
        "Niemand",
    ),
    (
        "001-monitoring-4",
        "naaste reports to nobody",
        _set(
            ["CarePlan/plan-p1", "activity", 4, "extension", 1, "valueReference"],
            ref("RelatedPerson/rp-dochter"),
        ),
        "boodschappen",
    ),
    ("003-zorgplan-a", "no goals", _no_goals, "geen doelen"),
    ("003-zorgplan-a", "goal without a term", _undated_goal, "Wond aan het been"),
    ("003-zorgplan-b", "goal nobody works on", _no_goal_link, "Wond aan het been"),
    (
        "003-zorgplan-c",
        "agreement without performer",
        _set(["CarePlan/plan-p1", "activity", 0, "detail", "performer"], None),
        "Wondzorg",
    ),
    ("003-zorgplan-d", "no waarneming", _no_waarneming, "waarneming"),
    (
        "003-zorgplan-e",
        "no coordinator",
        _without_roles(codes.COORDINEREND_ZORGVERLENER),
        "geen coördinerend",
    ),
    (
        "003-zorgplan-f",
        "evaluation without a date",
        _set(["Task/eval-next", "restriction"], None),
        "geen datum",
    ),
]


@pytest.mark.parametrize(
    ("item", "mutation", "fragment"),
    [pytest.param(i, m, f, id=f"{i}: {why}") for i, why, m, f in FAILS],
)
def test_a_plan_fails_an_item_for_its_reason(item: str, mutation: Mutation, fragment: str) -> None:
    resources = copy.deepcopy(network())
    resources = mutation(resources) or resources
    finding = judged(resources, item).finding
    assert finding.verdict == "fail", finding
    assert fragment in finding.reason


def test_every_judged_item_has_a_failing_plan() -> None:
    assert {i for i, *_ in FAILS} == set(JUDGES) - NOT_IN_DATA


def test_without_an_aanspreekpunt_the_regiebehandelaar_is_the_contact_point() -> None:
    resources = copy.deepcopy(network())
    _without_roles(codes.AANSPREEKPUNT)(resources)
    finding = judged(resources, "001-regie-3").finding
    assert finding.verdict == "pass"
    assert "Sanne de Vries (06-11112222)" in finding.reason


def test_handover_items_do_not_apply_without_a_handover() -> None:
    resources = without(network(), "Task/ho1", "Provenance/prov-ho1", "Communication/c-ho1")
    for item in (f"001-overdracht-{n}" for n in range(1, 7)):
        finding = judged(resources, item).finding
        assert finding.verdict == "cannot-tell"
        assert "niet van toepassing" in finding.reason


def test_client_experience_waits_for_a_completed_evaluation() -> None:
    resources = without(network(), "Task/eval-done")
    finding = judged(resources, "001-monitoring-2").finding
    assert finding.verdict == "cannot-tell" and "nog geen evaluatie" in finding.reason


def test_naaste_items_do_not_apply_without_naaste_tasks() -> None:
    resources = copy.deepcopy(network())
    plan(resources)["activity"].pop(4)
    assert judged(resources, "001-monitoring-4").finding.verdict == "cannot-tell"


def test_a_past_open_evaluation_still_plans_reflection() -> None:
    resources = copy.deepcopy(network())
    find(resources, "Task/eval-next")["restriction"]["period"]["start"] = PAST
    finding = judged(resources, "003-zorgplan-f").finding
    assert finding.verdict == "pass" and "15-01-2024" in finding.reason


# --------------------------------------------------------------------------- what the caller sees


def test_a_narrow_view_never_fails_the_complete_plan() -> None:
    """A professional who sees only the CarePlan cannot tell what lies elsewhere, and is told so."""
    results = judge_plan(plan_network(network(), only("CarePlan")))
    verdicts = {j.item.id: j.finding.verdict for j in results}
    assert "fail" not in verdicts.values()
    for item in ("001-informatie-1", "001-mandaat-3", "001-regie-3", "003-zorgplan-e"):
        assert verdicts[item] == "cannot-tell", item
    reason = next(j.finding.reason for j in results if j.item.id == "001-mandaat-3")
    assert "u ziet niet alles van het zorgnetwerk (CareTeam)" in reason
    # What the plan itself holds is still judged.
    assert verdicts["003-zorgplan-d"] == "pass"


def test_a_narrow_view_still_fails_what_it_sees_fall_short() -> None:
    resources = copy.deepcopy(network())
    _drop(1, codes.EXT_RESPONSIBLE)(resources)
    finding = judged(resources, "001-rolverdeling-2", access=only("CarePlan")).finding
    assert finding.verdict == "fail"


def test_a_narrow_view_cannot_tell_what_a_hidden_task_holds() -> None:
    finding = judged(network(), "001-monitoring-1", access=only("CarePlan")).finding
    assert finding.verdict == "cannot-tell"
    assert "in detail" in finding.reason
    assert any(e.path == "CarePlan.activity[5].reference" for e in finding.evidence)


def test_evidence_names_the_resources_and_paths_looked_at() -> None:
    finding = judged(network(), "001-mandaat-3").finding
    assert [(e.reference, e.path) for e in finding.evidence] == [
        ("CareTeam/ct1", "CareTeam.participant[0].role")
    ]
    finding = judged(network(), "001-rolverdeling-2").finding
    paths = {(e.reference, e.path) for e in finding.evidence}
    assert ("CarePlan/plan-p1", "CarePlan.activity[1].detail.performer") in paths
    assert (
        "CarePlan/plan-p1",
        f"CarePlan.activity[1].extension('{codes.EXT_RESPONSIBLE}')",
    ) in paths
    finding = judged(network(), "001-monitoring-3").finding
    assert [(e.reference, e.path) for e in finding.evidence] == [("Task/eval-next", "Task.owner")]


def test_members_the_caller_cannot_see_are_cannot_tell_not_fail() -> None:
    """The care team without the directory: names, contacts and expertise are out of sight."""
    team_only = AccessConstraint(
        grants=(
            Grant(
                compartments=frozenset({CLIENT}),
                types=frozenset({"CarePlan", "CareTeam"}),
                include_shared=False,
            ),
        )
    )
    for item in ("001-rolverdeling-1", "001-regie-2", "001-regie-3"):
        finding = judged(network(), item, access=team_only).finding
        assert finding.verdict == "cannot-tell", item
        assert "niet alle betrokkenen" in finding.reason.lower()
