"""The committed search definitions (and the generator that writes them)."""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest

from zorgleefplan.fhir.resource_types import SUPPORTED, SUPPORTED_TYPES
from zorgleefplan.fhir.search.fhirpath import split_union
from zorgleefplan.fhir.search.parameters import COLUMN_PARAMETERS, default_registry

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import gen_search_definitions as gen  # noqa: E402

INDEXED = {"token", "string", "reference", "date", "uri", "quantity", "number"}


def _definition(name: str) -> Any:
    return orjson.loads(resources.files("zorgleefplan.definitions").joinpath(name).read_bytes())


@pytest.fixture(scope="module")
def search() -> dict[str, list[dict[str, Any]]]:
    return _definition("search_parameters.json")


@pytest.fixture(scope="module")
def compartment() -> dict[str, list[str]]:
    return _definition("compartment.json")


def test_every_served_type_is_defined(search: dict[str, Any], compartment: dict[str, Any]) -> None:
    assert set(search) == SUPPORTED
    assert set(compartment) == SUPPORTED


def test_careplan_patient_parameter() -> None:
    patient = default_registry().get("CarePlan", "patient")
    assert patient is not None
    assert patient.type == "reference"
    assert patient.expression == "CarePlan.subject.where(resolve() is Patient)"
    assert patient.targets == ("Patient",)
    assert patient.url == "http://hl7.org/fhir/SearchParameter/clinical-patient"
    assert patient.description == "Who the care plan is for"


def test_known_narrowed_expressions() -> None:
    registry = default_registry()
    expected = {
        ("Goal", "start-date"): "(Goal.start as date)",
        ("Condition", "onset-date"): "Condition.onset.as(dateTime) | Condition.onset.as(Period)",
        ("Patient", "email"): "Patient.telecom.where(system='email')",
        ("Practitioner", "family"): "Practitioner.name.family",
        ("CarePlan", "date"): "CarePlan.period",
        ("Consent", "patient"): "Consent.patient",
        ("Organization", "name"): "Organization.name | Organization.alias",
        ("AuditEvent", "patient"): (
            "AuditEvent.agent.who.where(resolve() is Patient)"
            " | AuditEvent.entity.what.where(resolve() is Patient)"
        ),
    }
    for (type_, code), expression in expected.items():
        param = registry.get(type_, code)
        assert param is not None, (type_, code)
        assert param.expression == expression


def test_only_indexed_types_and_no_composites(search: dict[str, list[dict[str, Any]]]) -> None:
    for entries in search.values():
        assert {e["type"] for e in entries} <= INDEXED
    registry = default_registry()
    assert registry.get("ActivityDefinition", "context-type-value") is None  # composite


def test_every_branch_is_rooted_at_its_type(search: dict[str, list[dict[str, Any]]]) -> None:
    for type_, entries in search.items():
        for entry in entries:
            for branch in split_union(entry["expression"]):
                assert branch.lstrip("(").startswith(f"{type_}."), (type_, entry["code"])


def test_resource_level_parameters(search: dict[str, list[dict[str, Any]]]) -> None:
    for type_, entries in search.items():
        by_code = {e["code"]: e for e in entries}
        assert by_code["_tag"]["expression"] == f"{type_}.meta.tag"
        assert by_code["_tag"]["type"] == "token"
        assert by_code["_profile"]["expression"] == f"{type_}.meta.profile"
        assert by_code["_profile"]["type"] == "uri"
        assert by_code["_security"]["expression"] == f"{type_}.meta.security"
        assert by_code["_source"]["expression"] == f"{type_}.meta.source"
        excluded = {*COLUMN_PARAMETERS, "_text", "_content", "_list", "_query", "_type", "_has"}
        assert not excluded & set(by_code)
        assert "phonetic" not in by_code


def test_reference_targets(search: dict[str, list[dict[str, Any]]]) -> None:
    for entries in search.values():
        for entry in entries:
            if entry["type"] == "reference":
                assert entry["targets"], entry["code"]
            else:
                assert entry["targets"] == []
    performer = default_registry().get("CarePlan", "performer")
    assert performer is not None
    assert "Patient" in performer.targets and "Practitioner" in performer.targets


def test_compartment(compartment: dict[str, list[str]]) -> None:
    registry = default_registry()
    assert registry.compartment_params("CarePlan") == ("patient", "performer")
    assert registry.compartment_params("Communication") == ("subject", "sender", "recipient")
    assert registry.compartment_params("Task") == ("patient", "focus")
    assert registry.compartment_params("Patient") == ()  # its own compartment, by id
    for type_ in ("Practitioner", "Organization", "PlanDefinition", "ActivityDefinition"):
        assert registry.compartment_params(type_) == ()
    for type_, codes in compartment.items():
        for code in codes:
            param = registry.get(type_, code)
            assert param is not None and param.type == "reference", (type_, code)


# --------------------------------------------------------------------------- generator


def test_narrow_expression() -> None:
    official = (
        "AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient)"
        " | CarePlanX.subject | (Goal.start as date)"
    )
    assert (
        gen.narrow_expression(official, "CarePlan")
        == "CarePlan.subject.where(resolve() is Patient)"
    )
    assert gen.narrow_expression(official, "Goal") == "(Goal.start as date)"
    assert gen.narrow_expression(official, "Patient") == ""


def test_narrow_description() -> None:
    text = (
        "Multiple Resources: \r\n\r\n"
        "* [Goal](goal.html): A goal\r\n* [CarePlan](careplan.html): A plan"
    )
    assert gen.narrow_description(text, "CarePlan") == "A plan"
    assert gen.narrow_description("Just one", "CarePlan") == "Just one"


def test_generator_skips_what_it_should() -> None:
    parameters = [
        {"code": "a", "type": "composite", "base": ["Goal"], "expression": "Goal.x", "url": "u"},
        {"code": "b", "type": "special", "base": ["Goal"], "expression": "Goal.x", "url": "u"},
        {
            "code": "c",
            "type": "token",
            "base": ["Goal", "Task"],
            "expression": "Task.x",
            "url": "u",
        },
        {"code": "_text", "type": "string", "base": ["Resource"], "expression": "", "url": "u"},
        {
            "code": "_id",
            "type": "token",
            "base": ["Resource"],
            "expression": "Resource.id",
            "url": "u",
        },
        {
            "code": "d",
            "type": "string",
            "base": ["Goal"],
            "expression": "Goal.n",
            "url": "u",
            "xpathUsage": "phonetic",
        },
        {
            "code": "e",
            "type": "reference",
            "base": ["Goal"],
            "expression": "Goal.r",
            "url": "u",
            "target": ["Patient"],
            "description": "R",
        },
    ]
    assert gen.build_search_parameters(parameters, ("Goal",)) == {
        "Goal": [
            {
                "code": "e",
                "type": "reference",
                "expression": "Goal.r",
                "url": "u",
                "description": "R",
                "targets": ["Patient"],
            },
        ]
    }


def test_committed_definitions_match_the_official_source(
    search: dict[str, Any], compartment: dict[str, Any]
) -> None:
    """Drift check: regenerating from the official R4 files and the project's own
    SearchParameters (profiles/) gives what is committed."""
    source = Path(os.environ.get("FHIR_R4_DIR", ROOT.parent / "shared" / "fhir-r4"))
    if not (source / "search-parameters.json").is_file():
        pytest.skip(f"official FHIR R4 definitions not available at {source}")
    regenerated = gen.build_search_parameters(
        gen.bundle_resources("search-parameters.json") + gen.project_search_parameters(),
        SUPPORTED_TYPES,
    )
    (definition,) = gen.bundle_resources("compartmentdefinition-patient.json")
    assert regenerated == search
    assert gen.build_compartment(definition, SUPPORTED_TYPES, regenerated) == compartment
