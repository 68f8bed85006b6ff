"""The MongoDB store: the production adapter of the storage port, on PyMongo's async API.

Needs a replica set or a sharded cluster (multi-document transactions) of MongoDB 5.0 or newer
(snapshot reads); :meth:`MongoStore.open` checks this and refuses a standalone server, or one
that does not answer within ``timeout`` seconds, with an error that says what to do. The
layout (collections, indexes, shard keys) is in ``mongo_schema.py`` (delivery state in
``mongo_delivery.py``), the query translation in ``mongo_query.py``, the reads in
``mongo_reader.py``; this module does the writes: transactions, group commit, delivery leases.

Writers are serialised. Every writing transaction first updates the ``clock`` counter inside
its MongoDB transaction and holds it until it commits, so writers take turns across all
workers, as on SQLite's single writer. That is what makes each version's timestamp never
earlier than a stored one and its change sequence follow commit order: history and ``_since``
feeds without gaps. A worker that finds the clock taken retries with backoff for up to
``busy_timeout`` seconds.

Group commit, as on SQLite: the transactions of one process queue on a lock, and consecutive
ones share one MongoDB transaction, committed (write concern majority, journaled) when nobody
waits or the group is full; each is acknowledged only then. MongoDB has no savepoints, so a
member that fails takes back exactly what it wrote (``mongo_schema.Undo``) inside the shared
transaction and the others stay. When MongoDB loses the transaction (failover, network), every
member of the group fails with StoreUnavailable.

Subscription delivery state is written only in writing transactions: the puts and removes of a
transaction, and claims and releases, each a transaction of its own (as on SQLite). So they
take turns on the clock with every other writer, and a claim leases what it read as claimable
in the same state of the store. A poll with nothing to claim looks outside a transaction first
and takes no turn.

Reads: read concern majority on the primary; a search runs in a snapshot session, so its
chain and ``_has`` lookups, its page and its total see one point in time. Inside a transaction
reads go through its session and see its writes (flushed first, like the SQLite adapter).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from pymongo import AsyncMongoClient, DeleteMany, ReadPreference, ReplaceOne, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, DuplicateKeyError, OperationFailure, PyMongoError

from zorgleefplan.errors import MissingReferences, StoreUnavailable
from zorgleefplan.store.buffer import TransactionBuffer
from zorgleefplan.store.futures import settle
from zorgleefplan.store.model import (
    AuditRow,
    Delivery,
    Erasure,
)
from zorgleefplan.store.mongo_connection import (
    TRANSACTION_READS,
    WRITES,
    Document,
    connect,
    open_database,
    translated,
    unavailable,
)
from zorgleefplan.store.mongo_delivery import (
    DeliveryChange,
    Removal,
    changes_plan,
    claim_plan,
    delivery_of,
    erased_filters,
    erasure_plan,
    lease_filter,
    release_plan,
)
from zorgleefplan.store.mongo_reader import MongoReader
from zorgleefplan.store.mongo_schema import (
    AUDIT_SEQ,
    CLOCK,
    COUNTERS,
    INDEXES,
    RESOURCES,
    RETIRED,
    VERSIONS,
    Step,
    Undo,
    audit_document,
    erasure_inverse,
    plan_writes,
    resource_key,
    retired_id,
)

NAMESPACE_EXISTS = 48  # MongoDB's error code
MAX_GROUP = 64  # transactions per group commit at most: bounds the wait of the first member
BUSY_TIMEOUT = 10.0  # seconds a transaction waits for another worker's hold on the clock
_COMMIT_ATTEMPTS = 3


# --------------------------------------------------------------------------- transactions


@dataclass(eq=False)
class _Group:
    """Consecutive transactions of this process sharing one MongoDB transaction (which holds
    the clock) and one commit."""

    session: AsyncClientSession
    seq: int  # the last change sequence number used
    clock: int  # the last timestamp handed out (µs)
    durable: asyncio.Future[None]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one operation at a time
    members: int = 0
    lost: bool = False  # MongoDB aborted the transaction: no member is written

    def tick(self) -> int:
        self.clock = max(time.time_ns() // 1000, self.clock + 1)
        return self.clock

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Any driver error inside a MongoDB transaction aborts it: the group is lost."""
        try:
            yield
        except PyMongoError as exc:
            self.lost = True
            raise unavailable(exc) from exc


class MongoTransaction(MongoReader, TransactionBuffer):
    """One interaction's unit of work inside its group's MongoDB transaction.

    Writes and audit rows are buffered and flushed before the next read and at the end;
    required references are checked at the end (a bundle may refer to an entry it writes
    later). What a flush wrote is recorded in an :class:`Undo`, to take back on failure."""

    def __init__(self, store: MongoStore, group: _Group) -> None:
        MongoReader.__init__(self, store._db)
        TransactionBuffer.__init__(self, group.tick())
        self._store = store
        self._group = group
        self._seq_before = group.seq
        self._delivery_changes: list[DeliveryChange] = []
        self._undo = Undo()

    def put_delivery(self, delivery: Delivery) -> None:
        self._delivery_changes.append(delivery)

    def remove_delivery(self, subscription: str) -> None:
        self._delivery_changes.append(Removal(subscription))

    @asynccontextmanager
    async def _reading(self, snapshot: bool) -> AsyncIterator[AsyncClientSession | None]:
        async with self._group.lock:
            await self._flush()
            with self._group.guard():
                yield self._group.session

    async def _flush(self) -> None:
        """Write the buffered versions, audit rows and delivery changes into the group's
        transaction."""
        s = self._group.session
        writes, self._writes = self._writes, []
        if writes:
            keys = list(dict.fromkeys(resource_key(w.type, w.id) for w in writes))
            with self._group.guard():
                cursor = self._resources.find({"_id": {"$in": keys}}, session=s)
                stored = {doc["_id"]: doc for doc in await cursor.to_list()}
                retired = await self._retired([k for k in keys if k not in stored], s)
            plan = plan_writes(writes, stored, retired, self._timestamp, self._group.seq)
            self._undo.record(plan.inverse())
            await self._apply(plan.operations(self._timestamp))
            self._group.seq = plan.seq
        if self._audit_rows:
            rows, self._audit_rows = self._audit_rows, []
            first = await self._store._reserve_audit_seqs(len(rows))
            self._undo.record_audit([r.id for r in rows])
            with self._group.guard():
                await self._audit.insert_many(
                    [audit_document(r, first + i) for i, r in enumerate(rows)], session=s
                )
        if self._delivery_changes:
            changes, self._delivery_changes = self._delivery_changes, []
            await self._flush_deliveries(changes, s)

    async def _flush_deliveries(
        self, changes: Sequence[DeliveryChange], s: AsyncClientSession
    ) -> None:
        """Write delivery puts and removes, reading first what they replace (for the undo)."""
        subs = list(dict.fromkeys(c.subscription for c in changes))
        removed = [c.subscription for c in changes if isinstance(c, Removal)]
        with self._group.guard():
            found = self._deliveries.find({"_id": {"$in": subs}}, session=s)
            stored = {doc["_id"]: doc for doc in await found.to_list()}
            stored_seen: list[Document] = []
            if removed:
                forgotten = self._seen.find({"sub": {"$in": removed}}, session=s)
                stored_seen = await forgotten.to_list()
        plan = changes_plan(changes, stored, stored_seen)
        self._undo.record(plan.inverse)
        await self._apply(plan.operations)

    async def _retired(self, keys: Sequence[str], s: AsyncClientSession) -> set[str]:
        """Which of ``keys`` (of resources not stored) an erasure has retired."""
        if not keys:
            return set()
        digests = {retired_id(key): key for key in keys}
        cursor = self._db[RETIRED].find({"_id": {"$in": list(digests)}}, {"_id": 1}, session=s)
        return {digests[doc["_id"]] for doc in await cursor.to_list()}

    async def _apply(self, step: Step) -> None:
        with self._group.guard():
            for name, operations in step:
                if operations:
                    await self._db[name].bulk_write(
                        operations, ordered=True, session=self._group.session
                    )

    async def erase_compartment(self, patient: str) -> Erasure:
        """Delete the compartment's current and version documents (their index values are
        embedded), retire the ids of its current resources, and delete their seen entries and
        the delivery state of its Subscriptions. What went is kept in memory until the end,
        to bring back should this transaction fail. MongoDB frees the space for reuse; the
        oplog and backups keep the content until they roll over."""
        async with self._group.lock:
            await self._flush()
            s = self._group.session
            with self._group.guard():
                found = self._resources.find({"compartment": patient}, session=s)
                resources = await found.to_list()
                older = self._versions.find({"compartment": patient}, session=s)
                versions = await older.to_list()
                seen_where, deliveries_where = erased_filters(resources)
                seen = await self._seen.find(seen_where, session=s).to_list()
                deliveries = await self._deliveries.find(deliveries_where, session=s).to_list()
            delivery_state = erasure_plan(seen, deliveries)
            self._undo.record(erasure_inverse(resources, versions))
            self._undo.record(delivery_state.inverse)
            retire = [
                ReplaceOne({"_id": retired_id(doc["_id"])}, {}, upsert=True) for doc in resources
            ]
            await self._apply(
                [
                    (RESOURCES, [DeleteMany({"compartment": patient})] if resources else []),
                    (VERSIONS, [DeleteMany({"compartment": patient})] if versions else []),
                    (RETIRED, retire),
                    *delivery_state.operations,
                ]
            )
        counts = Counter(doc["type"] for doc in resources)
        return Erasure(resources=tuple(sorted(counts.items())), versions=len(versions))

    async def _finish(self) -> None:
        """Flush and check the required references; on failure (a version conflict, a
        missing reference) take back everything this transaction wrote."""
        async with self._group.lock:
            if self._group.lost:
                raise StoreUnavailable("the store lost the transaction; nothing was written")
            try:
                await self._flush()
                missing: list[tuple[str, str]] = []
                with self._group.guard():
                    for access, keys in self._required.by_access():
                        found = await self._existing(keys, access, self._group.session)
                        missing += [key for key in keys if key not in found]
                if missing:
                    raise MissingReferences(missing)
            except BaseException:
                await self._take_back()
                raise

    async def _claim(
        self, owner: str, now: int, lease_until: int, count: int
    ) -> tuple[Delivery, ...]:
        """Lease up to ``count`` deliveries with changes waiting (read and leased in this
        transaction, which holds the clock: no other claim or release runs meanwhile)."""
        async with self._group.lock:
            await self._flush()
            with self._group.guard():
                claimed = await self._claimable(now, count, self._group.session)
            if claimed:
                plan = claim_plan(claimed, owner, now, lease_until)
                self._undo.record(plan.inverse)
                await self._apply(plan.operations)
        return tuple(delivery_of(doc) for doc in claimed)

    async def _release(
        self,
        delivery: Delivery,
        owner: str,
        seen: Sequence[tuple[str, str]],
        unseen: Sequence[tuple[str, str]],
    ) -> bool:
        """Store a claimed delivery's new state and seen changes, if ``owner`` holds it."""
        async with self._group.lock:
            await self._flush()
            s = self._group.session
            with self._group.guard():
                before = await self._deliveries.find_one(
                    lease_filter(delivery.subscription, owner), session=s
                )
                if before is None:
                    return False
                stored = await self._seen_keys(delivery.subscription, [*seen, *unseen], s)
            plan = release_plan(delivery, owner, before, seen, unseen, stored)
            self._undo.record(plan.inverse)
            await self._apply(plan.operations)
        return True

    async def _abort(self) -> None:
        async with self._group.lock:
            self._writes.clear()
            self._audit_rows.clear()
            self._delivery_changes.clear()
            await self._take_back()

    async def _take_back(self) -> None:
        """Undo this member's writes inside the group's transaction (the savepoint MongoDB
        lacks): the state is as if it had never begun."""
        if self._undo.empty or self._group.lost:  # a lost group takes everything back
            return
        await self._apply(self._undo.operations())
        self._group.seq = self._seq_before
        self._undo = Undo()


# --------------------------------------------------------------------------- the store


class MongoStore(MongoReader):
    """The MongoDB adapter of the storage port."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        *,
        max_group: int = MAX_GROUP,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        super().__init__(db)
        self._client = client
        self._counters: AsyncCollection[Document] = db[COUNTERS]
        self._max_group = max_group
        self._busy_timeout = busy_timeout
        self._write_lock = asyncio.Lock()
        self._waiting = 0  # transactions queued for the write lock
        self._group: _Group | None = None
        self._closer: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        database: str | None = None,
        timeout: float = 10.0,
        max_group: int = MAX_GROUP,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> MongoStore:
        """Connect, check the deployment, and create the indexes and counters when missing.
        The database is ``database``, else the one the URL names, else "zorgleefplan".
        StoreUnavailable, saying why, when MongoDB cannot hold the store."""
        client = await connect(url, timeout)
        try:
            db = open_database(client, database)
            with translated():
                await _prepare(db)
        except BaseException:
            await client.close()
            raise
        return cls(client, db, max_group=max_group, busy_timeout=busy_timeout)

    @asynccontextmanager
    async def _reading(self, snapshot: bool) -> AsyncIterator[AsyncClientSession | None]:
        with translated():
            if snapshot:
                async with self._client.start_session(snapshot=True) as s:
                    yield s
            else:
                yield None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MongoTransaction]:
        self._waiting += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._waiting -= 1
        try:
            if self._group is None:
                self._group = await self._begin_group()
            group = self._group
            tx = MongoTransaction(self, group)
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

    async def _begin_group(self) -> _Group:
        """Start a MongoDB transaction and take the clock in it, waiting while another worker
        holds it (its commit releases it)."""
        session = self._client.start_session(causal_consistency=False)
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.002
        try:
            while True:
                await session.start_transaction(
                    read_concern=TRANSACTION_READS,
                    write_concern=WRITES,
                    read_preference=ReadPreference.PRIMARY,
                )
                try:
                    clock = await self._counters.find_one_and_update(
                        {"_id": CLOCK},
                        {"$inc": {"claims": 1}},
                        upsert=True,
                        return_document=ReturnDocument.AFTER,
                        session=session,
                    )
                    break
                except PyMongoError as exc:
                    await session.abort_transaction()
                    if not exc.has_error_label("TransientTransactionError"):
                        raise
                    if time.monotonic() > deadline:
                        raise StoreUnavailable(
                            f"the store is busy: another worker kept writing for more than "
                            f"{self._busy_timeout:g} s"
                        ) from exc
                await asyncio.sleep(random.uniform(0, pause))
                pause = min(pause * 2, 0.1)
        except BaseException as exc:
            await session.end_session()
            if isinstance(exc, PyMongoError):
                raise unavailable(exc) from exc
            raise
        assert clock is not None  # upserted
        return _Group(
            session,
            seq=clock.get("seq", 0),
            clock=clock.get("time", 0),
            durable=asyncio.get_running_loop().create_future(),
        )

    async def _end(self, group: _Group, end: Callable[[], Awaitable[None]]) -> None:
        """Finish or abort one member and, when nobody is waiting (or the group is full),
        commit the group. Runs to completion even when the request is cancelled, so the
        group's bookkeeping stays true."""
        group.members += 1
        close = self._waiting == 0 or group.members >= self._max_group
        if close:
            self._group = None
        outcome = asyncio.ensure_future(self._end_member(group, end, close))
        try:
            await asyncio.shield(outcome)
        except asyncio.CancelledError:
            await settle(outcome)
            raise
        finally:
            if group.lost and self._group is group:
                self._group = None
            _resolve(group, close)

    async def _end_member(
        self, group: _Group, end: Callable[[], Awaitable[None]], close: bool
    ) -> None:
        try:
            await end()
        finally:
            if group.lost:
                await _discard(group)
            elif close:
                await self._commit(group)

    async def _commit(self, group: _Group) -> None:
        """Record the clock and commit the group's transaction (retrying a commit whose
        outcome is unknown, which is safe); then end its session."""
        s = group.session
        try:
            with group.guard():
                await self._counters.update_one(
                    {"_id": CLOCK}, {"$set": {"seq": group.seq, "time": group.clock}}, session=s
                )
                for attempt in range(1, _COMMIT_ATTEMPTS + 1):
                    try:
                        await s.commit_transaction()
                        break
                    except PyMongoError as exc:
                        unknown = exc.has_error_label("UnknownTransactionCommitResult")
                        if not unknown or attempt == _COMMIT_ATTEMPTS:
                            raise
        finally:
            if group.lost:
                await _discard(group)
            else:
                await s.end_session()

    def _close_abandoned_group(self) -> None:
        """A group left open for a waiter that was then cancelled is committed here."""
        if self._group is not None and self._waiting == 0 and self._closer is None:
            self._closer = asyncio.ensure_future(self._commit_open_group())

    async def _commit_open_group(self) -> None:
        try:
            async with self._write_lock:
                group = self._group
                if group is None:
                    return
                self._group = None
                outcome = asyncio.ensure_future(self._commit(group))
                await settle(outcome)
                if outcome.done() and not outcome.cancelled():
                    outcome.exception()  # retrieved: the group's members hear it via durable
                _resolve(group, close=True)
        finally:
            self._closer = None

    async def _reserve_audit_seqs(self, n: int) -> int:
        """The first of ``n`` fresh audit sequence numbers. Taken outside any transaction, so
        no writer holds the counter: numbers of a rolled-back transaction stay unused."""
        with translated():
            counter = await self._counters.find_one_and_update(
                {"_id": AUDIT_SEQ},
                {"$inc": {"seq": n}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        assert counter is not None  # upserted
        return int(counter["seq"]) - n + 1

    async def append_audit(self, rows: Sequence[AuditRow]) -> None:
        """Durable on return (majority, journaled). One row is one atomic insert; a batch of
        several is one transaction, so it is stored whole or not at all."""
        if not rows:
            return
        first = await self._reserve_audit_seqs(len(rows))
        docs = [audit_document(r, first + i) for i, r in enumerate(rows)]
        with translated():
            if len(docs) == 1:
                await self._audit.insert_one(docs[0])
                return
            async with (
                self._client.start_session() as s,
                await s.start_transaction(write_concern=WRITES),
            ):
                await self._audit.insert_many(docs, session=s)

    async def claim_deliveries(
        self, owner: str, now: int, lease_until: int, count: int
    ) -> tuple[Delivery, ...]:
        # Look first outside a transaction: an idle poll then takes no turn on the clock.
        async with self._reading(False) as s:
            if not await self._claimable(now, 1, s):
                return ()
        async with self.transaction() as tx:
            return await tx._claim(owner, now, lease_until, count)

    async def release_delivery(
        self,
        delivery: Delivery,
        owner: str,
        *,
        seen: Sequence[tuple[str, str]] = (),
        unseen: Sequence[tuple[str, str]] = (),
    ) -> bool:
        async with self.transaction() as tx:
            return await tx._release(delivery, owner, seen, unseen)

    async def purge_audit(self, recorded_before: int) -> int:
        # The retention purge: the only operation that removes audit rows.
        with translated():
            result = await self._audit.delete_many({"recorded": {"$lt": recorded_before}})
        return result.deleted_count

    async def close(self) -> None:
        if self._closer is not None:
            await self._closer
        if self._group is not None:
            await self._commit_open_group()
        await self._client.close()


def _resolve(group: _Group, close: bool) -> None:
    """Tell the group's members how it ended, once it has: lost, or committed when closed."""
    if group.durable.done():
        return
    if group.lost:
        group.durable.set_exception(
            StoreUnavailable("the store lost the transaction; nothing of it was acknowledged")
        )
        group.durable.exception()  # retrieved: members that were cancelled never await it
    elif close:
        group.durable.set_result(None)


async def _discard(group: _Group) -> None:
    """Abort a lost group's transaction (errors ignored, as the driver does) and end it."""
    if group.session.in_transaction:
        await group.session.abort_transaction()
    await group.session.end_session()


async def _prepare(db: AsyncDatabase[Document]) -> None:
    """Create the collections, indexes and counters that are missing (every worker does this
    on start; transactions may not create collections)."""
    for name, models in INDEXES.items():
        await db[name].create_indexes(list(models))
    try:
        await db.create_collection(RETIRED)
    except CollectionInvalid:
        pass  # it exists
    except OperationFailure as exc:
        if exc.code != NAMESPACE_EXISTS:  # another worker created it just now
            raise
    for counter, fields in ((CLOCK, {"seq": 0, "time": 0, "claims": 0}), (AUDIT_SEQ, {"seq": 0})):
        with contextlib.suppress(DuplicateKeyError):  # another worker made it just now
            await db[COUNTERS].update_one({"_id": counter}, {"$setOnInsert": fields}, upsert=True)
