"""Seed 004 (the Wlz placement steps) as data, and the PlanDefinition built from that data.

Run from the repository root:

    python scripts/gen_wlz_placement.py           # extract the seed's tables, then build
    python scripts/gen_wlz_placement.py --build   # build from the committed TSV files only

Extracting reads ``../shared/seeds/004_*.txt`` (or ``$ZLP_SEEDS_DIR``) and writes
``mappings/wlz-plaatsing-stappen.tsv`` (step, title, first paragraph) and
``mappings/wlz-plaatsing-taken.tsv`` (one row per task and party: the step, the task's number
and text, the party's role code, its part — eindverantwoordelijk, bijdrage, per-bijeenkomst or
organisator-bijeenkomst — and the rest of the party's cell). Building turns those two files into
``mappings/PlanDefinition-wlz-plaatsing.json`` and the copy the service installs
(``service/zorgleefplan/plan/data/``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "service"))

from zorgleefplan.plan import codes, placement  # noqa: E402

SEEDS = Path(os.environ.get("ZLP_SEEDS_DIR", ROOT.parent / "shared" / "seeds"))
MAPPINGS = ROOT / "mappings"
STEPS_TSV = MAPPINGS / "wlz-plaatsing-stappen.tsv"
TASKS_TSV = MAPPINGS / "wlz-plaatsing-taken.tsv"
PLAN_DEFINITION = MAPPINGS / "PlanDefinition-wlz-plaatsing.json"
PACKAGED = ROOT / "service" / "zorgleefplan" / "plan" / "data" / "PlanDefinition-wlz-plaatsing.json"

STEP_COLUMNS = ("stap", "titel", "beschrijving")
TASK_COLUMNS = ("stap", "taak", "omschrijving", "rol", "verantwoordelijkheid", "toelichting")

# The table columns of seed 004 and the role each stands for. Step 1's "Beoogde zorgaanbieder"
# is not yet dossierhouder and has no part in any task there; a cell in it is an error.
COLUMN_ROLES: dict[str, str | None] = {
    "Beoogde zorgaanbieder": None,
    "Zorgaanbieder (dossierhouder)": codes.DOSSIERHOUDER,
    "Zorgkantoor": codes.ZORGKANTOOR,
    "Onafhankelijke cliëntondersteuner": codes.ONAFHANKELIJKE_CLIENTONDERSTEUNER,
}
ROLE_LABELS = {role: label for label, role in COLUMN_ROLES.items() if role is not None}


@dataclass(frozen=True)
class LostRow:
    """A table row the seed's text extraction lost: its cells became paragraphs below the
    table. ``role`` says whose cell the "Eindverantwoordelijk" paragraph was, and why."""

    task: str
    role: str
    why: str


# Step 4's last row follows the table as three paragraphs (task, note, "Eindverantwoordelijk");
# the column is gone. It is the zorgkantoor's: bijlage 1 is titled "Het zorgkantoor toetst op
# de kwaliteit van het proces bij zorgbeëindiging", and the introduction says a unilateral
# termination is possible only "als het zorgkantoor heeft getoetst".
LOST_ROWS = {
    4: LostRow(
        task="Bij zorgbeëindiging door zorgaanbieders: toetsing afwijsgonden op kwaliteit van "
        "het proces.",
        role=codes.ZORGKANTOOR,
        why="bijlage 1: Het zorgkantoor toetst op de kwaliteit van het proces bij zorgbeëindiging",
    )
}

_STEP_HEADING = re.compile(r"^Stap (\d+): (.+?)\s*$")
_MARKUP = re.compile(r"</?(?:p|u)>")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")  # a markdown link: its text only
_RESPONSIBLE = re.compile(r"^Eindverantwoordelijk(?: \(regie op uitvoering\))?\.\s*(.*)$")
_PER_MEETING = "Kan je per bijeenkomst bepalen."
_ORGANISER = "Door de partij die de bijeenkomst organiseerde."


@dataclass(frozen=True)
class Step:
    stap: int
    titel: str
    beschrijving: str


@dataclass(frozen=True)
class Part:
    """One party's cell in one task row of the seed."""

    stap: int
    taak: int
    omschrijving: str
    rol: str
    verantwoordelijkheid: str
    toelichting: str


# --------------------------------------------------------------------------- extraction


def seed_file() -> Path | None:
    found = sorted(SEEDS.glob("004_*.txt")) if SEEDS.is_dir() else []
    return found[0] if found else None


def _clean(cell: str) -> str:
    return " ".join(_LINK.sub(r"\1", _MARKUP.sub(" ", cell)).split())


def classify(cell: str) -> tuple[str, str]:
    """(the party's part, the rest of its text) for one cleaned cell."""
    match = _RESPONSIBLE.match(cell)
    if match:
        return codes.EINDVERANTWOORDELIJK, match.group(1)
    if cell == _PER_MEETING:
        return codes.PER_BIJEENKOMST, cell
    if cell == _ORGANISER:
        return codes.ORGANISATOR_BIJEENKOMST, cell
    return codes.BIJDRAGE, cell


def _parts(step: int, number: int, task: str, cells: dict[str, str]) -> list[Part]:
    parts = []
    for column, cell in cells.items():
        if not cell:
            continue
        role = COLUMN_ROLES[column]
        if role is None:
            raise ValueError(f"step {step}, task {number}: unexpected text under {column!r}")
        kind, rest = classify(cell)
        parts.append(Part(step, number, task, role, kind, rest))
    kinds = [p.verantwoordelijkheid for p in parts]
    shared = {codes.PER_BIJEENKOMST, codes.ORGANISATOR_BIJEENKOMST}
    if kinds.count(codes.EINDVERANTWOORDELIJK) != 1 and not (kinds and set(kinds) <= shared):
        raise ValueError(f"step {step}, task {number}: no single eindverantwoordelijke party")
    return parts


def _table(lines: list[str], start: int) -> tuple[list[str], list[list[str]], int]:
    """The header, the rows (continuation lines merged) and the index after the table."""
    header = lines[start].split("\t")
    rows: list[list[str]] = []
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if "\t" not in line:
            break
        cells = [_clean(c) for c in line.split("\t")]
        cells += [""] * (len(header) - len(cells))
        if not cells[0]:  # a row broken across a page: its cells continue the previous row
            rows[-1] = [" ".join(filter(None, pair)) for pair in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
        i += 1
    return header, rows, i


def _lost_row(step: int, lines: list[str], i: int, lost: LostRow) -> tuple[str, str]:
    """The task text and the cell of the row lost after step ``step``'s table."""
    paragraphs = []
    while i < len(lines) and not _STEP_HEADING.match(lines[i]):
        if lines[i].strip():
            paragraphs.append(_clean(lines[i]))
        i += 1
    if len(paragraphs) < 2 or paragraphs[0] != lost.task or not _RESPONSIBLE.match(paragraphs[-1]):
        raise ValueError(f"step {step}: the lost row {lost.task!r} is not where it was")
    return paragraphs[0], " ".join([paragraphs[-1], *paragraphs[1:-1]])


def extract(text: str) -> tuple[list[Step], list[Part]]:
    lines = text.splitlines()
    steps: list[Step] = []
    parts: list[Part] = []
    step = 0
    i = 0
    while i < len(lines):
        heading = _STEP_HEADING.match(lines[i])
        if heading:
            step = int(heading.group(1))
            following = (line.strip() for line in lines[i + 1 :])
            description = next(line for line in following if line)
            steps.append(Step(step, heading.group(2), _clean(description)))
            i += 1
            continue
        if not lines[i].startswith("Taak\t"):
            i += 1
            continue
        header, rows, i = _table(lines, i)
        columns = [_clean(c) for c in header[1:]]
        unknown = [c for c in columns if c not in COLUMN_ROLES]
        if unknown:
            raise ValueError(f"step {step}: unknown columns {unknown}")
        numbered = [(row[0], dict(zip(columns, row[1:], strict=True))) for row in rows]
        if step in LOST_ROWS:
            lost = LOST_ROWS[step]
            task, cell = _lost_row(step, lines, i, lost)
            label = next(c for c in columns if COLUMN_ROLES[c] == lost.role)
            numbered.append((task, {c: cell if c == label else "" for c in columns}))
        for number, (task, cells) in enumerate(numbered, start=1):
            parts += _parts(step, number, task, cells)
    if [s.stap for s in steps] != list(range(1, len(steps) + 1)):
        raise ValueError(f"steps out of order: {[s.stap for s in steps]}")
    return steps, parts


# --------------------------------------------------------------------------- TSV


def write_tsv(path: Path, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    lines = ["\t".join(columns)]
    for row in rows:
        fields = [str(v) for v in row]
        if any("\t" in f or "\n" in f for f in fields):
            raise ValueError(f"{path.name}: a field holds a tab or newline: {row}")
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_tsv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    if tuple(header.split("\t")) != columns:
        raise ValueError(f"{path.name}: expected columns {columns}")
    return [dict(zip(columns, row.split("\t"), strict=True)) for row in rows]


def read_steps() -> list[Step]:
    return [
        Step(int(r["stap"]), r["titel"], r["beschrijving"])
        for r in read_tsv(STEPS_TSV, STEP_COLUMNS)
    ]


def read_parts() -> list[Part]:
    return [
        Part(
            int(r["stap"]),
            int(r["taak"]),
            r["omschrijving"],
            r["rol"],
            r["verantwoordelijkheid"],
            r["toelichting"],
        )
        for r in read_tsv(TASKS_TSV, TASK_COLUMNS)
    ]


# --------------------------------------------------------------------------- PlanDefinition

_OCO = f"%`{codes.ONAFHANKELIJKE_CLIENTONDERSTEUNER}`"
_STARTS_WITHOUT_DOSSIERHOUDER = 1  # "Stap 1 ... (startpunt als er nog geen dossierhouder is)"
# Conditions a task's own text states (seed 004), by a phrase of that text.
_TEXT_CONDITIONS = {
    "(indien er nog geen onafhankelijke cliëntondersteuner betrokken was)": (
        f"{_OCO}.empty()",
        "Alleen als er nog geen onafhankelijke cliëntondersteuner betrokken is.",
    ),
    "Bij zorgbeëindiging door zorgaanbieders": (
        f"%{placement.ZORGBEEINDIGING} = true",
        "Alleen als de zorgaanbieder de zorg eenzijdig wil beëindigen (zorgbeëindiging).",
    ),
}


def _condition(expression: str, description: str) -> dict[str, Any]:
    return {
        "kind": "applicability",
        "expression": {
            "description": description,
            "language": "text/fhirpath",
            "expression": expression,
        },
    }


def _step_condition(step: int) -> dict[str, Any]:
    if step == _STARTS_WITHOUT_DOSSIERHOUDER:
        return _condition(
            f"%{codes.DOSSIERHOUDER}.empty()",
            "Stap 1 geldt alleen als er nog geen Wlz-aanbieder dossierhouder is.",
        )
    return _condition(
        f"%{codes.DOSSIERHOUDER}.exists()",
        "Vanaf stap 2 is er een Wlz-zorgaanbieder dossierhouder bij wie de cliënt in zorg is.",
    )


def _task_conditions(task: str, parts: list[Part]) -> list[dict[str, Any]]:
    found = [_condition(*rule) for phrase, rule in _TEXT_CONDITIONS.items() if phrase in task]
    responsible = [p.rol for p in parts if p.verantwoordelijkheid == codes.EINDVERANTWOORDELIJK]
    if codes.ONAFHANKELIJKE_CLIENTONDERSTEUNER in responsible:
        found.append(
            _condition(
                f"{_OCO}.exists()",
                "De verantwoordelijkheden voor de onafhankelijke cliëntondersteuner gelden "
                "alleen als er bij een casus een cliëntondersteuner betrokken is.",
            )
        )
    return found


def _participant(part: Part) -> dict[str, Any]:
    party: list[dict[str, Any]] = [
        {
            "url": placement.PART,
            "valueCoding": {
                "system": codes.RESPONSIBILITY_SYSTEM,
                "code": part.verantwoordelijkheid,
            },
        }
    ]
    if part.toelichting:
        party.append({"url": placement.TEXT, "valueString": part.toelichting})
    return {
        "extension": [{"url": codes.EXT_PARTY, "extension": party}],
        # R4 has no organisation participant type: the practitioner acting for the party.
        "type": "practitioner",
        "role": {
            "coding": [{"system": codes.ROLE_SYSTEM, "code": part.rol}],
            "text": ROLE_LABELS[part.rol],
        },
    }


def _task_action(step: int, number: int, parts: list[Part]) -> dict[str, Any]:
    task = parts[0].omschrijving
    action: dict[str, Any] = {
        "id": f"stap-{step}-taak-{number}",
        "prefix": f"{step}.{number}",
        "title": task,
        "code": [{"coding": [{"system": codes.TASK_SYSTEM, "code": codes.WLZ_PLAATSING}]}],
    }
    conditions = _task_conditions(task, parts)
    if conditions:
        action["condition"] = conditions
    action["participant"] = [_participant(p) for p in parts]
    return action


def build_plan_definition(steps: list[Step], parts: list[Part]) -> dict[str, Any]:
    actions = []
    for step in steps:
        numbers = sorted({p.taak for p in parts if p.stap == step.stap})
        action: dict[str, Any] = {
            "id": f"stap-{step.stap}",
            "prefix": f"Stap {step.stap}",
            "title": step.titel,
            "description": step.beschrijving,
            "condition": [_step_condition(step.stap)],
        }
        if step.stap > 1:
            action["relatedAction"] = [
                {"actionId": f"stap-{step.stap - 1}", "relationship": "after-end"}
            ]
        action["groupingBehavior"] = "logical-group"
        action["selectionBehavior"] = "all"
        action["action"] = [
            _task_action(step.stap, n, [p for p in parts if (p.stap, p.taak) == (step.stap, n)])
            for n in numbers
        ]
        actions.append(action)
    return {
        "resourceType": "PlanDefinition",
        "id": placement.PLAN_DEFINITION_ID,
        "url": placement.PLAN_DEFINITION_URL,
        "version": "2026-04",
        "name": "WlzPlaatsing",
        "title": "Taken en verantwoordelijkheden bij het vinden van een passende woonzorgplek",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/plan-definition-type",
                    "code": "workflow-definition",
                }
            ]
        },
        "status": "active",
        "experimental": False,
        "date": "2026-04",
        "publisher": "Zorgleefplan",
        "description": "De stappen 1-6 in de zoektocht naar een passende woonzorgplek bij "
        "complexe Wlz-casuïstiek, met per taak de eindverantwoordelijke partij en de bijdrage "
        "van de andere partijen (zorgaanbieder/dossierhouder, zorgkantoor, onafhankelijke "
        "cliëntondersteuner). Stap 1 geldt als er nog geen dossierhouder is, stap 2-6 als die "
        "er wel is; taken van de cliëntondersteuner alleen als die betrokken is.",
        "jurisdiction": [{"coding": [{"system": "urn:iso:std:iso:3166", "code": "NL"}]}],
        "usage": "POST PlanDefinition/wlz-plaatsing/$apply met subject (de cliënt) en de "
        "organisaties per rol (dossierhouder, zorgkantoor, onafhankelijke-clientondersteuner); "
        "maakt per taak een Task met de eindverantwoordelijke partij als owner.",
        "relatedArtifact": [
            {
                "type": "documentation",
                "display": "Beschrijving taken en verantwoordelijkheden bij het vinden van een "
                "passende woonzorgplek - versie april 2026",
            }
        ],
        "action": actions,
    }


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="only build from the TSV files")
    args = parser.parse_args(argv)
    if not args.build:
        seed = seed_file()
        if seed is None:
            print(f"no seed 004 under {SEEDS}; set ZLP_SEEDS_DIR or use --build", file=sys.stderr)
            return 1
        steps, parts = extract(seed.read_text(encoding="utf-8"))
        write_tsv(STEPS_TSV, STEP_COLUMNS, [(s.stap, s.titel, s.beschrijving) for s in steps])
        write_tsv(
            TASKS_TSV,
            TASK_COLUMNS,
            [
                (p.stap, p.taak, p.omschrijving, p.rol, p.verantwoordelijkheid, p.toelichting)
                for p in parts
            ],
        )
    definition = build_plan_definition(read_steps(), read_parts())
    write_json(PLAN_DEFINITION, definition)
    write_json(PACKAGED, definition)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
