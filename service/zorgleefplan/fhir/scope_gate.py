"""The token's scopes as an upper bound on every interaction.

Scopes never grant anything by themselves: the access constraint (the client's ownership and,
later, their Consents) decides what a principal sees. This module only narrows: an interaction
needs its SMART permission letter on the resource type, and the visible types are cut down to
those the scopes let the principal read or search.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from zorgleefplan.access.principal import Principal
from zorgleefplan.auth.scopes import ScopeSet
from zorgleefplan.errors import InsufficientScope
from zorgleefplan.store.model import AccessConstraint

_UNBOUNDED_KINDS = frozenset({"development", "anonymous"})


@lru_cache(maxsize=1024)
def _scope_set(scopes: frozenset[str]) -> ScopeSet:
    return ScopeSet.parse(" ".join(sorted(scopes)))


def check_scope(principal: Principal, type_: str | None, letter: str) -> None:
    """InsufficientScope (403) unless the scopes allow ``letter`` on ``type_``; a system-level
    interaction (``type_`` None) needs the letter on at least one type."""
    if principal.kind in _UNBOUNDED_KINDS:
        return
    scopes = _scope_set(principal.scopes)
    if type_ is not None:
        scopes.require(type_, letter)
        return
    types = scopes.types_for(letter)
    if types is None or types:
        return
    raise InsufficientScope(
        "the access token's scopes allow this on no resource type", scope=f"*.{letter}"
    )


def bounded_by_scopes(access: AccessConstraint, principal: Principal) -> AccessConstraint:
    """``access`` limited to the types the scopes let the principal read or search."""
    if principal.kind in _UNBOUNDED_KINDS or not access.grants:
        return access
    scopes = _scope_set(principal.scopes)
    read, search = scopes.types_for("r"), scopes.types_for("s")
    if read is None or search is None:
        return access
    allowed = read | search
    return AccessConstraint(
        grants=tuple(
            replace(grant, types=allowed if grant.types is None else grant.types & allowed)
            for grant in access.grants
        )
    )
