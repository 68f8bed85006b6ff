"""The Subscription as clients write it: criteria a search of one served type, rest-hook with
an allowed endpoint, status requested or off; the server's error note dropped and the subscriber
recorded by the server, whatever the client sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.structuredefinition import StructureDefinition

from zorgleefplan.access.principal import Principal
from zorgleefplan.access.subscriber import (
    Subscriber,
    is_client_compartment,
    subscriber_compartment,
)
from zorgleefplan.errors import InvalidResource
from zorgleefplan.fhir.search.parameters import default_registry
from zorgleefplan.fhir.subscription.endpoint import AddressPolicy
from zorgleefplan.fhir.subscription.resource import accept, read_subscription
from zorgleefplan.plan.codes import EXT_SUBSCRIBER
from zorgleefplan.store.model import (
    ReferenceCriterion,
    ReferenceMatch,
    StoredVersion,
    TokenCriterion,
    TokenMatch,
)

REGISTRY = default_registry()
POLICY = AddressPolicy(allow_private=False)
BACKEND = Principal(
    kind="system",
    subject="ehr-1",
    client_id="ehr-1",
    organization="Organization/o1",
    scopes=frozenset({"system/*.rs"}),
)
CLIENT = Principal(
    kind="patient", subject="anna", fhir_user="Patient/p1", patient="p1", client_id="pgo"
)


def subscription(**changes: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "sync",
        "criteria": "Task?patient=Patient/p1&status=ready",
        "channel": {
            "type": "rest-hook",
            "endpoint": "https://ehr.example.org/fhir",
            "payload": "application/fhir+json",
            "header": ["Authorization: Bearer s3cret"],
        },
    }
    resource.update(changes)
    return resource


def channel(**changes: Any) -> dict[str, Any]:
    return {**subscription()["channel"], **changes}


def refused(resource: dict[str, Any]) -> InvalidResource:
    with pytest.raises(InvalidResource) as info:
        accept(resource, BACKEND, REGISTRY, POLICY)
    return info.value


@pytest.mark.parametrize(
    ("changes", "element", "message"),
    [
        ({"status": "active"}, "status", "requested or off"),
        ({"status": "error"}, "status", "requested or off"),
        ({"criteria": ""}, "criteria", "a search"),
        ({"criteria": "Observation?code=1"}, "criteria", "not served"),
        ({"criteria": "Subscription?status=active"}, "criteria", "not supported"),
        ({"criteria": "AuditEvent?patient=p1"}, "criteria", "not supported"),
        ({"criteria": "Task?_sort=date"}, "criteria", "result parameter _sort"),
        ({"criteria": "Task?_include=Task:patient"}, "criteria", "result parameter"),
        ({"criteria": "Task?_count=5"}, "criteria", "result parameter"),
        ({"criteria": "Task?nonsense=1"}, "criteria", "nonsense"),
        ({"criteria": "Task?authored-on=notadate"}, "criteria", "authored-on"),
        ({"channel": None}, "channel", "required"),
        ({"channel": channel(type="websocket")}, "channel.type", "rest-hook only"),
        ({"channel": channel(payload="application/fhir+xml")}, "channel.payload", "absent"),
        ({"channel": channel(endpoint="ftp://x.example.org")}, "channel.endpoint", "https:"),
        ({"channel": channel(endpoint="http://ehr.example.org")}, "channel.endpoint", "https"),
        (
            {"channel": channel(endpoint="https://169.254.169.254/latest")},
            "channel.endpoint",
            "link-local",
        ),
        ({"channel": channel(endpoint="https://127.0.0.1/")}, "channel.endpoint", "loopback"),
        ({"channel": channel(header=["no colon"])}, "channel.header[0]", "Name: value"),
        ({"channel": channel(header=["X-A: 1", "Host: evil"])}, "channel.header[1]", "Host"),
        ({"channel": channel(header=["X-A: a\rb"])}, "channel.header[0]", "Name: value"),
    ],
)
def test_refused(changes: dict[str, Any], element: str, message: str) -> None:
    error = refused(subscription(**changes))
    assert error.expression == [f"Subscription.{element}"]
    assert message in error.diagnostics


@pytest.mark.parametrize(
    "criteria",
    [
        "Task",
        "Task?",
        "Goal?subject=Patient/p1",
        "Patient?_has:Goal:patient:lifecycle-status=active",
        "Task?_id=t1",
    ],
)
def test_criteria_accepted(criteria: str) -> None:
    accept(subscription(criteria=criteria), BACKEND, REGISTRY, POLICY)


def test_accept_drops_error_and_records_the_writer_as_subscriber() -> None:
    forged = {
        "url": EXT_SUBSCRIBER,
        "extension": [
            {"url": "kind", "valueCode": "development"},
            {"url": "subject", "valueString": "x"},
        ],
    }
    other = {"url": "https://example.org/ext", "valueString": "kept"}
    written = accept(
        subscription(error="old news", extension=[forged, other]), BACKEND, REGISTRY, POLICY
    )
    assert "error" not in written
    assert written["extension"][0] == other
    (recorded,) = (e for e in written["extension"] if e["url"] == EXT_SUBSCRIBER)
    assert recorded["extension"] == [
        {"url": "kind", "valueCode": "system"},
        {"url": "subject", "valueString": "ehr-1"},
        {"url": "client", "valueString": "ehr-1"},
        {"url": "organization", "valueString": "Organization/o1"},
        {"url": "scope", "valueString": "system/*.rs"},
    ]


def test_read_back_for_delivery() -> None:
    written = accept(subscription(end="2030-01-01T00:00:00Z"), BACKEND, REGISTRY, POLICY)
    stored = StoredVersion(
        "Subscription",
        "s1",
        3,
        None,
        False,
        orjson.dumps(written),
        seq=42,  # type: ignore[arg-type]
    )
    spec = read_subscription(stored, REGISTRY, POLICY)
    assert (spec.id, spec.version, spec.seq, spec.status) == ("s1", 3, 42, "requested")
    assert spec.end is not None and spec.end.year == 2030
    assert spec.criteria.type == "Task"
    assert spec.criteria.query.criteria == (
        ReferenceCriterion("patient", (ReferenceMatch("Patient", "p1"),)),
        TokenCriterion("status", (TokenMatch(None, "ready"),)),
    )
    assert spec.channel.payload and spec.channel.headers == (("Authorization", "Bearer s3cret"),)
    assert spec.channel.endpoint.host == "ehr.example.org"
    assert spec.subscriber == Subscriber.of(BACKEND)
    assert spec.subscriber.principal().organization == "Organization/o1"


def test_no_payload_means_an_empty_notification() -> None:
    written = accept(subscription(channel=channel(payload=None)), CLIENT, REGISTRY, POLICY)
    stored = StoredVersion("Subscription", "s1", 1, None, False, orjson.dumps(written))  # type: ignore[arg-type]
    assert not read_subscription(stored, REGISTRY, POLICY).channel.payload


def test_subscriptions_belong_to_the_client_or_to_a_compartment_of_their_own() -> None:
    assert subscriber_compartment(CLIENT) == "p1"
    own = subscriber_compartment(BACKEND)
    assert own == "subscriber:ehr-1:Organization/o1:ehr-1" and not is_client_compartment(own)
    holder = Principal(
        kind="related-person",
        subject="bob",
        fhir_user="RelatedPerson/r1",
        patient="p1",
        client_id="pgo",
    )
    assert subscriber_compartment(holder) == "subscriber:pgo:RelatedPerson/r1:bob"
    assert is_client_compartment("p1") and not is_client_compartment(None)


def test_the_subscriber_extension_is_defined_in_profiles() -> None:
    """profiles/ defines the extension the server writes, with one slice per recorded fact."""
    path = Path(__file__).resolve().parents[3] / "profiles" / "StructureDefinition-subscriber.json"
    definition = orjson.loads(path.read_bytes())
    StructureDefinition.model_validate(definition)
    assert definition["url"] == EXT_SUBSCRIBER
    slices = {e["sliceName"] for e in definition["differential"]["element"] if "sliceName" in e}
    written = accept(subscription(), BACKEND, REGISTRY, POLICY)
    (recorded,) = (e for e in written["extension"] if e["url"] == EXT_SUBSCRIBER)
    assert {part["url"] for part in recorded["extension"]} <= slices
    assert slices == {"kind", "subject", "client", "fhirUser", "patient", "organization", "scope"}
