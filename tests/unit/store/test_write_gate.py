"""The write gate: processes writing to one SQLite file take turns through a lock file, held
exactly while a write transaction is open."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from zorgleefplan.errors import StoreUnavailable
from zorgleefplan.store.model import AccessConstraint, AuditRow, NewVersion
from zorgleefplan.store.sqlite import SqliteStore
from zorgleefplan.store.write_gate import WriteGate, gate_path


def _held_by_someone(database: Path) -> bool:
    """Whether the gate is held: try it without waiting from a new open file description (a
    flock conflicts between descriptions, also within one process)."""
    fd = os.open(gate_path(database), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_second_gate_waits_until_the_first_is_released(tmp_path: Path) -> None:
    database = tmp_path / "g.sqlite3"
    first, second = WriteGate(database), WriteGate(database)
    first.acquire()
    entered = threading.Event()

    def take_second() -> None:
        second.acquire()
        entered.set()

    waiter = threading.Thread(target=take_second)
    waiter.start()
    try:
        assert not entered.wait(0.3)  # blocked while the first holds it
        first.release()
        assert entered.wait(5)
    finally:
        first.release()
        waiter.join(5)
        second.close()
        first.close()


def test_acquire_and_release_are_idempotent(tmp_path: Path) -> None:
    database = tmp_path / "g.sqlite3"
    gate = WriteGate(database)
    gate.release()  # never acquired: nothing to do
    gate.acquire()
    gate.acquire()  # already held by this gate: no self-deadlock
    assert _held_by_someone(database)
    gate.release()
    assert not _held_by_someone(database)
    gate.close()


async def test_the_store_holds_the_gate_exactly_while_a_transaction_is_open(
    tmp_path: Path,
) -> None:
    database = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(database)
    try:
        assert not _held_by_someone(database)
        async with store.transaction() as tx:
            await tx.write(NewVersion("Task", "t1", 1, "POST", b'{"resourceType":"Task"}', None))
            assert _held_by_someone(database)  # the group began: other processes wait
        assert not _held_by_someone(database)  # committed: their turn
        await store.append_audit([AuditRow(id="a1", recorded=1, patient=None, body=b"{}")])
        assert not _held_by_someone(database)
        read = await store.read("Task", "t1", AccessConstraint.unrestricted())
        assert read is not None and read.version == 1
    finally:
        await store.close()


async def test_a_failed_begin_releases_the_gate(tmp_path: Path) -> None:
    database = tmp_path / "b.sqlite3"
    store = await SqliteStore.open(database)
    # Another writer that ignores the gate (a tool with its own connection) holds SQLite's
    # write lock past the busy timeout: BEGIN fails, and the gate must not stay taken.
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        await store._on_writer(lambda c: c.execute("PRAGMA busy_timeout=50"))
        with pytest.raises(StoreUnavailable):
            async with store.transaction() as tx:
                await tx.write(NewVersion("Task", "t1", 1, "POST", b"{}", None))
        assert not _held_by_someone(database)
    finally:
        other.execute("ROLLBACK")
        other.close()
        await store.close()
