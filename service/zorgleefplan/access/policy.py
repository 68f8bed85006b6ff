"""Map a principal to the access constraint the store applies inside every query.

This is the first rule of the client's ownership — a client sees and changes their own plan —
and deny-by-default for everyone else. The consent policy engine (volmacht, regiebehandelaar,
access Consents, break-the-glass) extends it; it never widens it to "*".
"""

from __future__ import annotations

from zorgleefplan.access.principal import Principal
from zorgleefplan.store.model import AccessConstraint, Grant

_UNRESTRICTED = AccessConstraint.unrestricted()
_NOTHING = AccessConstraint(grants=())


def constraint_for(principal: Principal) -> AccessConstraint:
    """What ``principal`` may see: the development principal everything; a client their own
    compartment plus shared directory data (practitioners, organisations, definitions);
    every other principal nothing until a Consent permits it."""
    if principal.kind == "development":
        return _UNRESTRICTED
    if principal.kind == "patient" and principal.patient:
        return AccessConstraint(
            grants=(Grant(compartments=frozenset({principal.patient}), include_shared=True),)
        )
    return _NOTHING


def may_write(access: AccessConstraint, type_: str, id_: str, compartment: str | None) -> bool:
    """Whether a resource of ``compartment`` may be written under ``access``: only inside a
    client compartment the principal can see; shared directory data only when unrestricted."""
    if access.is_unrestricted:
        return True
    return compartment is not None and access.allows(type_, id_, compartment)
