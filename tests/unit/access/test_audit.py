"""Audit records: the AuditEvent rendering field by field (valid per the R4B model), and the
batching recorder (one store call per batch, durable before ``record`` returns, every waiter
refused when the store fails)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from pydantic import ValidationError

from zorgleefplan.access.audit import (
    BASIS_URL,
    CLIENT_ID_SYSTEM,
    EMERGENCY_URL,
    ON_BEHALF_OF_URL,
    USERNAME_SYSTEM,
    AuditLog,
    AuditRecord,
    from_row,
    render_row,
    to_audit_event,
    to_row,
)
from zorgleefplan.config import AUDIT_RETENTION_FLOOR, Settings
from zorgleefplan.errors import StoreUnavailable
from zorgleefplan.store.model import AuditRow
from zorgleefplan.store.sqlite import SqliteStore

WHEN = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)

PROXY_READ = AuditRecord(
    action="R",
    subtype="search-type",
    outcome="0",
    outcome_description="3 matches",
    who="RelatedPerson/r1",
    who_display="Bram de Vries",
    role="HPOWATT",
    client_id="mijn-app",
    patient="p1",
    on_behalf_of="Patient/p1",
    entities=("CarePlan/c1/_history/2", "Goal/g1"),
    query="CarePlan?patient=p1&status=active",
    purpose_of_use=("TREAT",),
    basis=("volmacht Consent/v1",),
    recorded=WHEN,
)
EMERGENCY = AuditRecord(
    action="R",
    subtype="break-the-glass",
    who="PractitionerRole/pr1",
    who_display="dr. Jansen",
    role="PractitionerRole/pr1",
    organization="Organization/o1",
    client_id="ehr",
    patient="p2",
    entities=("Condition/x",),
    purpose_of_use=("ETREAT",),
    basis=("break-the-glass",),
    emergency=True,
    recorded=WHEN,
)
FAILED_LOGIN = AuditRecord(
    action="E",
    subtype="login",
    outcome="4",
    outcome_description="login failed",
    who="anna",
    recorded=WHEN,
)
ERASURE = AuditRecord(
    action="D",
    subtype="erase",
    who="RelatedPerson/mentor",
    client_id="mijn-app",
    patient="p3",
    on_behalf_of="Patient/p3",
    basis=("representative RelatedPerson/mentor",),
    details=(("CarePlan", "1"), ("Goal", "3"), ("versions", "9")),
    recorded=WHEN,
)
SAMPLES = [PROXY_READ, EMERGENCY, FAILED_LOGIN, ERASURE]


def codes(concepts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concepts]


@pytest.mark.parametrize(
    "record", SAMPLES, ids=["proxy-read", "emergency", "failed-login", "erasure"]
)
def test_samples_are_valid_r4_audit_events(record: AuditRecord) -> None:
    event = to_audit_event(record, "a1")
    AuditEvent.model_validate(event)
    # The stored form is the record itself, compact; it renders as the same event.
    row = to_row(record, "a1")
    assert from_row(row) == record
    assert orjson.loads(render_row(row)) == event
    assert len(row.body) < len(orjson.dumps(event)) / 2
    assert row.recorded == int(WHEN.timestamp() * 1_000_000) and row.patient == record.patient


def test_the_validation_would_catch_a_broken_event() -> None:
    event = to_audit_event(PROXY_READ, "a1")
    del event["agent"][0]["requestor"]
    with pytest.raises(ValidationError):
        AuditEvent.model_validate(event)


def test_a_rest_event_field_by_field() -> None:
    e = to_audit_event(PROXY_READ, "a1")
    assert e["resourceType"] == "AuditEvent" and e["id"] == "a1"
    assert e["type"]["code"] == "rest"
    assert e["type"]["system"] == "http://terminology.hl7.org/CodeSystem/audit-event-type"
    assert codes(e["subtype"]) == [("http://hl7.org/fhir/restful-interaction", "search-type")]
    assert e["action"] == "R"
    assert e["recorded"] == "2025-03-04T05:06:07.123456Z" == e["meta"]["lastUpdated"]
    assert (e["outcome"], e["outcomeDesc"]) == ("0", "3 matches")
    purpose = [("http://terminology.hl7.org/CodeSystem/v3-ActReason", "TREAT")]
    assert codes([c["coding"][0] for c in e["purposeOfEvent"]]) == purpose
    # who: the proxy, as requestor, acting for the client, in their role
    person, app = e["agent"]
    assert person["requestor"] is True
    assert person["who"] == {"reference": "RelatedPerson/r1", "display": "Bram de Vries"}
    assert person["name"] == "Bram de Vries"
    assert person["role"][0]["coding"][0]["code"] == "HPOWATT"
    assert {"url": ON_BEHALF_OF_URL, "valueReference": {"reference": "Patient/p1"}} in person[
        "extension"
    ]
    assert codes([c["coding"][0] for c in person["purposeOfUse"]]) == purpose
    # the app
    assert app["requestor"] is False
    assert app["type"]["coding"][0]["code"] == "110150"
    assert app["who"]["identifier"] == {"system": CLIENT_ID_SYSTEM, "value": "mijn-app"}
    assert e["source"]["site"] == "zorgleefplan"
    assert e["source"]["observer"]["display"] == "zorgleefplan"
    # which client, which data, which query
    patient, plan, goal, query = e["entity"]
    assert patient["what"] == {"reference": "Patient/p1"}
    assert (patient["role"]["code"], patient["type"]["code"]) == ("1", "1")
    assert plan["what"] == {"reference": "CarePlan/c1/_history/2"} and plan["role"]["code"] == "4"
    assert goal["what"] == {"reference": "Goal/g1"} and goal["role"]["code"] == "4"
    assert query["role"]["code"] == "24" and "what" not in query
    assert base64.b64decode(query["query"]).decode() == "CarePlan?patient=p1&status=active"
    # why: the decision basis
    assert e["extension"] == [{"url": BASIS_URL, "valueString": "volmacht Consent/v1"}]


def test_an_emergency_access_names_organisation_basis_and_emergency() -> None:
    e = to_audit_event(EMERGENCY, "a2")
    assert e["type"]["code"] == "rest"
    assert e["subtype"][0]["code"] == "break-the-glass"
    assert {"url": EMERGENCY_URL, "valueBoolean": True} in e["extension"]
    assert {"url": BASIS_URL, "valueString": "break-the-glass"} in e["extension"]
    assert e["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    person, organisation, app = e["agent"]
    assert person["who"]["reference"] == "PractitionerRole/pr1"
    assert person["extension"][0]["valueReference"] == {"reference": "PractitionerRole/pr1"}
    assert organisation == {
        "type": organisation["type"],
        "who": {"reference": "Organization/o1"},
        "requestor": False,
    }
    assert app["who"]["identifier"]["value"] == "ehr"
    assert e["entity"][0]["what"]["reference"] == "Patient/p2"


def test_an_erasure_says_what_went_in_counts_on_the_client_entity() -> None:
    e = to_audit_event(ERASURE, "a4")
    assert e["action"] == "D" and e["type"]["code"] == "rest"
    assert codes(e["subtype"]) == [
        ("https://zorgleefplan.nl/fhir/CodeSystem/audit-event-subtype", "erase")
    ]
    (patient,) = e["entity"]
    assert patient["what"] == {"reference": "Patient/p3"}
    assert patient["detail"] == [
        {"type": "CarePlan", "valueString": "1"},
        {"type": "Goal", "valueString": "3"},
        {"type": "versions", "valueString": "9"},
    ]


def test_a_login_is_a_user_authentication_event_with_the_username() -> None:
    e = to_audit_event(FAILED_LOGIN, "a3")
    assert (e["type"]["system"], e["type"]["code"]) == (
        "http://dicom.nema.org/resources/ontology/DCM",
        "110114",
    )
    assert ("http://dicom.nema.org/resources/ontology/DCM", "110122") in codes(e["subtype"])
    assert (e["action"], e["outcome"], e["outcomeDesc"]) == ("E", "4", "login failed")
    assert e["agent"][0]["who"] == {"identifier": {"system": USERNAME_SYSTEM, "value": "anna"}}
    assert "entity" not in e and "extension" not in e
    assert "password" not in orjson.dumps(e).decode().lower()


def test_retention_has_a_five_year_floor() -> None:
    assert Settings().audit_retention_days == AUDIT_RETENTION_FLOOR == 5 * 365 + 2
    with pytest.raises(ValidationError):
        Settings(audit_retention_days=5 * 365)
    assert Settings(audit_retention_days=3650).audit_retention_days == 3650


# --------------------------------------------------------------------------- the recorder


class CountingStore:
    """A store double: counts appends and keeps what was appended (optionally failing)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls = 0
        self.batches: list[list[AuditRow]] = []

    async def append_audit(self, rows: Sequence[AuditRow]) -> None:
        self.calls += 1
        await asyncio.sleep(0.005)  # a commit takes time: records queue meanwhile
        if self.fail:
            raise StoreUnavailable("disk full")
        self.batches.append(list(rows))


def record_for(i: int) -> AuditRecord:
    return AuditRecord(action="R", subtype="read", patient="p1", entities=(f"Goal/g{i}",))


async def test_concurrent_records_go_in_fewer_batches_and_each_is_durable_on_return() -> None:
    store = CountingStore()
    audit = AuditLog(store)  # type: ignore[arg-type]
    durable_at_return: list[bool] = []

    async def one(i: int) -> None:
        await audit.record(record_for(i))
        stored = {r.body for batch in store.batches for r in batch}
        durable_at_return.append(any(f'Goal/g{i}"'.encode() in b for b in stored))

    await asyncio.gather(*(one(i) for i in range(50)))
    assert len(durable_at_return) == 50 and all(durable_at_return)
    assert store.calls < 50
    assert store.calls == len(store.batches) == audit.batches
    assert sum(len(b) for b in store.batches) == 50
    assert len({r.id for b in store.batches for r in b}) == 50


async def test_records_arriving_during_a_write_go_in_the_next_batch() -> None:
    store = CountingStore()
    audit = AuditLog(store)  # type: ignore[arg-type]
    first = asyncio.create_task(audit.record(record_for(0)))
    await asyncio.sleep(0.001)  # the first batch (of one) is being written
    await asyncio.gather(first, *(audit.record(record_for(i)) for i in range(1, 11)))
    assert [len(b) for b in store.batches] == [1, 10]


async def test_one_requests_records_are_written_together_and_none_is_a_no_op() -> None:
    store = CountingStore()
    audit = AuditLog(store)  # type: ignore[arg-type]
    await audit.record_all([record_for(1), record_for(2), record_for(3)])
    assert [len(b) for b in store.batches] == [3]
    await asyncio.wait_for(audit.record_all([]), timeout=1)
    assert store.calls == 1


async def test_a_failing_store_makes_every_waiter_raise() -> None:
    store = CountingStore(fail=True)
    audit = AuditLog(store)  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(audit.record(record_for(i)) for i in range(20)), return_exceptions=True
    )
    assert len(results) == 20
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert all(r.status_hint == 503 for r in results if isinstance(r, StoreUnavailable))
    # The recorder recovers when the store does.
    store.fail = False
    await audit.record(record_for(99))
    assert len(store.batches) == 1


async def test_a_cancelled_request_does_not_cancel_the_batch() -> None:
    store = CountingStore()
    audit = AuditLog(store)  # type: ignore[arg-type]
    doomed = asyncio.create_task(audit.record(record_for(1)))
    others = [asyncio.create_task(audit.record(record_for(i))) for i in range(2, 5)]
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.gather(*others)
    assert sum(len(b) for b in store.batches) == 4  # the cancelled request's record too


async def test_records_reach_sqlite_and_retention_purges_only_old_ones(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "audit.sqlite3")
    try:
        audit = AuditLog(store, retention_days=AUDIT_RETENTION_FLOOR)
        now = datetime.now(UTC)
        old = now - timedelta(days=AUDIT_RETENTION_FLOOR + 1)
        young = now - timedelta(days=AUDIT_RETENTION_FLOOR - 1)
        await asyncio.gather(
            audit.record(AuditRecord(action="R", subtype="read", patient="p1", recorded=old)),
            audit.record(AuditRecord(action="R", subtype="read", patient="p1", recorded=young)),
        )
        rows, _ = await store.audit_page("p1", None, 10)
        assert len(rows) == 2
        assert await audit.purge_expired(now) == 1
        rows, _ = await store.audit_page("p1", None, 10)
        assert [orjson.loads(render_row(r))["recorded"][:10] for r in rows] == [
            young.date().isoformat()
        ]
        await audit.close()
    finally:
        await store.close()
