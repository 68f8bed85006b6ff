"""What every adapter's transaction keeps the same way until it writes (see store/port.py)."""

from __future__ import annotations

from collections.abc import Sequence

from zorgleefplan.store.model import AccessConstraint, AuditRow, NewVersion, StoredVersion
from zorgleefplan.store.requirements import RequiredReferences


class TransactionBuffer:
    """One timestamp; versions and audit rows held in memory until the adapter flushes them
    (before its next read, and at the end); references to check when it ends."""

    def __init__(self, timestamp: int) -> None:
        self._timestamp = timestamp
        self._writes: list[NewVersion] = []
        self._audit_rows: list[AuditRow] = []
        self._required = RequiredReferences()

    @property
    def timestamp(self) -> int:
        return self._timestamp

    async def write(self, version: NewVersion) -> StoredVersion:
        self._writes.append(version)
        return version.as_written(self._timestamp)

    def require(self, keys: Sequence[tuple[str, str]], access: AccessConstraint) -> None:
        self._required.add(keys, access)

    def append_audit(self, rows: Sequence[AuditRow]) -> None:
        self._audit_rows.extend(rows)
