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
