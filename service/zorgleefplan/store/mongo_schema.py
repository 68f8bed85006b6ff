"""The MongoDB layout of the store: collections, documents, writes, indexes and shard keys.

Pure data and functions (no I/O), so the layout and the write logic are tested without a server.

Collections:

- ``resources``: the current version (or tombstone) of every resource, ``_id`` "Type/id", with
  its search index values embedded as arrays of small sub-documents — ``tok``, ``str``, ``ref``,
  ``date``, ``qty``, ``num``, ``uri`` — the multikey-index form of the SQLite adapter's index
  tables. ``rid`` (the change sequence of version 1) orders results when nothing else does, so
  an update keeps a resource's place in a paged search.
- ``versions``: every version, ``_id`` "Type/id/version", for vread and history.
- ``audit``: the audit log (AuditEvent rows), append-only; ``_id`` is the AuditEvent id.
- ``counters``: ``clock`` (latest write time and change sequence; every writing transaction
  updates it first, which serialises writers cluster-wide) and ``audit`` (audit row sequence).
- ``retired``: the SHA-256 of every "Type/id" an erasure removed, never to be created again.
- ``deliveries``: one per active or paused Subscription, ``_id`` its id: its cursor into the
  change log, retry state and lease (layout and writes in ``mongo_delivery.py``).
- ``seen``: what each Subscription has been notified of, one document per (subscription,
  resource), ``_id`` "subscription/Type/id"; only those get a notification of a delete.

Sharding by client compartment (design decision 4): ``resources`` and ``versions`` on
``compartment`` first (:data:`SHARD_KEYS`), so one client's plan lives on one shard; ``audit``
on ``patient``. Unique indexes other than ``_id`` would have to start with the shard key, so
uniqueness of a resource id rests on the writers' serialisation through ``clock`` (a write
checks the current version inside the transaction that holds it) rather than on an index.

Delivery state is per subscription, not per client (a practitioner's subscription spans many
clients), so it is not sharded by compartment: ``deliveries`` stays unsharded (one small
document per Subscription, every claim reads it by ``active`` and ``due``); ``seen``, which
grows with every resource notified, shards on ``sub`` first, so one subscription's set is one
key range. An erasure finds the seen entries of its resources by ``type`` and ``id`` on every
shard (rare, and indexed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, DESCENDING, DeleteMany, DeleteOne, IndexModel, ReplaceOne, UpdateMany
from pymongo.operations import InsertOne

from zorgleefplan.errors import Conflict, VersionConflict
from zorgleefplan.store.model import (
    MAX_TIME,
    MIN_TIME,
    AuditRow,
    IndexKind,
    IndexValues,
    NewVersion,
    StoredVersion,
    to_datetime,
)

RESOURCES = "resources"
VERSIONS = "versions"
AUDIT = "audit"
COUNTERS = "counters"
RETIRED = "retired"  # ids of erased resources (digests), never to be used again
CLOCK = "clock"  # counters document: {time, seq, claims}
AUDIT_SEQ = "audit"  # counters document: {seq}
DELIVERIES = "deliveries"
SEEN = "seen"

# The array of embedded index entries per index kind; each entry has the parameter code "p".
INDEX_FIELDS: Mapping[IndexKind, str] = {
    "token": "tok",
    "string": "str",
    "reference": "ref",
    "date": "date",
    "quantity": "qty",
    "number": "num",
    "uri": "uri",
}

# What a read returns of a resource or version document (never the index arrays).
STORED_FIELDS: Mapping[str, int] = {
    "_id": 0,
    "type": 1,
    "id": 1,
    "version": 1,
    "lu": 1,
    "deleted": 1,
    "body": 1,
    "seq": 1,
    "method": 1,
    "compartment": 1,
}


def resource_key(type_: str, id_: str) -> str:
    return f"{type_}/{id_}"


def version_key(type_: str, id_: str, version: int) -> str:
    return f"{type_}/{id_}/{version}"


def keys_by_type(keys: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(type, ids) groups of ``keys``, types sorted, ids in order without repeats."""
    by_type: dict[str, list[str]] = {}
    for type_, id_ in dict.fromkeys(keys):
        by_type.setdefault(type_, []).append(id_)
    return sorted(by_type.items())


def keys_filter(keys: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Documents (current or versions) of any of ``keys``: one ``id $in`` per type, which the
    (type, id) index answers; no keys match nothing."""
    parts = [{"type": t, "id": {"$in": ids}} for t, ids in keys_by_type(keys)]
    if not parts:
        return {"_id": {"$in": []}}
    return parts[0] if len(parts) == 1 else {"$or": parts}


def shard_filter(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A filter naming one stored resource document by ``_id`` and its full shard key, which a
    sharded cluster needs to target (and to move, when the compartment changes) a write."""
    return {
        "_id": doc["_id"],
        "compartment": doc["compartment"],
        "type": doc["type"],
        "id": doc["id"],
    }


# --------------------------------------------------------------------------- documents


def _entry(**values: Any) -> dict[str, Any]:
    """An index entry without its None values (a query for ``null`` still matches them)."""
    return {k: v for k, v in values.items() if v is not None}


def index_arrays(index: IndexValues) -> dict[str, list[dict[str, Any]]]:
    """The embedded index entries of one resource version; empty kinds are left out."""
    arrays = {
        "tok": [_entry(p=t.param, s=t.system, c=t.code, x=t.text) for t in index.tokens],
        "str": [_entry(p=s.param, v=s.value, e=s.exact) for s in index.strings],
        "ref": [
            _entry(
                p=r.param,
                t=r.target_type,
                i=r.target_id,
                u=r.url,
                **{"is": r.identifier_system, "iv": r.identifier_value},
            )
            for r in index.references
        ],
        "date": [
            _entry(
                p=d.param,
                lo=MIN_TIME if d.low is None else d.low,
                hi=MAX_TIME if d.high is None else d.high,
            )
            for d in index.dates
        ],
        "qty": [
            _entry(p=q.param, v=q.value, lo=q.low, hi=q.high, s=q.system, c=q.code, u=q.unit)
            for q in index.quantities
        ],
        "num": [_entry(p=n.param, v=n.value, lo=n.low, hi=n.high) for n in index.numbers],
        "uri": [_entry(p=u.param, v=u.value) for u in index.uris],
    }
    return {name: entries for name, entries in arrays.items() if entries}


def version_document(new: NewVersion, timestamp: int, seq: int) -> dict[str, Any]:
    return {
        "_id": version_key(new.type, new.id, new.version),
        "type": new.type,
        "id": new.id,
        "version": new.version,
        "seq": seq,
        "lu": timestamp,
        "superseded": None,  # the time of the next version, for history ``_at``
        "method": new.method,
        "deleted": new.body is None,
        "compartment": new.compartment,
        "body": new.body,
    }


def resource_document(new: NewVersion, timestamp: int, seq: int, rid: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": resource_key(new.type, new.id),
        "type": new.type,
        "id": new.id,
        "version": new.version,
        "seq": seq,
        "rid": rid,
        "lu": timestamp,
        "deleted": new.body is None,
        "method": new.method,
        "compartment": new.compartment,
        "body": new.body,
    }
    if new.body is not None:  # a tombstone is found by no search
        doc.update(index_arrays(new.index))
    return doc


def stored_version(doc: Mapping[str, Any]) -> StoredVersion:
    return StoredVersion(
        type=doc["type"],
        id=doc["id"],
        version=doc["version"],
        last_updated=to_datetime(doc["lu"]),
        deleted=doc["deleted"],
        body=doc["body"],
        seq=doc["seq"],
        method=doc["method"],
        compartment=doc["compartment"],
    )


def audit_document(row: AuditRow, seq: int) -> dict[str, Any]:
    return {
        "_id": row.id,
        "seq": seq,
        "recorded": row.recorded,
        "patient": row.patient,
        "body": row.body,
    }


def audit_row(doc: Mapping[str, Any]) -> AuditRow:
    return AuditRow(
        id=doc["_id"],
        recorded=doc["recorded"],
        patient=doc["patient"],
        body=doc["body"],
        seq=doc["seq"],
    )


def referenced_keys(
    sources: Iterable[Mapping[str, Any]], param: str, target_type: str | None
) -> list[tuple[str, str]]:
    """The local targets that ``sources`` (documents with their ``ref`` array) reference
    through ``param``, of ``target_type`` when given, in order, without repeats."""
    found: dict[tuple[str, str], None] = {}
    for doc in sources:
        for entry in doc.get("ref", ()):
            type_, id_ = entry.get("t"), entry.get("i")
            if entry["p"] != param or type_ is None or id_ is None:
                continue
            if target_type is None or type_ == target_type:
                found[(type_, id_)] = None
    return list(found)


# --------------------------------------------------------------------------- writes


@dataclass(frozen=True)
class ResourceChange:
    """One resource document a flush replaces: as stored before it (None: new) and after."""

    before: Mapping[str, Any] | None
    after: dict[str, Any]


Step = list[tuple[str, list[Any]]]  # bulk write operations per collection, in order


@dataclass(frozen=True)
class WritePlan:
    """The documents one flush of buffered writes inserts and replaces."""

    versions: list[dict[str, Any]]  # version documents to insert, in order
    resources: list[ResourceChange]  # one per resource, in the order first written
    superseded: list[str]  # _ids of stored versions these writes supersede
    seq: int  # the last change sequence number used

    def operations(self, timestamp: int) -> Step:
        resources: list[Any] = [
            InsertOne(c.after) if c.before is None else ReplaceOne(shard_filter(c.before), c.after)
            for c in self.resources
        ]
        versions: list[Any] = [InsertOne(doc) for doc in self.versions]
        if self.superseded:
            versions.append(
                UpdateMany({"_id": {"$in": self.superseded}}, {"$set": {"superseded": timestamp}})
            )
        return [(VERSIONS, versions), (RESOURCES, resources)]

    def inverse(self) -> Step:
        """The operations that restore the state before this plan ran."""
        resources: list[Any] = [
            DeleteOne(shard_filter(c.after))
            if c.before is None
            else ReplaceOne(shard_filter(c.after), c.before)
            for c in self.resources
        ]
        versions: list[Any] = [DeleteMany({"_id": {"$in": [v["_id"] for v in self.versions]}})]
        if self.superseded:
            versions.append(
                UpdateMany({"_id": {"$in": self.superseded}}, {"$set": {"superseded": None}})
            )
        return [(RESOURCES, resources), (VERSIONS, versions)]


def plan_writes(
    writes: Sequence[NewVersion],
    stored: Mapping[str, Mapping[str, Any]],
    retired: Set[str],
    timestamp: int,
    seq: int,
) -> WritePlan:
    """Check and lay out ``writes`` (in order) over the ``stored`` current documents of the
    resources they touch. Each version takes the next sequence number after ``seq``. Nothing
    is planned when a version does not follow the current one (VersionConflict) or would
    create a resource whose key is ``retired`` by an erasure (Conflict)."""
    before: dict[str, Mapping[str, Any] | None] = {}  # as stored, per resource written
    after: dict[str, dict[str, Any]] = {}  # as planned so far
    planned: dict[str, dict[str, Any]] = {}  # version _id -> document inserted by this plan
    superseded: list[str] = []
    for new in writes:
        key = resource_key(new.type, new.id)
        if key not in before:
            before[key] = stored.get(key)
        previous = after.get(key, before[key])
        if previous is None and key in retired:
            raise Conflict(f"{new.type}/{new.id} cannot be created: the id is not available")
        previous_version = previous["version"] if previous is not None else 0
        if new.version != previous_version + 1:
            raise VersionConflict(
                f"{new.type}/{new.id} is at version {previous_version}; "
                f"version {new.version} cannot follow"
            )
        seq += 1
        if previous is not None:
            replaced = version_key(new.type, new.id, previous_version)
            if replaced in planned:
                planned[replaced]["superseded"] = timestamp
            else:
                superseded.append(replaced)
        doc = version_document(new, timestamp, seq)
        planned[doc["_id"]] = doc
        rid = previous["rid"] if previous is not None else seq
        after[key] = resource_document(new, timestamp, seq, rid)
    return WritePlan(
        versions=list(planned.values()),
        resources=[ResourceChange(before[k], doc) for k, doc in after.items()],
        superseded=superseded,
        seq=seq,
    )


def retired_id(key: str) -> str:
    """How an erased resource's "Type/id" is kept, never to be used again: its SHA-256 only,
    so the collection holds no readable trace of the erased plan."""
    return hashlib.sha256(key.encode()).hexdigest()


def erasure_inverse(
    resources: Sequence[dict[str, Any]], versions: Sequence[dict[str, Any]]
) -> Step:
    """The operations that bring back what erasing a compartment removed: its current and
    version documents, and the ids it retired (those of its current resources)."""
    retired = [retired_id(doc["_id"]) for doc in resources]
    return [
        (RESOURCES, [InsertOne(doc) for doc in resources]),
        (VERSIONS, [InsertOne(doc) for doc in versions]),
        (RETIRED, [DeleteMany({"_id": {"$in": retired}})] if retired else []),
    ]


@dataclass
class Undo:
    """What one store transaction has done inside its group's MongoDB transaction, so that it
    can be taken back alone when it fails: MongoDB transactions have no savepoints, and the
    group's other members must stay. A stack: each step's inverse, undone last step first."""

    steps: list[Step] = field(default_factory=list)

    def record(self, inverse: Step) -> None:
        self.steps.append(inverse)

    def record_audit(self, ids: Sequence[str]) -> None:
        self.steps.append([(AUDIT, [DeleteMany({"_id": {"$in": list(ids)}})])])

    @property
    def empty(self) -> bool:
        return not self.steps

    def operations(self) -> Step:
        """The operations that restore the state before the transaction, in order."""
        return [(name, ops) for step in reversed(self.steps) for name, ops in step if ops]


# --------------------------------------------------------------------------- indexes, sharding


def _index(*keys: tuple[str, int]) -> IndexModel:
    return IndexModel(list(keys), name="_".join(f"{k}{'' if d > 0 else '_desc'}" for k, d in keys))


A, D = ASCENDING, DESCENDING

# Created on start (createIndexes is a no-op for an index that exists with the same spec).
INDEXES: Mapping[str, Sequence[IndexModel]] = {
    RESOURCES: (
        _index(("compartment", A), ("type", A), ("id", A)),  # the shard key
        _index(("type", A), ("id", A)),
        _index(("type", A), ("deleted", A), ("rid", A)),
        _index(("type", A), ("lu", A)),
        _index(("tok.p", A), ("tok.c", A), ("tok.s", A)),
        _index(("str.p", A), ("str.v", A)),
        _index(("ref.p", A), ("ref.i", A), ("ref.t", A)),
        _index(("ref.p", A), ("ref.u", A)),
        _index(("ref.p", A), ("ref.iv", A)),
        _index(("date.p", A), ("date.lo", A)),
        _index(("date.p", A), ("date.hi", A)),
        _index(("qty.p", A), ("qty.v", A)),
        _index(("num.p", A), ("num.v", A)),
        _index(("uri.p", A), ("uri.v", A)),
    ),
    VERSIONS: (
        _index(("compartment", A), ("type", A), ("id", A), ("version", A)),  # the shard key
        _index(("type", A), ("id", A), ("version", A)),
        _index(("seq", D)),
        _index(("type", A), ("seq", D)),
        _index(("lu", A)),
    ),
    AUDIT: (
        _index(("patient", A), ("seq", A)),  # the shard key
        _index(("recorded", A)),
    ),
    DELIVERIES: (_index(("active", A), ("due", A)),),
    SEEN: (
        _index(("sub", A), ("type", A), ("id", A)),  # the shard key
        _index(("type", A), ("id", A)),  # an erasure's resources
    ),
}

# Range shard keys: one client's documents are one contiguous key range (one shard); the
# shared directory data (compartment null) still splits by type and id.
SHARD_KEYS: Mapping[str, Mapping[str, int]] = {
    RESOURCES: {"compartment": 1, "type": 1, "id": 1},
    VERSIONS: {"compartment": 1, "type": 1, "id": 1, "version": 1},
    AUDIT: {"patient": 1, "seq": 1},
    SEEN: {"sub": 1, "type": 1, "id": 1},
}
