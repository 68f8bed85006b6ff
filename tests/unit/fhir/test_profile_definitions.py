"""The conformance resources in profiles/, plan/codes.py, and the generated profiles.json agree."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest

from zorgleefplan.fhir.profiles import DEFINITIONS, ProfileError, ProfileSet, default_profiles
from zorgleefplan.fhir.search.parameters import default_registry
from zorgleefplan.plan import codes

ROOT = Path(__file__).resolve().parents[3]
PROFILES = ROOT / "profiles"
sys.path.insert(0, str(ROOT / "scripts"))

import gen_profile_definitions as gen  # noqa: E402

Json = dict[str, Any]


def load(kind: str) -> list[Json]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(PROFILES.glob(f"{kind}-*.json"))]


def test_committed_definitions_are_generated_from_profiles() -> None:
    """Drift check: regenerating from profiles/ gives what is committed (run
    scripts/gen_profile_definitions.py after changing a profile)."""
    committed = orjson.loads(
        resources.files("zorgleefplan.definitions").joinpath(DEFINITIONS).read_bytes()
    )
    assert gen.build() == committed


def test_codes_module_and_code_systems_agree() -> None:
    """Every code system URL, code, profile and extension URL in plan/codes.py is defined in
    profiles/, and every one defined there is in plan/codes.py."""
    constants = {k: v for k, v in vars(codes).items() if k.isupper() and isinstance(v, str)}
    systems = {v for k, v in constants.items() if k.endswith("_SYSTEM")}
    code_systems = {cs["url"]: {c["code"] for c in cs["concept"]} for cs in load("CodeSystem")}
    assert systems == set(code_systems)
    structures = {sd["url"]: sd for sd in load("StructureDefinition")}
    # Sub-extension names, each a slice of its extension
    sub_extensions = {"VOLMACHT_": codes.EXT_VOLMACHT, "ROLE_EXCEPTION_": codes.EXT_ROLE_EXCEPTION}
    for name, value in constants.items():
        for prefix, url in sub_extensions.items():
            if name.startswith(prefix) and not name.endswith("_SYSTEM"):
                slices = {e.get("sliceName") for e in structures[url]["differential"]["element"]}
                assert value in slices, (name, url)
    plain_codes = {
        v
        for k, v in constants.items()
        if not v.startswith("https://") and not k.startswith(tuple(sub_extensions))
    }
    assert plain_codes == set().union(*code_systems.values())
    extensions = {v for k, v in constants.items() if k.startswith("EXT_")}
    profiles = {v for k, v in constants.items() if k.startswith("PROFILE_")}
    assert extensions == {u for u, sd in structures.items() if sd["type"] == "Extension"}
    assert profiles == {u for u, sd in structures.items() if sd["type"] != "Extension"}


def test_each_code_is_in_its_own_system() -> None:
    expected = {
        codes.ROLE_SYSTEM: {
            codes.REGIEBEHANDELAAR,
            codes.AANSPREEKPUNT,
            codes.COORDINEREND_ZORGVERLENER,
            codes.INDICEREND_ZORGVERLENER,
            codes.ZORGVERANTWOORDELIJKE,
            codes.WZD_FUNCTIONARIS,
            codes.PERSOONLIJK_BEGELEIDER,
            codes.DOSSIERHOUDER,
            codes.ZORGKANTOOR,
            codes.ONAFHANKELIJKE_CLIENTONDERSTEUNER,
            codes.MANTELZORGER,
            codes.VRIJWILLIGER,
            codes.GEVOLMACHTIGDE,
            codes.WETTELIJK_VERTEGENWOORDIGER,
        },
        codes.DOMAIN_SYSTEM: {codes.ZVW, codes.WLZ, codes.WMO, codes.JEUGDWET},
        codes.LIFE_AREA_SYSTEM: {
            codes.LICHAMELIJK_WELBEVINDEN,
            codes.WOON_EN_LEEFOMSTANDIGHEDEN,
            codes.PARTICIPATIE,
            codes.MENTAAL_WELBEVINDEN,
        },
        codes.PLAN_ITEM_SYSTEM: {
            codes.AFSPRAAK,
            codes.EVALUATIEMOMENT,
            codes.CRISISAFSPRAAK,
            codes.WAARNEMING,
            codes.MANTELZORGTAAK,
        },
        codes.TASK_SYSTEM: {codes.REGIEBEHANDELAAR_OVERDRACHT, codes.KLACHT, codes.WLZ_PLAATSING},
        codes.ROLE_EXCEPTION_REASON_SYSTEM: {codes.VERZOEK_CLIENT, codes.GEEN_ANDERE_ZORGVERLENER},
        codes.RESPONSIBILITY_SYSTEM: {
            codes.EINDVERANTWOORDELIJK,
            codes.BIJDRAGE,
            codes.PER_BIJEENKOMST,
            codes.ORGANISATOR_BIJEENKOMST,
        },
        codes.HANDOVER_PARTY_SYSTEM: {codes.OVERDRAGEND, codes.ONTVANGEND},
    }
    found = {cs["url"]: {c["code"] for c in cs["concept"]} for cs in load("CodeSystem")}
    assert found == expected


def test_concepts_have_dutch_displays_english_definitions_and_sources() -> None:
    for cs in load("CodeSystem"):
        assert cs["content"] == "complete" and cs["count"] == len(cs["concept"])
        for concept in cs["concept"]:
            assert concept["display"] and concept["definition"], concept
            sources = [p["valueString"] for p in concept.get("property", []) if p["code"] == "bron"]
            if cs["url"] == codes.LIFE_AREA_SYSTEM:
                continue  # not from the seeds; the description says where the set comes from
            assert sources and "seed 00" in sources[0], (cs["id"], concept["code"])
    life_areas = next(cs for cs in load("CodeSystem") if cs["url"] == codes.LIFE_AREA_SYSTEM)
    assert "Kwaliteitskader Verantwoorde Zorg" in life_areas["description"]


def test_every_code_system_has_a_value_set_of_all_its_codes() -> None:
    value_sets = {vs["url"]: vs for vs in load("ValueSet")}
    for cs in load("CodeSystem"):
        vs = value_sets[cs["valueSet"]]
        assert vs["compose"]["include"] == [{"system": cs["url"]}]


def test_invariant_keys_are_unique_and_ours() -> None:
    keys = [
        c["key"]
        for sd in load("StructureDefinition")
        for e in sd["differential"]["element"]
        for c in e.get("constraint", [])
    ]
    assert len(keys) == len(set(keys))
    assert all(k.startswith("zlp-") for k in keys)


def test_loaded_profiles() -> None:
    profiles = default_profiles()
    assert {p.url for p in profiles.for_type("Consent")} == {
        codes.PROFILE_TOEGANGSTOESTEMMING,
        codes.PROFILE_VOLMACHTVERLENING,
    }
    volmacht = profiles.get(codes.EXT_VOLMACHT + "|0.1.0")
    assert volmacht is not None and volmacht.kind == "extension"
    assert volmacht.context == ("CarePlan",)
    plan = profiles.get(codes.PROFILE_ZORGLEEFPLAN)
    assert plan is not None
    category = plan.root.children["category"]
    assert [s.slice_name for s in category.slices] == ["domein", "levensgebied"]
    assert category.slices[0].min == 1 and category.slices[0].max is None
    assert category.slices[0].binding is not None
    assert category.slices[0].binding.has_coding(codes.DOMAIN_SYSTEM, codes.WLZ)


def test_project_search_parameters_are_registered() -> None:
    registry = default_registry()
    expected = {
        ("CareTeam", "regiebehandelaar"): "careteam-regiebehandelaar",
        ("CareTeam", "participant-role"): "careteam-participant-role",
        ("Consent", "gevolmachtigde"): "consent-gevolmachtigde",
        ("CarePlan", "volmacht"): "careplan-volmacht",
    }
    for (type_, code), id_ in expected.items():
        param = registry.get(type_, code)
        assert param is not None, code
        assert param.url == f"{codes.CANONICAL_BASE}/SearchParameter/{id_}"
        assert (PROFILES / f"SearchParameter-{id_}.json").is_file()


# --------------------------------------------------------------------------- the generator


def test_generator_refuses_what_the_validator_cannot_use() -> None:
    types = {codes.EXT_VOLMACHT: "Extension", codes.PROFILE_CLIENT: "Patient"}
    with pytest.raises(SystemExit, match="discriminator type"):
        gen.compact_element(
            {
                "id": "Patient.name",
                "slicing": {"discriminator": [{"type": "type", "path": "$this"}], "rules": "open"},
            },
            types,
            set(),
        )
    with pytest.raises(SystemExit, match="target profile"):
        gen.compact_element(
            {
                "id": "Task.for",
                "type": [{"code": "Reference", "targetProfile": ["http://x/Patient"]}],
            },
            types,
            set(),
        )
    with pytest.raises(SystemExit, match="cannot be checked"):
        gen.compact_element(
            {"id": "Task.code", "binding": {"strength": "required", "valueSet": "http://x/vs"}},
            types,
            set(),
        )
    with pytest.raises(SystemExit, match="not our extension"):
        gen.compact_element(
            {
                "id": "Task.extension:x",
                "type": [{"code": "Extension", "profile": [codes.PROFILE_CLIENT]}],
            },
            types,
            set(),
        )
    with pytest.raises(SystemExit, match="filters"):
        gen.expand("v", {"v": {"compose": {"include": [{"system": "s", "filter": [{}]}]}}}, {})


def test_generator_keeps_what_is_validated() -> None:
    types = {codes.PROFILE_CLIENT: "Patient"}
    element = {
        "id": "Task.for",
        "short": "documentation only",
        "min": 1,
        "max": "1",
        "type": [
            {
                "code": "Reference",
                "targetProfile": [
                    codes.PROFILE_CLIENT,
                    "http://hl7.org/fhir/StructureDefinition/Group",
                ],
            }
        ],
        "binding": {"strength": "preferred", "valueSet": "http://x/vs"},
    }
    assert gen.compact_element(element, types, set()) == {
        "id": "Task.for",
        "min": 1,
        "max": 1,
        "targets": ["Group", "Patient"],
    }
    assert gen.compact_element(
        {"id": "Extension.value[x]", "type": [{"code": "boolean"}]}, types, set()
    ) == {
        "id": "Extension.value[x]",
        "types": ["boolean"],
    }


def test_loader_refuses_a_slice_it_cannot_recognise() -> None:
    data = {
        "valueSets": {},
        "profiles": [
            {
                "url": codes.PROFILE_CLIENT,
                "name": "Client",
                "title": "Cliënt",
                "type": "Patient",
                "kind": "resource",
                "elements": [
                    {
                        "id": "Patient.identifier",
                        "slicing": {
                            "discriminator": [{"type": "value", "path": "system"}],
                            "rules": "open",
                        },
                    },
                    {"id": "Patient.identifier:bsn", "min": 1},
                ],
            }
        ],
    }
    with pytest.raises(ProfileError, match="no fixed or pattern value"):
        ProfileSet.from_definitions(data)
    data["profiles"][0]["elements"][1:] = [
        {"id": "Patient.identifier:bsn"},
        {"id": "Patient.identifier:bsn.system", "fixed": "urn:x"},
        {
            "id": "Patient.active",
            "constraints": [
                {"key": "k", "severity": "error", "human": "h", "expression": "name.where("}
            ],
        },
    ]
    with pytest.raises(ProfileError, match="cannot compile"):
        ProfileSet.from_definitions(data)
    data["profiles"][0]["elements"][-1] = {"id": "Patient.identifier:bsn.sytem", "min": 1}
    with pytest.raises(ProfileError, match=r"sytem is not an element of Patient\.identifier:bsn"):
        ProfileSet.from_definitions(data)
    data["profiles"][0]["elements"][-1] = {"id": "Patient.deceased[x]", "types": ["string"]}
    with pytest.raises(ProfileError, match="is not allowed for deceased"):
        ProfileSet.from_definitions(data)
