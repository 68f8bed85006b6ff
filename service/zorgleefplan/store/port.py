"""The storage port: the one protocol every store adapter implements.

The store knows resources, versions, index values and access constraints — nothing of HTTP,
FHIR validation or consent rules. Every read path takes an :class:`AccessConstraint` and applies
it inside the query, before ordering, counting and paging, so callers cannot forget it.

Writes happen in a :class:`Transaction`: one per interaction (or per transaction bundle), all or
nothing, durable when the ``async with`` block has exited. Adapters may defer the work of
``write`` and ``require`` to the next read or to the commit, so their errors (VersionConflict,
MissingReferences) may surface there. Adapters raise only :mod:`zorgleefplan.errors` exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from zorgleefplan.store.model import (
    AccessConstraint,
    AuditRow,
    Delivery,
    Erasure,
    NewVersion,
    Page,
    SearchPage,
    SearchQuery,
    StoredVersion,
)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Which versions a history interaction asks for (instance, type or system level).

    Pages run newest first (``before_seq`` continues); with ``after_seq`` they run oldest first
    instead, from just after that sequence number (the change log as subscriptions read it; the
    caller continues from the last row's ``seq``, so ``next_before_seq`` is None).

    Feeds are gap-free: a version becomes visible only after every version with a smaller
    ``seq`` — and so with an earlier ``last_updated`` — is visible (commit order = ``seq``
    order = timestamp order). A reader that continues after the last ``seq`` or
    ``last_updated`` it saw can never miss a version committed later."""

    type: str | None = None
    id: str | None = None
    since: int | None = None  # µs; versions written at or after
    at: tuple[int, int] | None = None  # µs range; versions current at some point within it
    before_seq: int | None = None  # keyset cursor: versions older than this sequence number
    after_seq: int | None = None  # versions newer than this sequence number, oldest first


@dataclass(frozen=True, slots=True)
class HistoryPage:
    rows: tuple[StoredVersion, ...]
    next_before_seq: int | None
    total: int | None = None


class Reader(Protocol):
    """Read operations, available on the store and inside a transaction."""

    async def read(self, type_: str, id_: str, access: AccessConstraint) -> StoredVersion | None:
        """The current version (a tombstone when deleted), or None when absent or hidden."""
        ...

    async def read_version(
        self, type_: str, id_: str, version: int, access: AccessConstraint
    ) -> StoredVersion | None: ...

    async def search(
        self, query: SearchQuery, page: Page, access: AccessConstraint, *, total: bool = False
    ) -> SearchPage: ...

    async def count(self, query: SearchQuery, access: AccessConstraint) -> int: ...

    async def include(
        self,
        sources: Sequence[tuple[str, str]],
        param: str,
        target_type: str | None,
        access: AccessConstraint,
    ) -> list[StoredVersion]:
        """Current, visible resources that ``sources`` reference through ``param``."""
        ...

    async def revinclude(
        self,
        targets: Sequence[tuple[str, str]],
        source_type: str,
        param: str,
        access: AccessConstraint,
    ) -> list[StoredVersion]:
        """Current, visible ``source_type`` resources that reference ``targets`` via ``param``."""
        ...

    async def existing(
        self, keys: Sequence[tuple[str, str]], access: AccessConstraint
    ) -> set[tuple[str, str]]:
        """Which of ``keys`` exist (not deleted) and are visible."""
        ...

    async def history(
        self, query: HistoryQuery, count: int, access: AccessConstraint, *, total: bool = False
    ) -> HistoryPage: ...

    # The audit log: append-only, read per client. Who may read a client's log is decided
    # above the store (the log is not part of the resource set, so no constraint applies).

    async def audit_page(
        self, patient: str, before_seq: int | None, count: int
    ) -> tuple[tuple[AuditRow, ...], int | None]:
        """The newest ``count`` audit rows of ``patient`` older than ``before_seq`` (all when
        None), newest first, and the cursor of the next page (None on the last page)."""
        ...

    async def audit_read(self, id_: str) -> AuditRow | None: ...

    # Subscription delivery state (see model.Delivery).

    async def seen(
        self, subscription: str, keys: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which of ``keys`` the subscription has been notified of (and not of their deletion)."""
        ...


class Transaction(Reader, Protocol):
    """A unit of work; commits when the context exits cleanly, rolls back otherwise."""

    @property
    def timestamp(self) -> int:
        """The write time for this transaction (µs), never earlier than any stored version."""
        ...

    async def write(self, version: NewVersion) -> StoredVersion:
        """Store a new version; VersionConflict when ``version.version`` does not follow the
        current one. The returned version's ``seq`` is 0: it is assigned at commit."""
        ...

    def require(self, keys: Sequence[tuple[str, str]], access: AccessConstraint) -> None:
        """When the transaction commits, each of ``keys`` must exist (not deleted) and be
        visible under ``access``; otherwise the commit fails with MissingReferences."""
        ...

    def append_audit(self, rows: Sequence[AuditRow]) -> None:
        """Append audit rows, written with the transaction (buffered like ``write``)."""
        ...

    async def erase_compartment(self, patient: str) -> Erasure:
        """Destroy the client ``patient``'s plan for good (vernietiging, WGBO art. 7:455).

        Removes every stored version whose compartment is ``patient`` (current, older and
        deletion tombstones, the client's Provenance among them) and every index value of the
        resources whose current version is in it, as if they had never been written: reads,
        vreads, searches, includes, history and ``existing`` find nothing of them. Their ids
        are retired: writing version 1 under one of them fails with Conflict from then on, so
        the history cannot be resurrected. A resource that moved into another compartment
        keeps its versions there. Resources of other compartments and shared ones are not
        touched, also when they refer into this compartment (their references then dangle),
        and neither are audit rows (NEN 7513: the log outlives the plan). Subscription delivery
        state forgets them too (seen sets; the delivery of an erased Subscription). Adapters
        also make the erased content unrecoverable from their files where they can. Erasing an
        empty or unknown compartment removes nothing. Returns what went, as counts."""
        ...

    def put_delivery(self, delivery: Delivery) -> None:
        """Create or replace a subscription's delivery state (releasing any lease), written with
        the transaction — together with the Subscription version that activates or pauses it."""
        ...

    def remove_delivery(self, subscription: str) -> None:
        """Forget a subscription's delivery state and its seen set (turned off or deleted)."""
        ...


class Store(Reader, Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def append_audit(self, rows: Sequence[AuditRow]) -> None:
        """Append audit rows on their own, durable on return (the audit log's batches: the
        same as a transaction holding only ``append_audit``, which adapters may do cheaper)."""
        ...

    async def claim_deliveries(
        self, owner: str, now: int, lease_until: int, count: int
    ) -> tuple[Delivery, ...]:
        """Lease up to ``count`` deliveries to ``owner`` until ``lease_until`` (µs), atomically
        across processes: active ones, due at ``now``, not leased to anyone at ``now``, and
        with a change of their type after their cursor (nothing to do: not claimed)."""
        ...

    async def release_delivery(
        self,
        delivery: Delivery,
        owner: str,
        *,
        seen: Sequence[tuple[str, str]] = (),
        unseen: Sequence[tuple[str, str]] = (),
    ) -> bool:
        """Store a claimed delivery's new state, add ``seen`` to and drop ``unseen`` from its
        seen set, and end the lease — only while ``owner`` still holds it (else nothing is
        changed and the answer is False: the lease ran out and another worker took over)."""
        ...

    async def purge_audit(self, recorded_before: int) -> int:
        """Delete the audit rows recorded before ``recorded_before`` (µs): the retention
        purge, the only deletion of audit rows there is. Returns how many went."""
        ...

    async def close(self) -> None: ...
