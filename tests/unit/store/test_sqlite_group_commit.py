"""SQLite-specific: concurrent transactions share commits, and a group is durable when
acknowledged (another connection sees every acknowledged write)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from zorgleefplan.store import sqlite as sqlite_store
from zorgleefplan.store.model import AccessConstraint, NewVersion
from zorgleefplan.store.sqlite import SqliteStore

ALL = AccessConstraint.unrestricted()


def _body(id_: str) -> bytes:
    return f'{{"resourceType":"Task","id":"{id_}"}}'.encode()


async def _create(store: SqliteStore, id_: str) -> None:
    async with store.transaction() as tx:
        await tx.write(NewVersion("Task", id_, 1, "POST", _body(id_), None))


async def test_concurrent_transactions_share_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = 0
    real_commit = sqlite_store._commit

    def counting_commit(conn: sqlite3.Connection) -> None:
        nonlocal commits
        commits += 1
        real_commit(conn)

    monkeypatch.setattr(sqlite_store, "_commit", counting_commit)
    store = await SqliteStore.open(tmp_path / "g.sqlite3", max_group=16)
    try:
        await asyncio.gather(*(_create(store, f"t{i}") for i in range(64)))
        # Every acknowledged write is visible to an independent connection.
        conn = sqlite3.connect(tmp_path / "g.sqlite3")
        try:
            stored = conn.execute("SELECT COUNT(*) FROM resource WHERE type = 'Task'").fetchone()
        finally:
            conn.close()
    finally:
        await store.close()
    assert stored == (64,)
    assert 4 <= commits < 64  # grouped, and no group larger than max_group


async def test_a_single_transaction_commits_at_once(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "one.sqlite3")
    try:
        await _create(store, "solo")
        conn = sqlite3.connect(tmp_path / "one.sqlite3")
        try:
            assert conn.execute("SELECT COUNT(*) FROM resource").fetchone() == (1,)
        finally:
            conn.close()
    finally:
        await store.close()


async def test_a_failed_audit_append_leaves_nothing_and_the_store_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zorgleefplan.errors import StoreUnavailable
    from zorgleefplan.store.model import AuditRow

    store = await SqliteStore.open(tmp_path / "a.sqlite3")
    try:
        row = AuditRow(id="a1", recorded=1, patient="p1", body=b"{}")
        real = sqlite_store._append_audit

        def failing(conn: sqlite3.Connection, rows: object) -> None:
            real(conn, [row])  # half written, then the disk fills up
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(sqlite_store, "_append_audit", failing)
        with pytest.raises(StoreUnavailable):
            await store.append_audit([row])
        monkeypatch.setattr(sqlite_store, "_append_audit", real)
        assert await store.audit_read("a1") is None
        await store.append_audit([row])
        await _create(store, "after")
        assert (await store.audit_read("a1")) is not None
    finally:
        await store.close()
