"""Definitions shipped inside the package and installed into the store when the service starts.

Each is shared data (no client compartment) with a fixed id: the Wlz placement PlanDefinition
(``PlanDefinition/wlz-plaatsing``) that ``$apply`` turns into a client's Tasks. A resource is
written only when its id has never been used: a definition an administrator changed or deleted
stays as they left it. Several workers may start at once on one store: the check and the write
share one store transaction (SQLite takes the write lock before the read), and a worker that
still loses the race sees the other's version as a conflict and leaves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.errors import Conflict, VersionConflict
from zorgleefplan.fhir.repository import FhirServices, Repository
from zorgleefplan.plan import placement
from zorgleefplan.store.model import AccessConstraint

BUNDLED: tuple[Callable[[], dict[str, Any]], ...] = (placement.packaged_plan_definition,)


async def install_bundled(services: FhirServices) -> list[str]:
    """Write each bundled resource whose id is unused; returns the ``Type/id`` written."""
    repo = Repository(services, DEVELOPMENT, AccessConstraint.unrestricted())
    written = []
    for load in BUNDLED:
        resource = load()
        type_, id_ = resource["resourceType"], resource["id"]
        try:
            async with repo.transaction() as tx_repo:
                if await tx_repo.current(type_, id_) is not None:
                    continue
                await tx_repo.update(type_, id_, resource)
        except (VersionConflict, Conflict):
            continue  # another worker installed it between our read and our write
        written.append(f"{type_}/{id_}")
    return written
