from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from zorgleefplan.fhir.search.extract import IndexExtractor
from zorgleefplan.fhir.search.normalize import date_range
from zorgleefplan.fhir.search.parameters import SearchParameterRegistry, default_registry
from zorgleefplan.store.model import (
    DateIndex,
    IndexValues,
    NumberIndex,
    QuantityIndex,
    ReferenceIndex,
    StringIndex,
    TokenIndex,
    UriIndex,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "examples"
BASE = "https://zorgleefplan.example.org/fhir"
INF = float("inf")


@pytest.fixture(scope="module")
def extractor() -> IndexExtractor:
    return IndexExtractor(default_registry(), base_url=BASE)


def _example(name: str) -> dict[str, Any]:
    return orjson.loads((EXAMPLES / name).read_bytes())


def _rows(index: IndexValues, param: str) -> set[Any]:
    every = (
        *index.tokens,
        *index.strings,
        *index.references,
        *index.dates,
        *index.quantities,
        *index.numbers,
        *index.uris,
    )
    return {row for row in every if row.param == param}


def _ref(param: str, type_: str, id_: str) -> ReferenceIndex:
    return ReferenceIndex(param, type_, id_)


# --------------------------------------------------------------------------- spec examples


def test_careplan_example(extractor: IndexExtractor) -> None:
    plan = _example("careplan-example.json")
    index = extractor.extract(plan)
    assert _rows(index, "patient") == {_ref("patient", "Patient", "example")}
    assert _rows(index, "subject") == {_ref("subject", "Patient", "example")}
    assert _rows(index, "performer") == {_ref("performer", "Patient", "example")}
    assert _rows(index, "goal") == {_ref("goal", "Goal", "example")}
    assert _rows(index, "care-team") == {_ref("care-team", "CareTeam", "example")}
    assert _rows(index, "condition") == set()  # only a #contained reference
    assert _rows(index, "status") == {TokenIndex("status", None, "active")}
    assert _rows(index, "intent") == {TokenIndex("intent", None, "plan")}
    assert _rows(index, "activity-code") == {
        TokenIndex("activity-code", "http://loinc.org", "3141-9", "weight measured"),
        TokenIndex("activity-code", "http://snomed.info/sct", "27113001", "body weight"),
    }
    assert _rows(index, "category") == {
        TokenIndex("category", None, None, "weight management plan")
    }
    assert _rows(index, "_tag") == {
        TokenIndex(
            "_tag",
            "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "HTEST",
            "test health data",
        )
    }
    # period has only an end: open start
    assert _rows(index, "date") == {DateIndex("date", None, date_range("2017-06-01")[1])}
    assert _rows(index, "instantiates-uri") == {
        UriIndex("instantiates-uri", "http://example.org/protocol-for-obesity")
    }
    assert extractor.compartment(plan, index) == "example"


def test_patient_example(extractor: IndexExtractor) -> None:
    patient = _example("patient-example.json")
    index = extractor.extract(patient)
    assert StringIndex("family", "chalmers", "Chalmers") in _rows(index, "family")
    assert {r.exact for r in _rows(index, "given")} == {"Peter", "James", "Jim"}
    assert {r.value for r in _rows(index, "name")} >= {"chalmers", "peter", "windsor"}
    assert StringIndex("address-city", "pleasantville", "PleasantVille") in index.strings
    assert TokenIndex("identifier", "urn:oid:1.2.36.146.595.217.0.1", "12345") in index.tokens
    assert TokenIndex("gender", None, "male") in index.tokens
    assert TokenIndex("active", None, "true") in index.tokens
    assert TokenIndex("deceased", None, "false") in index.tokens  # the fhirpathpy fallback
    assert TokenIndex("phone", None, "(03) 5555 6473") in index.tokens
    assert _rows(index, "birthdate") == {DateIndex("birthdate", *date_range("1974-12-25"))}
    assert _rows(index, "organization") == {_ref("organization", "Organization", "1")}
    assert extractor.compartment(patient, index) == "example"


def test_identifier_type_text_and_offset_dates(extractor: IndexExtractor) -> None:
    message = _example("communication-example.json")
    index = extractor.extract(message)
    assert _rows(index, "identifier") == {
        TokenIndex("identifier", "urn:oid:1.3.4.5.6.7", "2345678901", "paging system")
    }
    assert _rows(index, "sent") == {DateIndex("sent", *date_range("2014-12-13T02:01:10Z"))}
    assert TokenIndex("medium", None, None, "written") in index.tokens
    assert _rows(index, "part-of") == set()  # display-only reference
    # compartment params are subject, sender, recipient: subject is the Patient
    assert extractor.compartment(message, index) == "example"


def test_condition_ages_are_quantities(extractor: IndexExtractor) -> None:
    condition = _example("condition-example-f202-malignancy.json")
    index = extractor.extract(condition)
    ucum = "http://unitsofmeasure.org"
    assert _rows(index, "onset-age") == {
        QuantityIndex("onset-age", 52.0, 51.5, 52.5, ucum, "a", "years")
    }
    assert _rows(index, "abatement-age") == {
        QuantityIndex("abatement-age", 54.0, 53.5, 54.5, ucum, "a", "years")
    }
    assert (
        TokenIndex("_security", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "TBOO", "taboo")
        in index.tokens
    )


def test_canonical_references_are_urls(extractor: IndexExtractor) -> None:
    definition = _example("plandefinition-example.json")
    index = extractor.extract(definition)
    assert (
        ReferenceIndex("depends-on", None, None, "Library/suiciderisk-orderset-logic")
        in index.references
    )
    assert (
        UriIndex("url", "http://motivemi.com/artifacts/PlanDefinition/low-suicide-risk-order-set")
        in index.uris
    )
    assert extractor.compartment(definition, index) is None


def test_every_example_extracts_and_rows_are_unique(extractor: IndexExtractor) -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        resource = orjson.loads(path.read_bytes())
        index = extractor.extract(resource)
        for rows in (index.tokens, index.strings, index.references, index.dates, index.quantities):
            assert len(rows) == len(set(rows)), path.name
        for row in index.dates:
            assert row.low is None or row.high is None or row.low <= row.high, path.name


# --------------------------------------------------------------------------- shapes


def test_references(extractor: IndexExtractor) -> None:
    task = {
        "resourceType": "Task",
        "basedOn": [
            {"reference": "CarePlan/cp1/_history/3"},
            {"reference": f"{BASE}/CarePlan/cp2"},
            {"reference": "https://other.example.org/fhir/CarePlan/cp3"},
            {"reference": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},
            {"reference": "#contained"},
            {"identifier": {"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "123"}},
            {"display": "only a display"},
        ],
    }
    assert _rows(extractor.extract(task), "based-on") == {
        _ref("based-on", "CarePlan", "cp1"),
        _ref("based-on", "CarePlan", "cp2"),
        ReferenceIndex("based-on", None, None, "https://other.example.org/fhir/CarePlan/cp3"),
        ReferenceIndex("based-on", None, None, "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"),
        ReferenceIndex("based-on", None, None, None, "urn:oid:2.16.840.1.113883.2.4.6.3", "123"),
    }


def test_absolute_references_stay_urls_without_a_configured_base() -> None:
    task = {"resourceType": "Task", "basedOn": [{"reference": f"{BASE}/CarePlan/cp2"}]}
    index = IndexExtractor(default_registry()).extract(task)
    assert _rows(index, "based-on") == {
        ReferenceIndex("based-on", None, None, f"{BASE}/CarePlan/cp2")
    }


def test_identifier_only_subject_counts_as_patient_reference(extractor: IndexExtractor) -> None:
    bsn = {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999911120"}
    goal = {"resourceType": "Goal", "subject": {"identifier": bsn, "type": "Patient"}}
    index = extractor.extract(goal)
    assert _rows(index, "patient") == {
        ReferenceIndex("patient", None, None, None, bsn["system"], bsn["value"])
    }
    assert extractor.compartment(goal, index) is None  # no id to own it by


def test_periods_and_timings(extractor: IndexExtractor) -> None:
    plan = {
        "resourceType": "CarePlan",
        "period": {"start": "2020-01-01"},
        "activity": [
            {"detail": {"scheduledTiming": {"event": ["2021-03-04T10:00:00Z"]}}},
            {
                "detail": {
                    "scheduledTiming": {
                        "repeat": {"boundsPeriod": {"start": "2022", "end": "2023"}}
                    }
                }
            },
            {"detail": {"scheduledPeriod": {"end": "2024-05"}}},
            {"detail": {"scheduledString": "2025"}},  # a string, not a date
            {"detail": {"scheduledPeriod": {"start": "garbage"}}},
        ],
    }
    index = extractor.extract(plan)
    assert _rows(index, "date") == {DateIndex("date", date_range("2020-01-01")[0], None)}
    assert _rows(index, "activity-date") == {
        DateIndex("activity-date", *date_range("2021-03-04T10:00:00Z")),
        DateIndex("activity-date", date_range("2022")[0], date_range("2023")[1]),
        DateIndex("activity-date", None, date_range("2024-05")[1]),
    }


def test_ranges_and_comparators_are_open_where_they_should_be(extractor: IndexExtractor) -> None:
    condition = {
        "resourceType": "Condition",
        "onsetRange": {"low": {"value": 10, "unit": "a"}},
        "abatementAge": {"value": 40, "comparator": "<", "unit": "a"},
    }
    index = extractor.extract(condition)
    assert _rows(index, "onset-age") == {
        QuantityIndex("onset-age", 10.0, 10.0, INF, None, None, "a")
    }
    assert _rows(index, "abatement-age") == {
        QuantityIndex("abatement-age", 40.0, -INF, 40.5, None, None, "a")
    }


def test_string_parts_and_deduplication(extractor: IndexExtractor) -> None:
    person = {
        "resourceType": "RelatedPerson",
        "name": [{"text": "Anne de Vries", "family": "de Vries", "given": ["Anne", "Anne"]}],
        "address": [
            {"line": ["Straße 1"], "city": "Zürich", "district": "Kreis 1", "postalCode": "8001"}
        ],
        "identifier": [{"system": "s", "value": "1"}, {"system": "s", "value": "1"}],
    }
    index = extractor.extract(person)
    assert _rows(index, "name") == {
        StringIndex("name", "anne de vries", "Anne de Vries"),
        StringIndex("name", "de vries", "de Vries"),
        StringIndex("name", "anne", "Anne"),
    }
    assert _rows(index, "address") == {
        StringIndex("address", "strasse 1", "Straße 1"),
        StringIndex("address", "zurich", "Zürich"),
        StringIndex("address", "kreis 1", "Kreis 1"),
        StringIndex("address", "8001", "8001"),
    }
    assert _rows(index, "identifier") == {TokenIndex("identifier", "s", "1")}
    assert len(index.strings) == len(set(index.strings))


def test_custom_registry_money_number_and_text_tokens() -> None:
    registry = SearchParameterRegistry.from_definitions(
        {
            "Invoice": [
                {"code": "total", "type": "quantity", "expression": "Invoice.totalNet", "url": "u"},
            ],
            "RiskAssessment": [
                {
                    "code": "probability",
                    "type": "number",
                    "expression": "RiskAssessment.prediction.probability.as(decimal)",
                    "url": "u",
                },
            ],
        },
        {},
    )
    extractor = IndexExtractor(registry, types=("Invoice", "RiskAssessment"))
    invoice = {"resourceType": "Invoice", "totalNet": {"value": 12.50, "currency": "EUR"}}
    assert extractor.extract(invoice).quantities == (
        QuantityIndex("total", 12.5, 12.45, 12.55, "urn:iso:std:iso:4217", "EUR", "EUR"),
    )
    risk = {"resourceType": "RiskAssessment", "prediction": [{"probabilityDecimal": 0.25}]}
    assert extractor.extract(risk).numbers == (NumberIndex("probability", 0.25, 0.245, 0.255),)


# --------------------------------------------------------------------------- compartment


def test_compartment_follows_parameter_order(extractor: IndexExtractor) -> None:
    plan = {
        "resourceType": "CarePlan",
        "subject": {"reference": "Group/g"},
        "activity": [{"detail": {"performer": [{"reference": "Patient/p2"}]}}],
    }
    assert extractor.compartment(plan, extractor.extract(plan)) == "p2"
    plan["subject"] = {"reference": "Patient/p1"}
    assert extractor.compartment(plan, extractor.extract(plan)) == "p1"


def test_shared_resources_have_no_compartment(extractor: IndexExtractor) -> None:
    practitioner = _example("practitioner-example.json")
    assert extractor.compartment(practitioner, extractor.extract(practitioner)) is None
    patient_without_id = {"resourceType": "Patient"}
    assert extractor.compartment(patient_without_id, extractor.extract(patient_without_id)) is None


# --------------------------------------------------------------------------- robustness


_WRONG = (42, -1.5, True, "x", "2020-99-99", None, [], {}, [None], [1, "y"], {"value": {}})


def _mutations(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "resourceType":
                yield (*path, key)
                yield from _mutations(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*path, i)
            yield from _mutations(value, (*path, i))


def _replace(resource: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copied = copy.deepcopy(resource)
    node: Any = copied
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copied


@pytest.mark.parametrize(
    "name",
    [
        "careplan-example.json",
        "patient-example.json",
        "condition-example-f202-malignancy.json",
        "communication-example.json",
        "goal-example.json",
    ],
)
def test_wrong_shapes_anywhere_never_raise(extractor: IndexExtractor, name: str) -> None:
    resource = _example(name)
    resource.pop("text", None)  # the narrative is never indexed; keeps the run short
    count = 0
    for path in _mutations(resource):
        for wrong in _WRONG:
            mutated = _replace(resource, path, wrong)
            index = extractor.extract(mutated)
            extractor.compartment(mutated, index)
            count += 1
    assert count > 100


def test_only_known_parameters_run_on_fhirpathpy(extractor: IndexExtractor) -> None:
    """Patient.deceased and the project's two role filters (profiles/SearchParameter-*.json):
    the only expressions outside the fast subset, so the only ones paying fhirpathpy's cost."""
    fallback = extractor.fallback_expressions()
    assert set(fallback) == {
        ("Patient", "deceased"),
        ("CareTeam", "regiebehandelaar"),
        ("Consent", "gevolmachtigde"),
    }
    assert fallback[("Patient", "deceased")] == (
        "Patient.deceased.exists() and Patient.deceased != false"
    )


def test_not_a_resource_gives_no_rows(extractor: IndexExtractor) -> None:
    assert extractor.extract({}) == IndexValues()
    assert extractor.extract({"resourceType": 7}) == IndexValues()
    assert extractor.extract({"resourceType": "Basic", "code": {"text": "x"}}) == IndexValues()
