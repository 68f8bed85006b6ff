"""The Wlz placement PlanDefinition against the tables of seed 004 (mappings/*.tsv): every task,
its step, its eindverantwoordelijke party, the contributing parties and their text. The drift
check against the seed itself runs only where the seed is at hand (../shared/seeds)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from zorgleefplan.fhir.validation import ResourceValidator
from zorgleefplan.plan import codes, placement

ROOT = Path(__file__).resolve().parents[3]
MAPPINGS = ROOT / "mappings"
sys.path.insert(0, str(ROOT / "scripts"))

import gen_wlz_placement as gen  # noqa: E402

OCO = codes.ONAFHANKELIJKE_CLIENTONDERSTEUNER


def tsv(name: str) -> list[list[str]]:
    header, *rows = (MAPPINGS / name).read_text(encoding="utf-8").splitlines()
    width = len(header.split("\t"))
    split = [row.split("\t") for row in rows]
    assert all(len(r) == width for r in split), name
    return split


def definition() -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(
        (MAPPINGS / "PlanDefinition-wlz-plaatsing.json").read_bytes()
    )
    return parsed


def party(participant: dict[str, Any]) -> tuple[str, str, str]:
    """(role, part, text) of a participant, read without the generator's help."""
    (role,) = [c["code"] for c in participant["role"]["coding"] if c["system"] == codes.ROLE_SYSTEM]
    (extension,) = [e for e in participant["extension"] if e["url"] == codes.EXT_PARTY]
    inner = {e["url"]: e for e in extension["extension"]}
    part = inner["verantwoordelijkheid"]["valueCoding"]
    assert part["system"] == codes.RESPONSIBILITY_SYSTEM
    text = inner["toelichting"]["valueString"] if "toelichting" in inner else ""
    return role, part["code"], text


def task_rows(plan: dict[str, Any]) -> list[list[str]]:
    rows = []
    for s, step in enumerate(plan["action"], start=1):
        assert step["prefix"] == f"Stap {s}"
        for t, action in enumerate(step["action"], start=1):
            assert action["prefix"] == f"{s}.{t}"
            for participant in action["participant"]:
                rows.append([str(s), str(t), action["title"], *party(participant)])
    return rows


def test_every_task_of_the_tables_with_its_step_parties_and_text() -> None:
    assert task_rows(definition()) == tsv("wlz-plaatsing-taken.tsv")


def test_the_steps_of_the_table_in_order() -> None:
    plan = definition()
    steps = [[str(i), a["title"], a["description"]] for i, a in enumerate(plan["action"], 1)]
    assert steps == tsv("wlz-plaatsing-stappen.tsv")
    assert len(steps) == 6
    for i, step in enumerate(plan["action"][1:], start=2):
        assert step["relatedAction"] == [{"actionId": f"stap-{i - 1}", "relationship": "after-end"}]


def test_each_task_has_one_eindverantwoordelijke_party_or_leaves_it_to_the_meeting() -> None:
    shared = {codes.PER_BIJEENKOMST, codes.ORGANISATOR_BIJEENKOMST}
    for step in definition()["action"]:
        for action in step["action"]:
            parts = [party(p)[1] for p in action["participant"]]
            responsible = parts.count(codes.EINDVERANTWOORDELIJK)
            assert responsible == 1 or set(parts) <= shared, action["prefix"]


def test_what_the_seed_says_of_particular_tasks() -> None:
    """Facts read from seed 004 by hand, independent of the extraction."""
    tasks = {(r[0], r[1], r[3]): (r[4], r[5]) for r in tsv("wlz-plaatsing-taken.tsv")}
    assert len({(r[0], r[1]) for r in tsv("wlz-plaatsing-taken.tsv")}) == 26
    # The row lost below step 4's table belongs to the zorgkantoor (bijlage 1).
    assert tasks[("4", "5", codes.ZORGKANTOOR)][0] == codes.EINDVERANTWOORDELIJK
    # Step 6, task 4 continues across a page break: one cell, both halves.
    assert tasks[("6", "4", codes.ZORGKANTOOR)] == (
        codes.BIJDRAGE,
        "Proactief contact zoeken met zorgaanbieder over voortgang vanuit zorgplicht en waar "
        "nodig informeel advies vragen van het praktijkteam VWS.",
    )
    assert tasks[("3", "5", codes.DOSSIERHOUDER)] == (
        codes.EINDVERANTWOORDELIJK,
        "Gedegen kostenraming maken.",
    )
    for task in (("5", "1"), ("5", "4")):
        for role in (codes.DOSSIERHOUDER, codes.ZORGKANTOOR):
            assert tasks[(*task, role)][0] == codes.PER_BIJEENKOMST
    assert tasks[("6", "1", codes.ZORGKANTOOR)][0] == codes.ORGANISATOR_BIJEENKOMST
    step1 = {k: v for k, v in tasks.items() if k[0] == "1"}
    assert {k[2] for k in step1} == {codes.ZORGKANTOOR, OCO}  # the beoogde aanbieder has none


def conditions(action: dict[str, Any]) -> list[str]:
    return [c["expression"]["expression"] for c in action.get("condition", [])]


def test_conditions_of_steps_and_tasks() -> None:
    plan = definition()
    assert conditions(plan["action"][0]) == ["%dossierhouder.empty()"]
    assert all(conditions(s) == ["%dossierhouder.exists()"] for s in plan["action"][1:])
    oco_involved = f"%`{OCO}`.exists()"
    for step in plan["action"]:
        for action in step["action"]:
            roles = [party(p) for p in action["participant"]]
            oco_owns = (OCO, codes.EINDVERANTWOORDELIJK) in [(r, p) for r, p, _ in roles]
            assert (oco_involved in conditions(action)) == oco_owns, action["prefix"]
    by_prefix = {a["prefix"]: a for s in plan["action"] for a in s["action"]}
    assert conditions(by_prefix["2.1"]) == [f"%`{OCO}`.empty()"]
    assert conditions(by_prefix["4.5"]) == ["%zorgbeeindiging = true"]


def test_the_definition_is_valid_fhir() -> None:
    report = ResourceValidator().validate(definition())
    assert report.resource_type == "PlanDefinition"
    assert definition()["id"] == placement.PLAN_DEFINITION_ID
    assert definition()["url"] == placement.PLAN_DEFINITION_URL


def test_the_committed_definition_is_built_from_the_tables() -> None:
    assert gen.build_plan_definition(gen.read_steps(), gen.read_parts()) == definition()


def test_the_packaged_copy_is_the_mapping() -> None:
    assert placement.packaged_plan_definition() == definition()
    assert gen.PACKAGED.read_bytes() == gen.PLAN_DEFINITION.read_bytes()


@pytest.mark.skipif(gen.seed_file() is None, reason="seed 004 is not at hand (../shared/seeds)")
def test_the_tables_are_what_the_seed_says() -> None:
    seed = gen.seed_file()
    assert seed is not None
    steps, parts = gen.extract(seed.read_text(encoding="utf-8"))
    assert steps == gen.read_steps()
    assert parts == gen.read_parts()


# --------------------------------------------------------------------------- the extraction

HEADER = "Taak\tZorgaanbieder (dossierhouder)\tZorgkantoor\tOnafhankelijke cliëntondersteuner"
RESPONSIBLE = "<u>Eindverantwoordelijk (regie op uitvoering).</u>"


def seed(*table: str, after: str = "") -> str:
    return "\n".join(["Stap 1: een stap", "", "Wat de stap is.", "", HEADER, *table, "", after])


def test_extract_splits_each_cell_into_part_and_text() -> None:
    steps, parts = gen.extract(
        seed(
            f"<p>Iets doen</p>\t{RESPONSIBLE} Met zorg.\tMeedenken.\t"
            "Kan je per bijeenkomst bepalen."
        )
    )
    assert steps == [gen.Step(1, "een stap", "Wat de stap is.")]
    assert [(p.rol, p.verantwoordelijkheid, p.toelichting) for p in parts] == [
        (codes.DOSSIERHOUDER, codes.EINDVERANTWOORDELIJK, "Met zorg."),
        (codes.ZORGKANTOOR, codes.BIJDRAGE, "Meedenken."),
        (OCO, codes.PER_BIJEENKOMST, "Kan je per bijeenkomst bepalen."),
    ]
    assert {p.omschrijving for p in parts} == {"Iets doen"}


def test_extract_joins_a_row_broken_across_a_page() -> None:
    _, parts = gen.extract(seed(f"Iets doen\t{RESPONSIBLE}\tBegin van de", "", "\t\tzin.\t"))
    assert parts[1].toelichting == "Begin van de zin."


@pytest.mark.parametrize(
    "table",
    [
        (f"Iets doen\t{RESPONSIBLE}\t{RESPONSIBLE}\t",),  # two eindverantwoordelijken
        ("Iets doen\tMeedenken.\t\t",),  # nobody eindverantwoordelijk
    ],
)
def test_extract_refuses_a_task_without_one_responsible_party(table: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="no single eindverantwoordelijke"):
        gen.extract(seed(*table))


def test_extract_refuses_text_under_the_beoogde_zorgaanbieder() -> None:
    text = seed(f"Iets doen\t{RESPONSIBLE}\t\t").replace(
        "Zorgaanbieder (dossierhouder)", "Beoogde zorgaanbieder"
    )
    with pytest.raises(ValueError, match="unexpected text"):
        gen.extract(text)


def test_extract_refuses_a_lost_row_that_moved() -> None:
    text = "\n".join(
        ["Stap 4: vier", "Wat.", HEADER, f"Iets doen\t{RESPONSIBLE}\t\t", "", "Iets anders."]
    )
    with pytest.raises(ValueError, match="not where it was"):
        gen.extract(text)
