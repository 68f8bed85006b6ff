"""The client's own resources that govern access, read into small frozen dataclasses.

The policy engine (``engine.py``) decides from these facts only; whoever loads them from the
store calls :func:`client_facts` with the client's Consent, CareTeam and RelatedPerson JSON (and
the handover and complaint Tasks addressed to the principal asking).

Parsing never raises. How a broken resource is read follows one principle: **what we cannot
read grants nothing**. A Consent with any unreadable part (a period that is not a FHIR date, a
provision that is not an object, an unknown provision type, ...) is kept with ``valid=False``:
it grants nothing, and when it looks like an active access Consent with a ``deny`` somewhere in
it, the engine withholds every consent-based permit of that client (see ``engine.py``), because
we cannot know whom that deny was meant to stop. A CareTeam or RelatedPerson that cannot be
read is dropped: it only ever widens access.

Time: FHIR dates without a time zone (``2025-03-01``, ``2025-03-01T10:00:00``) are read as UTC.
A period's end is inclusive at its own precision (``end: 2025-03-01`` lasts the whole day), so
``Period.end`` holds the exclusive instant after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Literal

from zorgleefplan.access import codes

ProvisionType = Literal["permit", "deny"]


class Unreadable(ValueError):
    """Raised inside the parser for a part it cannot read; never escapes this module."""


# --------------------------------------------------------------------------- small values


@dataclass(frozen=True, slots=True)
class Coding:
    system: str | None
    code: str


@dataclass(frozen=True, slots=True)
class Period:
    """``start`` inclusive, ``end`` exclusive; ``None`` means open."""

    start: datetime | None = None
    end: datetime | None = None

    def covers(self, now: datetime) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)


ALWAYS = Period()


_REF = re.compile(
    r"(?:.*/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?"
)


def normalize_reference(value: object) -> str | None:
    """``Type/id`` for a relative, absolute or versioned literal reference; None otherwise."""
    if not isinstance(value, str):
        return None
    return _normalize(value)


@lru_cache(maxsize=4096)
def _normalize(value: str) -> str | None:
    match = _REF.fullmatch(value)
    return f"{match[1]}/{match[2]}" if match else None


def _reference(obj: object) -> str | None:
    """The normalized literal reference of a Reference object (None: absent or not literal)."""
    if obj is None:
        return None
    if not isinstance(obj, Mapping):
        raise Unreadable("reference")
    return normalize_reference(obj.get("reference"))


_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def parse_instant_range(value: object) -> tuple[datetime, datetime]:
    """A FHIR date/dateTime/instant as [low, high): the span its precision implies."""
    if not isinstance(value, str):
        raise Unreadable("date")
    m = _DATE.fullmatch(value)
    if m is None:
        raise Unreadable("date")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        if month is None:
            low = datetime(int(year), 1, 1, tzinfo=UTC)
            return low, datetime(int(year) + 1, 1, 1, tzinfo=UTC)
        if day is None:
            low = datetime(int(year), int(month), 1, tzinfo=UTC)
            high = datetime(int(year) + int(month) // 12, int(month) % 12 + 1, 1, tzinfo=UTC)
            return low, high
        if hour is None:
            low = datetime(int(year), int(month), int(day), tzinfo=UTC)
            return low, low + timedelta(days=1)
        tz = UTC
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        micro = int((fraction or ".0")[1:7].ljust(6, "0"))
        low = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz
        ).astimezone(UTC)
    except ValueError as exc:  # day 31 in April, hour 25, ...
        raise Unreadable("date") from exc
    step = timedelta(seconds=1) if second is not None else timedelta(minutes=1)
    if fraction:
        step = timedelta(microseconds=1)
    return low, low + step


def _period(obj: object) -> Period:
    if obj is None:
        return ALWAYS
    if not isinstance(obj, Mapping):
        raise Unreadable("period")
    start = parse_instant_range(obj["start"])[0] if obj.get("start") is not None else None
    end = parse_instant_range(obj["end"])[1] if obj.get("end") is not None else None
    return Period(start, end)


def _list(obj: object) -> list[Any]:
    if obj is None:
        return []
    if not isinstance(obj, list):
        raise Unreadable("list")
    return obj


def _codings(concept: object) -> tuple[Coding, ...]:
    """The codings of a CodeableConcept (codings without a code are skipped)."""
    if concept is None:
        return ()
    if not isinstance(concept, Mapping):
        raise Unreadable("CodeableConcept")
    return tuple(_coding(c) for c in _list(concept.get("coding")) if _has_code(c))


def _has_code(coding: object) -> bool:
    if not isinstance(coding, Mapping):
        raise Unreadable("Coding")
    return isinstance(coding.get("code"), str)


def _coding(coding: Mapping[str, Any]) -> Coding:
    system = coding.get("system")
    if system is not None and not isinstance(system, str):
        raise Unreadable("Coding.system")
    return Coding(system, coding["code"])


def _concepts(concepts: object) -> tuple[Coding, ...]:
    return tuple(c for concept in _list(concepts) for c in _codings(concept))


def _status(obj: Mapping[str, Any]) -> str | None:
    status = obj.get("status")
    if status is not None and not isinstance(status, str):
        raise Unreadable("status")
    return status


# --------------------------------------------------------------------------- Consent


@dataclass(frozen=True, slots=True)
class ProvisionActor:
    roles: tuple[Coding, ...]
    reference: str | None  # normalized "Type/id"; None: named by identifier/display only


@dataclass(frozen=True, slots=True)
class ProvisionData:
    meaning: str  # instance | related | dependents | authoredby
    reference: str | None  # normalized "Type/id"; None: not a literal reference


@dataclass(frozen=True, slots=True)
class Provision:
    type: ProvisionType | None  # None at the root of a broken Consent only (valid=False)
    period: Period = ALWAYS
    actors: tuple[ProvisionActor, ...] = ()
    actions: tuple[Coding, ...] = ()
    purposes: tuple[Coding, ...] = ()
    classes: tuple[Coding, ...] = ()
    codes: tuple[Coding, ...] = ()
    data: tuple[ProvisionData, ...] = ()
    provisions: tuple[Provision, ...] = ()


@dataclass(frozen=True, slots=True)
class Consent:
    id: str
    status: str | None
    scope: tuple[Coding, ...]
    categories: tuple[Coding, ...]
    patient: str | None  # normalized "Patient/id"
    date_time: datetime | None
    provision: Provision | None
    valid: bool = True
    has_deny: bool = False  # some provision denies (also known for an invalid Consent)

    @property
    def reference(self) -> str:
        return f"Consent/{self.id}"

    def has_scope(self, code: str) -> bool:
        return any(
            c.code == code and c.system in (None, codes.CONSENT_SCOPE_SYSTEM) for c in self.scope
        )


def _provision(obj: object, parent_type: ProvisionType | None) -> Provision:
    if not isinstance(obj, Mapping):
        raise Unreadable("provision")
    type_ = obj.get("type")
    if type_ is None:
        if parent_type is None:
            raise Unreadable("root provision without type")
        type_ = "deny" if parent_type == "permit" else "permit"  # a nested exception
    if type_ not in ("permit", "deny"):
        raise Unreadable("provision.type")
    actors = []
    for actor in _list(obj.get("actor")):
        if not isinstance(actor, Mapping):
            raise Unreadable("provision.actor")
        actors.append(
            ProvisionActor(_codings(actor.get("role")), _reference(actor.get("reference")))
        )
    data = []
    for item in _list(obj.get("data")):
        if not isinstance(item, Mapping) or not isinstance(item.get("meaning"), str):
            raise Unreadable("provision.data")
        data.append(ProvisionData(item["meaning"], _reference(item.get("reference"))))
    classes = []
    for cls in _list(obj.get("class")):
        if not isinstance(cls, Mapping):
            raise Unreadable("provision.class")
        code = cls.get("code")
        if not isinstance(code, str):
            raise Unreadable("provision.class.code")
        classes.append(_coding(cls))
    purposes = [_coding(p) for p in _list(obj.get("purpose")) if _has_code(p)]
    return Provision(
        type=type_,
        period=_period(obj.get("period")),
        actors=tuple(actors),
        actions=_concepts(obj.get("action")),
        purposes=tuple(purposes),
        classes=tuple(classes),
        codes=_concepts(obj.get("code")),
        data=tuple(data),
        provisions=tuple(_provision(p, type_) for p in _list(obj.get("provision"))),
    )


def _mentions_deny(obj: object, parent_type: object = None) -> bool:
    """Whether a provision tree denies anywhere (read without trusting its shape): an explicit
    ``deny``, or a nested provision without type under a ``permit``."""
    if not isinstance(obj, Mapping):
        return False
    type_ = obj.get("type")
    if type_ is None and parent_type in ("permit", "deny"):
        type_ = "deny" if parent_type == "permit" else "permit"  # an implied exception
    if type_ == "deny":
        return True
    nested = obj.get("provision")
    if not isinstance(nested, list):
        return False
    return any(_mentions_deny(p, type_) for p in nested)


def parse_consent(resource: object) -> Consent | None:
    """A Consent as the engine reads it; None only when it is not a Consent with an id.
    Never raises: a Consent that cannot be read fully comes back with ``valid=False``."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "Consent":
        return None
    id_ = resource.get("id")
    if not isinstance(id_, str) or not id_:
        return None
    raw_status = resource.get("status")
    status = raw_status if isinstance(raw_status, str) else None
    try:
        scope = _codings(resource.get("scope"))
        categories = _concepts(resource.get("category"))
        patient = _reference(resource.get("patient"))
        if resource.get("patient") is not None and patient is None:
            raise Unreadable("Consent.patient")
        date_time = (
            parse_instant_range(resource["dateTime"])[0]
            if resource.get("dateTime") is not None
            else None
        )
        raw_provision = resource.get("provision")
        provision = _provision(raw_provision, None) if raw_provision is not None else None
    except (Unreadable, KeyError, TypeError):
        return Consent(
            id_,
            status,
            (),
            (),
            None,
            None,
            None,
            valid=False,
            has_deny=_mentions_deny(resource.get("provision")),
        )
    return Consent(
        id_,
        status,
        scope,
        categories,
        patient,
        date_time,
        provision,
        has_deny=_mentions_deny(raw_provision),
    )


# --------------------------------------------------------------------------- CareTeam


@dataclass(frozen=True, slots=True)
class Participant:
    roles: tuple[Coding, ...]
    member: str | None  # normalized "Type/id"
    on_behalf_of: str | None  # normalized "Organization/id"
    period: Period = ALWAYS


@dataclass(frozen=True, slots=True)
class CareTeam:
    id: str
    status: str | None
    subject: str | None  # normalized "Patient/id"
    period: Period
    participants: tuple[Participant, ...]

    @property
    def reference(self) -> str:
        return f"CareTeam/{self.id}"


def parse_care_team(resource: object) -> CareTeam | None:
    """A CareTeam, or None when it cannot be read (a team only ever widens access)."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "CareTeam":
        return None
    id_ = resource.get("id")
    if not isinstance(id_, str) or not id_:
        return None
    try:
        participants = []
        for p in _list(resource.get("participant")):
            if not isinstance(p, Mapping):
                raise Unreadable("participant")
            participants.append(
                Participant(
                    roles=_concepts(p.get("role")),
                    member=_reference(p.get("member")),
                    on_behalf_of=_reference(p.get("onBehalfOf")),
                    period=_period(p.get("period")),
                )
            )
        return CareTeam(
            id_,
            _status(resource),
            _reference(resource.get("subject")),
            _period(resource.get("period")),
            tuple(participants),
        )
    except (Unreadable, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- RelatedPerson


@dataclass(frozen=True, slots=True)
class RelatedPerson:
    id: str
    active: bool | None
    patient: str | None  # normalized "Patient/id"
    relationships: tuple[Coding, ...]
    period: Period

    @property
    def reference(self) -> str:
        return f"RelatedPerson/{self.id}"

    def has_role(self, system: str, code: str) -> bool:
        return any(c.system == system and c.code == code for c in self.relationships)


def parse_related_person(resource: object) -> RelatedPerson | None:
    """A RelatedPerson, or None when it cannot be read."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "RelatedPerson":
        return None
    id_ = resource.get("id")
    if not isinstance(id_, str) or not id_:
        return None
    active = resource.get("active")
    if active is not None and not isinstance(active, bool):
        return None
    try:
        return RelatedPerson(
            id_,
            active,
            _reference(resource.get("patient")),
            _concepts(resource.get("relationship")),
            _period(resource.get("period")),
        )
    except (Unreadable, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- Task


@dataclass(frozen=True, slots=True)
class AddressedTask:
    """A workflow Task of the plan addressed to its owner, who may stand outside the care team:
    a regiebehandelaar handover (owner: the professional asked to take over) or a complaint
    (a forwarded part is owned by the provider that handles it). Its owner may read and update
    that one Task, nothing else (see engine.py)."""

    id: str
    owner: str | None  # normalized "Type/id"
    subject: str | None  # normalized "Patient/id" (Task.for)

    @property
    def reference(self) -> str:
        return f"Task/{self.id}"


def parse_addressed_task(resource: object) -> AddressedTask | None:
    """A handover or complaint Task, or None for any other Task or one that cannot be read."""
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "Task":
        return None
    id_ = resource.get("id")
    if not isinstance(id_, str) or not id_:
        return None
    try:
        if not any(
            c.system == codes.WORKFLOW_TASK_SYSTEM and c.code in codes.ADDRESSED_TASK_CODES
            for c in _codings(resource.get("code"))
        ):
            return None
        owner, subject = _reference(resource.get("owner")), _reference(resource.get("for"))
        return AddressedTask(id_, owner, subject)
    except (Unreadable, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- the client


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """Everything the engine needs about one client: their id (the compartment) and the
    governing resources of their compartment."""

    patient: str  # the Patient id, the compartment key
    consents: tuple[Consent, ...] = ()
    care_teams: tuple[CareTeam, ...] = ()
    related_persons: tuple[RelatedPerson, ...] = ()
    tasks: tuple[AddressedTask, ...] = ()  # those addressed to the principal asking

    @property
    def patient_reference(self) -> str:
        return f"Patient/{self.patient}"


def client_facts(
    patient: str,
    consents: Iterable[object] = (),
    care_teams: Iterable[object] = (),
    related_persons: Iterable[object] = (),
    tasks: Iterable[object] = (),
) -> ClientFacts:
    """Parse the client's governing resources (JSON dicts) into :class:`ClientFacts`."""
    return ClientFacts(
        patient,
        tuple(c for c in map(parse_consent, consents) if c is not None),
        tuple(t for t in map(parse_care_team, care_teams) if t is not None),
        tuple(r for r in map(parse_related_person, related_persons) if r is not None),
        tuple(t for t in map(parse_addressed_task, tasks) if t is not None),
    )
