"""mappings/seed-terms.md: every term and section is found in its seed (where the seeds are at
hand), and every code is one the project defines or a ConceptMap maps that role to."""

from __future__ import annotations

import os
import re
from pathlib import Path

import orjson
import pytest

from zorgleefplan.access import codes as access_codes
from zorgleefplan.plan import codes

ROOT = Path(__file__).resolve().parents[3]
MAPPINGS = ROOT / "mappings"
SEEDS = Path(os.environ.get("ZLP_SEEDS_DIR", ROOT.parent / "shared" / "seeds"))
TABLE = (MAPPINGS / "seed-terms.md").read_text(encoding="utf-8")

PROJECT = {
    codes.ROLE_SYSTEM: set(codes.ROLES),
    codes.DOMAIN_SYSTEM: {codes.ZVW, codes.WLZ, codes.WMO, codes.JEUGDWET},
    codes.PLAN_ITEM_SYSTEM: {
        codes.AFSPRAAK,
        codes.EVALUATIEMOMENT,
        codes.CRISISAFSPRAAK,
        codes.WAARNEMING,
        codes.MANTELZORGTAAK,
    },
    codes.TASK_SYSTEM: {codes.REGIEBEHANDELAAR_OVERDRACHT, codes.KLACHT, codes.WLZ_PLAATSING},
    codes.RESPONSIBILITY_SYSTEM: {
        codes.EINDVERANTWOORDELIJK,
        codes.BIJDRAGE,
        codes.PER_BIJEENKOMST,
        codes.ORGANISATOR_BIJEENKOMST,
    },
}


def rows(header: str) -> list[list[str]]:
    """The body rows of every table whose header starts with ``header``."""
    found = []
    for block in re.split(r"\n\s*\n", TABLE):
        lines = [line for line in block.splitlines() if line.startswith("|")]
        if len(lines) > 2 and lines[0].startswith(header):
            found += [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return found


PREFIXES = {prefix: system for prefix, system in rows("| Prefix |")}
TERMS = rows("| Term |")


def letters(text: str) -> str:
    """Only letters and digits, lower case: the seeds break words across lines with hyphens."""
    return re.sub(r"[\W_]+", "", text.lower())


def mapped() -> set[tuple[str, str, str]]:
    """(role, target system, code) of every matched ConceptMap target."""
    found = set()
    for path in MAPPINGS.glob("ConceptMap-*.json"):
        for group in orjson.loads(path.read_bytes())["group"]:
            for element in group["element"]:
                for target in element["target"]:
                    if "code" in target:
                        found.add((element["code"], group["target"], target["code"]))
    return found


def codes_of(cell: str) -> list[tuple[str, str]]:
    if cell == "—":
        return []
    pairs = []
    for item in cell.split(","):
        prefix, _, code = item.strip().partition("#")
        pairs.append((PREFIXES[prefix], code))
    return pairs


def test_the_table_is_there() -> None:
    assert len(TERMS) >= 30
    assert all(len(row) == 5 for row in TERMS)


@pytest.mark.parametrize("row", TERMS, ids=lambda r: r[0])
def test_every_code_is_defined_or_mapped(row: list[str]) -> None:
    pairs = codes_of(row[3])
    roles = [code for system, code in pairs if system == codes.ROLE_SYSTEM]
    known = mapped()
    for system, code in pairs:
        if system in PROJECT:
            assert code in PROJECT[system], (system, code)
        elif system == access_codes.LIVING_WILL_SYSTEM:
            assert code == access_codes.VOLMACHT
        elif roles:  # a foreign code beside the role: a ConceptMap maps the role to it
            assert (roles[0], system, code) in known, (roles[0], system, code)
        else:  # a foreign code on its own: some role maps to it
            assert any((s, c) == (system, code) for _, s, c in known), (system, code)


def seed_text(number: str) -> str | None:
    found = sorted(SEEDS.glob(f"{number}_*.txt")) if SEEDS.is_dir() else []
    return found[0].read_text(encoding="utf-8") if found else None


@pytest.mark.skipif(seed_text("004") is None, reason="the seeds are not at hand (../shared/seeds)")
@pytest.mark.parametrize("row", TERMS, ids=lambda r: r[0])
def test_term_and_section_are_in_the_seed(row: list[str]) -> None:
    term, seed, section = row[0], row[1], row[2]
    text = seed_text(seed)
    assert text is not None, seed
    body = letters(text)
    assert letters(section) in body, f"section {section!r} not in seed {seed}"
    assert letters(term) in body, f"term {term!r} not in seed {seed}"
    # The term stands after the start of its section.
    assert body.find(letters(term), body.find(letters(section))) >= 0
