"""parse_search: FHIR R4 search syntax into the store's frozen query dataclasses."""

from __future__ import annotations

import random
from importlib import resources
from typing import Any

import pytest

from zorgleefplan.errors import InvalidRequest, UnknownResourceType
from zorgleefplan.fhir.resource_types import SUPPORTED_TYPES
from zorgleefplan.fhir.search.normalize import date_range
from zorgleefplan.fhir.search.parameters import SearchParameterRegistry, default_registry
from zorgleefplan.fhir.search.parse import (
    MAX_ALTERNATIVES,
    MAX_DEPTH,
    Include,
    SearchRequest,
    parse_search,
)
from zorgleefplan.store.model import (
    AnyOf,
    ChainCriterion,
    DateCriterion,
    HasCriterion,
    IdCriterion,
    IdentifierCriterion,
    LastUpdatedCriterion,
    MissingCriterion,
    NumberCriterion,
    QuantityCriterion,
    QuantityMatch,
    RangeMatch,
    ReferenceCriterion,
    ReferenceMatch,
    SearchQuery,
    SortKey,
    StringCriterion,
    TokenCriterion,
    TokenMatch,
    TokenTextCriterion,
    UriCriterion,
)

# --------------------------------------------------------------------------- a small registry


def _p(code: str, type_: str, *targets: str) -> dict[str, Any]:
    return {
        "code": code,
        "type": type_,
        "expression": f"Resource.{code}",
        "url": f"http://example.org/SearchParameter/{code}",
        "targets": list(targets),
    }


_META = [_p("_tag", "token"), _p("_profile", "uri"), _p("_security", "token"), _p("_source", "uri")]
_EXTRA: dict[str, list[dict[str, Any]]] = {
    "Patient": [
        _p("identifier", "token"),
        _p("name", "string"),
        _p("birthdate", "date"),
        _p("active", "token"),
        _p("general-practitioner", "reference", "Practitioner", "Organization", "PractitionerRole"),
        _p("organization", "reference", "Organization"),
        _p("link", "reference", "Patient", "RelatedPerson"),
    ],
    "CarePlan": [
        _p("subject", "reference", "Group", "Patient"),
        _p("patient", "reference", "Patient"),
        _p("status", "token"),
        _p("date", "date"),
        _p("goal", "reference", "Goal"),
        _p("instantiates-canonical", "reference", "PlanDefinition", "Questionnaire"),
        _p("instantiates-uri", "uri"),
    ],
    "Condition": [_p("onset-age", "quantity"), _p("subject", "reference", "Group", "Patient")],
    "Goal": [_p("subject", "reference", "Group", "Organization", "Patient")],
    "Organization": [_p("name", "string"), _p("identifier", "token")],
    "Practitioner": [_p("name", "string")],
    "PractitionerRole": [_p("practitioner", "reference", "Practitioner")],
    "Provenance": [
        _p("target", "reference", "CarePlan", "Patient", "Goal"),
        _p("agent", "reference", "Practitioner", "Patient"),
    ],
    "Task": [_p("focus", "reference")],  # no declared targets
    # Not served at type level, but known as _has / _include sources.
    "Observation": [_p("patient", "reference", "Patient"), _p("code", "token")],
    "RiskAssessment": [_p("subject", "reference", "Group", "Patient"), _p("probability", "number")],
}


def _registry(types: tuple[str, ...] = SUPPORTED_TYPES) -> SearchParameterRegistry:
    search = {t: [*_META, *_EXTRA.get(t, [])] for t in types}
    for t in ("Observation", "RiskAssessment"):
        search[t] = _EXTRA[t]
    return SearchParameterRegistry.from_definitions(search, {})


REGISTRY = _registry()
BASE = "https://zlp.example/fhir"


def parse(rtype: str | None, query: list[tuple[str, str]], **kwargs: Any) -> SearchRequest:
    return parse_search(rtype, query, REGISTRY, **kwargs)


def criterion(rtype: str | None, key: str, value: str, **kwargs: Any) -> Any:
    (only,) = parse(rtype, [(key, value)], **kwargs).query.criteria
    return only


def error(rtype: str | None, query: list[tuple[str, str]], **kwargs: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse(rtype, query, **kwargs)
    return info.value


# --------------------------------------------------------------------------- basics


def test_empty_query_gives_defaults() -> None:
    assert parse("Patient", []) == SearchRequest(query=SearchQuery(types=("Patient",)), count=50)


def test_unserved_resource_type_is_refused() -> None:
    with pytest.raises(UnknownResourceType):
        parse("Observation", [])


def test_repeated_parameter_ands_and_comma_ors() -> None:
    request = parse("Patient", [("name", "jan"), ("name", "piet,kees")])
    assert request.query.criteria == (
        StringCriterion("name", ("jan",)),
        StringCriterion("name", ("piet", "kees")),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (r"a\,b", ("a,b",)),  # escaped comma stays in the value
        (r"a\\,b", ("a\\", "b")),  # escaped backslash, then a real comma
        (r"a\$b", ("a$b",)),
        (r"a\|b", ("a|b",)),
        (r"a\b", ("a\\b",)),  # not an escape: kept as written
    ],
)
def test_escapes(value: str, expected: tuple[str, ...]) -> None:
    assert criterion("Patient", "name:exact", value) == StringCriterion("name", expected, "exact")


def test_alternatives_are_bounded() -> None:
    ids = [f"p{i}" for i in range(MAX_ALTERNATIVES)]
    assert criterion("Patient", "_id", ",".join(ids)) == IdCriterion(tuple(ids))
    err = error("Patient", [("_id", ",".join([*ids, "one-more"]))])
    assert f"more than {MAX_ALTERNATIVES}" in err.diagnostics


@pytest.mark.parametrize("value", ["a,,b", ",a", "a,"])
def test_empty_alternative_is_an_error(value: str) -> None:
    assert "empty alternative" in error("Patient", [("name", value)]).diagnostics


def test_empty_value_is_an_error_unless_lenient() -> None:
    err = error("Patient", [("name", "")])
    assert err.expression == ["name"]
    assert "empty value" in err.diagnostics
    request = parse("Patient", [("name", ""), ("active", "true")], lenient=True)
    assert request.ignored == ("name",)
    assert request.query.criteria == (TokenCriterion("active", (TokenMatch(None, "true"),)),)


def test_unknown_parameter_names_it_and_is_not_supported() -> None:
    err = error("Patient", [("nope", "1")])
    assert err.expression == ["nope"]
    assert "'nope'" in err.diagnostics
    assert "Patient" in err.diagnostics
    assert err.issue_code == "not-supported"


def test_malformed_value_is_invalid() -> None:
    err = error("Patient", [("birthdate", "yesterday")])
    assert err.issue_code == "invalid"
    assert err.status_hint == 400
    assert err.expression == ["birthdate"]


def test_huge_input_is_echoed_shortened() -> None:
    key = "x" * 10_000
    err = error("Patient", [(key, "1")])
    assert len(err.diagnostics) < 400
    assert err.expression == [key]


# --------------------------------------------------------------------------- token


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("123", TokenMatch(None, "123")),
        ("http://sys|123", TokenMatch("http://sys", "123")),
        ("|123", TokenMatch("", "123")),
        ("http://sys|", TokenMatch("http://sys", None)),
        (r"http://sys|a\|b", TokenMatch("http://sys", "a|b")),
    ],
)
def test_token_forms(value: str, match: TokenMatch) -> None:
    assert criterion("Patient", "identifier", value) == TokenCriterion("identifier", (match,))


@pytest.mark.parametrize("value", ["|", "a|b|c"])
def test_token_bad_forms(value: str) -> None:
    assert error("Patient", [("identifier", value)]).expression == ["identifier"]


def test_token_or() -> None:
    assert criterion("Patient", "active", "true,s|false") == TokenCriterion(
        "active", (TokenMatch(None, "true"), TokenMatch("s", "false"))
    )


def test_token_not() -> None:
    assert criterion("CarePlan", "status:not", "active,draft") == TokenCriterion(
        "status", (TokenMatch(None, "active"), TokenMatch(None, "draft")), negate=True
    )


def test_token_text_is_normalised() -> None:
    assert criterion("Patient", "identifier:text", "Ëlise  Dijk,BSN") == TokenTextCriterion(
        "identifier", ("elise dijk", "bsn")
    )


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("active:missing", "token"),
        ("name:missing", "string"),
        ("organization:missing", "reference"),
        ("birthdate:missing", "date"),
        ("_profile:missing", "uri"),
    ],
)
def test_missing_on_every_kind(key: str, kind: str) -> None:
    code = key.partition(":")[0]
    assert criterion("Patient", key, "true") == MissingCriterion(code, kind, True)  # type: ignore[arg-type]
    assert criterion("Patient", key, "false") == MissingCriterion(code, kind, False)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["yes", "TRUE", "true,false", "1"])
def test_missing_takes_only_true_or_false(value: str) -> None:
    assert ":missing" in error("Patient", [("active:missing", value)]).diagnostics


@pytest.mark.parametrize(
    "modifier", ["exact", "contains", "of-type", "in", "not-in", "above", "below", "Patient"]
)
def test_token_unsupported_modifiers(modifier: str) -> None:
    err = error("Patient", [(f"identifier:{modifier}", "x")])
    assert err.issue_code == "not-supported"
    assert f":{modifier}" in err.diagnostics


def test_empty_modifier() -> None:
    assert "empty modifier" in error("Patient", [("identifier:", "x")]).diagnostics


# --------------------------------------------------------------------------- string


def test_string_default_is_normalised_prefix() -> None:
    assert criterion("Patient", "name", "  Ëlise   VAN ") == StringCriterion("name", ("elise van",))


def test_string_exact_keeps_value() -> None:
    assert criterion("Patient", "name:exact", "Ëlise  Van") == StringCriterion(
        "name", ("Ëlise  Van",), "exact"
    )


def test_string_contains_is_normalised() -> None:
    assert criterion("Patient", "name:contains", "ÉLI") == StringCriterion(
        "name", ("eli",), "contains"
    )


@pytest.mark.parametrize("modifier", ["text", "below", "not", "Patient"])
def test_string_unsupported_modifiers(modifier: str) -> None:
    assert error("Patient", [(f"name:{modifier}", "x")]).issue_code == "not-supported"


@pytest.mark.parametrize("value", [" ", "\u0301", "\t\n"])
def test_string_empty_after_normalising(value: str) -> None:
    assert "normalised" in error("Patient", [("name", value)]).diagnostics


# --------------------------------------------------------------------------- reference


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("subject", "123", ReferenceMatch(None, "123")),  # Group or Patient
        ("patient", "123", ReferenceMatch("Patient", "123")),  # the only target
        ("subject", "Patient/123", ReferenceMatch("Patient", "123")),
        ("subject", "Group/g.1", ReferenceMatch("Group", "g.1")),
        ("subject:Patient", "123", ReferenceMatch("Patient", "123")),
        ("subject:Patient", "Patient/123", ReferenceMatch("Patient", "123")),
        (
            "subject",
            "http://elsewhere.org/fhir/Patient/1",
            ReferenceMatch(None, None, url="http://elsewhere.org/fhir/Patient/1"),
        ),
        (
            "instantiates-canonical",
            "http://example.org/PlanDefinition/zlp|1.0",
            ReferenceMatch(None, None, url="http://example.org/PlanDefinition/zlp|1.0"),
        ),
        ("subject", "urn:uuid:abc", ReferenceMatch(None, None, url="urn:uuid:abc")),
    ],
)
def test_reference_forms(key: str, value: str, match: ReferenceMatch) -> None:
    code = key.partition(":")[0]
    assert criterion("CarePlan", key, value) == ReferenceCriterion(code, (match,))


def test_reference_on_this_server_becomes_local() -> None:
    assert criterion("CarePlan", "subject", f"{BASE}/Patient/7", base_url=BASE + "/") == (
        ReferenceCriterion("subject", (ReferenceMatch("Patient", "7"),))
    )


def test_reference_url_elsewhere_stays_a_url_with_base_set() -> None:
    url = "https://zlp.example/other/Patient/7"
    assert criterion("CarePlan", "subject", url, base_url=BASE) == ReferenceCriterion(
        "subject", (ReferenceMatch(None, None, url=url),)
    )


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("subject", "Practitioner/1", "not a target type"),
        ("subject", "Patient/", "not a valid resource id"),
        ("subject", "Patient/a b", "not a valid resource id"),
        ("subject", "a/b/c", "not an id, Type/id"),
        ("subject", "Patient/1/_history/2", "not an id, Type/id"),
        ("subject", "patient/1", "not a resource type"),
        ("subject", "x" * 65, "not a valid resource id"),
        ("subject:Patient", "Group/1", "not a Patient reference"),
        ("subject:Practitioner", "1", "not a target type"),
        ("subject", f"{BASE}/metadata", "not an id, Type/id"),
    ],
)
def test_reference_errors(key: str, value: str, fragment: str) -> None:
    err = error("CarePlan", [(key, value)], base_url=BASE)
    assert fragment in err.diagnostics
    assert err.expression == [key]


@pytest.mark.parametrize("modifier", ["patient", "above", "below", "exact", "text", "not"])
def test_reference_unsupported_modifiers(modifier: str) -> None:
    assert error("CarePlan", [(f"subject:{modifier}", "1")]).issue_code == "not-supported"


def test_reference_identifier() -> None:
    assert criterion(
        "CarePlan", "subject:identifier", "urn:oid:2.16.840.1.113883.2.4.6.3|1,|2"
    ) == (
        IdentifierCriterion(
            "subject",
            (TokenMatch("urn:oid:2.16.840.1.113883.2.4.6.3", "1"), TokenMatch("", "2")),
        )
    )


# --------------------------------------------------------------------------- chains


def test_chain_to_the_only_served_target() -> None:
    # subject targets Group and Patient; Group is not served, so only Patient remains.
    assert criterion("CarePlan", "subject.name", "Jan") == ChainCriterion(
        "subject", "Patient", StringCriterion("name", ("jan",))
    )


def test_chain_over_several_targets_is_any_of() -> None:
    # PractitionerRole has no "name": it is left out.
    assert criterion("Patient", "general-practitioner.name", "Zorg") == AnyOf(
        (
            ChainCriterion(
                "general-practitioner", "Practitioner", StringCriterion("name", ("zorg",))
            ),
            ChainCriterion(
                "general-practitioner", "Organization", StringCriterion("name", ("zorg",))
            ),
        )
    )


def test_chain_with_type_modifier() -> None:
    assert criterion("Patient", "general-practitioner:Organization.name:exact", "Zorg") == (
        ChainCriterion(
            "general-practitioner", "Organization", StringCriterion("name", ("Zorg",), "exact")
        )
    )


def test_chain_multiple_levels() -> None:
    assert criterion(
        "CarePlan", "subject:Patient.organization.identifier", "s|1"
    ) == ChainCriterion(
        "subject",
        "Patient",
        ChainCriterion(
            "organization", "Organization", TokenCriterion("identifier", (TokenMatch("s", "1"),))
        ),
    )


def test_chain_to_id_and_has() -> None:
    assert criterion("CarePlan", "subject._id", "p1") == ChainCriterion(
        "subject", "Patient", IdCriterion(("p1",))
    )
    assert criterion(
        "Goal", "subject:Patient._has:Observation:patient:code", "x"
    ) == ChainCriterion(
        "subject",
        "Patient",
        HasCriterion("Observation", "patient", TokenCriterion("code", (TokenMatch(None, "x"),))),
    )


def test_chain_without_targets_needs_a_type() -> None:
    assert ":Type" in error("Task", [("focus.name", "x")]).diagnostics
    assert criterion("Task", "focus:Patient.name", "x") == ChainCriterion(
        "focus", "Patient", StringCriterion("name", ("x",))
    )


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("organization.nope", "'nope' is not a search parameter of Organization"),
        ("general-practitioner.nope", "'nope' is not a search parameter of any target"),
        ("general-practitioner:Patient.name", "not a target type"),
        ("general-practitioner:identifier.name", "not supported"),
        ("general-practitioner:.name", "empty modifier"),
        ("name.family", "only references can be chained"),
        ("organization.", "nothing after '.'"),
        (".name", "'' is not a search parameter"),
        ("organization..name", "'' is not a search parameter"),
        ("nope.name", "'nope' is not a search parameter of Patient"),
    ],
)
def test_chain_errors(key: str, fragment: str) -> None:
    err = error("Patient", [(key, "x")])
    assert fragment in err.diagnostics
    assert err.expression == [key]


def test_chain_value_error_wins_over_unknown_targets() -> None:
    err = error("CarePlan", [("subject.birthdate", "2020-13")])
    assert "not a valid date" in err.diagnostics


def test_chain_depth_is_bounded() -> None:
    ok = "link." * MAX_DEPTH + "name"
    assert isinstance(criterion("Patient", ok, "x"), ChainCriterion)
    too_deep = "link." * (MAX_DEPTH + 1) + "name"
    assert "levels deep" in error("Patient", [(too_deep, "x")]).diagnostics
    assert "levels deep" in error("Patient", [("link." * 5000 + "name", "x")]).diagnostics


# --------------------------------------------------------------------------- _has


def test_has() -> None:
    assert criterion("Patient", "_has:Observation:patient:code", "1234-5") == HasCriterion(
        "Observation", "patient", TokenCriterion("code", (TokenMatch(None, "1234-5"),))
    )


def test_has_with_modifier_on_inner() -> None:
    assert criterion("Patient", "_has:Observation:patient:code:text", "Bloed") == HasCriterion(
        "Observation", "patient", TokenTextCriterion("code", ("bloed",))
    )


def test_has_nested() -> None:
    key = "_has:CarePlan:subject:_has:Provenance:target:agent"
    assert criterion("Patient", key, "Practitioner/1") == HasCriterion(
        "CarePlan",
        "subject",
        HasCriterion(
            "Provenance",
            "target",
            ReferenceCriterion("agent", (ReferenceMatch("Practitioner", "1"),)),
        ),
    )


@pytest.mark.parametrize(
    ("rtype", "key", "fragment"),
    [
        ("Patient", "_has", "_has needs the form"),
        ("Patient", "_has:", "_has needs the form"),
        ("Patient", "_has:Observation", "_has needs the form"),
        ("Patient", "_has:Observation:patient", "_has needs the form"),
        ("Patient", "_has:Observation:patient:", "_has needs the form"),
        ("Patient", "_has::patient:code", "_has needs the form"),
        ("Patient", "_has:Nope:patient:code", "'Nope' is not a resource type"),
        ("Patient", "_has:Observation:code:code", "not a reference"),
        (
            "Patient",
            "_has:Observation:nope:code",
            "'nope' is not a search parameter of Observation",
        ),
        ("Patient", "_has:Observation:patient:nope", "'nope' is not a search parameter"),
        ("CarePlan", "_has:Observation:patient:code", "cannot refer to a CarePlan"),
        ("Patient", "_has:Observation:patient:_has:Observation:patient:code", "cannot refer"),
    ],
)
def test_has_errors(rtype: str, key: str, fragment: str) -> None:
    err = error(rtype, [(key, "x")])
    assert fragment in err.diagnostics
    assert err.expression == [key]


# --------------------------------------------------------------------------- date


def test_date_concrete_range() -> None:
    year_2020 = (1_577_836_800_000_000, 1_609_459_200_000_000 - 1)
    assert criterion("Patient", "birthdate", "2020") == DateCriterion(
        "birthdate", (RangeMatch("eq", *year_2020),)
    )


@pytest.mark.parametrize("prefix", ["eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap"])
def test_date_prefixes(prefix: str) -> None:
    low, high = date_range("2024-03-01T10:00:00+01:00")
    assert criterion("CarePlan", "date", f"{prefix}2024-03-01T10:00:00+01:00") == DateCriterion(
        "date",
        (RangeMatch(prefix, low, high),),  # type: ignore[arg-type]
    )


def test_date_or() -> None:
    assert criterion("CarePlan", "date", "lt2020,ge2024-05") == DateCriterion(
        "date",
        (RangeMatch("lt", *date_range("2020")), RangeMatch("ge", *date_range("2024-05"))),
    )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("xx2020", "unknown prefix"),
        ("Ge2020", "unknown prefix"),
        ("ge", "no value after the prefix"),
        ("2020-13", "not a valid date"),
        ("2020-02-30", "not a valid date"),
        ("20", "not a valid date"),
        ("2024-01-01T10:00:00 01:00", "%2B"),
    ],
)
def test_date_errors(value: str, fragment: str) -> None:
    assert fragment in error("Patient", [("birthdate", value)]).diagnostics


@pytest.mark.parametrize("modifier", ["exact", "not", "below"])
def test_date_unsupported_modifiers(modifier: str) -> None:
    assert error("Patient", [(f"birthdate:{modifier}", "2020")]).issue_code == "not-supported"


def test_last_updated() -> None:
    request = parse("Patient", [("_lastUpdated", "ge2024-01-01"), ("_lastUpdated", "lt2025")])
    assert request.query.criteria == (
        LastUpdatedCriterion((RangeMatch("ge", *date_range("2024-01-01")),)),
        LastUpdatedCriterion((RangeMatch("lt", *date_range("2025")),)),
    )


@pytest.mark.parametrize(
    "key", ["_lastUpdated:missing", "_lastUpdated:exact", "_id:not", "_id:missing"]
)
def test_column_parameters_take_no_modifier(key: str) -> None:
    assert "takes no modifier" in error("Patient", [(key, "true")]).diagnostics


# --------------------------------------------------------------------------- number, quantity


def test_number_via_has() -> None:
    assert criterion("Patient", "_has:RiskAssessment:subject:probability", "gt0.5,100") == (
        HasCriterion(
            "RiskAssessment",
            "subject",
            NumberCriterion(
                "probability", (RangeMatch("gt", 0.45, 0.55), RangeMatch("eq", 99.5, 100.5))
            ),
        )
    )


@pytest.mark.parametrize(
    "value", ["abc", "1,5x", "0x10", "1e99999", "1e999999999999999999", "nan", "--1"]
)
def test_number_errors(value: str) -> None:
    err = error("Patient", [("_has:RiskAssessment:subject:probability", value)])
    assert err.issue_code == "invalid"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("5.4", QuantityMatch(RangeMatch("eq", 5.35, 5.45), None, None)),
        (
            "le5.4|http://unitsofmeasure.org|a",
            QuantityMatch(RangeMatch("le", 5.35, 5.45), "http://unitsofmeasure.org", "a"),
        ),
        ("5.4||a", QuantityMatch(RangeMatch("eq", 5.35, 5.45), None, "a")),
        (r"5||mg\|kg", QuantityMatch(RangeMatch("eq", 4.5, 5.5), None, "mg|kg")),
    ],
)
def test_quantity_forms(value: str, match: QuantityMatch) -> None:
    assert criterion("Condition", "onset-age", value) == QuantityCriterion("onset-age", (match,))


@pytest.mark.parametrize("value", ["5|a", "5|s|", "5||", "5|a|b|c", "abc||a", "xx5||a", "|s|a"])
def test_quantity_errors(value: str) -> None:
    assert error("Condition", [("onset-age", value)]).expression == ["onset-age"]


# --------------------------------------------------------------------------- uri, _id, meta


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        ("instantiates-uri", "exact"),
        ("instantiates-uri:below", "below"),
        ("instantiates-uri:above", "above"),
    ],
)
def test_uri_modes(key: str, mode: str) -> None:
    assert criterion("CarePlan", key, r"http://a/b,http://c/d\,e") == UriCriterion(
        "instantiates-uri",
        ("http://a/b", "http://c/d,e"),
        mode,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("modifier", ["contains", "exact", "not"])
def test_uri_unsupported_modifiers(modifier: str) -> None:
    assert error("CarePlan", [(f"instantiates-uri:{modifier}", "x")]).issue_code == "not-supported"


def test_id() -> None:
    assert criterion("Patient", "_id", "a-1,b.2") == IdCriterion(("a-1", "b.2"))


@pytest.mark.parametrize("value", ["a b", "x" * 65, "a/b", "é"])
def test_id_errors(value: str) -> None:
    assert "not a valid resource id" in error("Patient", [("_id", value)]).diagnostics


def test_meta_parameters_are_ordinary_registry_parameters() -> None:
    request = parse("Patient", [("_tag", "s|c"), ("_profile", "http://p"), ("_security:not", "R")])
    assert request.query.criteria == (
        TokenCriterion("_tag", (TokenMatch("s", "c"),)),
        UriCriterion("_profile", ("http://p",)),
        TokenCriterion("_security", (TokenMatch(None, "R"),), negate=True),
    )


# --------------------------------------------------------------------------- result parameters


def test_sort() -> None:
    request = parse("Patient", [("_sort", "name,-birthdate,-_lastUpdated,_id")])
    expected = (
        SortKey("name", kind="string"),
        SortKey("birthdate", True, "date"),
        SortKey("_lastUpdated", True),
        SortKey("_id"),
    )
    assert request.query.sort == expected
    assert request.sort == expected


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ([("_sort", "nope")], "cannot sort on 'nope'"),
        ([("_sort", ",name")], "empty sort key"),
        ([("_sort", "-")], "empty sort key"),
        ([("_sort", "name,-name")], "sorted on twice"),
        ([("_sort:asc", "name")], "takes no modifier"),
        ([("_sort", "name"), ("_sort", "birthdate")], "given more than once"),
    ],
)
def test_sort_errors(query: list[tuple[str, str]], fragment: str) -> None:
    assert fragment in error("Patient", query).diagnostics


@pytest.mark.parametrize(
    ("value", "count"),
    [("10", 10), ("0", 0), ("1000", 1000), ("5000", 1000), ("9" * 50, 1000), ("007", 7)],
)
def test_count(value: str, count: int) -> None:
    assert parse("Patient", [("_count", value)]).count == count


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "+5", " 5", "5 ", "٣", "1e3"])
def test_count_errors(value: str) -> None:
    assert "non-negative integer" in error("Patient", [("_count", value)]).diagnostics


def test_count_defaults_and_caps() -> None:
    assert parse("Patient", [], default_count=20).count == 20
    assert parse("Patient", [], default_count=20, max_count=10).count == 10
    assert parse("Patient", [("_count", "50")], max_count=30).count == 30


def test_other_result_parameters() -> None:
    request = parse(
        "Patient",
        [
            ("_total", "accurate"),
            ("_summary", "count"),
            ("_elements", "name, birthDate,name,Patient.gender,deceased[x]"),
            ("_cursor", "opaque:token/=="),
            ("_format", "json"),
            ("_pretty", "true"),
            ("_format", ""),
        ],
    )
    assert (request.total, request.summary, request.cursor) == (
        "accurate",
        "count",
        "opaque:token/==",
    )
    assert request.elements == ("name", "birthDate", "Patient.gender", "deceased[x]")
    assert request.ignored == ()
    assert request.query.criteria == ()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("_total", "all"),
        ("_summary", "yes"),
        ("_elements", "name,,x"),
        ("_elements", "na me"),
        ("_elements", "Patient.name.given"),
        ("_elements", "patient.name"),
        ("_elements", "name[y]"),
        ("_total:x", "none"),
        ("_cursor:x", "a"),
    ],
)
def test_result_parameter_errors(key: str, value: str) -> None:
    assert error("Patient", [(key, value)]).expression == [key]


@pytest.mark.parametrize(
    "key", ["_contained", "_containedType", "_text", "_content", "_list", "_query", "_filter"]
)
def test_refused_parameters(key: str) -> None:
    err = error("Patient", [(key, "x")])
    assert err.issue_code == "not-supported"
    assert "not supported" in err.diagnostics


def test_type_is_refused_at_type_level() -> None:
    assert "search across all types" in error("Patient", [("_type", "Patient")]).diagnostics


# --------------------------------------------------------------------------- _include / _revinclude


def test_include_forms() -> None:
    request = parse(
        "CarePlan",
        [
            ("_include", "CarePlan:subject"),
            ("_include", "CarePlan:subject:Patient"),
            ("_include:iterate", "Patient:general-practitioner"),
            ("_include", "CarePlan:subject"),  # duplicate: kept once
        ],
    )
    assert request.includes == (
        Include("CarePlan", "subject", None, False),
        Include("CarePlan", "subject", "Patient", False),
        Include("Patient", "general-practitioner", None, True),
    )


def test_include_wildcard_expands_to_reference_parameters() -> None:
    request = parse("CarePlan", [("_include", "CarePlan:*")])
    assert request.includes == tuple(
        Include("CarePlan", code)
        for code in ("subject", "patient", "goal", "instantiates-canonical")
    )
    request = parse("CarePlan", [("_include", "CarePlan:*:Patient")])
    assert request.includes == (
        Include("CarePlan", "subject", "Patient"),
        Include("CarePlan", "patient", "Patient"),
    )


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("_include", "Patient:organization", "use _include:iterate"),
        ("_include", "CarePlan:status", "not a reference"),
        ("_include", "CarePlan:nope", "'nope' is not a search parameter of CarePlan"),
        ("_include", "CarePlan:subject:Practitioner", "cannot refer to Practitioner"),
        ("_include", "CarePlan:*:Practitioner", "no reference parameter of CarePlan"),
        ("_include", "CarePlan:subject:patient", "not a resource type"),
        ("_include", "CarePlan", "is not Type:parameter"),
        ("_include", "CarePlan:", "is not Type:parameter"),
        ("_include", ":subject", "is not Type:parameter"),
        ("_include", "CarePlan:subject:Patient:x", "is not Type:parameter"),
        ("_include", "*", "is not Type:parameter"),
        ("_include", "Nope:subject", "'Nope' is not a resource type"),
        ("_include:recurse", "CarePlan:subject", "only :iterate"),
        ("_revinclude", "Provenance:target:Patient", "use _revinclude:iterate"),
        ("_revinclude", "Provenance:agent", "cannot refer to CarePlan"),
        ("_revinclude", "Practitioner:*", "Practitioner has no reference parameters"),
    ],
)
def test_include_errors(key: str, value: str, fragment: str) -> None:
    err = error("CarePlan", [(key, value)])
    assert fragment in err.diagnostics
    assert err.expression == [key]


def test_revinclude_forms() -> None:
    assert parse("CarePlan", [("_revinclude", "Provenance:target")]).revincludes == (
        Include("Provenance", "target"),
    )
    assert parse("Patient", [("_revinclude", "Provenance:*")]).revincludes == (
        Include("Provenance", "target"),
        Include("Provenance", "agent"),
    )
    assert parse(
        "Organization", [("_revinclude:iterate", "Provenance:target:Goal")]
    ).revincludes == (Include("Provenance", "target", "Goal", True),)
    assert "no reference parameter of Provenance can refer to Organization" in (
        error("Organization", [("_revinclude", "Provenance:*")]).diagnostics
    )


# --------------------------------------------------------------------------- system-level search


def test_system_search_defaults_to_all_types() -> None:
    request = parse(None, [("_id", "a")])
    assert request.query == SearchQuery(types=SUPPORTED_TYPES, criteria=(IdCriterion(("a",)),))


def test_system_search_type_restricts() -> None:
    request = parse(None, [("_type", "Patient,CarePlan,Patient"), ("_tag", "s|c")])
    assert request.query == SearchQuery(
        types=("Patient", "CarePlan"), criteria=(TokenCriterion("_tag", (TokenMatch("s", "c"),)),)
    )


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ([("_type", "Nope")], "'Nope' is not a resource type"),
        ([("_type", "Patient,")], "'' is not a resource type"),
        ([("_type", "Patient"), ("_type", "CarePlan")], "more than once"),
        ([("_type:x", "Patient")], "no modifier"),
        ([("name", "x")], "cannot be used in a search across all types"),
        ([("_has:Observation:patient:code", "x")], "cannot be used in a search across all types"),
        ([("_type", "Patient"), ("name", "x")], "cannot be used in a search across all types"),
        ([("_sort", "name")], "cannot sort on 'name'"),
        ([("_type", "CarePlan"), ("_include", "Patient:organization")], "use _include:iterate"),
    ],
)
def test_system_search_errors(query: list[tuple[str, str]], fragment: str) -> None:
    assert fragment in error(None, query).diagnostics


def test_system_search_result_parameters() -> None:
    request = parse(
        None,
        [
            ("_type", "CarePlan"),
            ("_lastUpdated", "gt2024"),
            ("_sort", "-_lastUpdated"),
            ("_include", "CarePlan:subject"),
            ("_count", "5"),
        ],
    )
    assert request.query == SearchQuery(
        types=("CarePlan",),
        criteria=(LastUpdatedCriterion((RangeMatch("gt", *date_range("2024")),)),),
        sort=(SortKey("_lastUpdated", True),),
    )
    assert request.includes == (Include("CarePlan", "subject"),)
    assert request.count == 5


def test_system_criteria_must_be_valid_for_every_type() -> None:
    partial = _registry(types=("Patient", "CarePlan"))  # other types lack _tag
    with pytest.raises(InvalidRequest) as info:
        parse_search(None, [("_tag", "x")], partial)
    assert "is not a search parameter of" in info.value.diagnostics
    request = parse_search(None, [("_type", "Patient,CarePlan"), ("_tag", "x")], partial)
    assert request.query.criteria == (TokenCriterion("_tag", (TokenMatch(None, "x"),)),)


# --------------------------------------------------------------------------- lenient


def test_lenient_drops_and_names_every_bad_parameter() -> None:
    request = parse(
        "Patient",
        [
            ("nope", "1"),
            ("name", "jan"),
            ("birthdate", "gisteren"),
            ("_count", "abc"),
            ("name:bogus", "x"),
            ("nope", "2"),
            ("_contained", "true"),
        ],
        lenient=True,
    )
    assert request.query.criteria == (StringCriterion("name", ("jan",)),)
    assert request.ignored == ("nope", "birthdate", "_count", "name:bogus", "_contained")
    assert request.count == 50


def test_lenient_type_falls_back_to_all_types() -> None:
    request = parse(None, [("_type", "Nope"), ("_id", "1")], lenient=True)
    assert request.query.types == SUPPORTED_TYPES
    assert request.ignored == ("_type",)


def test_lenient_keeps_first_of_repeated_result_parameter() -> None:
    request = parse("Patient", [("_count", "3"), ("_count", "4")], lenient=True)
    assert (request.count, request.ignored) == (3, ("_count",))


# --------------------------------------------------------------------------- fuzz

_PIECES = [
    "name", "subject", "general-practitioner", "link", "_has", "_id", "_lastUpdated", "_include",
    "_revinclude", "_sort", "_count", "_type", "_tag", "birthdate", "identifier", "Patient",
    "Observation", "patient", "code", "*", "missing", "exact", "iterate", ":", ".", "..", ":::",
    "|", "||", ",", "\\", "\\,", "$", "-", "ge", "eb", "1", "2020-01", "1e5", "http://x/Patient/1",
    "é", "\u0301", "\x00", "🙂", " ", "+", "/", "Patient/1", "true", "", "%2B", "\n",
]  # fmt: skip


def _fuzz_text(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return rng.choice(_PIECES) * rng.randint(100, 3000)
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 8)))


@pytest.mark.parametrize("rtype", ["Patient", "CarePlan", None])
def test_fuzz_raises_only_invalid_request(rtype: str | None) -> None:
    rng = random.Random(f"zorgleefplan-{rtype}")
    for _ in range(3000):
        query = [(_fuzz_text(rng), _fuzz_text(rng)) for _ in range(rng.randint(1, 3))]
        try:
            parse(rtype, query, base_url=BASE)
        except InvalidRequest as exc:
            assert exc.expression and exc.expression[0] in {k for k, _ in query}
        request = parse(rtype, query, lenient=True, base_url=BASE)
        assert set(request.ignored) <= {k for k, _ in query}


# --------------------------------------------------------------------------- real definitions

_HAVE_DEFINITIONS = (
    resources.files("zorgleefplan.definitions").joinpath("search_parameters.json").is_file()
)
needs_definitions = pytest.mark.skipif(
    not _HAVE_DEFINITIONS, reason="definitions/search_parameters.json not generated yet"
)


@needs_definitions
def test_default_registry_care_plan_search() -> None:
    request = parse_search(
        "CarePlan",
        [
            ("subject:Patient.name", "jan"),
            ("status", "active"),
            ("_include", "CarePlan:subject"),
            ("_revinclude", "Provenance:target"),
            ("_sort", "-date"),
        ],
        default_registry(),
    )
    assert request.query.criteria == (
        ChainCriterion("subject", "Patient", StringCriterion("name", ("jan",))),
        TokenCriterion("status", (TokenMatch(None, "active"),)),
    )
    assert request.includes == (Include("CarePlan", "subject"),)
    assert request.revincludes == (Include("Provenance", "target"),)
    assert request.sort == (SortKey("date", True, "date"),)


@needs_definitions
def test_default_registry_chain_skips_unserved_group() -> None:
    assert parse_search("CarePlan", [("subject.name", "x")], default_registry()).query.criteria == (
        ChainCriterion("subject", "Patient", StringCriterion("name", ("x",))),
    )


@needs_definitions
def test_default_registry_has_and_system_search() -> None:
    registry = default_registry()
    request = parse_search("Patient", [("_has:CarePlan:subject:status", "active")], registry)
    assert request.query.criteria == (
        HasCriterion(
            "CarePlan", "subject", TokenCriterion("status", (TokenMatch(None, "active"),))
        ),
    )
    request = parse_search(None, [("_tag", "s|c"), ("_profile:below", "http://p")], registry)
    assert request.query.types == SUPPORTED_TYPES
    assert request.query.criteria == (
        TokenCriterion("_tag", (TokenMatch("s", "c"),)),
        UriCriterion("_profile", ("http://p",), "below"),
    )
