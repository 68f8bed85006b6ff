"""The generated element tables and value sets: known facts of FHIR R4, the expansion rules of
the generator, and (where the official definitions are at hand) that the committed files are
up to date."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest

from zorgleefplan.fhir.resource_types import SUPPORTED_TYPES
from zorgleefplan.fhir.structure import (
    ElementInfo,
    JsonKind,
    Kind,
    Special,
    element_at,
    is_resource_type,
    structure,
    type_table,
    value_set,
)

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import fhir_source  # noqa: E402
import gen_structure_definitions as gen  # noqa: E402

DEFINITIONS = resources.files("zorgleefplan.definitions")


def test_careplan_status_is_bound_to_request_status() -> None:
    table = type_table("CarePlan")
    assert table is not None
    status = table.elements["status"]
    assert status.type == "code"
    assert status.mandatory and status.summary and not status.array
    assert status.binding is not None
    assert status.binding.url == "http://hl7.org/fhir/ValueSet/request-status"
    assert status.binding.codes == {
        "draft",
        "active",
        "on-hold",
        "revoked",
        "completed",
        "entered-in-error",
        "unknown",
    }


def test_careplan_subject_targets_patient_and_group() -> None:
    subject = element_at("CarePlan", ["subject"])
    assert subject is not None
    assert subject.special is Special.REFERENCE
    assert subject.targets == {"Patient", "Group"}
    supporting = element_at("CarePlan", ["supportingInfo"])
    assert supporting is not None and supporting.targets == frozenset()  # Reference(Any)


def test_backbone_elements_and_choices() -> None:
    detail = element_at("CarePlan", ["activity", "detail"])
    assert detail is not None
    assert (detail.type, detail.kind) == ("CarePlan.activity.detail", Kind.COMPLEX)
    table = type_table("CarePlan.activity.detail")
    assert table is not None
    assert {n for n, e in table.elements.items() if e.choice == "scheduled"} == {
        "scheduledTiming",
        "scheduledPeriod",
        "scheduledString",
    }
    product = table.elements["productReference"]
    assert product.targets == {"Medication", "Substance"}
    assert table.names_for("product[x]") == ("productCodeableConcept", "productReference")


def test_content_references_point_at_the_backbone() -> None:
    provision = element_at("Consent", ["provision", "provision"])
    assert provision is not None and provision.type == "Consent.provision"
    nested = element_at("PlanDefinition", ["action", "action", "action", "title"])
    assert nested is not None and nested.type == "string"


def element(type_name: str, *path: str) -> ElementInfo:
    found = element_at(type_name, path)
    assert found is not None, (type_name, path)
    return found


def test_primitive_json_kinds() -> None:
    assert element("Patient", "active").json_kind is JsonKind.BOOLEAN
    assert element("Patient", "multipleBirthInteger").json_kind is JsonKind.INTEGER
    assert element("Quantity", "value").json_kind is JsonKind.DECIMAL
    assert element("CarePlan", "id").type == "string"
    assert element("CarePlan", "id").plain  # nothing to check beyond being a JSON string
    assert not element("CarePlan", "status").plain  # bound
    assert element_at("Resource", ["id"]) is None  # abstract types have no table


def test_primitive_extensions_resolve_to_element() -> None:
    assert element_at("Patient", ["_birthDate", "extension", "url"]) is not None
    assert element_at("Patient", ["_name"]) is None  # name is not a primitive


def test_datatype_bindings() -> None:
    narrative_status = element_at("Narrative", ["status"])
    assert narrative_status is not None and narrative_status.binding is not None
    assert narrative_status.binding.codes == {"generated", "extensions", "additional", "empty"}
    when = element_at("Timing", ["repeat", "when"])
    assert when is not None and when.binding is not None
    # event-timing mixes FHIR codes with v3 TimingEvent codes from v3-codesystems.json.
    assert when.binding.has_coding("http://terminology.hl7.org/CodeSystem/v3-TimingEvent", "AC")
    assert when.binding.has_code("MORN")


def test_unexpandable_value_sets_are_not_checked() -> None:
    mimetypes = value_set("http://hl7.org/fhir/ValueSet/mimetypes|4.0.1")
    assert mimetypes is not None and not mimetypes.checkable
    content_type = element_at("Attachment", ["contentType"])
    assert content_type is not None and content_type.binding is None


def test_redistribution_extras_are_left_out() -> None:
    meta = type_table("Meta")
    assert meta is not None
    assert set(meta.elements) == {
        "id",
        "extension",
        "versionId",
        "lastUpdated",
        "source",
        "profile",
        "security",
        "tag",
    }
    assert not is_resource_type("SubscriptionStatus")  # R4B, not R4
    assert is_resource_type("Medication") and is_resource_type("MedicinalProduct")


def test_every_served_type_has_a_table() -> None:
    for resource_type in SUPPORTED_TYPES:
        table = type_table(resource_type)
        assert table is not None
        assert {"id", "meta", "text", "contained", "extension"} <= set(table.elements)


def test_every_complex_element_has_a_table() -> None:
    # The validator walks into every complex element with its type's table.
    tables = structure().tables
    missing = {
        (name, json_name, element.type)
        for name, table in tables.items()
        for json_name, element in table.elements.items()
        if element.kind is Kind.COMPLEX and element.type not in tables
    }
    assert missing == set()


def test_generated_files_are_small() -> None:
    sizes = [DEFINITIONS.joinpath(n).read_bytes() for n in ("elements.json", "valuesets.json")]
    assert sum(len(s) for s in sizes) < 2_000_000


# -- the generator's expansion rules ----------------------------------------------------------

SYSTEM = "http://example.org/cs"


def terminology(*value_sets: dict[str, Any], content: str = "complete") -> gen.Terminology:
    code_system = {
        "resourceType": "CodeSystem",
        "url": SYSTEM,
        "content": content,
        "concept": [
            {"code": "animal", "concept": [{"code": "dog"}, {"code": "cat"}]},
            {"code": "plant"},
            {"code": "tree", "property": [{"code": "parent", "valueCode": "plant"}]},
        ],
    }
    return gen.Terminology([code_system, *value_sets])


def vs(
    url: str, include: list[dict[str, Any]], exclude: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    compose: dict[str, Any] = {"include": include}
    if exclude:
        compose["exclude"] = exclude
    return {"resourceType": "ValueSet", "url": url, "compose": compose}


def codes(pairs: set[tuple[str, str]]) -> set[str]:
    return {code for _, code in pairs}


def test_expand_whole_system() -> None:
    term = terminology(vs("urn:all", [{"system": SYSTEM}]))
    assert codes(term.expand("urn:all")) == {"animal", "dog", "cat", "plant", "tree"}


def test_expand_filters_over_the_hierarchy() -> None:
    is_a = {"property": "concept", "op": "is-a", "value": "animal"}
    below = {"property": "concept", "op": "descendent-of", "value": "plant"}
    term = terminology(
        vs("urn:is-a", [{"system": SYSTEM, "filter": [is_a]}]),
        vs("urn:below", [{"system": SYSTEM, "filter": [below]}]),
    )
    assert codes(term.expand("urn:is-a")) == {"animal", "dog", "cat"}
    assert codes(term.expand("urn:below")) == {"tree"}  # via the parent property


def test_expand_concepts_exclude_and_nested_value_sets() -> None:
    term = terminology(
        vs("urn:listed", [{"system": "http://unitsofmeasure.org", "concept": [{"code": "mg"}]}]),
        vs("urn:all", [{"system": SYSTEM}]),
        vs(
            "urn:some",
            [{"valueSet": ["urn:all"]}],
            exclude=[{"system": SYSTEM, "concept": [{"code": "cat"}]}],
        ),
    )
    assert term.expand("urn:listed") == {("http://unitsofmeasure.org", "mg")}
    assert codes(term.expand("urn:some")) == {"animal", "dog", "plant", "tree"}


@pytest.mark.parametrize(
    "include",
    [
        {"system": "http://snomed.info/sct"},
        {"system": SYSTEM, "filter": [{"property": "code", "op": "regex", "value": "d.*"}]},
        {"system": SYSTEM, "filter": [{"property": "concept", "op": "is-a", "value": "fish"}]},
        {"valueSet": ["urn:nowhere"]},
    ],
)
def test_not_expandable(include: dict[str, Any]) -> None:
    term = terminology(vs("urn:x", [include]))
    with pytest.raises(gen.NotExpandable):
        term.expand("urn:x")
    table = gen.value_set_table(term, ["urn:x"])
    assert table["urn:x"]["codes"] is None and table["urn:x"]["reason"]


def test_incomplete_code_system_is_not_expanded() -> None:
    term = terminology(vs("urn:all", [{"system": SYSTEM}]), content="fragment")
    with pytest.raises(gen.NotExpandable):
        term.expand("urn:all")


# -- drift ------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not (fhir_source.SOURCE / "profiles-resources.json").exists(),
    reason="official FHIR R4 definitions not available",
)
def test_committed_definitions_are_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fhir_source, "OUTPUT", tmp_path)
    gen.main()
    for name in ("elements.json", "valuesets.json"):
        committed = orjson.loads(DEFINITIONS.joinpath(name).read_bytes())
        assert orjson.loads((tmp_path / name).read_bytes()) == committed, name
