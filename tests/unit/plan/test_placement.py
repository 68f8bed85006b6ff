"""Applying the Wlz placement PlanDefinition (plan/placement.py), without a store: which Tasks,
owned by whom, in which order and status, with which parties. The expected tasks come from the
seed's table (mappings/wlz-plaatsing-taken.tsv) and the rules seed 004 states."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import pytest

from zorgleefplan.errors import InvalidRequest, InvalidResource
from zorgleefplan.fhir.validation import ResourceValidator
from zorgleefplan.plan import codes, placement

TASKS_TSV = Path(__file__).resolve().parents[3] / "mappings" / "wlz-plaatsing-taken.tsv"
OCO = codes.ONAFHANKELIJKE_CLIENTONDERSTEUNER
ORGS = {
    codes.DOSSIERHOUDER: "Organization/aanbieder",
    codes.ZORGKANTOOR: "Organization/kantoor",
    OCO: "Organization/oco",
}


def table() -> dict[tuple[int, int], dict[str, tuple[str, str]]]:
    """(step, task) -> role -> (part, text), from the committed table."""
    found: dict[tuple[int, int], dict[str, tuple[str, str]]] = {}
    for line in TASKS_TSV.read_text(encoding="utf-8").splitlines()[1:]:
        step, task, _, role, part, text = line.split("\t")
        found.setdefault((int(step), int(task)), {})[role] = (part, text)
    return found


def expected(roles: set[str], zorgbeeindiging: bool = False) -> list[tuple[int, int]]:
    """The tasks seed 004 asks for: step 1 without a dossierhouder, steps 2-6 with one; the
    cliëntondersteuner's tasks only when one is involved; advice on involving one (2.1) only
    when none is; the toetsing at zorgbeëindiging (4.5) only then."""
    chosen = []
    for (step, task), parties in table().items():
        if (step == 1) == (codes.DOSSIERHOUDER in roles):
            continue
        owner = [r for r, (part, _) in parties.items() if part == codes.EINDVERANTWOORDELIJK]
        if owner == [OCO] and OCO not in roles:
            continue
        if (step, task) == (2, 1) and OCO in roles:
            continue
        if (step, task) == (4, 5) and not zorgbeeindiging:
            continue
        chosen.append((step, task))
    return chosen


def apply(roles: set[str], **flags: bool) -> placement.Applied:
    counter = itertools.count(1)
    return placement.apply_plan(
        placement.packaged_plan_definition(),
        placement.Application(
            subject="Patient/p1",
            parties={role: ORGS[role] for role in roles},
            flags=flags,
            requester="PractitionerRole/pr1",
            authored="2026-05-01T10:00:00Z",
            group="urn:uuid:00000000-0000-0000-0000-000000000001",
        ),
        lambda: f"t{next(counter)}",
    )


def position(task: dict[str, Any]) -> tuple[int, int]:
    step, _, number = task["instantiatesUri"].rpartition("#stap-")[2].partition("-taak-")
    return int(step), int(number)


def parties_of(task: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """role -> (organisation, part, text) from the Task's betrokken-partij extensions."""
    found = {}
    for extension in task["extension"]:
        if extension["url"] != codes.EXT_PARTY:
            continue
        inner = {e["url"]: e for e in extension["extension"]}
        found[inner["rol"]["valueCoding"]["code"]] = (
            inner["partij"]["valueReference"]["reference"],
            inner["verantwoordelijkheid"]["valueCoding"]["code"],
            inner.get("toelichting", {}).get("valueString", ""),
        )
    return found


def step_of(task: dict[str, Any]) -> int:
    (value,) = [e["valuePositiveInt"] for e in task["extension"] if e["url"] == codes.EXT_PLAN_STEP]
    return int(value)


CASES = [
    {codes.DOSSIERHOUDER, codes.ZORGKANTOOR},
    {codes.DOSSIERHOUDER, codes.ZORGKANTOOR, OCO},
    {codes.ZORGKANTOOR},
    {codes.ZORGKANTOOR, OCO},
]


@pytest.mark.parametrize("roles", CASES, ids=lambda r: "+".join(sorted(r)))
def test_exactly_the_tasks_the_seed_asks_for_in_step_order(roles: set[str]) -> None:
    applied = apply(roles)
    assert [position(t) for t in applied.tasks] == expected(roles)
    assert [step_of(t) for t in applied.tasks] == [p[0] for p in expected(roles)]


@pytest.mark.parametrize("roles", CASES, ids=lambda r: "+".join(sorted(r)))
def test_each_task_owned_by_its_eindverantwoordelijke_with_the_involved_parties(
    roles: set[str],
) -> None:
    rows = table()
    for task in apply(roles).tasks:
        parties = rows[position(task)]
        involved = {r: v for r, v in parties.items() if r in roles}
        assert parties_of(task) == {
            r: (ORGS[r], part, text) for r, (part, text) in involved.items()
        }
        owners = [r for r, (part, _) in parties.items() if part == codes.EINDVERANTWOORDELIJK]
        if owners:
            assert task["owner"] == {"reference": ORGS[owners[0]]}
            candidates = owners
        else:  # the parties decide per meeting: no owner yet
            assert "owner" not in task
            candidates = list(involved)
        assert [c["coding"][0]["code"] for c in task["performerType"]] == candidates
        assert task["for"] == {"reference": "Patient/p1"}
        assert task["requester"] == {"reference": "PractitionerRole/pr1"}
        assert task["code"]["coding"] == [
            {"system": codes.TASK_SYSTEM, "code": codes.WLZ_PLAATSING}
        ]


def test_the_first_step_is_requested_and_later_steps_wait_as_draft() -> None:
    tasks = apply({codes.DOSSIERHOUDER, codes.ZORGKANTOOR}).tasks
    assert {t["status"] for t in tasks if step_of(t) == 2} == {"requested"}
    assert {t["status"] for t in tasks if step_of(t) > 2} == {"draft"}
    step1 = apply({codes.ZORGKANTOOR, OCO}).tasks
    assert {t["status"] for t in step1} == {"requested"}


def test_zorgbeeindiging_adds_the_zorgkantoors_toetsing() -> None:
    roles = {codes.DOSSIERHOUDER, codes.ZORGKANTOOR}
    tasks = apply(roles, zorgbeeindiging=True).tasks
    assert [position(t) for t in tasks] == expected(roles, zorgbeeindiging=True)
    (toetsing,) = [t for t in tasks if position(t) == (4, 5)]
    assert toetsing["owner"] == {"reference": ORGS[codes.ZORGKANTOOR]}


def test_one_group_and_the_care_plan_naming_every_task_in_order() -> None:
    applied = apply({codes.DOSSIERHOUDER, codes.ZORGKANTOOR, OCO})
    groups = {t["groupIdentifier"]["value"] for t in applied.tasks}
    assert groups == {"urn:uuid:00000000-0000-0000-0000-000000000001"}
    plan = applied.care_plan
    assert plan["activity"] == [{"reference": {"reference": "#plaatsing"}}]
    (group,) = plan["contained"]
    assert group["resourceType"] == "RequestGroup"
    named = [a["resource"]["reference"] for s in group["action"] for a in s["action"]]
    assert named == [f"Task/{t['id']}" for t in applied.tasks]
    assert [s["prefix"] for s in group["action"]] == [f"Stap {n}" for n in range(2, 7)]
    assert plan["instantiatesCanonical"] == [f"{placement.PLAN_DEFINITION_URL}|2026-04"]


def test_tasks_and_care_plan_are_valid_fhir() -> None:
    validator = ResourceValidator()
    applied = apply({codes.DOSSIERHOUDER, codes.ZORGKANTOOR, OCO}, zorgbeeindiging=True)
    for resource in (*applied.tasks, applied.care_plan):
        validator.validate(resource)


def test_a_task_that_applies_needs_its_eindverantwoordelijke_party() -> None:
    with pytest.raises(InvalidRequest, match="zorgkantoor") as caught:
        apply({codes.DOSSIERHOUDER})
    assert caught.value.expression == ["Parameters.parameter.where(name = 'zorgkantoor')"]


def broken(change: Any) -> dict[str, Any]:
    definition = copy.deepcopy(placement.packaged_plan_definition())
    change(definition)
    return definition


def set_role(d: dict[str, Any]) -> None:
    d["action"][1]["action"][0]["participant"][0]["role"]["coding"][0]["code"] = "huisarts"


def set_condition(d: dict[str, Any]) -> None:
    d["action"][1]["condition"][0]["expression"]["expression"] = "%dossierhouder"


def set_language(d: dict[str, Any]) -> None:
    d["action"][1]["condition"][0]["expression"]["language"] = "text/cql"


def drop_part(d: dict[str, Any]) -> None:
    del d["action"][1]["action"][1]["participant"][0]["extension"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (set_role, "PlanDefinition.action[1].action[0].participant[0].role"),
        (set_condition, "PlanDefinition.action[1].condition[0].expression"),
        (set_language, "PlanDefinition.action[1].condition[0].expression"),
        (drop_part, "PlanDefinition.action[1].action[1].participant[0]"),
    ],
)
def test_a_definition_off_the_conventions_is_refused_with_the_element(
    change: Any, path: str
) -> None:
    with pytest.raises(InvalidResource) as caught:
        placement.apply_plan(
            broken(change),
            placement.Application("Patient/p1", dict(ORGS), {}, None, "2026-05-01", "urn:uuid:x"),
            lambda: "t",
        )
    assert caught.value.expression == [path]
