"""The read side of the MongoDB adapter: every ``Reader`` operation of the port, over one way
of getting a session, which the store (none, or a snapshot for a search) and a transaction (its
group's, after flushing its buffered writes) each provide. Also the delivery claim's look-up of
the deliveries with changes waiting, which a claim runs outside and then inside a transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from zorgleefplan.store.model import (
    AccessConstraint,
    AuditRow,
    Page,
    SearchPage,
    SearchQuery,
    StoredVersion,
)
from zorgleefplan.store.mongo_connection import Document
from zorgleefplan.store.mongo_delivery import (
    CLAIM_ORDER,
    claimable_types_pipeline,
    seen_filter,
    waiting_filter,
)
from zorgleefplan.store.mongo_query import (
    Filter,
    and_,
    compile_access,
    compile_sort,
    history_filter,
    history_page,
    lookups,
    revinclude_filter,
    search_filter,
    search_pipeline,
    substitute,
)
from zorgleefplan.store.mongo_schema import (
    AUDIT,
    DELIVERIES,
    RESOURCES,
    SEEN,
    STORED_FIELDS,
    VERSIONS,
    audit_row,
    keys_filter,
    referenced_keys,
    stored_version,
)
from zorgleefplan.store.port import HistoryPage, HistoryQuery


class MongoReader(ABC):
    """The read API over one way of getting a session (none, a snapshot, a transaction's)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._resources: AsyncCollection[Document] = db[RESOURCES]
        self._versions: AsyncCollection[Document] = db[VERSIONS]
        self._audit: AsyncCollection[Document] = db[AUDIT]
        self._deliveries: AsyncCollection[Document] = db[DELIVERIES]
        self._seen: AsyncCollection[Document] = db[SEEN]

    @abstractmethod
    def _reading(
        self, snapshot: bool
    ) -> AbstractAsyncContextManager[AsyncClientSession | None]: ...

    async def read(self, type_: str, id_: str, access: AccessConstraint) -> StoredVersion | None:
        where = and_({"type": type_, "id": id_}, compile_access(access))
        async with self._reading(False) as s:
            doc = await self._resources.find_one(where, STORED_FIELDS, session=s)
        return None if doc is None else stored_version(doc)

    async def read_version(
        self, type_: str, id_: str, version: int, access: AccessConstraint
    ) -> StoredVersion | None:
        where = and_({"type": type_, "id": id_, "version": version}, compile_access(access))
        async with self._reading(False) as s:
            doc = await self._versions.find_one(where, STORED_FIELDS, session=s)
        return None if doc is None else stored_version(doc)

    async def _resolve(self, filter_: Filter, s: AsyncClientSession | None) -> Filter:
        """``filter_`` with its chain and ``_has`` lookups run (innermost first)."""
        found: dict[Any, list[str]] = {}
        for lookup in lookups(filter_):
            inner = await self._resolve(lookup.filter, s)
            cursor = await self._resources.aggregate(
                lookup.pipeline(inner), session=s, allowDiskUse=True
            )
            found[lookup] = lookup.values(await cursor.to_list())
        return substitute(filter_, found) if found else filter_

    async def search(
        self, query: SearchQuery, page: Page, access: AccessConstraint, *, total: bool = False
    ) -> SearchPage:
        fields = compile_sort(query.sort)
        async with self._reading(True) as s:
            where = await self._resolve(search_filter(query, access), s)
            cursor = await self._resources.aggregate(  # a computed sort may not fit in memory
                search_pipeline(where, fields, page), session=s, allowDiskUse=True
            )
            rows = await cursor.to_list()
            more = len(rows) > page.count
            rows = rows[: page.count]
            count = None
            if total:
                count = await self._resources.count_documents(where, session=s)
            elif page.after is None and page.offset == 0 and not more:
                count = len(rows)
        next_after = tuple(rows[-1][f.name] for f in fields) if more and rows else None
        return SearchPage(
            rows=tuple(stored_version(r) for r in rows), next_after=next_after, total=count
        )

    async def count(self, query: SearchQuery, access: AccessConstraint) -> int:
        async with self._reading(True) as s:
            where = await self._resolve(search_filter(query, access), s)
            return await self._resources.count_documents(where, session=s)

    async def include(
        self,
        sources: Sequence[tuple[str, str]],
        param: str,
        target_type: str | None,
        access: AccessConstraint,
    ) -> list[StoredVersion]:
        async with self._reading(True) as s:
            cursor = self._resources.find(keys_filter(sources), {"_id": 0, "ref": 1}, session=s)
            targets = referenced_keys(await cursor.to_list(), param, target_type)
            if not targets:
                return []
            where = and_(keys_filter(targets), {"deleted": False}, compile_access(access))
            docs = await self._resources.find(where, STORED_FIELDS, session=s).to_list()
        return [stored_version(d) for d in docs]

    async def revinclude(
        self,
        targets: Sequence[tuple[str, str]],
        source_type: str,
        param: str,
        access: AccessConstraint,
    ) -> list[StoredVersion]:
        if not targets:
            return []
        where = revinclude_filter(targets, source_type, param, access)
        async with self._reading(False) as s:
            docs = await self._resources.find(where, STORED_FIELDS, session=s).to_list()
        return [stored_version(d) for d in docs]

    async def existing(
        self, keys: Sequence[tuple[str, str]], access: AccessConstraint
    ) -> set[tuple[str, str]]:
        async with self._reading(False) as s:
            return await self._existing(keys, access, s)

    async def _existing(
        self,
        keys: Sequence[tuple[str, str]],
        access: AccessConstraint,
        s: AsyncClientSession | None,
    ) -> set[tuple[str, str]]:
        if not keys:
            return set()
        where = and_(keys_filter(keys), {"deleted": False}, compile_access(access))
        cursor = self._resources.find(where, {"_id": 0, "type": 1, "id": 1}, session=s)
        return {(d["type"], d["id"]) for d in await cursor.to_list()}

    async def history(
        self, query: HistoryQuery, count: int, access: AccessConstraint, *, total: bool = False
    ) -> HistoryPage:
        where = history_filter(query, access)
        page_where, order = history_page(query, where)
        async with self._reading(True) as s:
            cursor = self._versions.find(page_where, STORED_FIELDS, session=s)
            rows = await cursor.sort("seq", order).limit(count + 1).to_list()
            counted = await self._versions.count_documents(where, session=s) if total else None
        more = len(rows) > count and query.after_seq is None  # after_seq: go on from the last
        rows = rows[:count]
        return HistoryPage(
            rows=tuple(stored_version(r) for r in rows),
            next_before_seq=rows[-1]["seq"] if more and rows else None,
            total=counted,
        )

    async def audit_page(
        self, patient: str, before_seq: int | None, count: int
    ) -> tuple[tuple[AuditRow, ...], int | None]:
        where: Filter = {"patient": patient}
        if before_seq is not None:
            where["seq"] = {"$lt": before_seq}
        async with self._reading(False) as s:
            cursor = self._audit.find(where, session=s).sort("seq", -1).limit(count + 1)
            rows = await cursor.to_list()
        more = len(rows) > count
        rows = rows[:count]
        return tuple(audit_row(r) for r in rows), (rows[-1]["seq"] if more and rows else None)

    async def audit_read(self, id_: str) -> AuditRow | None:
        async with self._reading(False) as s:
            doc = await self._audit.find_one({"_id": id_}, session=s)
        return None if doc is None else audit_row(doc)

    async def seen(
        self, subscription: str, keys: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        if not keys:
            return set()
        async with self._reading(False) as s:
            return await self._seen_keys(subscription, keys, s)

    async def _seen_keys(
        self,
        subscription: str,
        keys: Sequence[tuple[str, str]],
        s: AsyncClientSession | None,
    ) -> set[tuple[str, str]]:
        where = seen_filter(subscription, keys)
        cursor = self._seen.find(where, {"_id": 0, "type": 1, "id": 1}, session=s)
        return {(d["type"], d["id"]) for d in await cursor.to_list()}

    async def _claimable(
        self, now: int, limit: int, s: AsyncClientSession | None
    ) -> list[Document]:
        """Up to ``limit`` deliveries claimable at ``now`` with a change of their type after
        their cursor, the longest due first."""
        latest: dict[str, int] = {}
        types = await self._deliveries.aggregate(claimable_types_pipeline(now), session=s)
        for group in await types.to_list():
            newest = await self._versions.find_one(
                {"type": group["_id"]}, {"_id": 0, "seq": 1}, sort=[("seq", -1)], session=s
            )
            if newest is not None:
                latest[group["_id"]] = newest["seq"]
        where = waiting_filter(now, latest)
        if where is None:
            return []
        cursor = self._deliveries.find(where, session=s).sort(CLAIM_ORDER).limit(limit)
        return await cursor.to_list()
