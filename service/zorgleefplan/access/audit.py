"""The audit log (NEN 7513): one record per access, refusal and authorization event.

An :class:`AuditRecord` says who (person, role, organisation, app) did what (action, FHIR
interaction or authorization-server event, the data or the query), for whom (the client whose
plan, the client a proxy acted for), why (purpose of use), on which basis (the Consent
provision, the volmacht, the regiebehandelaar designation, break-the-glass) and with which
outcome. :func:`to_audit_event` renders it as a FHIR R4 AuditEvent.

:class:`AuditLog` makes records durable in batches: ``await log.record(r)`` returns once ``r``
is committed, and records arriving while a batch is being written go together in the next one,
as one store transaction that joins the store's group commit with the FHIR writes. When a batch
cannot be written, every request waiting on it gets :class:`StoreUnavailable` and must refuse
its response (503): a request's audit record is durable before its response is sent.

Records are rendered once, with orjson, when they are recorded; the AuditEvent is server-built,
so it is not run through the pydantic models per record (tests validate its shape).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from zorgleefplan.errors import StoreUnavailable
from zorgleefplan.store.model import AuditRow
from zorgleefplan.store.port import Store

log = logging.getLogger(__name__)

Action = Literal["C", "R", "U", "D", "E"]
Outcome = Literal["0", "4", "8", "12"]

SOURCE = "zorgleefplan"
ZLP = "https://zorgleefplan.nl/fhir"
BASIS_URL = f"{ZLP}/StructureDefinition/audit-decision-basis"
EMERGENCY_URL = f"{ZLP}/StructureDefinition/audit-emergency"
ON_BEHALF_OF_URL = f"{ZLP}/StructureDefinition/audit-on-behalf-of"
AGENT_ROLE_URL = f"{ZLP}/StructureDefinition/audit-agent-role"
SUBTYPE_SYSTEM = f"{ZLP}/CodeSystem/audit-event-subtype"
ROLE_SYSTEM = f"{ZLP}/CodeSystem/agent-role"
CLIENT_ID_SYSTEM = f"{ZLP}/NamingSystem/oauth-client-id"
USERNAME_SYSTEM = f"{ZLP}/NamingSystem/username"

REST_INTERACTIONS = frozenset(
    {
        "read",
        "vread",
        "history-instance",
        "history-type",
        "history-system",
        "search-type",
        "search-system",
        "create",
        "update",
        "patch",
        "delete",
        "batch",
        "transaction",
        "capabilities",
    }
)
# Events of the authorization server: DICOM "User Authentication" rather than a REST operation.
AUTHORIZATION_EVENTS = frozenset({"login", "token", "consent-decision"})
ERASURE = "erase"  # a client's whole plan destroyed (vernietiging)
NOTIFICATION = "subscription-notification"  # a notification pushed to a subscriber
SUBTYPES = REST_INTERACTIONS | AUTHORIZATION_EVENTS | {"break-the-glass", ERASURE, NOTIFICATION}

_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_TYPE_REST = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
_TYPE_AUTHENTICATION = {"system": _DCM, "code": "110114", "display": "User Authentication"}
_DCM_LOGIN = {"system": _DCM, "code": "110122", "display": "Login"}
_RESTFUL = "http://hl7.org/fhir/restful-interaction"
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_HUMAN_USER = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
            "code": "humanuser",
            "display": "human user",
        }
    ]
}
_ORGANIZATION = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
            "code": "PROV",
            "display": "healthcare provider",
        }
    ]
}
_APPLICATION = {"coding": [{"system": _DCM, "code": "110150", "display": "Application"}]}
_SOURCE_TYPE = [
    {
        "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
        "code": "4",
        "display": "Application Server",
    }
]
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_PERSON = {"system": _ENTITY_TYPE, "code": "1", "display": "Person"}
_SYSTEM_OBJECT = {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"}
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_ROLE_PATIENT = {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"}
_ROLE_DOMAIN_RESOURCE = {"system": _OBJECT_ROLE, "code": "4", "display": "Domain Resource"}
_ROLE_QUERY = {"system": _OBJECT_ROLE, "code": "24", "display": "Query"}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One auditable event, in NEN 7513 terms. Only ``subtype`` and ``action`` are always
    needed; the request path fills in what it knows.

    ``patient`` is the bare id of the client whose plan was touched (whose access log shows
    the record); ``on_behalf_of`` is "Patient/x" when a proxy (volmacht holder, representative)
    acts. ``entities`` are "Type/id" or "Type/id/_history/n"; ``basis`` names why access was
    given ("Consent/c1 provision[0]", "volmacht Consent/v1", "regiebehandelaar CareTeam/t1",
    "own-plan", "break-the-glass"). ``details`` are (label, value) facts about the client's
    record, such as what an erasure removed (counts, never contents)."""

    action: Action
    subtype: str
    outcome: Outcome = "0"
    outcome_description: str | None = None
    who: str | None = None  # fhirUser reference, or the username for logins
    who_display: str | None = None
    role: str | None = None  # "PractitionerRole/x" or a role code
    organization: str | None = None  # "Organization/x"
    client_id: str | None = None  # the app
    patient: str | None = None
    on_behalf_of: str | None = None
    entities: tuple[str, ...] = ()
    query: str | None = None
    purpose_of_use: tuple[str, ...] = ()
    basis: tuple[str, ...] = ()
    details: tuple[tuple[str, str], ...] = ()
    source: str = SOURCE
    emergency: bool = False
    recorded: datetime = field(default_factory=_now)


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def _instant(micros: int) -> str:
    """A FHIR instant in UTC with microseconds; the whole-second part is formatted once per
    second (isoformat per record costs more than the rest of the rendering)."""
    global _second
    seconds, fraction = divmod(micros, 1_000_000)
    cached = _second  # one read: a tuple swapped whole, so threads never see half of it
    if cached[0] != seconds:
        cached = (seconds, datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        _second = cached
    return f"{cached[1]}.{fraction:06d}Z"


def _is_reference(value: str) -> bool:
    type_, _, id_ = value.partition("/")
    return bool(id_) and type_[:1].isupper()


def _requestor(record: AuditRecord, purposes: list[dict[str, Any]] | None) -> dict[str, Any]:
    agent: dict[str, Any] = {"type": _HUMAN_USER}
    extensions = []
    role = record.role
    if role is not None:
        if _is_reference(role):
            extensions.append({"url": AGENT_ROLE_URL, "valueReference": {"reference": role}})
            agent["role"] = [{"text": role}]
        else:
            agent["role"] = [{"coding": [{"system": ROLE_SYSTEM, "code": role}], "text": role}]
    if record.on_behalf_of is not None:
        extensions.append(
            {"url": ON_BEHALF_OF_URL, "valueReference": {"reference": record.on_behalf_of}}
        )
    if extensions:
        agent["extension"] = extensions
    who = record.who
    if who is not None:
        if _is_reference(who):
            agent["who"] = {"reference": who}
        else:
            agent["who"] = {"identifier": {"system": USERNAME_SYSTEM, "value": who}}
        if record.who_display:
            agent["who"]["display"] = record.who_display
    if record.who_display:
        agent["name"] = record.who_display
    agent["requestor"] = True
    if purposes:
        agent["purposeOfUse"] = purposes
    return agent


def to_audit_event(record: AuditRecord, id_: str, micros: int | None = None) -> dict[str, Any]:
    """The record as a FHIR R4 AuditEvent (a fresh dict; constant parts are shared, so do not
    change it in place). ``micros`` is ``record.recorded`` in µs when already known."""
    recorded = _instant(_micros(record.recorded) if micros is None else micros)
    subtype = record.subtype
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": id_,
        "meta": {"versionId": "1", "lastUpdated": recorded},
    }
    extensions = [{"url": BASIS_URL, "valueString": b} for b in record.basis]
    if record.emergency:
        extensions.append({"url": EMERGENCY_URL, "valueBoolean": True})
    if extensions:
        event["extension"] = extensions
    if subtype in REST_INTERACTIONS:
        event["type"] = _TYPE_REST
        event["subtype"] = [{"system": _RESTFUL, "code": subtype}]
    elif subtype in AUTHORIZATION_EVENTS:
        event["type"] = _TYPE_AUTHENTICATION
        own = {"system": SUBTYPE_SYSTEM, "code": subtype}
        event["subtype"] = [_DCM_LOGIN, own] if subtype == "login" else [own]
    else:  # break-the-glass, an erasure or a notification: our own REST events
        event["type"] = _TYPE_REST
        event["subtype"] = [{"system": SUBTYPE_SYSTEM, "code": subtype}]
    event["action"] = record.action
    event["recorded"] = recorded
    event["outcome"] = record.outcome
    if record.outcome_description:
        event["outcomeDesc"] = record.outcome_description
    purposes = (
        [{"coding": [{"system": _ACT_REASON, "code": p}]} for p in record.purpose_of_use]
        if record.purpose_of_use
        else None
    )
    if purposes:
        event["purposeOfEvent"] = purposes
    agents = [_requestor(record, purposes)]
    if record.organization is not None:
        agents.append(
            {"type": _ORGANIZATION, "who": {"reference": record.organization}, "requestor": False}
        )
    if record.client_id is not None:
        agents.append(
            {
                "type": _APPLICATION,
                "who": {"identifier": {"system": CLIENT_ID_SYSTEM, "value": record.client_id}},
                "requestor": False,
            }
        )
    event["agent"] = agents
    event["source"] = {
        "site": record.source,
        "observer": {"display": record.source},
        "type": _SOURCE_TYPE,
    }
    entities: list[dict[str, Any]] = []
    if record.patient is not None:
        patient: dict[str, Any] = {
            "what": {"reference": f"Patient/{record.patient}"},
            "type": _PERSON,
            "role": _ROLE_PATIENT,
        }
        if record.details:
            patient["detail"] = [{"type": k, "valueString": v} for k, v in record.details]
        entities.append(patient)
    for reference in record.entities:
        entities.append(
            {
                "what": {"reference": reference},
                "type": _SYSTEM_OBJECT,
                "role": _ROLE_DOMAIN_RESOURCE,
            }
        )
    if record.query is not None:
        entities.append(
            {
                "type": _SYSTEM_OBJECT,
                "role": _ROLE_QUERY,
                "query": base64.b64encode(record.query.encode()).decode(),
            }
        )
    if entities:
        event["entity"] = entities
    return event


def new_audit_id() -> str:
    """The time in µs (hex, so ids of one log sort and index in time order: appended, not
    scattered over the id index) and 48 random bits against collisions (an id is no secret:
    the fast generator will do); a valid FHIR id."""
    return f"{time.time_ns() // 1000:x}{random.getrandbits(48):012x}"


# The stored form: the record's fields, not the rendered AuditEvent. A record is written on every
# request and read rarely, so rendering (several times the bytes) waits for the reading.
_FIELDS = tuple(f.name for f in fields(AuditRecord) if f.name != "recorded")


def to_row(record: AuditRecord, id_: str) -> AuditRow:
    """The record as the store keeps it: its fields as compact JSON, its time in µs."""
    compact = {name: value for name in _FIELDS if (value := getattr(record, name))}
    return AuditRow(
        id=id_,
        recorded=_micros(record.recorded),
        patient=record.patient,
        body=orjson.dumps(compact),
    )


def from_row(row: AuditRow) -> AuditRecord:
    stored = orjson.loads(row.body)
    for name in ("entities", "purpose_of_use", "basis"):
        if name in stored:
            stored[name] = tuple(stored[name])
    if "details" in stored:
        stored["details"] = tuple((k, v) for k, v in stored["details"])
    recorded = datetime.fromtimestamp(row.recorded / 1_000_000, tz=UTC)
    return AuditRecord(**stored, recorded=recorded)


def render_row(row: AuditRow) -> bytes:
    """The stored record as the FHIR AuditEvent it stands for."""
    return orjson.dumps(to_audit_event(from_row(row), row.id, row.recorded))


class AuditLog:
    """The batching recorder over the store (one per application, on ``app.state.audit``)."""

    def __init__(self, store: Store, *, retention_days: int | None = None) -> None:
        self._store = store
        self._retention_days = retention_days
        self._rows: list[AuditRow] = []
        self._done: asyncio.Future[str | None] | None = None  # the pending batch's outcome
        self._flusher: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        self.batches = 0  # batches written (for measurements and tests)

    async def record(self, record: AuditRecord) -> None:
        """Return once ``record`` is durable; StoreUnavailable when it cannot be written."""
        await self.record_all((record,))

    async def record_all(self, records: Sequence[AuditRecord]) -> None:
        """Return once all ``records`` (one request's) are durable, in one batch."""
        if not records:
            return
        done = self._done
        if done is None:
            done = self._done = asyncio.get_running_loop().create_future()
        self._rows.extend(to_row(record, new_audit_id()) for record in records)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        # Shielded: a cancelled request must not cancel the batch other requests wait on.
        error = await asyncio.shield(done)
        if error is not None:
            raise StoreUnavailable(error)

    async def _flush(self) -> None:
        """Write batches until nothing waits: one store transaction per batch."""
        try:
            while self._rows:
                rows, done = self._rows, self._done
                self._rows, self._done = [], None
                assert done is not None
                try:
                    await self._store.append_audit(rows)
                except BaseException as exc:
                    log.error(
                        "audit log: a batch of %d records was not written: %s", len(rows), exc
                    )
                    done.set_result(
                        "the audit record could not be stored, so the request is refused"
                    )
                    if not isinstance(exc, Exception):
                        raise
                else:
                    self.batches += 1
                    done.set_result(None)
        finally:
            self._flusher = None
            left = self._done
            if left is not None:  # cancelled with records queued: nobody will write them
                self._rows, self._done = [], None
                left.set_result("the audit log is shutting down; the request is refused")

    # ------------------------------------------------------------------ retention

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete records older than the retention period (never shorter than five years:
        Settings enforces the floor). Returns how many went."""
        if self._retention_days is None:
            return 0
        moment = now or _now()
        cutoff = int(moment.timestamp() * 1_000_000) - self._retention_days * 86_400_000_000
        purged = await self._store.purge_audit(cutoff)
        if purged:
            log.info("audit log: %d records past retention removed", purged)
        return purged

    def start_retention(self, interval: float = 24 * 3600) -> None:
        """Purge now and then once per ``interval`` seconds, in the background."""
        self._retention = asyncio.create_task(self._purge_periodically(interval))

    async def _purge_periodically(self, interval: float) -> None:
        while True:
            try:
                await self.purge_expired()
            except Exception:
                log.exception("audit log: the retention purge failed")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        """Stop the retention task and wait for the batch being written."""
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
            self._retention = None
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
