"""The server's own changes to a Subscription: status ``active``, ``error`` (with the reason in
``error``) or ``off``, each a new version with its Provenance (the server as author), written
in one transaction with the matching change to the delivery state — so a subscription is never
shown active without being delivered, or delivered while shown otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from zorgleefplan.access.principal import Principal
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import FhirServices, instant, record_provenance
from zorgleefplan.store.model import AccessConstraint, NewVersion, StoredVersion
from zorgleefplan.store.port import Transaction

ALL = AccessConstraint.unrestricted()
MAX_ERROR = 500  # characters of an error note


def server_principal(settings: Settings) -> Principal:
    """The server itself, as the author of its changes to subscriptions."""
    return Principal(kind="system", subject=settings.service_id, display=settings.service_name)


async def set_status(
    services: FhirServices,
    stored: StoredVersion,
    status: str,
    *,
    error: str | None = None,
    delivery: Callable[[Transaction], None],
) -> bool:
    """Write ``status`` (and ``error``, or none) as the next version of ``stored`` and apply
    ``delivery`` to the delivery state, atomically. False when the Subscription changed since
    ``stored`` was read (the caller will see the new version on its next pass)."""
    resource = orjson.loads(stored.body or b"{}")
    resource["status"] = status
    resource.pop("error", None)
    if error:
        resource["error"] = error[:MAX_ERROR]
    index = services.extractor.extract(resource)  # meta.versionId and lastUpdated index nothing
    async with services.store.transaction() as tx:
        current = await tx.read(stored.type, stored.id, ALL)
        if current is None or current.version != stored.version or current.deleted:
            return False
        version = stored.version + 1
        resource["meta"] = {
            **resource.get("meta", {}),
            "versionId": str(version),
            "lastUpdated": instant(tx.timestamp),
        }
        changed = await tx.write(
            NewVersion(
                stored.type,
                stored.id,
                version,
                "PUT",
                orjson.dumps(resource),
                stored.compartment,
                index,
            )
        )
        await record_provenance(
            tx,
            services.extractor,
            server_principal(services.settings),
            changed,
            on_behalf_of=None,
        )
        delivery(tx)
    return True
