"""Map a principal to the access constraint the store applies inside every query."""

from __future__ import annotations

from zorgleefplan.access.principal import Principal
from zorgleefplan.store.model import AccessConstraint

_UNRESTRICTED = AccessConstraint.unrestricted()


def constraint_for(principal: Principal) -> AccessConstraint:
    """The development principal sees everything; every other kind sees nothing until the
    consent policy engine decides otherwise (deny by default, never "*")."""
    if principal.kind == "development":
        return _UNRESTRICTED
    return AccessConstraint(grants=())
