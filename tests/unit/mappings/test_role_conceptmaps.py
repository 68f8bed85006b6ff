"""The ConceptMaps from the project's roles to nl-core/HL7/Koppeltaal codes (mappings/): valid,
complete over the roles of plan/codes.py, and with the equivalences the sources support."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from zorgleefplan.plan import codes

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
FILES = sorted(MAPPINGS.glob("ConceptMap-*.json"))
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CONTACT = "urn:oid:2.16.840.1.113883.2.4.3.11.22.472"
EXTRA = "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.23.1"
SNOMED = "http://snomed.info/sct"


def load(name: str) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads((MAPPINGS / f"ConceptMap-{name}.json").read_bytes())
    return parsed


def targets(concept_map: dict[str, Any], role: str) -> set[tuple[str, str | None, str]]:
    """(target system, code, equivalence) of every target of one role."""
    return {
        (group["target"], target.get("code"), target["equivalence"])
        for group in concept_map["group"]
        for element in group["element"]
        if element["code"] == role
        for target in element["target"]
    }


def test_there_are_four_maps() -> None:
    assert [f.name for f in FILES] == [
        "ConceptMap-zorgleefplan-rol-naar-contactpersoonrol.json",
        "ConceptMap-zorgleefplan-rol-naar-koppeltaal.json",
        "ConceptMap-zorgleefplan-rol-naar-v3-rolecode.json",
        "ConceptMap-zorgleefplan-rol-naar-zorgverlenerrol.json",
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_map_is_valid_and_covers_every_role_once(path: Path) -> None:
    concept_map = orjson.loads(path.read_bytes())
    get_fhir_model_class("ConceptMap").model_validate(concept_map)
    assert concept_map["url"] == f"{codes.CANONICAL_BASE}/ConceptMap/{concept_map['id']}"
    sources = [e["code"] for g in concept_map["group"] for e in g["element"]]
    assert all(g["source"] == codes.ROLE_SYSTEM for g in concept_map["group"])
    assert sorted(sources) == sorted(codes.ROLES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_target_says_why_and_unmatched_names_no_code(path: Path) -> None:
    concept_map = orjson.loads(path.read_bytes())
    for group in concept_map["group"]:
        for element in group["element"]:
            for target in element["target"]:
                assert target.get("comment"), (element["code"], target)
                assert ("code" in target) == (target["equivalence"] != "unmatched")
                assert target["equivalence"] in {"equivalent", "wider", "narrower", "unmatched"}


def test_professional_roles() -> None:
    nl_core = load("zorgleefplan-rol-naar-zorgverlenerrol")
    assert targets(nl_core, codes.REGIEBEHANDELAAR) == {(PARTICIPATION, "RESP", "wider")}
    assert targets(nl_core, codes.COORDINEREND_ZORGVERLENER) == {(SNOMED, "768832004", "wider")}
    for organisation in (codes.DOSSIERHOUDER, codes.ZORGKANTOOR):
        assert targets(nl_core, organisation) == {(PARTICIPATION, None, "unmatched")}


def test_contact_person_roles() -> None:
    contact = load("zorgleefplan-rol-naar-contactpersoonrol")
    assert targets(contact, codes.MANTELZORGER) == {(EXTRA, "100001", "equivalent")}
    assert targets(contact, codes.WETTELIJK_VERTEGENWOORDIGER) == {
        (CONTACT, "24", "equivalent"),
        (CONTACT, "03", "narrower"),
        (CONTACT, "15", "narrower"),
        (CONTACT, "14", "narrower"),
        (CONTACT, "11", "narrower"),
    }
    assert targets(contact, codes.ONAFHANKELIJKE_CLIENTONDERSTEUNER) == {(CONTACT, "21", "wider")}
    assert targets(contact, codes.GEVOLMACHTIGDE) == {(CONTACT, None, "unmatched")}


def test_volmacht_roles() -> None:
    role_codes = load("zorgleefplan-rol-naar-v3-rolecode")
    assert targets(role_codes, codes.GEVOLMACHTIGDE) == {
        (ROLE_CODE, "POWATT", "equivalent"),
        (ROLE_CODE, "HPOWATT", "narrower"),
        (ROLE_CODE, "RESPRSN", "wider"),
    }


def test_koppeltaal_roles() -> None:
    koppeltaal = load("zorgleefplan-rol-naar-koppeltaal")
    assert targets(koppeltaal, codes.REGIEBEHANDELAAR) == {(SNOMED, "405623001", "wider")}
    assert targets(koppeltaal, codes.COORDINEREND_ZORGVERLENER) == {
        (SNOMED, "768821004", "equivalent")
    }
    assert targets(koppeltaal, codes.MANTELZORGER) == {(SNOMED, "407542009", "equivalent")}
    assert targets(koppeltaal, codes.WETTELIJK_VERTEGENWOORDIGER) == {
        (SNOMED, "310391000146105", "equivalent")
    }
    assert targets(koppeltaal, codes.GEVOLMACHTIGDE) == {(SNOMED, None, "unmatched")}
