"""The embedded SQLite store: one WAL file in the data directory, zero set-up.

Threads: all SQLite work runs off the event loop. Writes go through one dedicated writer thread
(one connection, ``BEGIN IMMEDIATE`` so several processes on one file serialise correctly, after
taking the write gate so that they take turns: see write_gate.py);
reads use a small pool of threads, each with its own connection (WAL readers never block on the
writer). A transaction holds an asyncio lock for its duration so that interactions in one
process queue in the event loop instead of in SQLite's busy handler.

Durability: ``synchronous=NORMAL`` in WAL mode — a committed transaction is in the WAL before
COMMIT returns, so acknowledged writes survive ``kill -9`` of the server (not power loss of the
machine, which would need ``synchronous=FULL``; configurable).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from zorgleefplan.errors import Conflict, MissingReferences, StoreUnavailable, VersionConflict
from zorgleefplan.store.buffer import TransactionBuffer
from zorgleefplan.store.futures import settle
from zorgleefplan.store.model import (
    MAX_TIME,
    MIN_TIME,
    AccessConstraint,
    AuditRow,
    Delivery,
    Erasure,
    IndexValues,
    NewVersion,
    Page,
    SearchPage,
    SearchQuery,
    StoredVersion,
    to_datetime,
)
from zorgleefplan.store.port import HistoryPage, HistoryQuery
from zorgleefplan.store.sqlite_query import (
    Fragment,
    Scope,
    compile_access,
    compile_criteria,
    compile_sort,
    keyset_after,
    param_key,
)
from zorgleefplan.store.worker_threads import WorkerThreads
from zorgleefplan.store.write_gate import WriteGate

T = TypeVar("T")

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS resource_version (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- global change sequence, commit order
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,           -- µs since epoch, UTC
    superseded INTEGER,                      -- last_updated of the next version
    method TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    compartment TEXT,
    body BLOB,
    UNIQUE (type, id, version)
);
CREATE INDEX IF NOT EXISTS version_type_seq ON resource_version (type, seq);
CREATE INDEX IF NOT EXISTS version_updated ON resource_version (last_updated);
CREATE INDEX IF NOT EXISTS version_compartment ON resource_version (compartment);

CREATE TABLE IF NOT EXISTS resource (        -- the current version of every resource
    rid INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    compartment TEXT,
    UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS resource_type ON resource (type, deleted, rid);
CREATE INDEX IF NOT EXISTS resource_compartment ON resource (compartment, type);
CREATE INDEX IF NOT EXISTS resource_updated ON resource (type, last_updated);

CREATE TABLE IF NOT EXISTS idx_token (
    rid INTEGER NOT NULL, param TEXT NOT NULL, system TEXT, code TEXT, text TEXT);
CREATE INDEX IF NOT EXISTS idx_token_code ON idx_token (param, code, system);
CREATE INDEX IF NOT EXISTS idx_token_rid ON idx_token (rid);

CREATE TABLE IF NOT EXISTS idx_string (
    rid INTEGER NOT NULL, param TEXT NOT NULL, value TEXT NOT NULL, exact TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_string_value ON idx_string (param, value);
CREATE INDEX IF NOT EXISTS idx_string_rid ON idx_string (rid);

CREATE TABLE IF NOT EXISTS idx_reference (
    rid INTEGER NOT NULL, param TEXT NOT NULL, target_type TEXT, target_id TEXT, url TEXT,
    identifier_system TEXT, identifier_value TEXT);
CREATE INDEX IF NOT EXISTS idx_reference_target ON idx_reference (param, target_id, target_type);
CREATE INDEX IF NOT EXISTS idx_reference_rev ON idx_reference (target_type, target_id);
CREATE INDEX IF NOT EXISTS idx_reference_url ON idx_reference (param, url);
CREATE INDEX IF NOT EXISTS idx_reference_ident ON idx_reference (param, identifier_value);
CREATE INDEX IF NOT EXISTS idx_reference_rid ON idx_reference (rid);

CREATE TABLE IF NOT EXISTS idx_date (
    rid INTEGER NOT NULL, param TEXT NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idx_date_low ON idx_date (param, low);
CREATE INDEX IF NOT EXISTS idx_date_high ON idx_date (param, high);
CREATE INDEX IF NOT EXISTS idx_date_rid ON idx_date (rid);

CREATE TABLE IF NOT EXISTS idx_quantity (
    rid INTEGER NOT NULL, param TEXT NOT NULL, value REAL NOT NULL, low REAL NOT NULL,
    high REAL NOT NULL, system TEXT, code TEXT, unit TEXT);
CREATE INDEX IF NOT EXISTS idx_quantity_value ON idx_quantity (param, value);
CREATE INDEX IF NOT EXISTS idx_quantity_rid ON idx_quantity (rid);

CREATE TABLE IF NOT EXISTS idx_number (
    rid INTEGER NOT NULL, param TEXT NOT NULL, value REAL NOT NULL, low REAL NOT NULL,
    high REAL NOT NULL);
CREATE INDEX IF NOT EXISTS idx_number_value ON idx_number (param, value);
CREATE INDEX IF NOT EXISTS idx_number_rid ON idx_number (rid);

CREATE TABLE IF NOT EXISTS idx_uri (rid INTEGER NOT NULL, param TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_uri_value ON idx_uri (param, value);
CREATE INDEX IF NOT EXISTS idx_uri_rid ON idx_uri (rid);

-- The audit log (NEN 7513): append-only. Rows are inserted and, past retention, deleted by
-- the purge; nothing ever updates one.
CREATE TABLE IF NOT EXISTS audit_event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    recorded INTEGER NOT NULL,               -- µs since epoch, UTC
    patient TEXT,                            -- the client whose log holds it
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_patient ON audit_event (patient, seq);
CREATE INDEX IF NOT EXISTS audit_recorded ON audit_event (recorded);

-- Ids of erased resources, never to be used again: SHA-256 of "type/id" only (no compartment,
-- no time), so the table keeps no readable trace of the erased plan.
CREATE TABLE IF NOT EXISTS retired_id (digest BLOB PRIMARY KEY) WITHOUT ROWID;

-- Subscription delivery: a cursor per subscription into resource_version (the change log is
-- the queue), with its retry state and the lease of the worker delivering it.
CREATE TABLE IF NOT EXISTS subscription_delivery (
    subscription TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    cursor INTEGER NOT NULL,                 -- resource_version.seq of the last change handled
    failures INTEGER NOT NULL,
    due INTEGER NOT NULL,                    -- µs: not claimed before
    active INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0   -- µs
);
CREATE INDEX IF NOT EXISTS delivery_due ON subscription_delivery (active, due);
-- What each subscription has been notified of: only those get a notification of a delete.
CREATE TABLE IF NOT EXISTS subscription_seen (
    subscription TEXT NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (subscription, type, id)
) WITHOUT ROWID;
"""

_INDEX_TABLES = (
    "idx_token",
    "idx_string",
    "idx_reference",
    "idx_date",
    "idx_quantity",
    "idx_number",
    "idx_uri",
)

# Columns of a current resource row (alias r) joined to its version body (alias v).
_CURRENT = (
    "r.type, r.id, r.version, r.last_updated, r.deleted, v.body, r.seq, v.method, r.compartment"
)
_VERSION = (
    "v.type, v.id, v.version, v.last_updated, v.deleted, v.body, v.seq, v.method, v.compartment"
)
_VALUES_CHUNK = 400  # ids per IN list, well under SQLite's variable limit
MAX_GROUP = 64  # transactions per group commit at most: bounds the wait of the first member


def to_micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _row(row: tuple[Any, ...]) -> StoredVersion:
    return StoredVersion(
        type=row[0],
        id=row[1],
        version=row[2],
        last_updated=to_datetime(row[3]),
        deleted=bool(row[4]),
        body=row[5],
        seq=row[6],
        method=row[7],
        compartment=row[8],
    )


def _by_type(keys: Sequence[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(type, ids) groups of at most _VALUES_CHUNK ids. Queries then use ``type = ? AND id IN
    (...)``, which SQLite answers from the (type, id) index; a row-value ``(type, id) IN
    (VALUES ...)`` makes it scan the whole table."""
    grouped: dict[str, list[str]] = {}
    for type_, id_ in dict.fromkeys(keys):
        grouped.setdefault(type_, []).append(id_)
    return [
        (type_, ids[i : i + _VALUES_CHUNK])
        for type_, ids in grouped.items()
        for i in range(0, len(ids), _VALUES_CHUNK)
    ]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, cached_statements=512
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")
    # Checkpoint less often: a page rewritten by many commits is copied back once per
    # checkpoint, which is most of the cost of a small write. Truncate the WAL afterwards.
    conn.execute("PRAGMA wal_autocheckpoint=8000")
    conn.execute("PRAGMA journal_size_limit=67108864")
    return conn


# --------------------------------------------------------------------------- synchronous queries
# Shared by reader connections and the writer's transaction: one implementation per operation.


def _read(
    conn: sqlite3.Connection, type_: str, id_: str, access: AccessConstraint
) -> StoredVersion | None:
    acc = compile_access(access, "r")
    row = conn.execute(
        f"SELECT {_CURRENT} FROM resource r JOIN resource_version v ON v.seq = r.seq "
        f"WHERE r.type = ? AND r.id = ? AND {acc.sql}",
        (type_, id_, *acc.params),
    ).fetchone()
    return _row(row) if row else None


def _read_version(
    conn: sqlite3.Connection, type_: str, id_: str, version: int, access: AccessConstraint
) -> StoredVersion | None:
    acc = compile_access(access, "v")
    row = conn.execute(
        f"SELECT {_VERSION} FROM resource_version v "
        f"WHERE v.type = ? AND v.id = ? AND v.version = ? AND {acc.sql}",
        (type_, id_, version, *acc.params),
    ).fetchone()
    return _row(row) if row else None


def _search_where(query: SearchQuery, access: AccessConstraint) -> Fragment:
    scope = Scope("r", query.types, access)
    crit = compile_criteria(query.criteria, scope)
    acc = compile_access(access, "r")
    types = ", ".join("?" * len(query.types))
    return Fragment(
        f"r.type IN ({types}) AND r.deleted = 0 AND {crit.sql} AND {acc.sql}",
        [*query.types, *crit.params, *acc.params],
    )


def _search(
    conn: sqlite3.Connection, query: SearchQuery, page: Page, access: AccessConstraint, total: bool
) -> SearchPage:
    where = _search_where(query, access)
    columns = compile_sort(query.sort, "r", query.types)
    sql_where, params = where.sql, list(where.params)
    if page.after is not None:
        after = keyset_after(columns, page.after)
        sql_where += f" AND {after.sql}"
        params.extend(after.params)
    select_sort = ", ".join(c.sql for c in columns)
    sort_params = [p for c in columns for p in c.params]
    # Plain columns are ordered by name so SQLite can walk an index in order and stop at the
    # LIMIT; computed sort keys by their position among the selected columns (after nine).
    order = ", ".join(
        f"{c.sql if not c.params else 10 + i} {'DESC' if c.descending else 'ASC'}"
        for i, c in enumerate(columns)
    )
    rows = conn.execute(
        f"SELECT {_CURRENT}, {select_sort} FROM resource r "
        f"JOIN resource_version v ON v.seq = r.seq WHERE {sql_where} "
        f"ORDER BY {order} LIMIT ? OFFSET ?",
        (*sort_params, *params, page.count + 1, page.offset),
    ).fetchall()
    more = len(rows) > page.count
    rows = rows[: page.count]
    next_after = tuple(rows[-1][9:]) if more and rows else None
    count = None
    if total:
        count = _count_where(conn, where)
    elif page.after is None and page.offset == 0 and not more:
        count = len(rows)
    return SearchPage(rows=tuple(_row(r) for r in rows), next_after=next_after, total=count)


def _count_where(conn: sqlite3.Connection, where: Fragment) -> int:
    return conn.execute(
        f"SELECT COUNT(*) FROM resource r WHERE {where.sql}", where.params
    ).fetchone()[0]


def _include(
    conn: sqlite3.Connection,
    sources: Sequence[tuple[str, str]],
    param: str,
    target_type: str | None,
    access: AccessConstraint,
) -> list[StoredVersion]:
    acc = compile_access(access, "r")
    found: dict[tuple[str, str], StoredVersion] = {}
    type_filter = "AND r.type = ?" if target_type else ""
    for source_type, ids in _by_type(sources):
        # CROSS JOIN fixes the loop order: sources by key, their rows, then each target by key.
        rows = conn.execute(
            f"SELECT {_CURRENT} FROM resource s CROSS JOIN idx_reference x ON x.rid = s.rid "
            f"CROSS JOIN resource r ON r.type = x.target_type AND r.id = x.target_id "
            f"JOIN resource_version v ON v.seq = r.seq "
            f"WHERE s.type = ? AND s.id IN ({_marks(len(ids))}) "
            f"AND x.param = ? {type_filter} AND r.deleted = 0 AND {acc.sql}",
            (
                source_type,
                *ids,
                param_key(source_type, param),
                *([target_type] if target_type else []),
                *acc.params,
            ),
        ).fetchall()
        for row in rows:
            found.setdefault((row[0], row[1]), _row(row))
    return list(found.values())


def _revinclude(
    conn: sqlite3.Connection,
    targets: Sequence[tuple[str, str]],
    source_type: str,
    param: str,
    access: AccessConstraint,
) -> list[StoredVersion]:
    acc = compile_access(access, "r")
    found: dict[tuple[str, str], StoredVersion] = {}
    for target_type, ids in _by_type(targets):
        rows = conn.execute(
            f"SELECT {_CURRENT} FROM idx_reference x CROSS JOIN resource r ON r.rid = x.rid "
            f"JOIN resource_version v ON v.seq = r.seq "
            f"WHERE x.param = ? AND x.target_id IN ({_marks(len(ids))}) AND x.target_type = ? "
            f"AND r.deleted = 0 AND {acc.sql}",
            (param_key(source_type, param), *ids, target_type, *acc.params),
        ).fetchall()
        for row in rows:
            found.setdefault((row[0], row[1]), _row(row))
    return list(found.values())


def _existing(
    conn: sqlite3.Connection, keys: Sequence[tuple[str, str]], access: AccessConstraint
) -> set[tuple[str, str]]:
    acc = compile_access(access, "r")
    found: set[tuple[str, str]] = set()
    for type_, ids in _by_type(keys):
        rows = conn.execute(
            f"SELECT r.type, r.id FROM resource r WHERE r.type = ? AND r.id IN "
            f"({_marks(len(ids))}) AND r.deleted = 0 AND {acc.sql}",
            (type_, *ids, *acc.params),
        ).fetchall()
        found.update((t, i) for t, i in rows)
    return found


def _history(
    conn: sqlite3.Connection, query: HistoryQuery, count: int, access: AccessConstraint, total: bool
) -> HistoryPage:
    clauses: list[str] = []
    params: list[Any] = []
    if query.type is not None:
        clauses.append("v.type = ?")
        params.append(query.type)
    if query.id is not None:
        clauses.append("v.id = ?")
        params.append(query.id)
    if query.since is not None:
        clauses.append("v.last_updated >= ?")
        params.append(query.since)
    if query.at is not None:
        clauses.append("v.last_updated <= ? AND (v.superseded IS NULL OR v.superseded > ?)")
        params.extend((query.at[1], query.at[0]))
    acc = compile_access(access, "v")
    clauses.append(acc.sql)
    params.extend(acc.params)
    where = " AND ".join(clauses)
    page_where, page_params = where, list(params)
    if query.before_seq is not None:
        page_where += " AND v.seq < ?"
        page_params.append(query.before_seq)
    order = "DESC"
    if query.after_seq is not None:
        page_where += " AND v.seq > ?"
        page_params.append(query.after_seq)
        order = "ASC"
    rows = conn.execute(
        f"SELECT {_VERSION} FROM resource_version v WHERE {page_where} "
        f"ORDER BY v.seq {order} LIMIT ?",
        (*page_params, count + 1),
    ).fetchall()
    more = len(rows) > count and query.after_seq is None
    rows = rows[:count]
    counted = None
    if total:
        counted = conn.execute(
            f"SELECT COUNT(*) FROM resource_version v WHERE {where}", params
        ).fetchone()[0]
    return HistoryPage(
        rows=tuple(_row(r) for r in rows),
        next_before_seq=rows[-1][6] if more and rows else None,
        total=counted,
    )


_AUDIT = "seq, id, recorded, patient, body"


def _audit_row(row: tuple[Any, ...]) -> AuditRow:
    return AuditRow(id=row[1], recorded=row[2], patient=row[3], body=row[4], seq=row[0])


def _audit_page(
    conn: sqlite3.Connection, patient: str, before_seq: int | None, count: int
) -> tuple[tuple[AuditRow, ...], int | None]:
    rows = conn.execute(
        f"SELECT {_AUDIT} FROM audit_event WHERE patient = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        (patient, before_seq if before_seq is not None else 2**63 - 1, count + 1),
    ).fetchall()
    more = len(rows) > count
    rows = rows[:count]
    return tuple(_audit_row(r) for r in rows), (rows[-1][0] if more and rows else None)


def _audit_read(conn: sqlite3.Connection, id_: str) -> AuditRow | None:
    row = conn.execute(f"SELECT {_AUDIT} FROM audit_event WHERE id = ?", (id_,)).fetchone()
    return _audit_row(row) if row else None


def _append_audit(conn: sqlite3.Connection, rows: Sequence[AuditRow]) -> None:
    conn.executemany(
        "INSERT INTO audit_event (id, recorded, patient, body) VALUES (?, ?, ?, ?)",
        [(r.id, r.recorded, r.patient, r.body) for r in rows],
    )


def _append_audit_alone(
    gate: WriteGate, rows: Sequence[AuditRow], conn: sqlite3.Connection
) -> None:
    gate.acquire()
    conn.execute("BEGIN IMMEDIATE")
    try:
        _append_audit(conn, rows)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    _commit(conn)


def _purge_audit(conn: sqlite3.Connection, recorded_before: int) -> int:
    # The retention purge: the only statement that removes audit rows.
    return conn.execute("DELETE FROM audit_event WHERE recorded < ?", (recorded_before,)).rowcount


def _id_digest(type_: str, id_: str) -> bytes:
    return hashlib.sha256(f"{type_}/{id_}".encode()).digest()


def _is_retired(conn: sqlite3.Connection, type_: str, id_: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM retired_id WHERE digest = ?", (_id_digest(type_, id_),)
    ).fetchone()
    return found is not None


def _erase_compartment(conn: sqlite3.Connection, patient: str) -> Erasure:
    """Delete the compartment's versions, current rows and index rows, and retire the ids.

    ``secure_delete`` overwrites the freed content with zeros (builds differ in their
    default), so it cannot be read back from free pages; the WAL is emptied after the commit
    (see ``SqliteStore.transaction``)."""
    current = conn.execute(
        "SELECT rid, type, id FROM resource WHERE compartment = ? ORDER BY type", (patient,)
    ).fetchall()
    counts: dict[str, int] = {}
    for _, type_, _ in current:
        counts[type_] = counts.get(type_, 0) + 1
    secure = conn.execute("PRAGMA secure_delete").fetchone()[0]
    conn.execute("PRAGMA secure_delete = ON")
    try:
        rids = [row[0] for row in current]
        for i in range(0, len(rids), _VALUES_CHUNK):
            chunk = rids[i : i + _VALUES_CHUNK]
            for table in _INDEX_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE rid IN ({_marks(len(chunk))})", chunk)
        conn.execute("DELETE FROM resource WHERE compartment = ?", (patient,))
        versions = conn.execute(
            "DELETE FROM resource_version WHERE compartment = ?", (patient,)
        ).rowcount
        conn.executemany(
            "INSERT OR IGNORE INTO retired_id (digest) VALUES (?)",
            [(_id_digest(type_, id_),) for _, type_, id_ in current],
        )
        # Subscriptions keep what they were notified of: no trace of the erased ids there, and
        # the client's own subscriptions go with their plan.
        conn.executemany(
            "DELETE FROM subscription_seen WHERE type = ? AND id = ?",
            [(type_, id_) for _, type_, id_ in current],
        )
        for _, type_, id_ in current:
            if type_ == "Subscription":
                _remove_delivery(id_, conn)
    finally:
        conn.execute(f"PRAGMA secure_delete = {int(secure)}")
    return Erasure(resources=tuple(counts.items()), versions=versions)


def _truncate_wal(conn: sqlite3.Connection) -> None:
    """Copy the WAL into the database file and empty it: its older frames still hold pages
    as they were before an erasure."""
    busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    if busy:
        log.warning(
            "store: the WAL could not be emptied after an erasure (readers busy); the erased "
            "content stays in its older frames until the WAL is next reset"
        )


# --------------------------------------------------------------------------- subscription delivery

_DELIVERY = "subscription, type, cursor, failures, due, active"
# Active, due, not leased, and with a change of its type after its cursor.
_DUE = (
    "d.active = 1 AND d.due <= ? AND d.lease_until <= ? AND EXISTS (SELECT 1 FROM "
    "resource_version v WHERE v.type = d.type AND v.seq > d.cursor)"
)


def _delivery(row: tuple[Any, ...]) -> Delivery:
    return Delivery(
        subscription=row[0],
        type=row[1],
        cursor=row[2],
        failures=row[3],
        due=row[4],
        active=bool(row[5]),
    )


def _any_due(conn: sqlite3.Connection, now: int) -> bool:
    found = conn.execute(
        f"SELECT 1 FROM subscription_delivery d WHERE {_DUE} LIMIT 1", (now, now)
    ).fetchone()
    return found is not None


def _claim(
    owner: str, now: int, lease_until: int, count: int, conn: sqlite3.Connection
) -> tuple[Delivery, ...]:
    rows = conn.execute(
        f"UPDATE subscription_delivery SET lease_owner = ?, lease_until = ? WHERE subscription IN "
        f"(SELECT d.subscription FROM subscription_delivery d WHERE {_DUE} ORDER BY d.due LIMIT ?) "
        f"RETURNING {_DELIVERY}",
        (owner, lease_until, now, now, count),
    ).fetchall()
    return tuple(sorted((_delivery(r) for r in rows), key=lambda d: d.due))


def _release(
    delivery: Delivery,
    owner: str,
    seen: Sequence[tuple[str, str]],
    unseen: Sequence[tuple[str, str]],
    conn: sqlite3.Connection,
) -> bool:
    updated = conn.execute(
        "UPDATE subscription_delivery SET cursor = ?, failures = ?, due = ?, active = ?, "
        "lease_owner = NULL, lease_until = 0 WHERE subscription = ? AND lease_owner = ?",
        (
            delivery.cursor,
            delivery.failures,
            delivery.due,
            int(delivery.active),
            delivery.subscription,
            owner,
        ),
    ).rowcount
    if not updated:
        return False
    conn.executemany(
        "INSERT OR IGNORE INTO subscription_seen VALUES (?, ?, ?)",
        [(delivery.subscription, t, i) for t, i in seen],
    )
    conn.executemany(
        "DELETE FROM subscription_seen WHERE subscription = ? AND type = ? AND id = ?",
        [(delivery.subscription, t, i) for t, i in unseen],
    )
    return True


def _put_delivery(delivery: Delivery, conn: sqlite3.Connection) -> None:
    conn.execute(
        f"INSERT INTO subscription_delivery ({_DELIVERY}, lease_owner, lease_until) "
        "VALUES (?, ?, ?, ?, ?, ?, NULL, 0) ON CONFLICT (subscription) DO UPDATE SET "
        "type = excluded.type, cursor = excluded.cursor, failures = excluded.failures, "
        "due = excluded.due, active = excluded.active, lease_owner = NULL, lease_until = 0",
        (
            delivery.subscription,
            delivery.type,
            delivery.cursor,
            delivery.failures,
            delivery.due,
            int(delivery.active),
        ),
    )


def _remove_delivery(subscription: str, conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM subscription_delivery WHERE subscription = ?", (subscription,))
    conn.execute("DELETE FROM subscription_seen WHERE subscription = ?", (subscription,))


def _seen(
    conn: sqlite3.Connection, subscription: str, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for type_, ids in _by_type(keys):
        rows = conn.execute(
            f"SELECT type, id FROM subscription_seen WHERE subscription = ? AND type = ? "
            f"AND id IN ({_marks(len(ids))})",
            (subscription, type_, *ids),
        ).fetchall()
        found.update((t, i) for t, i in rows)
    return found


def _write(conn: sqlite3.Connection, new: NewVersion, timestamp: int) -> StoredVersion:
    current = conn.execute(
        "SELECT rid, version FROM resource WHERE type = ? AND id = ?", (new.type, new.id)
    ).fetchone()
    previous = current[1] if current else 0
    if current is None and _is_retired(conn, new.type, new.id):
        raise Conflict(f"{new.type}/{new.id} cannot be created: the id is not available")
    if new.version != previous + 1:
        raise VersionConflict(
            f"{new.type}/{new.id} is at version {previous}; version {new.version} cannot follow"
        )
    deleted = 1 if new.body is None else 0
    seq = conn.execute(
        "INSERT INTO resource_version (type, id, version, last_updated, method, deleted, "
        "compartment, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (new.type, new.id, new.version, timestamp, new.method, deleted, new.compartment, new.body),
    ).lastrowid
    if current is None:
        rid = conn.execute(
            "INSERT INTO resource (type, id, version, seq, last_updated, deleted, compartment) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (new.type, new.id, new.version, seq, timestamp, deleted, new.compartment),
        ).lastrowid
    else:
        rid = current[0]
        conn.execute(
            "UPDATE resource_version SET superseded = ? WHERE type = ? AND id = ? AND version = ?",
            (timestamp, new.type, new.id, previous),
        )
        conn.execute(
            "UPDATE resource SET version = ?, seq = ?, last_updated = ?, deleted = ?, "
            "compartment = ? WHERE rid = ?",
            (new.version, seq, timestamp, deleted, new.compartment, rid),
        )
        for table in _INDEX_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE rid = ?", (rid,))
    if not deleted:
        _insert_index(conn, rid, new.type, new.index)
    assert seq is not None
    return StoredVersion(
        type=new.type,
        id=new.id,
        version=new.version,
        last_updated=to_datetime(timestamp),
        deleted=bool(deleted),
        body=new.body,
        seq=seq,
        method=new.method,
        compartment=new.compartment,
    )


def _insert_index(conn: sqlite3.Connection, rid: int, type_: str, index: IndexValues) -> None:
    def key(param: str) -> str:
        return param_key(type_, param)

    if index.tokens:
        conn.executemany(
            "INSERT INTO idx_token VALUES (?, ?, ?, ?, ?)",
            [(rid, key(t.param), t.system, t.code, t.text) for t in index.tokens],
        )
    if index.strings:
        conn.executemany(
            "INSERT INTO idx_string VALUES (?, ?, ?, ?)",
            [(rid, key(s.param), s.value, s.exact) for s in index.strings],
        )
    if index.references:
        conn.executemany(
            "INSERT INTO idx_reference VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    rid,
                    key(r.param),
                    r.target_type,
                    r.target_id,
                    r.url,
                    r.identifier_system,
                    r.identifier_value,
                )
                for r in index.references
            ],
        )
    if index.dates:
        conn.executemany(
            "INSERT INTO idx_date VALUES (?, ?, ?, ?)",
            [
                (
                    rid,
                    key(d.param),
                    MIN_TIME if d.low is None else d.low,
                    MAX_TIME if d.high is None else d.high,
                )
                for d in index.dates
            ],
        )
    if index.quantities:
        conn.executemany(
            "INSERT INTO idx_quantity VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (rid, key(q.param), q.value, q.low, q.high, q.system, q.code, q.unit)
                for q in index.quantities
            ],
        )
    if index.numbers:
        conn.executemany(
            "INSERT INTO idx_number VALUES (?, ?, ?, ?, ?)",
            [(rid, key(n.param), n.value, n.low, n.high) for n in index.numbers],
        )
    if index.uris:
        conn.executemany(
            "INSERT INTO idx_uri VALUES (?, ?, ?)",
            [(rid, key(u.param), u.value) for u in index.uris],
        )


# --------------------------------------------------------------------------- async surface


class _SqliteReader:
    """The async read API over one way of running a function against a connection."""

    def __init__(self, run: Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]]) -> None:
        self._run = run

    async def read(self, type_: str, id_: str, access: AccessConstraint) -> StoredVersion | None:
        return await self._run(lambda c: _read(c, type_, id_, access))

    async def read_version(
        self, type_: str, id_: str, version: int, access: AccessConstraint
    ) -> StoredVersion | None:
        return await self._run(lambda c: _read_version(c, type_, id_, version, access))

    async def search(
        self, query: SearchQuery, page: Page, access: AccessConstraint, *, total: bool = False
    ) -> SearchPage:
        return await self._run(lambda c: _search(c, query, page, access, total))

    async def count(self, query: SearchQuery, access: AccessConstraint) -> int:
        return await self._run(lambda c: _count_where(c, _search_where(query, access)))

    async def include(
        self,
        sources: Sequence[tuple[str, str]],
        param: str,
        target_type: str | None,
        access: AccessConstraint,
    ) -> list[StoredVersion]:
        return await self._run(lambda c: _include(c, sources, param, target_type, access))

    async def revinclude(
        self,
        targets: Sequence[tuple[str, str]],
        source_type: str,
        param: str,
        access: AccessConstraint,
    ) -> list[StoredVersion]:
        return await self._run(lambda c: _revinclude(c, targets, source_type, param, access))

    async def existing(
        self, keys: Sequence[tuple[str, str]], access: AccessConstraint
    ) -> set[tuple[str, str]]:
        return await self._run(lambda c: _existing(c, keys, access))

    async def history(
        self, query: HistoryQuery, count: int, access: AccessConstraint, *, total: bool = False
    ) -> HistoryPage:
        return await self._run(lambda c: _history(c, query, count, access, total))

    async def audit_page(
        self, patient: str, before_seq: int | None, count: int
    ) -> tuple[tuple[AuditRow, ...], int | None]:
        return await self._run(lambda c: _audit_page(c, patient, before_seq, count))

    async def audit_read(self, id_: str) -> AuditRow | None:
        return await self._run(lambda c: _audit_read(c, id_))

    async def seen(
        self, subscription: str, keys: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        return await self._run(lambda c: _seen(c, subscription, keys))


class SqliteTransaction(_SqliteReader, TransactionBuffer):
    """One interaction's unit of work: a savepoint inside the store's open group transaction.

    Writes and required references are buffered in memory: writes are flushed before the next
    read (which must see them) and at the end; references are checked only at the end (a bundle
    may refer to an entry it writes later). A create therefore costs one trip to the writer."""

    def __init__(self, store: SqliteStore, timestamp: int) -> None:
        _SqliteReader.__init__(self, self._on_writer)
        TransactionBuffer.__init__(self, timestamp)
        self._store = store
        self._started = False
        self._deliveries: list[Callable[[sqlite3.Connection], None]] = []
        self.erased = False  # an erasure ran: the store empties the WAL after the commit

    def put_delivery(self, delivery: Delivery) -> None:
        self._deliveries.append(partial(_put_delivery, delivery))

    def remove_delivery(self, subscription: str) -> None:
        self._deliveries.append(partial(_remove_delivery, subscription))

    async def erase_compartment(self, patient: str) -> Erasure:
        self.erased = True
        return await self._on_writer(lambda c: _erase_compartment(c, patient))

    async def _on_writer(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def flushed_then(conn: sqlite3.Connection) -> T:
            self._flush(conn)
            return fn(conn)

        return await self._store._on_writer(flushed_then)

    def _flush(self, conn: sqlite3.Connection) -> None:
        if not self._started:
            conn.execute("SAVEPOINT tx")
            self._started = True
        writes, self._writes = self._writes, []
        for version in writes:
            _write(conn, version, self._timestamp)
        if self._audit_rows:
            audit, self._audit_rows = self._audit_rows, []
            _append_audit(conn, audit)
        deliveries, self._deliveries = self._deliveries, []
        for change in deliveries:
            change(conn)

    def _finish(self, conn: sqlite3.Connection) -> None:
        """Flush, check the required references, and release the savepoint (on the writer)."""
        self._flush(conn)
        missing: list[tuple[str, str]] = []
        for access, keys in self._required.by_access():
            found = _existing(conn, keys, access)
            missing += [key for key in keys if key not in found]
        if missing:
            raise MissingReferences(missing)
        conn.execute("RELEASE tx")

    def _abort(self, conn: sqlite3.Connection) -> None:
        if self._started and conn.in_transaction:
            conn.execute("ROLLBACK TO tx")
            conn.execute("RELEASE tx")


@dataclass
class _Group:
    """Consecutive transactions sharing one SQLite transaction and one COMMIT (group commit).

    Each member's savepoint is released into the group; the group commits when no other
    transaction is waiting for the writer (or it is full), and only then are its members
    acknowledged. Under load one commit — the costly part of a write — serves many requests."""

    durable: asyncio.Future[None]
    members: int = 0


class SqliteStore(_SqliteReader):
    """The SQLite adapter of the storage port."""

    def __init__(
        self,
        path: Path,
        *,
        readers: int = 4,
        synchronous: str = "NORMAL",
        max_group: int = MAX_GROUP,
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._max_group = max_group
        self._writer_pool = WorkerThreads(1, "zlp-sqlite-writer")
        self._gate = WriteGate(path)  # turns between processes writing to the same file
        self._reader_pool = WorkerThreads(readers, "zlp-sqlite-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = asyncio.Lock()
        self._waiting = 0  # transactions queued for the write lock
        self._group: _Group | None = None
        self._clock = 0  # the last timestamp handed out (µs)
        self._closer: asyncio.Task[None] | None = None
        super().__init__(self._on_reader)

    @classmethod
    async def open(cls, path: Path, **kwargs: Any) -> SqliteStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, **kwargs)
        await store._on_writer(lambda c: c.executescript(SCHEMA))
        return store

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self._synchronous)
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    async def _on_reader(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._reader_pool.run(partial(_guarded, self._connection, fn))

    async def _on_writer(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        gated = partial(_opening_gate, self._gate, fn)
        return await self._writer_pool.run(partial(_guarded, self._connection, gated))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTransaction]:
        self._waiting += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._waiting -= 1
        try:
            group = await self._join_group()
            self._clock = max(time.time_ns() // 1000, self._clock + 1)
            tx = SqliteTransaction(self, self._clock)
            try:
                yield tx
            except BaseException:
                await self._end(group, tx._abort)
                raise
            await self._end(group, tx._finish)
        finally:
            self._write_lock.release()
            self._close_abandoned_group()
        await asyncio.shield(group.durable)
        if tx.erased:
            await self._empty_wal()

    async def _join_group(self) -> _Group:
        if self._group is None:
            latest = await self._on_writer(partial(_begin, self._gate))
            # Another process may have written since our last group: never go back in time.
            self._clock = max(self._clock, latest)
            self._group = _Group(asyncio.get_running_loop().create_future())
        return self._group

    async def _end(self, group: _Group, end: Callable[[sqlite3.Connection], None]) -> None:
        """Finish or abort one member and, when nobody is waiting (or the group is full),
        commit the group — all in one trip to the writer. Runs to completion even when the
        request is cancelled, so the group's bookkeeping stays true."""
        group.members += 1
        close = self._waiting == 0 or group.members >= self._max_group
        if close:
            self._group = None
        outcome = asyncio.ensure_future(self._on_writer(partial(_end_member, end, close)))
        try:
            await asyncio.shield(outcome)
        except asyncio.CancelledError:
            await settle(outcome)
            raise
        finally:
            lost = _settle_group(group, outcome, close)
            if lost and self._group is group:
                self._group = None

    def _close_abandoned_group(self) -> None:
        """A group left open for a waiter that was then cancelled is committed here."""
        if self._group is not None and self._waiting == 0 and self._closer is None:
            self._closer = asyncio.ensure_future(self._commit_open_group())

    async def _commit_open_group(self) -> None:
        try:
            async with self._write_lock:
                await self._commit_group()
        finally:
            self._closer = None

    async def _commit_group(self) -> None:
        """Commit the open group, if any (the caller holds the write lock)."""
        group = self._group
        if group is None:
            return
        self._group = None
        outcome = asyncio.ensure_future(self._on_writer(_commit))
        await settle(outcome)
        _settle_group(group, outcome, close=True)

    async def _empty_wal(self) -> None:
        """After an erasure has committed: no open group may hold the writer, then the WAL
        is checkpointed into the database file and truncated."""
        async with self._write_lock:
            await self._commit_group()
            await self._on_writer(_truncate_wal)

    async def append_audit(self, rows: Sequence[AuditRow]) -> None:
        """One trip to the writer (BEGIN, insert, COMMIT) when no group is open — every read
        writes an audit record, so this is the hot write path; inside an open group (FHIR
        writes in flight) the rows join it as a member."""
        async with self._write_lock:
            if self._group is None:
                await self._on_writer(partial(_append_audit_alone, self._gate, rows))
                return
        async with self.transaction() as tx:
            tx.append_audit(rows)

    async def claim_deliveries(
        self, owner: str, now: int, lease_until: int, count: int
    ) -> tuple[Delivery, ...]:
        # Look first on a reader: an idle poll then costs no write transaction.
        if not await self._on_reader(lambda c: _any_due(c, now)):
            return ()
        async with self.transaction() as tx:
            return await tx._on_writer(partial(_claim, owner, now, lease_until, count))

    async def release_delivery(
        self,
        delivery: Delivery,
        owner: str,
        *,
        seen: Sequence[tuple[str, str]] = (),
        unseen: Sequence[tuple[str, str]] = (),
    ) -> bool:
        async with self.transaction() as tx:
            return await tx._on_writer(partial(_release, delivery, owner, seen, unseen))

    async def purge_audit(self, recorded_before: int) -> int:
        async with self.transaction() as tx:
            return await tx._on_writer(lambda c: _purge_audit(c, recorded_before))

    async def close(self) -> None:
        if self._closer is not None:
            await self._closer
        if self._group is not None:
            await self._commit_open_group()
        self._writer_pool.shutdown()
        self._reader_pool.shutdown()
        self._gate.close()
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def _end_member(
    end: Callable[[sqlite3.Connection], None], close: bool, conn: sqlite3.Connection
) -> None:
    """On the writer: end one member (finish or abort), then commit when closing the group.
    A member that fails is rolled back to its savepoint; the group goes on without it."""
    try:
        end(conn)
    except BaseException as exc:
        if not conn.in_transaction:
            # SQLite rolled back the whole group (I/O error, disk full): nobody in it is durable.
            raise StoreUnavailable("the store lost the transaction; nothing was written") from exc
        conn.execute("ROLLBACK TO tx")
        conn.execute("RELEASE tx")
        if close:
            _commit(conn)
        raise
    if close:
        _commit(conn)


def _settle_group(group: _Group, outcome: asyncio.Future[Any], close: bool) -> bool:
    """Resolve the group's durability once its COMMIT has run; True when the group is lost
    (its COMMIT failed or SQLite rolled it back), which every member then reports."""
    if group.durable.done():
        return False
    error = outcome.exception() if outcome.done() and not outcome.cancelled() else None
    if isinstance(error, StoreUnavailable):
        group.durable.set_exception(error)
        group.durable.exception()  # retrieved: members that were cancelled never await it
        return True
    if close:
        group.durable.set_result(None)
    return False


def _guarded(
    connection: Callable[[], sqlite3.Connection], fn: Callable[[sqlite3.Connection], T]
) -> T:
    """Run ``fn`` on this thread's connection, translating SQLite's errors into store errors."""
    try:
        return fn(connection())
    except sqlite3.IntegrityError as exc:
        raise VersionConflict("the resource was changed by a concurrent write") from exc
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"the store could not complete the request: {exc}") from exc


def _opening_gate(
    gate: WriteGate, fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection
) -> T:
    """Run ``fn`` on the writer; once no transaction is open (committed, rolled back, or never
    begun because BEGIN failed) other processes get their turn to write."""
    try:
        return fn(conn)
    finally:
        if not conn.in_transaction:
            gate.release()


def _begin(gate: WriteGate, conn: sqlite3.Connection) -> int:
    """Open a group transaction; returns the latest stored timestamp (µs)."""
    gate.acquire()
    conn.execute("BEGIN IMMEDIATE")
    latest = conn.execute("SELECT MAX(last_updated) FROM resource_version").fetchone()[0]
    return int(latest or 0)


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
