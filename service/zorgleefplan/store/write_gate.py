"""A lock file that hands SQLite's write lock from process to process in turn.

Several worker processes write to one SQLite file. SQLite's own answer to a held write lock is
its busy handler: sleep and try again, backing off to 100 ms between tries. A process whose
group commits follow each other closely takes the lock again within microseconds of releasing
it, so the other process's sleeping writer rarely finds it free: its transactions wait hundreds
of milliseconds (measured: p99 of a two-process write load 4x that of one process) and, under
sustained load, can run out of ``busy_timeout`` and fail.

The gate is an exclusive ``flock`` on ``<database>-writer.lock``, taken before ``BEGIN
IMMEDIATE`` and released once the transaction has ended. A waiting process sleeps in the
kernel and is woken the moment the lock is released, while the releasing process only asks
again after a trip through its event loop — so the waiter gets its turn. A process that dies
releases its lock with its file descriptors.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def gate_path(database: Path) -> Path:
    return database.with_name(database.name + "-writer.lock")


class WriteGate:
    """The gate of one database, used by one thread (the store's writer thread)."""

    def __init__(self, database: Path) -> None:
        self.path = gate_path(database)
        self._fd: int | None = None
        self._held = False

    def acquire(self) -> None:
        if self._held:
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._held = True

    def release(self) -> None:
        if self._held and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._held = False

    def close(self) -> None:
        self.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
