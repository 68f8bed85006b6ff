"""What the plan's write rules see of one write: a port the FHIR layer implements over its
repository (``fhir/plan_rules.py``), so the rules know nothing of HTTP or the store's API.

A rule is called inside the write's transaction, after the access decision allowed the change
and before it is stored: ``rule(context, new, current)`` with the new resource (None for a
delete) and the current version (None for a create). It refuses by raising a ZlpError naming
the element path, and may make follow-up changes through ``save``/``create``/``record``, which
land in the same transaction (all or nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from zorgleefplan.access.principal import Principal
from zorgleefplan.store.model import SearchQuery

Resource = dict[str, Any]


class PlanContext(Protocol):
    @property
    def principal(self) -> Principal: ...

    @property
    def acting_for(self) -> frozenset[str]:
        """Whom the principal acts as (``Type/id``): their fhirUser (not for a backend), the
        Practitioner behind a PractitionerRole, their organisation."""
        ...

    @property
    def by_server(self) -> bool:
        """The change is the server's own (a follow-up of another change) or comes from the
        development principal: rules on *who* may change something do not apply."""
        ...

    @property
    def now(self) -> datetime:
        """The write time of the transaction (UTC)."""
        ...

    async def read(self, type_: str, id_: str, *, visible: bool = False) -> Resource | None:
        """The current version (None when absent or deleted); ``visible``: only what the
        writer may see, otherwise whatever is stored (for checks whose answer reveals
        nothing)."""
        ...

    async def find(
        self, query: SearchQuery, client: str, *, visible: bool = False
    ) -> list[Resource]:
        """Every current resource of ``client``'s plan matching ``query``."""
        ...

    async def save(self, resource: Resource) -> int:
        """Update a resource as the server (write rules run on it); returns its new version."""
        ...

    async def create(self, resource: Resource) -> str:
        """Create a resource as the server (write rules run on it); returns its id."""
        ...

    async def record(self, resource: Resource, client: str) -> None:
        """Store a server-made record (a Provenance) in ``client``'s plan."""
        ...


PlanRule = Callable[[PlanContext, Resource | None, Resource | None], Awaitable[None]]
