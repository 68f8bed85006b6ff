from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from zorgleefplan.fhir.resource_types import SUPPORTED
from zorgleefplan.fhir.search.fhirpath import (
    compile_expression,
    compile_fast,
    compile_fhirpathpy,
    fhirpathpy_expression,
    reference_type,
    split_union,
)
from zorgleefplan.fhir.search.parameters import default_registry

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "examples"


def _served_examples() -> list[Path]:
    return [
        p
        for p in sorted(EXAMPLES.glob("*.json"))
        if orjson.loads(p.read_bytes()).get("resourceType") in SUPPORTED
    ]


def _fast(expression: str) -> Any:
    compiled = compile_fast(expression)
    assert compiled is not None, f"expected the fast path for {expression}"
    return compiled


# --------------------------------------------------------------------------- parsing helpers


def test_split_union_respects_parentheses_and_strings() -> None:
    assert split_union("(A.b as X) | A.c.where(d = 'x|y') | A.e") == [
        "(A.b as X)",
        "A.c.where(d = 'x|y')",
        "A.e",
    ]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/123", "Patient"),
        ("Patient/123/_history/4", "Patient"),
        ("https://fhir.example.org/r4/Patient/123", "Patient"),
        ("https://fhir.example.org/r4/Patient/123/_history/4", "Patient"),
        ("Group/1", "Group"),
        ("#contained", None),
        ("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", None),
        ("patient/123", None),
    ],
)
def test_reference_type(reference: str, expected: str | None) -> None:
    assert reference_type(reference) == expected


# --------------------------------------------------------------------------- fast path


def test_dotted_path_flattens_arrays() -> None:
    plan = {
        "resourceType": "CarePlan",
        "activity": [
            {"detail": {"code": {"text": "a"}}},
            {"detail": {"code": {"text": "b"}}},
            {"reference": {"reference": "Task/1"}},
        ],
    }
    compiled = _fast("CarePlan.activity.detail.code")
    assert compiled.evaluate(plan) == [
        ({"text": "a"}, "CodeableConcept"),
        ({"text": "b"}, "CodeableConcept"),
    ]


def test_root_type_must_match() -> None:
    assert _fast("CarePlan.status").values({"resourceType": "Goal", "status": "active"}) == []


def test_primitive_arrays_skip_nulls_from_extension_alignment() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"given": ["Jan", None, "Piet"], "_given": [None, {"id": "x"}, None]}],
    }
    assert _fast("Patient.name.given").evaluate(patient) == [("Jan", "string"), ("Piet", "string")]


def test_choice_element_without_type_test_yields_every_present_alternative_typed() -> None:
    plan = {
        "resourceType": "CarePlan",
        "activity": [
            {"detail": {"scheduledString": "daily"}},
            {"detail": {"scheduledPeriod": {"start": "2020"}}},
            {"detail": {"scheduledTiming": {"event": ["2021-01-01"]}}},
        ],
    }
    compiled = _fast("CarePlan.activity.detail.scheduled")
    assert compiled.types == {"Timing", "Period", "string"}
    assert sorted(compiled.evaluate(plan), key=lambda tv: str(tv[1])) == [
        ({"start": "2020"}, "Period"),
        ({"event": ["2021-01-01"]}, "Timing"),
        ("daily", "string"),
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "Condition.onset.as(dateTime)",
        "Condition.onset.ofType(dateTime)",
        "(Condition.onset as dateTime)",
    ],
)
def test_type_tests_pick_the_choice_alternative(expression: str) -> None:
    compiled = _fast(expression)
    assert compiled.values({"resourceType": "Condition", "onsetDateTime": "2020-05-01"}) == [
        "2020-05-01"
    ]
    assert compiled.values({"resourceType": "Condition", "onsetString": "as a child"}) == []
    assert compiled.types == {"dateTime"}


def test_type_test_accepts_subtypes() -> None:
    # Age is a Quantity: as(Quantity) keeps it and reports the precise type.
    compiled = _fast("Condition.abatement.as(Quantity)")
    condition = {"resourceType": "Condition", "abatementAge": {"value": 50, "code": "a"}}
    assert compiled.evaluate(condition) == [({"value": 50, "code": "a"}, "Age")]


def test_as_operator_filters_per_item() -> None:
    goal = {
        "resourceType": "Goal",
        "target": [
            {"dueDate": "2020-01-01"},
            {"dueDuration": {"value": 3}},
            {"dueDate": "2021-06-01"},
        ],
    }
    assert _fast("(Goal.target.due as date)").values(goal) == ["2020-01-01", "2021-06-01"]


def test_type_test_on_non_choice_element() -> None:
    plan = {"resourceType": "CarePlan", "period": {"start": "2020"}}
    assert _fast("CarePlan.period.ofType(Period)").values(plan) == [{"start": "2020"}]
    assert _fast("CarePlan.period.ofType(Range)").values(plan) == []


def test_resolve_is_filters_on_the_reference_type() -> None:
    compiled = _fast("AuditEvent.agent.who.where(resolve() is Patient)")
    event = {
        "resourceType": "AuditEvent",
        "agent": [
            {"who": {"reference": "Patient/1"}},
            {"who": {"reference": "Practitioner/2"}},
            {"who": {"reference": "https://other.example/fhir/Patient/3/_history/1"}},
            {"who": {"identifier": {"value": "999"}, "type": "Patient"}},
            {"who": {"identifier": {"value": "888"}, "type": "Practitioner"}},
            {"who": {"reference": "#p1"}},
            {"who": {"display": "nobody"}},
        ],
    }
    assert compiled.values(event) == [
        {"reference": "Patient/1"},
        {"reference": "https://other.example/fhir/Patient/3/_history/1"},
        {"identifier": {"value": "999"}, "type": "Patient"},
    ]


def test_where_equals_filters_on_a_child_value() -> None:
    patient = {
        "resourceType": "Patient",
        "telecom": [
            {"system": "phone", "value": "0201234567"},
            {"system": "email", "value": "a@example.org"},
        ],
    }
    compiled = _fast("Patient.telecom.where(system='email')")
    assert compiled.evaluate(patient) == [
        ({"system": "email", "value": "a@example.org"}, "ContactPoint")
    ]


def test_where_then_navigate_continues_with_the_right_type() -> None:
    definition = {
        "resourceType": "PlanDefinition",
        "relatedArtifact": [
            {"type": "composed-of", "resource": "http://x/ActivityDefinition/a"},
            {"type": "depends-on", "resource": "http://x/Library/l"},
        ],
        "library": ["http://x/Library/m"],
    }
    compiled = _fast(
        "PlanDefinition.relatedArtifact.where(type='depends-on').resource | PlanDefinition.library"
    )
    assert compiled.evaluate(definition) == [
        ("http://x/Library/l", "canonical"),
        ("http://x/Library/m", "canonical"),
    ]


def test_union_branches_of_other_types_are_ignored() -> None:
    compiled = _fast("Patient.birthDate | RelatedPerson.birthDate")
    assert compiled.values({"resourceType": "RelatedPerson", "birthDate": "1970"}) == ["1970"]
    assert compiled.values({"resourceType": "Patient", "birthDate": "1980"}) == ["1980"]


def test_content_reference_paths_resolve() -> None:
    # PlanDefinition.action.action is defined as PlanDefinition.action (a contentReference).
    compiled = _fast("PlanDefinition.action.action.definition")
    definition = {
        "resourceType": "PlanDefinition",
        "action": [{"action": [{"definitionCanonical": "http://x/ActivityDefinition/a"}]}],
    }
    assert compiled.evaluate(definition) == [("http://x/ActivityDefinition/a", "canonical")]


def test_wrong_shapes_are_skipped_not_raised() -> None:
    compiled = _fast("CarePlan.activity.detail.code")
    for activity in (42, "x", None, [1, "y"], {"detail": "nope"}, {"detail": [None, 3]}):
        assert compiled.values({"resourceType": "CarePlan", "activity": activity}) == []


# --------------------------------------------------------------------------- fallback


def test_unsupported_expressions_fall_back_to_fhirpathpy() -> None:
    expression = "Patient.deceased.exists() and Patient.deceased != false"
    assert compile_fast(expression) is None
    compiled = compile_expression(expression)
    assert not compiled.fast
    assert compiled.values({"resourceType": "Patient", "deceasedBoolean": True}) == [True]
    assert compiled.values({"resourceType": "Patient", "deceasedDateTime": "2020"}) == [True]
    assert compiled.values({"resourceType": "Patient"}) == [False]


def test_fallback_returns_nothing_instead_of_raising() -> None:
    # fhirpathpy raises "Expected string" on substring() over two items.
    compiled = compile_fhirpathpy("Patient.name.given.substring(1)")
    assert compiled.values({"resourceType": "Patient", "name": [{"given": ["a", "b"]}]}) == []


def test_fhirpathpy_rewrite() -> None:
    rewritten = fhirpathpy_expression("(Goal.target.due as date) | Condition.onset.as(Age)")
    assert rewritten == "Goal.target.due.ofType(date) | Condition.onset.ofType(Age)"
    assert "resolve()" not in fhirpathpy_expression("Task.for.where(resolve() is Patient)")


def test_only_known_expressions_fall_back() -> None:
    """Patient.deceased and the project's role filters (regiebehandelaar, gevolmachtigde)."""
    registry = default_registry()
    fallbacks = {
        (t, p.code)
        for t in sorted(SUPPORTED)
        for p in registry.for_type(t).values()
        if not compile_expression(p.expression).fast
    }
    assert fallbacks == {
        ("Patient", "deceased"),
        ("CareTeam", "regiebehandelaar"),
        ("Consent", "gevolmachtigde"),
    }


# --------------------------------------------------------------------------- agreement


def _canonical(values: list[Any]) -> list[bytes]:
    """A union is a set in FHIRPath; compare as sorted distinct JSON."""
    return sorted({orjson.dumps(v, option=orjson.OPT_SORT_KEYS) for v in values})


SYNTHETIC: list[dict[str, Any]] = [
    {
        "resourceType": "Goal",
        "subject": {
            "identifier": {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "1"},
            "type": "Patient",
        },
        "startCodeableConcept": {"text": "after surgery"},
        "target": [
            {"dueDate": "2020-01-01"},
            {"dueDuration": {"value": 3}},
            {"dueDate": "2021-06-01"},
        ],
    },
    {
        "resourceType": "ActivityDefinition",
        "useContext": [
            {"code": {"code": "age"}, "valueRange": {"low": {"value": 18}}},
            {"code": {"code": "gender"}, "valueCodeableConcept": {"text": "female"}},
            {"code": {"code": "x"}, "valueQuantity": {"value": 2, "unit": "kg"}},
        ],
        "relatedArtifact": [
            {"type": "composed-of", "resource": "http://x/ActivityDefinition/a"},
            {"type": "successor", "resource": "http://x/ActivityDefinition/b"},
        ],
    },
    {
        "resourceType": "Condition",
        "subject": {"reference": "https://elsewhere.example/fhir/Patient/7/_history/2"},
        "onsetPeriod": {"start": "2019"},
        "abatementRange": {"low": {"value": 1}, "high": {"value": 2}},
    },
    {
        "resourceType": "Patient",
        "deceasedDateTime": "2022-02-02T10:00:00Z",
        "telecom": [{"system": "email", "value": "a@b.c"}, {"system": "phone", "value": "1"}],
        "name": [{"given": ["Jan", None], "_given": [None, {"extension": []}]}],
    },
    {
        "resourceType": "AuditEvent",
        "agent": [{"who": {"reference": "Patient/1"}}, {"who": {"reference": "Device/2"}}],
        "entity": [{"what": {"reference": "Patient/1/_history/3"}}, {"what": {"reference": "#c"}}],
    },
    {
        "resourceType": "CarePlan",
        "activity": [
            {"detail": {"scheduledString": "daily", "performer": [{"reference": "Patient/p"}]}},
            {"detail": {"scheduledPeriod": {"end": "2020"}}},
        ],
    },
]


def _agreement_mismatches(resource: dict[str, Any]) -> list[str]:
    registry = default_registry()
    mismatches = []
    checked = 0
    for param in registry.for_type(resource["resourceType"]).values():
        fast = compile_fast(param.expression)
        if fast is None:
            continue
        reference = compile_fhirpathpy(param.expression)
        checked += 1
        ours, theirs = _canonical(fast.values(resource)), _canonical(reference.values(resource))
        if ours != theirs:
            mismatches.append(f"{param.code}: {param.expression}: {ours} != {theirs}")
    assert checked > 0
    return mismatches


@pytest.mark.parametrize("path", _served_examples(), ids=lambda p: p.name)
def test_fast_path_agrees_with_fhirpathpy_on_spec_examples(path: Path) -> None:
    assert _agreement_mismatches(orjson.loads(path.read_bytes())) == []


@pytest.mark.parametrize("resource", SYNTHETIC, ids=lambda r: r["resourceType"])
def test_fast_path_agrees_with_fhirpathpy_on_edge_cases(resource: dict[str, Any]) -> None:
    assert _agreement_mismatches(resource) == []


def test_examples_cover_every_served_type() -> None:
    types = {orjson.loads(p.read_bytes())["resourceType"] for p in _served_examples()}
    assert types == SUPPORTED
