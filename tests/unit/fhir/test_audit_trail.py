"""Which interaction a request is, for the audit trail, and one record per client touched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from zorgleefplan.access.policy import AccessDecision
from zorgleefplan.access.principal import Principal
from zorgleefplan.fhir.audit_trail import interaction_code, records_for
from zorgleefplan.store.model import AccessConstraint, StoredVersion


@pytest.mark.parametrize(
    ("method", "path", "body_type", "code"),
    [
        ("GET", "", None, "search-system"),
        ("POST", "", "transaction", "transaction"),
        ("POST", "", "batch", "batch"),
        ("POST", "_search", None, "search-system"),
        ("GET", "_history", None, "history-system"),
        ("GET", "Goal", None, "search-type"),
        ("POST", "Goal", None, "create"),
        ("PUT", "Goal", None, "update"),
        ("PATCH", "Goal", None, "patch"),
        ("DELETE", "Goal", None, "delete"),
        ("POST", "Goal/_search", None, "search-type"),
        ("GET", "Goal/_history", None, "history-type"),
        ("GET", "Goal/g1", None, "read"),
        ("PUT", "Goal/g1", None, "update"),
        ("PATCH", "Goal/g1", None, "patch"),
        ("DELETE", "Goal/g1", None, "delete"),
        ("GET", "Goal/g1/_history", None, "history-instance"),
        ("GET", "Goal/g1/_history/2", None, "vread"),
        ("GET", "Patient/p1/$everything", None, "operation"),
        ("POST", "CarePlan/$validate", None, "operation"),
        ("GET", "CarePlan/c1/$summary", None, "operation"),
    ],
)
def test_interaction_codes(method: str, path: str, body_type: str | None, code: str) -> None:
    assert interaction_code(method, path, body_type) == code


def _stored(type_: str, id_: str, compartment: str | None) -> StoredVersion:
    return StoredVersion(
        type_, id_, 1, datetime(2026, 1, 1, tzinfo=UTC), False, b"{}", 0, "PUT", compartment
    )


def test_one_record_per_client_touched_and_shared_data_in_none() -> None:
    principal = Principal("system", "epd", organization="Organization/o1", client_id="epd")
    decision = AccessDecision(principal, AccessConstraint(grants=()))
    touched = [
        _stored("Goal", "a", "p1"),
        _stored("Goal", "b", "p2"),
        _stored("Goal", "c", "p1"),
        _stored("Practitioner", "d", None),
    ]
    records = records_for(decision, "search-type", [("status", "active")], touched, status=200)
    by_client = {r.patient: r for r in records}
    assert set(by_client) == {"p1", "p2"}
    assert by_client["p1"].entities == ("Goal/a/_history/1", "Goal/c/_history/1")
    assert by_client["p1"].query == "status=active" and by_client["p1"].action == "E"
    assert by_client["p1"].who == "Organization/o1" and by_client["p1"].client_id == "epd"
    refused = records_for(decision, "read", [], [], status=404)
    assert [(r.patient, r.outcome) for r in refused] == [(None, "4")]
