"""SMART App Launch scopes (v1 and v2) and the interactions they permit.

Scopes are an upper bound: they say which interactions on which resource types a token may
attempt at all; the consent policy decides what the principal actually sees. Anything this
module does not understand grants nothing, so a parse can only narrow, never widen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Literal, cast

from zorgleefplan.errors import InsufficientScope

Context = Literal["patient", "user", "system"]

LETTERS = "cruds"
"""SMART v2 permission letters, in the only order the specification allows."""

NON_RESOURCE_SCOPES = frozenset(
    {"openid", "fhirUser", "launch", "launch/patient", "offline_access"}
)

INTERACTION_LETTERS: Mapping[str, str] = MappingProxyType(
    {
        "read": "r",
        "vread": "r",
        "history-instance": "r",
        "search-type": "s",
        "search-system": "s",
        "history-type": "s",
        "history-system": "s",
        "create": "c",
        "update": "u",
        "patch": "u",
        "delete": "d",
    }
)
"""FHIR R4 restful interaction codes mapped to the SMART v2 letter that covers them."""

_V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_RESOURCE_SCOPE = re.compile(
    r"(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]*)"
    r"\.(?P<permission>[a-z*]+)(?P<query>\?.*)?",
    re.ASCII | re.DOTALL,
)
# A non-empty subset of c, r, u, d, s in that order; the empty match is refused separately.
_V2_LETTERS = re.compile(r"c?r?u?d?s?")


def letter_for(interaction: str) -> str:
    """The SMART v2 letter needed for a FHIR interaction code (e.g. ``"patch"`` -> ``"u"``)."""
    try:
        return INTERACTION_LETTERS[interaction]
    except KeyError:
        raise ValueError(f"no scope letter for interaction {interaction!r}") from None


@dataclass(frozen=True, slots=True)
class ResourceScope:
    context: Context
    resource_type: str  # "*" for every type
    letters: str  # v2 letters in canonical order; v1 forms are normalised ("read" -> "rs")

    def __str__(self) -> str:
        return f"{self.context}/{self.resource_type}.{self.letters}"


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """A parsed, space-separated scope string. Build it with :meth:`parse`."""

    scopes: frozenset[str]  # every scope as given
    resource: tuple[ResourceScope, ...]  # the granted resource scopes
    other: frozenset[str]  # granted non-resource scopes: openid, fhirUser, launch, offline_access
    unsupported: frozenset[str]  # well-formed but never granted: granular v2 scopes with ?query
    unknown: frozenset[str]  # not a scope this server knows; grants nothing
    contexts: frozenset[Context]  # contexts of the granted resource scopes
    # letter -> resource types it is granted on; None means every type (from "*").
    _types: Mapping[str, frozenset[str] | None] = field(repr=False, compare=False)

    @staticmethod
    def parse(scope: str) -> ScopeSet:
        # The same scope string arrives with every request that token makes: parse it once.
        return _parse(scope)

    @property
    def invalid(self) -> frozenset[str]:
        """Scopes a token request must be refused for (``invalid_scope``)."""
        return self.unknown | self.unsupported

    def permits(self, resource_type: str, letter: str) -> bool:
        types = self.types_for(letter)
        return types is None or resource_type in types

    def types_for(self, letter: str) -> frozenset[str] | None:
        """The resource types ``letter`` is granted on; ``None`` means every type."""
        try:
            return self._types[letter]
        except KeyError:
            raise ValueError(f"{letter!r} is not a SMART permission letter") from None

    def require(self, resource_type: str, letter: str) -> None:
        """Raise :class:`InsufficientScope` unless the scopes permit ``letter`` on the type."""
        if self.permits(resource_type, letter):
            return
        contexts = sorted(self.contexts) or ["patient", "user", "system"]
        needed = " ".join(f"{context}/{resource_type}.{letter}" for context in contexts)
        raise InsufficientScope(
            f"the access token's scopes do not allow this on {resource_type}", scope=needed
        )


def parse_resource_scope(scope: str) -> ResourceScope | None:
    """The resource scope ``scope`` stands for, or None when it is not one (or has a query)."""
    match = _RESOURCE_SCOPE.fullmatch(scope)
    if match is None or match["query"] is not None:
        return None
    letters = _letters(match["permission"])
    if letters is None:
        return None
    return ResourceScope(cast(Context, match["context"]), match["type"], letters)


def _letters(permission: str) -> str | None:
    if permission in _V1_PERMISSIONS:
        return _V1_PERMISSIONS[permission]
    if permission and _V2_LETTERS.fullmatch(permission):
        return permission
    return None


@lru_cache(maxsize=1024)
def _parse(scope: str) -> ScopeSet:
    scopes = frozenset(scope.split())
    resource: list[ResourceScope] = []
    other: set[str] = set()
    unsupported: set[str] = set()
    unknown: set[str] = set()
    for item in sorted(scopes):
        if item in NON_RESOURCE_SCOPES:
            other.add(item)
        elif (parsed := parse_resource_scope(item)) is not None:
            resource.append(parsed)
        elif _is_granular(item):
            unsupported.add(item)
        else:
            unknown.add(item)
    types: dict[str, frozenset[str] | None] = {}
    for letter in LETTERS:
        granted = {s.resource_type for s in resource if letter in s.letters}
        types[letter] = None if "*" in granted else frozenset(granted)
    return ScopeSet(
        scopes=scopes,
        resource=tuple(resource),
        other=frozenset(other),
        unsupported=frozenset(unsupported),
        unknown=frozenset(unknown),
        contexts=frozenset(s.context for s in resource),
        _types=MappingProxyType(types),
    )


def _is_granular(scope: str) -> bool:
    # SMART v2 "patient/Observation.rs?category=...": understood, but not enforced here.
    match = _RESOURCE_SCOPE.fullmatch(scope)
    return (
        match is not None
        and match["query"] is not None
        and _V2_LETTERS.fullmatch(match["permission"]) is not None
    )
