"""The zorgleefplan's rules (``plan/rules.py``) as a write rule of the repository: the
:class:`~zorgleefplan.plan.context.PlanContext` of one write, over its transaction-bound
repository."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from zorgleefplan.access.facts import normalize_reference
from zorgleefplan.access.principal import Principal
from zorgleefplan.fhir.repository import Repository, WriteRule
from zorgleefplan.plan import rules
from zorgleefplan.store.model import AccessConstraint, Grant, Page, SearchQuery, StoredVersion

_PAGE = 500


class RepositoryContext:
    """What a plan rule sees of one write (see ``plan/context.py``)."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo

    @property
    def principal(self) -> Principal:
        return self._repo.principal

    @property
    def acting_for(self) -> frozenset[str]:
        principal = self._repo.principal
        own = () if principal.kind == "system" else (principal.fhir_user,)
        refs = (*own, *self._repo.decision.acting_as, principal.organization)
        return frozenset(r for r in map(normalize_reference, refs) if r)

    @property
    def by_server(self) -> bool:
        return self._repo.decision.constraint.is_unrestricted

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self._repo.tx.timestamp / 1_000_000, tz=UTC)

    async def read(self, type_: str, id_: str, *, visible: bool = False) -> dict[str, Any] | None:
        access = self._repo.access if visible else AccessConstraint.unrestricted()
        return _body(await self._repo.tx.read(type_, id_, access))

    async def find(
        self, query: SearchQuery, client: str, *, visible: bool = False
    ) -> list[dict[str, Any]]:
        access = (
            self._repo.access
            if visible
            else AccessConstraint((Grant(compartments=frozenset({client}), include_shared=False),))
        )
        found: list[dict[str, Any]] = []
        after = None
        while True:
            page = await self._repo.tx.search(query, Page(count=_PAGE, after=after), access)
            found += [
                body
                for row in page.rows
                if row.compartment == client and (body := _body(row)) is not None
            ]
            if page.next_after is None:
                return found
            after = page.next_after

    async def save(self, resource: dict[str, Any]) -> int:
        stored, _ = await self._repo.as_server().update(
            resource["resourceType"], resource["id"], _without_meta(resource)
        )
        return stored.version

    async def create(self, resource: dict[str, Any]) -> str:
        return (await self._repo.as_server().create(resource)).id

    async def record(self, resource: dict[str, Any], client: str) -> None:
        await self._repo.record(resource, client)


def _body(stored: StoredVersion | None) -> dict[str, Any] | None:
    if stored is None or stored.deleted or stored.body is None:
        return None
    parsed: dict[str, Any] = orjson.loads(stored.body)
    return parsed


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    stamped = ("versionId", "lastUpdated")
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in stamped}
    out = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        out["meta"] = meta
    return out


async def plan_rule(
    repo: Repository, resource: dict[str, Any] | None, current: StoredVersion | None
) -> None:
    """The write rule wired into :class:`~zorgleefplan.fhir.repository.FhirServices`."""
    type_ = (resource or {}).get("resourceType") or (current.type if current else "")
    if not rules.applies_to(str(type_)):
        return
    await rules.apply_rules(RepositoryContext(repo), resource, _body(current))


PLAN_RULES: tuple[WriteRule, ...] = (plan_rule,)
