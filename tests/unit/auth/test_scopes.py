"""SMART scopes (zorgleefplan.auth.scopes) and data-service scopes (auth.data_services)."""

from __future__ import annotations

import pytest

from zorgleefplan.auth import data_services
from zorgleefplan.auth.data_services import (
    DataServiceRegistry,
    UnknownDataService,
    describe,
    describe_scopes,
    expand,
)
from zorgleefplan.auth.scopes import (
    INTERACTION_LETTERS,
    ResourceScope,
    ScopeSet,
    letter_for,
    parse_resource_scope,
)
from zorgleefplan.errors import InsufficientScope
from zorgleefplan.fhir.resource_types import SUPPORTED

# --- parsing single scopes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("patient/CarePlan.rs", ResourceScope("patient", "CarePlan", "rs")),
        ("user/*.cruds", ResourceScope("user", "*", "cruds")),
        ("system/Task.u", ResourceScope("system", "Task", "u")),
        ("patient/Goal.c", ResourceScope("patient", "Goal", "c")),
        ("patient/Goal.cd", ResourceScope("patient", "Goal", "cd")),
        # v1 forms normalise to v2 letters
        ("patient/CarePlan.read", ResourceScope("patient", "CarePlan", "rs")),
        ("user/Task.write", ResourceScope("user", "Task", "cud")),
        ("system/*.*", ResourceScope("system", "*", "cruds")),
        ("patient/Consent.*", ResourceScope("patient", "Consent", "cruds")),
    ],
)
def test_resource_scopes_parse(scope: str, expected: ResourceScope) -> None:
    assert parse_resource_scope(scope) == expected


@pytest.mark.parametrize(
    "scope",
    [
        "patient/CarePlan.sr",  # letters out of order
        "patient/CarePlan.rr",  # repeated letter
        "patient/CarePlan.rsx",  # unknown letter
        "patient/CarePlan.",  # no permission
        "patient/CarePlan",
        "patient/CarePlan.READ",
        "patient/CarePlan.reads",
        "Patient/CarePlan.rs",  # contexts are lower case
        "practitioner/CarePlan.rs",  # no such context
        "organization/*.read",
        "patient/carePlan.rs",  # resource types start upper case
        "patient/Care Plan.rs",
        "patient/**.rs",
        "/CarePlan.rs",
        "patient/CarePlan.rs?category=x",  # granular: never granted
        "patient/CarePlan.read?category=x",
        "",
    ],
)
def test_not_resource_scopes(scope: str) -> None:
    assert parse_resource_scope(scope) is None


# --- scope sets ----------------------------------------------------------------------------


def test_scope_set_permits_by_type_and_letter() -> None:
    scopes = ScopeSet.parse("patient/CarePlan.rs patient/Goal.cu openid")
    assert scopes.permits("CarePlan", "r")
    assert scopes.permits("CarePlan", "s")
    assert not scopes.permits("CarePlan", "u")
    assert not scopes.permits("CarePlan", "c")
    assert scopes.permits("Goal", "c")
    assert scopes.permits("Goal", "u")
    assert not scopes.permits("Goal", "r")
    assert not scopes.permits("Task", "r")
    assert scopes.types_for("r") == frozenset({"CarePlan"})
    assert scopes.types_for("c") == frozenset({"Goal"})
    assert scopes.types_for("d") == frozenset()
    assert scopes.contexts == frozenset({"patient"})
    assert scopes.other == frozenset({"openid"})
    assert scopes.unknown == frozenset()


def test_wildcard_type_grants_every_type_for_its_letters_only() -> None:
    scopes = ScopeSet.parse("user/*.rs patient/Task.u")
    assert scopes.types_for("r") is None
    assert scopes.types_for("s") is None
    assert scopes.types_for("u") == frozenset({"Task"})
    assert scopes.permits("AuditEvent", "r")
    assert not scopes.permits("AuditEvent", "u")
    assert scopes.contexts == frozenset({"user", "patient"})


def test_v1_and_v2_scopes_grant_the_same() -> None:
    v1 = ScopeSet.parse("patient/CarePlan.read patient/Goal.write patient/Task.*")
    v2 = ScopeSet.parse("patient/CarePlan.rs patient/Goal.cud patient/Task.cruds")
    for letter in "cruds":
        assert v1.types_for(letter) == v2.types_for(letter)


def test_unknown_and_granular_scopes_grant_nothing_but_are_reported() -> None:
    scopes = ScopeSet.parse(
        "patient/CarePlan.rs?category=assess-plan patient/Goal.sr bogus user/Task.rs "
        "launch/encounter practitioner/*.read"
    )
    assert scopes.unsupported == frozenset({"patient/CarePlan.rs?category=assess-plan"})
    assert scopes.unknown == frozenset(
        {"patient/Goal.sr", "bogus", "launch/encounter", "practitioner/*.read"}
    )
    assert scopes.invalid == scopes.unknown | scopes.unsupported
    # The granular scope does not widen into the whole type.
    assert not scopes.permits("CarePlan", "r")
    assert not scopes.permits("Goal", "s")
    assert scopes.permits("Task", "r")
    assert scopes.contexts == frozenset({"user"})


def test_non_resource_scopes_are_kept_apart() -> None:
    scopes = ScopeSet.parse("openid fhirUser launch launch/patient offline_access")
    assert scopes.other == frozenset(
        {"openid", "fhirUser", "launch", "launch/patient", "offline_access"}
    )
    assert scopes.resource == ()
    assert scopes.contexts == frozenset()
    assert not scopes.permits("Patient", "r")
    assert scopes.invalid == frozenset()


def test_empty_and_repeated_whitespace() -> None:
    assert ScopeSet.parse("").scopes == frozenset()
    scopes = ScopeSet.parse("  patient/Goal.r \t patient/Goal.r\n")
    assert scopes.scopes == frozenset({"patient/Goal.r"})
    assert scopes.permits("Goal", "r")


def test_parsing_is_cached_per_scope_string() -> None:
    text = "patient/CarePlan.rs patient/Task.cu"
    assert ScopeSet.parse(text) is ScopeSet.parse(text)


def test_unknown_letter_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="permission letter"):
        ScopeSet.parse("user/*.cruds").permits("CarePlan", "x")


def test_require_raises_insufficient_scope_naming_what_would_do() -> None:
    scopes = ScopeSet.parse("patient/CarePlan.rs")
    scopes.require("CarePlan", "r")
    with pytest.raises(InsufficientScope) as caught:
        scopes.require("CarePlan", "u")
    assert caught.value.status_hint == 403
    assert caught.value.scope == "patient/CarePlan.u"
    assert caught.value.www_authenticate == (
        'Bearer realm="zorgleefplan", error="insufficient_scope", scope="patient/CarePlan.u"'
    )


@pytest.mark.parametrize(
    ("interaction", "letter"),
    [
        ("read", "r"),
        ("vread", "r"),
        ("history-instance", "r"),
        ("search-type", "s"),
        ("history-type", "s"),
        ("create", "c"),
        ("update", "u"),
        ("patch", "u"),
        ("delete", "d"),
    ],
)
def test_interaction_letters(interaction: str, letter: str) -> None:
    assert letter_for(interaction) == letter


def test_unmapped_interaction_is_refused() -> None:
    assert set(INTERACTION_LETTERS.values()) == set("cruds")
    with pytest.raises(ValueError, match="capabilities"):
        letter_for("capabilities")


# --- data-service scopes -------------------------------------------------------------------


def test_shipped_registry_uses_only_served_types() -> None:
    registry = data_services.data_services()
    assert registry.services, "the registry ships with data services"
    for service in registry.services.values():
        assert service.name and service.description
        for scope in service.scopes:
            parsed = parse_resource_scope(scope)
            assert parsed is not None and parsed.context == "patient"
            assert parsed.resource_type in SUPPORTED, scope


def test_expand_replaces_data_service_scopes_and_keeps_the_rest() -> None:
    registry = data_services.data_services()
    read_plan = registry.services["1"]
    expanded = expand("zorgleefplan~1 offline_access patient/CarePlan.rs", "zorgleefplan")
    parts = expanded.split()
    assert parts[: len(read_plan.scopes)] == list(read_plan.scopes)
    assert parts.count("patient/CarePlan.rs") == 1  # duplicates dropped
    assert parts[-1] == "offline_access"
    granted = ScopeSet.parse(expanded)
    assert granted.invalid == frozenset()
    for resource_type in ("CarePlan", "CareTeam", "Goal", "Consent", "Task", "Patient"):
        assert granted.permits(resource_type, "r")
        assert not granted.permits(resource_type, "u")


def test_expand_uses_the_configured_service_id() -> None:
    assert "patient/AuditEvent.rs" in expand("mijnzorg~4", "mijnzorg").split()
    with pytest.raises(UnknownDataService, match="another service"):
        expand("zorgleefplan~4", "mijnzorg")


@pytest.mark.parametrize("scope", ["zorgleefplan~999", "zorgleefplan~", "zorgleefplan~1~2"])
def test_expand_refuses_unknown_data_services(scope: str) -> None:
    with pytest.raises(UnknownDataService, match="unknown data service"):
        expand(f"openid {scope}", "zorgleefplan")


def test_registry_refuses_invalid_entries() -> None:
    entry = {"id": "1", "name": "n", "description": "d", "scopes": ["patient/Goal.rs"]}
    DataServiceRegistry.from_json({"services": [entry]})
    with pytest.raises(ValueError, match="repeated"):
        DataServiceRegistry.from_json({"services": [entry, entry]})
    with pytest.raises(ValueError, match="invalid SMART scope"):
        DataServiceRegistry.from_json({"services": [{**entry, "scopes": ["patient/Goal.sr"]}]})
    with pytest.raises(ValueError, match="invalid SMART scope"):
        DataServiceRegistry.from_json({"services": [{**entry, "scopes": ["openid"]}]})


def test_describe_names_data_services_and_long_term_access() -> None:
    registry = data_services.data_services()
    lines = describe("zorgleefplan~1 zorgleefplan~2 openid offline_access", "zorgleefplan")
    assert lines == [
        registry.services["1"].description,
        registry.services["2"].description,
        "Bevestigen wie u bent",
        "Langdurige toegang (ook als u niet ingelogd bent)",
    ]


def test_describe_smart_scopes_in_plain_dutch() -> None:
    lines = describe_scopes(
        ScopeSet.parse(
            "patient/CarePlan.rs patient/Goal.rs patient/Goal.cu patient/Task.d "
            "user/*.read system/Observation.rs launch/patient launch bogus"
        )
    )
    assert lines == [
        "Alle gegevens inzien van de cliënten voor wie u werkt",
        "Uw zorgleefplan inzien",
        "Uw doelen inzien, toevoegen en wijzigen",
        "Uw afspraken en taken verwijderen",
        "Observation-gegevens inzien namens uw organisatie",
        "Weten over welke cliënt het gaat",
    ]


def test_describe_refuses_unknown_data_services() -> None:
    with pytest.raises(UnknownDataService):
        describe("zorgleefplan~42", "zorgleefplan")
