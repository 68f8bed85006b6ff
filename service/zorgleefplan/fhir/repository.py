"""The repository: the store bound to one principal's access constraint, plus the write pipeline.

Every interaction, bundle entry and operation goes through a Repository built for the requester
(the ``getRepoForLogin`` pattern): reads and searches carry the access constraint into the store
query, and writes run validate (structure, then profiles and Dutch identifiers) → check
references → stamp meta → extract index values → store, all inside one store transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from zorgleefplan.access.engine import WriteAction
from zorgleefplan.access.facts import normalize_reference
from zorgleefplan.access.policy import AccessDecision, AccessPolicy
from zorgleefplan.access.principal import Principal
from zorgleefplan.access.subscriber import subscriber_compartment
from zorgleefplan.config import Settings
from zorgleefplan.errors import (
    Conflict,
    Forbidden,
    InvalidResource,
    MissingReferences,
    ResourceGone,
    ResourceNotFound,
    VersionConflict,
)
from zorgleefplan.fhir.conformance import ConformanceChecker
from zorgleefplan.fhir.provenance import provenance_for
from zorgleefplan.fhir.resource_types import SUPPORTED
from zorgleefplan.fhir.search.extract import IndexExtractor
from zorgleefplan.fhir.search.parameters import SearchParameterRegistry
from zorgleefplan.fhir.subscription import resource as subscriptions
from zorgleefplan.fhir.subscription.endpoint import AddressPolicy
from zorgleefplan.fhir.validation import ResourceValidator
from zorgleefplan.store.model import (
    AccessConstraint,
    IndexValues,
    NewVersion,
    Page,
    SearchPage,
    SearchQuery,
    StoredVersion,
)
from zorgleefplan.store.port import HistoryPage, HistoryQuery, Reader, Store, Transaction

# A domain rule run for every create, update and delete inside its store transaction, after the
# transaction's last write (so it judges the outcome of a whole bundle) and before the commit:
# (the transaction-bound repository that made the change, the new resource or None for a delete,
# the version it replaced or None). It refuses a change by raising a ZlpError — nothing is then
# stored — and may read (``repo.tx``) and write (``repo.create``/``update``) in the same
# transaction, so what it checks cannot change underneath it.
WriteRule = Callable[["Repository", dict[str, Any] | None, StoredVersion | None], Awaitable[None]]


@dataclass(frozen=True)
class FhirServices:
    """What every interaction needs, built once per application by ``create_app``."""

    settings: Settings
    store: Store
    registry: SearchParameterRegistry
    validator: ResourceValidator
    extractor: IndexExtractor
    policy: AccessPolicy
    started: str  # when this process started serving (CapabilityStatement.date)
    write_rules: tuple[WriteRule, ...] = ()
    # The project's profiles and the Dutch identifier rules (fhir/conformance.py)
    conformance: ConformanceChecker = field(default_factory=ConformanceChecker)


def new_id() -> str:
    return str(uuid.uuid4())


def instant(micros: int) -> str:
    """A FHIR instant with microseconds, in UTC."""
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


# Stamped into a resource while it is validated and indexed, before the transaction that
# writes it exists; replaced by the real version and time when it is written.
_PROVISIONAL_TIME = "1970-01-01T00:00:00.000000Z"


# A change whose write rules are still to run: (the repository that made it, the resource or
# None for a delete, the version it replaced)
_PendingRules = tuple["Repository", dict[str, Any] | None, StoredVersion | None]


@dataclass
class _Prepared:
    """A validated, indexed resource waiting for its version number and write time."""

    resource: dict[str, Any]  # id and meta first, as stored
    index: IndexValues
    compartment: str | None
    references: dict[tuple[str, str], str]  # (type, id) -> element path: must resolve


class Repository:
    def __init__(
        self,
        services: FhirServices,
        principal: Principal,
        access: AccessConstraint,
        tx: Transaction | None = None,
        reference_paths: dict[tuple[str, str], str] | None = None,
        *,
        decision: AccessDecision | None = None,
        pending: list[_PendingRules] | None = None,
    ) -> None:
        """``access`` bounds every read; ``decision`` decides every write (without one, only
        an unrestricted ``access`` may write)."""
        self.services = services
        self.principal = principal
        self.access = access
        self.decision = decision or AccessDecision(principal, access)
        self._tx = tx
        self._reference_paths = reference_paths if reference_paths is not None else {}
        self._pending = pending if pending is not None else []
        self._reader: Reader = tx if tx is not None else services.store

    # ------------------------------------------------------------------ transactions

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repository]:
        """A repository whose writes all land in one store transaction.

        References are checked when it commits, so bundle entries may refer to each other in
        any order; the error then names the element path of each unresolved reference. For the
        same reason the write rules run after the last write, over the transaction's outcome:
        a plan may name the volmacht Consent a later entry of the same bundle writes."""
        if self._tx is not None:
            yield self
            return
        paths: dict[tuple[str, str], str] = {}
        pending: list[_PendingRules] = []
        try:
            async with self.services.store.transaction() as tx:
                yield Repository(
                    self.services,
                    self.principal,
                    self.access,
                    tx,
                    paths,
                    decision=self.decision,
                    pending=pending,
                )
                while pending:  # a rule's own writes (a handover applied) queue their rules
                    repo, resource, current = pending.pop(0)
                    for rule in self.services.write_rules:
                        await rule(repo, resource, current)
        except MissingReferences as exc:
            raise _unresolved(exc.keys, paths) from None

    # ------------------------------------------------------------------ reads

    async def read(self, type_: str, id_: str) -> StoredVersion:
        """The current version; ResourceGone when deleted, ResourceNotFound when absent or not
        visible (the two look the same to the requester)."""
        found = await self._reader.read(type_, id_, self.access)
        if found is None:
            raise ResourceNotFound(f"{type_}/{id_} is not known")
        if found.deleted:
            raise ResourceGone(f"{type_}/{id_} has been deleted")
        return found

    async def current(self, type_: str, id_: str) -> StoredVersion | None:
        """The current version or tombstone, or None; never raises for absence."""
        return await self._reader.read(type_, id_, self.access)

    async def vread(self, type_: str, id_: str, version: int) -> StoredVersion:
        found = await self._reader.read_version(type_, id_, version, self.access)
        if found is None:
            raise ResourceNotFound(f"{type_}/{id_} has no version {version}")
        if found.deleted:
            raise ResourceGone(f"version {version} of {type_}/{id_} is a deletion")
        return found

    async def search(self, query: SearchQuery, page: Page, *, total: bool = False) -> SearchPage:
        return await self._reader.search(query, page, self.access, total=total)

    async def count(self, query: SearchQuery) -> int:
        return await self._reader.count(query, self.access)

    async def include(
        self, sources: Sequence[tuple[str, str]], param: str, target_type: str | None
    ) -> list[StoredVersion]:
        return await self._reader.include(sources, param, target_type, self.access)

    async def revinclude(
        self, targets: Sequence[tuple[str, str]], source_type: str, param: str
    ) -> list[StoredVersion]:
        return await self._reader.revinclude(targets, source_type, param, self.access)

    async def history(self, query: HistoryQuery, count: int, *, total: bool) -> HistoryPage:
        return await self._reader.history(query, count, self.access, total=total)

    # ------------------------------------------------------------------ writes
    # Validation and indexing run before the transaction begins, so that the store's writer
    # is never held while a resource is being checked.

    async def create(self, resource: dict[str, Any], id_: str | None = None) -> StoredVersion:
        """Create with a server-assigned id (or the id a transaction pre-assigned)."""
        prepared = self._prepare(resource, resource["resourceType"], id_ or new_id())
        async with self.transaction() as repo:
            return await repo._write(prepared, 1, "POST", None)

    async def update(
        self,
        type_: str,
        id_: str,
        resource: dict[str, Any],
        if_match: int | None = None,
        method: str = "PUT",
    ) -> tuple[StoredVersion, bool]:
        """Update, or create with the client's id. Returns (version, created)."""
        prepared = self._prepare(resource, type_, id_)
        async with self.transaction() as repo:
            current = await repo._reader.read(type_, id_, self.access)
            if if_match is not None and (current is None or current.version != if_match):
                have = "no current version" if current is None else f"version {current.version}"
                raise VersionConflict(
                    f"If-Match asked for version {if_match} of {type_}/{id_}, which has {have}"
                )
            if current is None and await repo._exists_hidden(type_, id_):
                # Somebody else's resource: it may not be overwritten, and the answer must be
                # the one a missing id gets — a create — unless that create would be allowed;
                # only then does the requester learn that the id is taken.
                repo._require_write("create", prepared.resource, None, prepared.compartment)
                raise Conflict(f"{type_}/{id_} cannot be created: the id is already in use")
            version = 1 if current is None else current.version + 1
            created = current is None or current.deleted
            return await repo._write(prepared, version, method, current), created

    async def delete(
        self, type_: str, id_: str, if_match: int | None = None
    ) -> StoredVersion | None:
        """Delete; returns the tombstone, or None when it was already deleted."""
        async with self.transaction() as repo:
            tx = repo.tx
            current = await tx.read(type_, id_, self.access)
            if current is None:
                raise ResourceNotFound(f"{type_}/{id_} is not known")
            if if_match is not None and current.version != if_match:
                raise VersionConflict(
                    f"If-Match asked for version {if_match} of {type_}/{id_}, "
                    f"which is at version {current.version}"
                )
            if current.deleted:
                return None
            repo._require_write("delete", None, current, current.compartment)
            await repo._apply_rules(None, current)
            tombstone = await tx.write(
                NewVersion(type_, id_, current.version + 1, "DELETE", None, current.compartment)
            )
            await repo._record_provenance(tombstone)
            return tombstone

    @property
    def tx(self) -> Transaction:
        """The store transaction of a repository made by ``transaction()``."""
        assert self._tx is not None, "only a repository bound to a transaction writes"
        return self._tx

    def as_server(self) -> Repository:
        """This transaction's repository for a change the server makes as the consequence of
        the principal's (a write rule's follow-up, such as applying an accepted handover):
        unrestricted, the write rules still run, and its Provenance names the principal."""
        return Repository(
            self.services,
            self.principal,
            AccessConstraint.unrestricted(),
            self.tx,
            self._reference_paths,
            decision=AccessDecision.unrestricted(self.principal),
            pending=self._pending,
        )

    async def record(self, resource: dict[str, Any], compartment: str | None) -> StoredVersion:
        """Store a record the server makes itself (the Provenance of a domain event) in this
        transaction and in ``compartment``: validated and indexed like any resource, without
        an access decision, write rules or a Provenance of its own."""
        tx = self.tx
        prepared = self._prepare(resource, resource["resourceType"], new_id())
        stamped = prepared.resource
        stamped["meta"]["lastUpdated"] = instant(tx.timestamp)
        return await tx.write(
            NewVersion(
                stamped["resourceType"],
                stamped["id"],
                1,
                "POST",
                orjson.dumps(stamped),
                compartment,
                prepared.index,
            )
        )

    async def _apply_rules(
        self, resource: dict[str, Any] | None, current: StoredVersion | None
    ) -> None:
        """Queue the write rules of this change; ``transaction()`` runs them before it ends."""
        if self.services.write_rules:
            self._pending.append((self, resource, current))

    async def _exists_hidden(self, type_: str, id_: str) -> bool:
        if self.access.is_unrestricted:
            return False
        return await self._reader.read(type_, id_, AccessConstraint.unrestricted()) is not None

    def _prepare(self, resource: dict[str, Any], type_: str, id_: str) -> _Prepared:
        if not isinstance(resource.get("meta", {}), dict):
            raise InvalidResource("meta must be an object", expression=[f"{type_}.meta"])
        if type_ == "Subscription":
            # The subscriber is the writer; its Subscription lives where its access reaches.
            policy = AddressPolicy(allow_private=self.services.settings.subscription_allow_private)
            resource = subscriptions.accept(
                resource, self.principal, self.services.registry, policy
            )
        stamped = _stamp(resource, id_, 1, _PROVISIONAL_TIME)
        report = self.services.validator.validate(stamped)
        self.services.conformance.check(stamped)
        index = self.services.extractor.extract(stamped)
        compartment = self.services.extractor.compartment(stamped, index)
        if type_ == "Subscription":
            compartment = subscriber_compartment(self.principal)
        return _Prepared(
            resource=stamped,
            index=index,
            compartment=compartment,
            references={
                (ref.type, ref.id): ref.path for ref in report.references if ref.type in SUPPORTED
            },
        )

    def _require_write(
        self,
        action: WriteAction,
        resource: dict[str, Any] | None,
        current: StoredVersion | None,
        compartment: str | None,
    ) -> None:
        """Forbidden unless the access decision lets the principal make this change
        (``resource`` None: a delete of ``current``)."""
        if self.decision.constraint.is_unrestricted:
            return
        before = _json(current) if current is not None and not current.deleted else None
        after = resource if resource is not None else before
        decision = self.decision.check_write(action, after or {}, before, compartment)
        if not decision.allowed:
            raise Forbidden(decision.reason)

    async def _write(
        self, prepared: _Prepared, version: int, method: str, current: StoredVersion | None
    ) -> StoredVersion:
        tx = self.tx
        resource = prepared.resource
        type_, id_ = resource["resourceType"], resource["id"]
        existing = current is not None and not current.deleted
        self._require_write(
            "update" if existing else "create", resource, current, prepared.compartment
        )
        await self._apply_rules(resource, current)
        meta = resource["meta"]
        meta["versionId"] = str(version)
        meta["lastUpdated"] = instant(tx.timestamp)
        for key, path in prepared.references.items():
            self._reference_paths.setdefault(key, path)
        # The client the resource belongs to is known to exist for anyone allowed to write in
        # their plan (checked above); every other target must be visible to the writer, unless
        # the current version already held it: keeping a reference someone else made tells the
        # writer nothing (the owner of a Task addressed to them sees nothing else of the plan).
        anchor = ("Patient", prepared.compartment)
        if anchor in prepared.references:
            tx.require([anchor], AccessConstraint.unrestricted())
        kept = _references_in(_json(current)) if existing else set()
        others = [key for key in prepared.references if key != anchor and key not in kept]
        if others:
            tx.require(others, self.access)
        stored = await tx.write(
            NewVersion(
                type_,
                id_,
                version,
                method,
                orjson.dumps(resource),
                prepared.compartment,
                prepared.index,
            )
        )
        await self._record_provenance(stored)
        return stored

    async def _record_provenance(self, changed: StoredVersion) -> None:
        """Provenance of a change, in the same transaction. The development principal (tests,
        seeding tools) acts outside any client relation and leaves none."""
        if self.principal.kind == "development":
            return
        await record_provenance(
            self.tx,
            self.services.extractor,
            self.principal,
            changed,
            on_behalf_of=self.decision.on_behalf_of(changed.compartment),
        )


async def record_provenance(
    tx: Transaction,
    extractor: IndexExtractor,
    principal: Principal,
    changed: StoredVersion,
    *,
    on_behalf_of: str | None,
) -> None:
    """Write the Provenance of ``changed``, made by ``principal``, in ``tx``."""
    recorded = instant(tx.timestamp)
    made = provenance_for(principal, changed, recorded, on_behalf_of=on_behalf_of)
    resource = _stamp(made, new_id(), 1, recorded)
    await tx.write(
        NewVersion(
            "Provenance",
            resource["id"],
            1,
            "POST",
            orjson.dumps(resource),
            changed.compartment,
            extractor.extract(resource),
        )
    )


def _references_in(value: object) -> set[tuple[str, str]]:
    """The relative references (``Type/id``, as stored) anywhere in a resource, as (type, id)."""
    found: set[tuple[str, str]] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            literal = item.get("reference")
            ref = normalize_reference(literal)
            if ref is not None and isinstance(literal, str) and ":" not in literal:
                type_, _, id_ = ref.partition("/")
                found.add((type_, id_))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _json(stored: StoredVersion | None) -> dict[str, Any] | None:
    if stored is None or stored.body is None:
        return None
    parsed: dict[str, Any] = orjson.loads(stored.body)
    return parsed


def _unresolved(keys: list[tuple[str, str]], paths: dict[tuple[str, str], str]) -> InvalidResource:
    errors = [
        InvalidResource(
            f"reference {t}/{i} does not resolve to a known resource",
            expression=[paths[(t, i)]] if (t, i) in paths else [],
            issue_code="not-found",
        )
        for t, i in keys
    ]
    first = errors[0]
    return InvalidResource(
        first.diagnostics, expression=first.expression, issue_code="not-found", issues=errors[1:]
    )


def _stamp(resource: dict[str, Any], id_: str, version: int, last_updated: str) -> dict[str, Any]:
    """A copy with server-owned fields set: id, meta.versionId, meta.lastUpdated (first keys)."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = last_updated
    stamped: dict[str, Any] = {"resourceType": resource["resourceType"], "id": id_, "meta": meta}
    for key, value in resource.items():
        if key not in stamped:
            stamped[key] = value
    return stamped
