"""SQLite-specific: an erased plan cannot be read back from the database files, not from a
table, not from free pages and not from older WAL frames; other data stays."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from zorgleefplan.store.model import (
    AccessConstraint,
    AuditRow,
    IndexValues,
    NewVersion,
    ReferenceIndex,
    StringIndex,
)
from zorgleefplan.store.sqlite import SqliteStore

ALL = AccessConstraint.unrestricted()
SECRET = "Wilhelmina-Tuinstraat-erasure"  # in every erased body and string index value
KEPT = "Kastanjelaan-kept"


def _body(type_: str, id_: str, text: str) -> bytes:
    return f'{{"resourceType":"{type_}","id":"{id_}","note":"{text}"}}'.encode()


async def _write(store: SqliteStore, type_: str, id_: str, patient: str, text: str) -> None:
    async with store.transaction() as tx:
        current = await tx.read(type_, id_, ALL)
        version = current.version + 1 if current else 1
        index = IndexValues(
            strings=(StringIndex("note", text.lower(), text),),
            references=(ReferenceIndex("patient", "Patient", patient),),
        )
        await tx.write(
            NewVersion(type_, id_, version, "PUT", _body(type_, id_, text), patient, index)
        )


def _raw(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def test_erased_content_is_gone_from_the_files(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite3"
    store = await SqliteStore.open(path)
    await _write(store, "Patient", "client-x", "client-x", SECRET)
    for i in range(40):
        await _write(store, "Goal", f"goal-{i % 8}", "client-x", f"{SECRET} {i}")
    await _write(store, "Patient", "client-y", "client-y", KEPT)
    async with store.transaction() as tx:
        tx.append_audit([AuditRow("audit-x", 1, "client-x", b'{"action":"R"}')])
    assert SECRET.encode() in _raw(path)

    async with store.transaction() as tx:
        erased = await tx.erase_compartment("client-x")
    assert erased.total == 9 and erased.versions == 41
    raw = _raw(path)  # while open: closing the last connection would checkpoint by itself
    await store.close()

    assert SECRET.encode() not in raw
    assert SECRET.lower().encode() not in raw
    assert b"client-x" in raw  # the audit row names the client: the log is kept
    assert KEPT.encode() in raw
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            if table == "audit_event":
                continue
            for row in conn.execute(f"SELECT * FROM {table}"):
                assert not any("client-x" in str(v) or SECRET in str(v) for v in row), table
        audit = conn.execute("SELECT id FROM audit_event WHERE patient = 'client-x'").fetchall()
        assert audit == [("audit-x",)]


async def test_the_wal_is_emptied_even_when_writers_queue_behind_the_erasure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found_open: list[bool] = []
    real = SqliteStore._commit_group

    async def watched(self: SqliteStore) -> None:
        found_open.append(self._group is not None)
        await real(self)

    monkeypatch.setattr(SqliteStore, "_commit_group", watched)
    path = tmp_path / "q.sqlite3"
    # Small groups close mid-stream, so one is open when the erasure goes to empty the WAL.
    store = await SqliteStore.open(path, max_group=4)
    for i in range(20):
        await _write(store, "Goal", f"g{i}", "client-x", SECRET)

    async def erase() -> None:
        await asyncio.sleep(0.01)
        async with store.transaction() as tx:
            await tx.erase_compartment("client-x")

    async def writer(n: int) -> None:
        for i in range(10):
            await _write(store, "Goal", f"k{n}-{i}", "client-y", KEPT)

    # The erasure commits the open group first, and every write still lands.
    await asyncio.gather(erase(), *(writer(n) for n in range(8)))
    assert found_open == [True]
    keys = [("Goal", f"k{n}-{i}") for n in range(8) for i in range(10)]
    assert len(await store.existing(keys, ALL)) == 80
    assert SECRET.encode() not in _raw(path)
    await store.close()
