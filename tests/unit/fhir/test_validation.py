"""ResourceValidator: spec examples pass; shape, binding, id and reference errors are reported
all at once, with FHIRPath expressions and plain messages."""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from zorgleefplan.errors import InvalidResource
from zorgleefplan.fhir.resource_types import SUPPORTED
from zorgleefplan.fhir.structure import Structure, ValueSet, structure
from zorgleefplan.fhir.validation import (
    MAX_DEPTH,
    LocalReference,
    ResourceValidator,
    ValidationReport,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "examples"
Json = dict[str, Any]


def load(name: str) -> Json:
    data: Json = orjson.loads((EXAMPLES / name).read_bytes())
    return data


def example_files() -> list[Path]:
    return sorted(
        p
        for p in EXAMPLES.glob("*.json")
        if orjson.loads(p.read_bytes())["resourceType"] in SUPPORTED
    )


@pytest.fixture(scope="module")
def validator() -> ResourceValidator:
    return ResourceValidator()


@pytest.fixture
def careplan() -> Json:
    return load("careplan-example.json")


def errors_of(validator: ResourceValidator, resource: Any) -> InvalidResource:
    with pytest.raises(InvalidResource) as info:
        validator.validate(resource)
    return info.value


def all_issues(error: InvalidResource) -> list[tuple[str, str, str]]:
    """(expression, issue code, diagnostics) of the error and its further issues."""
    return [
        (e.expression[0] if e.expression else "", e.issue_code, e.diagnostics)
        for e in [error, *error.issues]
    ]


def expressions(error: InvalidResource) -> list[str]:
    return [expr for expr, _, _ in all_issues(error)]


# -- spec examples --------------------------------------------------------------------------------


def test_fixtures_cover_every_served_type() -> None:
    found = {orjson.loads(p.read_bytes())["resourceType"] for p in example_files()}
    assert found == SUPPORTED


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_spec_example_validates(validator: ResourceValidator, path: Path) -> None:
    resource = orjson.loads(path.read_bytes())
    before = copy.deepcopy(resource)
    report = validator.validate(resource)
    assert isinstance(report, ValidationReport)
    assert report.resource_type == resource["resourceType"]
    assert resource == before  # validation never changes its input


def test_report_lists_relative_references(validator: ResourceValidator, careplan: Json) -> None:
    report = validator.validate(careplan)
    assert LocalReference("CarePlan.subject.reference", "Patient", "example", None) in (
        report.references
    )
    assert (
        LocalReference(
            "CarePlan.activity[0].detail.performer[0].reference", "Patient", "example", None
        )
        in report.references
    )
    # References inside contained resources point at this server too.
    assert any(r.path.startswith("CarePlan.contained[0].") for r in report.references)
    # '#p1' (contained) is not a server reference.
    assert all(r.id != "p1" for r in report.references)


def test_report_keeps_history_version(validator: ResourceValidator) -> None:
    patient = {
        "resourceType": "Patient",
        "managingOrganization": {"reference": "Organization/org-1/_history/3"},
    }
    (ref,) = validator.validate(patient).references
    assert (ref.type, ref.id, ref.version) == ("Organization", "org-1", "3")


def test_absolute_references_are_not_reported_as_local(validator: ResourceValidator) -> None:
    patient = {
        "resourceType": "Patient",
        "managingOrganization": {"reference": "https://other.example/fhir/Organization/1"},
    }
    assert validator.validate(patient).references == ()


# -- resourceType and ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "fragment"),
    [
        ([{"resourceType": "Patient"}], "JSON object"),
        ("Patient", "JSON object"),
        ({"id": "x"}, "no resourceType"),
        ({"resourceType": "Nonsense"}, "Unknown resource type 'Nonsense'"),
        ({"resourceType": ["Patient"]}, "resourceType must be a string"),
        ({"resourceType": "MedicinalProduct"}, "not supported"),
    ],
)
def test_resource_type_problems(validator: ResourceValidator, resource: Any, fragment: str) -> None:
    assert fragment in errors_of(validator, resource).diagnostics


@pytest.mark.parametrize("bad_id", ["a b", "x" * 65, "", "é", "a/b"])
def test_bad_resource_id(validator: ResourceValidator, careplan: Json, bad_id: Any) -> None:
    careplan["id"] = bad_id
    error = errors_of(validator, careplan)
    assert error.expression == ["CarePlan.id"]
    assert "not a valid id" in error.diagnostics
    assert len(error.issues) == 0  # the model's own complaint about the id is not repeated


def test_id_of_64_characters_is_fine(validator: ResourceValidator, careplan: Json) -> None:
    careplan["id"] = "A-1." + "x" * 60
    validator.validate(careplan)


def test_contained_ids(validator: ResourceValidator, careplan: Json) -> None:
    careplan["contained"].append(copy.deepcopy(careplan["contained"][0]))  # duplicate 'p1'
    careplan["contained"].append({"resourceType": "Goal", "id": "bad id"})
    careplan["contained"].append({"resourceType": "Goal"})
    found = expressions(errors_of(validator, careplan))
    assert "CarePlan.contained[1].id" in found  # duplicate
    assert "CarePlan.contained[2].id" in found  # format
    assert "CarePlan.contained[3].id" in found  # missing


# -- required bindings ----------------------------------------------------------------------------


def test_bad_code_on_required_binding(validator: ResourceValidator, careplan: Json) -> None:
    careplan["status"] = "bogus"
    error = errors_of(validator, careplan)
    assert error.expression == ["CarePlan.status"]
    assert error.issue_code == "code-invalid"
    assert "http://hl7.org/fhir/ValueSet/request-status" in error.diagnostics
    assert "'bogus'" in error.diagnostics


def test_binding_in_backbone_and_datatype(validator: ResourceValidator, careplan: Json) -> None:
    careplan["activity"][0]["detail"]["status"] = "busy"
    careplan["identifier"][0]["use"] = "primary"
    careplan["text"]["status"] = "made-up"
    found = expressions(errors_of(validator, careplan))
    assert found == [
        "CarePlan.text.status",
        "CarePlan.identifier[0].use",
        "CarePlan.activity[0].detail.status",
    ]


def test_binding_codes_are_case_sensitive(validator: ResourceValidator, careplan: Json) -> None:
    careplan["intent"] = "Plan"
    assert errors_of(validator, careplan).expression == ["CarePlan.intent"]


def test_codeable_concept_binding(validator: ResourceValidator) -> None:
    condition = load("condition-example.json")
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    condition["clinicalStatus"] = {"coding": [{"system": system, "code": "sleeping"}]}
    error = errors_of(validator, condition)
    assert error.expression == ["Condition.clinicalStatus"]
    assert f"{system}|sleeping" in error.diagnostics


def test_codeable_concept_needs_the_right_system(validator: ResourceValidator) -> None:
    condition = load("condition-example.json")
    condition["clinicalStatus"] = {"coding": [{"system": "http://example.org", "code": "active"}]}
    assert errors_of(validator, condition).expression == ["Condition.clinicalStatus"]


def test_codeable_concept_one_matching_coding_is_enough(validator: ResourceValidator) -> None:
    condition = load("condition-example.json")
    system = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    condition["clinicalStatus"] = {
        "coding": [
            {"system": "http://example.org/local", "code": "on"},
            {"system": system, "code": "active"},
        ]
    }
    validator.validate(condition)


def test_codeable_concept_with_text_only_passes(validator: ResourceValidator) -> None:
    condition = load("condition-example.json")
    condition["clinicalStatus"] = {"text": "active, as far as we know"}
    validator.validate(condition)


def _with_bound_meta_security(value_set: ValueSet) -> Structure:
    """The real definitions, with a required binding on Meta.security (a Coding)."""
    real = structure()
    meta = real.tables["Meta"]
    security = dataclasses.replace(meta.elements["security"], binding=value_set)
    tables = dict(real.tables)
    tables["Meta"] = dataclasses.replace(
        meta, elements=MappingProxyType({**meta.elements, "security": security})
    )
    return dataclasses.replace(real, tables=MappingProxyType(tables))


def test_coding_binding_matches_system_and_code() -> None:
    pairs = frozenset({("http://example.org/sec", "R"), ("http://example.org/sec", "N")})
    value_set = ValueSet("http://example.org/vs", True, pairs, frozenset({"R", "N"}))
    validator = ResourceValidator(_with_bound_meta_security(value_set))
    ok = {
        "resourceType": "Patient",
        "meta": {"security": [{"system": "http://example.org/sec", "code": "R"}]},
    }
    validator.validate(ok)
    wrong_system = copy.deepcopy(ok)
    wrong_system["meta"]["security"][0]["system"] = "http://example.org/other"
    assert errors_of(validator, wrong_system).expression == ["Patient.meta.security[0]"]
    no_system = {"resourceType": "Patient", "meta": {"security": [{"code": "R"}]}}
    assert "(no system)" in errors_of(validator, no_system).diagnostics


# -- references -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        ("Practitioner/1", "may not refer to a Practitioner; allowed: Group, Patient"),
        ("http://example.org/fhir/Practitioner/1", "may not refer to a Practitioner"),
        ("urn:uuid:3f1c2a52-4f5e-4d8a-9d4b-1f0e7c1b2a3c", "transaction or batch Bundle"),
        ("urn:oid:1.2.3.4", "transaction or batch Bundle"),
        ("Patient/a b", "not a valid reference"),
        ("Patient/", "not a valid reference"),
        ("Patient?identifier=123", "not a valid reference"),
        ("patient/1", "not refer to a known FHIR resource type"),
        ("Nonsense/1", "not refer to a known FHIR resource type"),
        ("Patient/" + "x" * 65, "not a valid reference"),
        ("#missing", "does not match the id of a contained resource"),
        ("#", "only a contained resource may use it"),
        ("ftp://example.org/Patient/1", "not a valid reference"),
    ],
)
def test_bad_reference(
    validator: ResourceValidator, careplan: Json, reference: str, fragment: str
) -> None:
    careplan["subject"]["reference"] = reference
    error = errors_of(validator, careplan)
    assert error.expression == ["CarePlan.subject.reference"]
    assert fragment in error.diagnostics


def test_reference_to_contained_of_wrong_type(validator: ResourceValidator, careplan: Json) -> None:
    careplan["goal"][0]["reference"] = "#p1"  # p1 is a Condition
    error = errors_of(validator, careplan)
    assert error.expression == ["CarePlan.goal[0].reference"]
    assert "may not refer to a Condition; allowed: Goal" in error.diagnostics


def test_reference_type_must_agree(validator: ResourceValidator, careplan: Json) -> None:
    careplan["subject"]["type"] = "Group"
    assert errors_of(validator, careplan).expression == ["CarePlan.subject.type"]


def test_any_target_allowed_where_the_element_says_resource(
    validator: ResourceValidator, careplan: Json
) -> None:
    careplan["supportingInfo"] = [{"reference": "DocumentReference/d1"}]
    report = validator.validate(careplan)
    assert LocalReference(
        "CarePlan.supportingInfo[0].reference", "DocumentReference", "d1", None
    ) in (report.references)


def test_contained_may_refer_to_its_container(validator: ResourceValidator) -> None:
    patient = {
        "resourceType": "Patient",
        "contained": [
            {
                "resourceType": "RelatedPerson",
                "id": "mum",
                "patient": {"reference": "#"},
            }
        ],
    }
    validator.validate(patient)


def test_unreferenced_contained_resource(validator: ResourceValidator, careplan: Json) -> None:
    careplan["addresses"] = [{"display": "obesity"}]  # the only use of contained 'p1'
    error = errors_of(validator, careplan)
    assert error.expression == ["CarePlan.contained[0]"]
    assert "dom-3" in error.diagnostics


def test_contained_rules(validator: ResourceValidator, careplan: Json) -> None:
    careplan["contained"][0]["meta"] = {"versionId": "2"}
    careplan["contained"][0]["contained"] = [{"resourceType": "Goal", "id": "g"}]
    found = expressions(errors_of(validator, careplan))
    assert "CarePlan.contained[0].meta" in found  # dom-4
    assert "CarePlan.contained[0].contained[0]" in found  # dom-2


def test_extension_references_are_checked(validator: ResourceValidator) -> None:
    patient = {
        "resourceType": "Patient",
        "active": True,
        "_active": {
            "extension": [{"url": "http://example.org/x", "valueReference": {"reference": "x y"}}]
        },
    }
    error = errors_of(validator, patient)
    assert error.expression == ["Patient.active.extension[0].valueReference.reference"]


# -- JSON shape -----------------------------------------------------------------------------------

Mutation = Callable[[Json], None]

SHAPE_CASES: list[tuple[str, Mutation, str, str]] = [
    (
        "string for object",
        lambda r: r.__setitem__("subject", "Patient/1"),
        "CarePlan.subject",
        "JSON object",
    ),
    (
        "number for object",
        lambda r: r["activity"][0].__setitem__("detail", 5),
        "CarePlan.activity[0].detail",
        "JSON object",
    ),
    (
        "object for array",
        lambda r: r.__setitem__("identifier", {"value": "1"}),
        "CarePlan.identifier",
        "JSON array",
    ),
    (
        "array for scalar",
        lambda r: r.__setitem__("status", ["active"]),
        "CarePlan.status",
        "not an array",
    ),
    ("number for string", lambda r: r.__setitem__("title", 5), "CarePlan.title", "JSON string"),
    (
        "string for boolean",
        lambda r: r["activity"][0]["detail"].__setitem__("doNotPerform", "yes"),
        "CarePlan.activity[0].detail.doNotPerform",
        "true or false",
    ),
    (
        "string for decimal",
        lambda r: r["activity"][0]["detail"].__setitem__("dailyAmount", {"value": "2"}),
        "CarePlan.activity[0].detail.dailyAmount.value",
        "JSON number",
    ),
    ("null value", lambda r: r.__setitem__("title", None), "CarePlan.title", "null"),
    ("null in array", lambda r: r["category"].append(None), "CarePlan.category[1]", "null"),
    ("empty object", lambda r: r.__setitem__("period", {}), "CarePlan.period", "empty object"),
    ("empty array", lambda r: r.__setitem__("note", []), "CarePlan.note", "empty array"),
    (
        "unknown element",
        lambda r: r.__setitem__("colour", "red"),
        "CarePlan.colour",
        "unknown element",
    ),
    (
        "unknown nested element",
        lambda r: r["subject"].__setitem__("ref", "x"),
        "CarePlan.subject.ref",
        "unknown element",
    ),
    ("missing mandatory", lambda r: r.pop("intent"), "CarePlan.intent", "required"),
    (
        "two choices",
        lambda r: r["activity"][0]["detail"].__setitem__("scheduledString", "daily"),
        "CarePlan.activity[0].detail.scheduled[x]",
        "only one of scheduled[x]",
    ),
    (
        "bad date",
        lambda r: r.__setitem__("created", "2016-02-30"),
        "CarePlan.created",
        "not a valid dateTime",
    ),
    (
        "extension without url",
        lambda r: r.__setitem__("extension", [{"valueString": "x"}]),
        "CarePlan.extension[0].url",
        "required",
    ),
    (
        "extension with value and extensions",
        lambda r: r.__setitem__(
            "extension",
            [
                {
                    "url": "http://e.org/a",
                    "valueString": "x",
                    "extension": [{"url": "b", "valueString": "y"}],
                }
            ],
        ),
        "CarePlan.extension[0]",
        "ext-1",
    ),
    (
        "bad primitive extension",
        lambda r: r.__setitem__("_status", "x"),
        "CarePlan.status",
        "_status must be a JSON object",
    ),
    (
        "primitive extension on complex",
        lambda r: r.__setitem__("_subject", {"id": "a"}),
        "CarePlan._subject",
        "unknown element",
    ),
    (
        "narrative without xhtml div",
        lambda r: r["text"].__setitem__("div", "plain text"),
        "CarePlan.text.div",
        "XHTML",
    ),
    (
        "narrative with script",
        lambda r: r["text"].__setitem__(
            "div", '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>'
        ),
        "CarePlan.text.div",
        "active content",
    ),
    (
        "narrative with event handler",
        lambda r: r["text"].__setitem__(
            "div", '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">hi</p></div>'
        ),
        "CarePlan.text.div",
        "active content",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expression", "fragment"),
    [case[1:] for case in SHAPE_CASES],
    ids=[case[0] for case in SHAPE_CASES],
)
def test_shape_problem(
    validator: ResourceValidator, careplan: Json, mutate: Mutation, expression: str, fragment: str
) -> None:
    mutate(careplan)
    error = errors_of(validator, careplan)
    assert error.expression == [expression], all_issues(error)
    assert fragment in error.diagnostics
    assert len(error.issues) == 0, all_issues(error)  # one problem, reported once


def test_model_only_problems_are_translated(validator: ResourceValidator) -> None:
    task = {
        "resourceType": "Task",
        "status": "draft",
        "intent": "order",
        "restriction": {"repetitions": 0},
        "input": [{"type": {"text": "x"}}],
        "authoredOn": "2020-01-01T10:00:00",  # a time needs a zone
    }
    found = {expr: diag for expr, _, diag in all_issues(errors_of(validator, task))}
    assert found["Task.restriction.repetitions"].endswith("0 must be at least 1")
    assert "a value is required" in found["Task.input[0].value[x]"]
    assert "not a valid dateTime" in found["Task.authoredOn"]


def test_null_aligned_with_primitive_extension_is_fine(validator: ResourceValidator) -> None:
    patient = {
        "resourceType": "Patient",
        "name": [
            {
                "given": ["Anna", None],
                "_given": [None, {"extension": [{"url": "http://e.org/x", "valueString": "y"}]}],
            }
        ],
    }
    validator.validate(patient)
    patient["name"][0]["_given"] = [None, None]
    assert errors_of(validator, patient).expression == ["Patient.name[0].given[1]"]


def test_all_problems_reported_at_once(validator: ResourceValidator, careplan: Json) -> None:
    careplan["status"] = "bogus"
    careplan["subject"]["reference"] = "Practitioner/1"
    careplan["title"] = 5
    careplan["created"] = "yesterday"
    careplan.pop("intent")
    error = errors_of(validator, careplan)
    assert isinstance(error, InvalidResource)
    assert error.status_hint == 422
    assert sorted(expressions(error)) == [
        "CarePlan.created",
        "CarePlan.intent",
        "CarePlan.status",
        "CarePlan.subject.reference",
        "CarePlan.title",
    ]
    for further in error.issues:
        assert isinstance(further, InvalidResource)
        assert further.diagnostics.startswith(further.expression[0] + ": ")


def test_contained_model_errors_are_prefixed(validator: ResourceValidator, careplan: Json) -> None:
    careplan["contained"][0]["onsetDateTime"] = "not a date"
    careplan["contained"][0]["subject"] = {"reference": "Practitioner/1"}
    found = expressions(errors_of(validator, careplan))
    assert "CarePlan.contained[0].onsetDateTime" in found
    assert "CarePlan.contained[0].subject.reference" in found


def test_unknown_contained_resource_type(validator: ResourceValidator, careplan: Json) -> None:
    careplan["contained"][0]["resourceType"] = "Nonsense"
    found = expressions(errors_of(validator, careplan))
    assert "CarePlan.contained[0].resourceType" in found


def test_contained_type_without_model_is_still_walked(validator: ResourceValidator) -> None:
    patient = {
        "resourceType": "Patient",
        "contained": [{"resourceType": "MedicinalProduct", "id": "m", "colour": "red"}],
        "generalPractitioner": [{"reference": "#m"}],
    }
    found = expressions(errors_of(validator, patient))
    assert "Patient.contained[0].colour" in found
    assert "Patient.contained[0].name" in found  # MedicinalProduct.name is mandatory
    assert "Patient.generalPractitioner[0].reference" in found  # not a practitioner


def test_deep_nesting_is_refused_cleanly(validator: ResourceValidator) -> None:
    extension: Json = {"url": "http://e.org/x", "valueString": "leaf"}
    for _ in range(MAX_DEPTH * 3):
        extension = {"url": "http://e.org/x", "extension": [extension]}
    patient = {"resourceType": "Patient", "extension": [extension]}
    error = errors_of(validator, patient)
    assert "nested more than" in error.diagnostics


def test_messages_have_no_library_jargon(validator: ResourceValidator, careplan: Json) -> None:
    for _, mutate, _, _ in SHAPE_CASES:
        resource = copy.deepcopy(careplan)
        mutate(resource)
        for _, _, diagnostics in all_issues(errors_of(validator, resource)):
            for jargon in ("pydantic", "Input should", "Value error", "fhir.resources", "<class"):
                assert jargon not in diagnostics


# -- robustness -----------------------------------------------------------------------------------

JUNK: list[Any] = [None, 0, -1, 1.5, True, "", "x", [], [1], {}, {"a": 1}, [None], [[]], [{}]]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_nodes(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_nodes(item, (*path, index)))
    return found


def test_random_junk_never_escapes_as_another_exception(validator: ResourceValidator) -> None:
    rng = random.Random(4711)
    originals = [
        load(n)
        for n in ("careplan-example.json", "patient-example.json", "plandefinition-example.json")
    ]
    for _ in range(600):
        resource = copy.deepcopy(rng.choice(originals))
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(_nodes(resource)[1:])
            parent = resource
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = copy.deepcopy(rng.choice(JUNK))
        try:
            validator.validate(resource)
        except InvalidResource as error:
            assert error.diagnostics
            assert all(e.expression for e in error.issues)
