"""Storage-neutral data: stored versions, index values, search queries, access constraints.

Everything here is a frozen dataclass with no behaviour beyond small helpers. The FHIR layer
produces these (``fhir/search`` parses queries into them, ``fhir/search/extract.py`` produces the
index values), the access layer produces :class:`AccessConstraint`, and every store adapter
compiles them into its own query language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

# --------------------------------------------------------------------------- stored resources


def to_datetime(micros: int) -> datetime:
    """A stored time (µs since the epoch, how every adapter keeps times) as aware UTC."""
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One version of one resource as the store keeps it."""

    type: str
    id: str
    version: int
    last_updated: datetime
    deleted: bool
    body: bytes | None  # canonical JSON; None for a delete tombstone
    seq: int = 0  # global, strictly increasing change sequence (commit order)
    method: str = "PUT"  # POST, PUT, PATCH or DELETE: how this version came to be
    compartment: str | None = None  # the client (Patient id) this resource belongs to


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit record (a rendered AuditEvent) as the store keeps it: append-only.

    ``patient`` is the client whose access log holds it (None for events about no client,
    such as a failed login for an unknown name); ``seq`` is assigned when it is stored."""

    id: str
    recorded: int  # µs since epoch, UTC
    patient: str | None
    body: bytes  # the AuditEvent as canonical JSON
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Erasure:
    """What erasing one client's compartment removed: counts, never contents."""

    # (resource type, how many resources of it are gone), by type; a resource that moved to
    # another compartment is not gone, though its versions in this one are
    resources: tuple[tuple[str, int], ...]
    versions: int  # stored versions removed, tombstones included

    @property
    def total(self) -> int:
        return sum(count for _, count in self.resources)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the notifications of one Subscription stand: a cursor into the change log.

    The change log (every stored version, in ``seq`` order, written in the transaction that
    made the change) is the notification queue; each subscription keeps how far it got, so a
    change is notified only once it is committed, and none is lost across restarts. A delivery
    is claimed by one worker at a time (a lease) and handed back with its new state."""

    subscription: str  # the Subscription id
    type: str  # the resource type its criteria search
    cursor: int  # seq of the last change handled (notified or passed over)
    failures: int = 0  # consecutive failed attempts
    due: int = 0  # µs since epoch: not claimed before this (retry backoff)
    active: bool = True  # False: kept but not delivered (the Subscription is not active)


# --------------------------------------------------------------------------- index values
# Extracted at write time from the SearchParameter expressions. ``param`` is the search
# parameter code; rows belong to one resource, so the code needs no type prefix.


@dataclass(frozen=True, slots=True)
class TokenIndex:
    param: str
    system: str | None
    code: str | None
    text: str | None = None  # display / CodeableConcept.text, normalised, for :text


@dataclass(frozen=True, slots=True)
class StringIndex:
    param: str
    value: str  # normalised: case-folded, accents removed, whitespace collapsed
    exact: str  # as written, for :exact


@dataclass(frozen=True, slots=True)
class ReferenceIndex:
    param: str
    target_type: str | None  # for relative references (and absolute ones on this server)
    target_id: str | None
    url: str | None = None  # absolute or canonical reference as written (no local target)
    identifier_system: str | None = None  # Reference.identifier, for :identifier
    identifier_value: str | None = None


# Open ends of a date range are stored as these sentinels, so range comparisons need no NULLs.
MIN_TIME = -(2**62)
MAX_TIME = 2**62


@dataclass(frozen=True, slots=True)
class DateIndex:
    """A date, dateTime, instant, Period or Timing as an inclusive range (UTC microseconds)."""

    param: str
    low: int | None  # None: open start
    high: int | None  # None: open end


@dataclass(frozen=True, slots=True)
class QuantityIndex:
    param: str
    value: float
    low: float  # implicit precision range of the stored value
    high: float
    system: str | None
    code: str | None
    unit: str | None


@dataclass(frozen=True, slots=True)
class NumberIndex:
    param: str
    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class UriIndex:
    param: str
    value: str


@dataclass(frozen=True, slots=True)
class IndexValues:
    """Everything searchable about one resource version."""

    tokens: tuple[TokenIndex, ...] = ()
    strings: tuple[StringIndex, ...] = ()
    references: tuple[ReferenceIndex, ...] = ()
    dates: tuple[DateIndex, ...] = ()
    quantities: tuple[QuantityIndex, ...] = ()
    numbers: tuple[NumberIndex, ...] = ()
    uris: tuple[UriIndex, ...] = ()


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A write handed to the store. The body already carries meta.versionId and
    meta.lastUpdated, the latter equal to the transaction's timestamp."""

    type: str
    id: str
    version: int
    method: str
    body: bytes | None  # None for delete
    compartment: str | None
    index: IndexValues = field(default_factory=IndexValues)

    def as_written(self, timestamp: int) -> StoredVersion:
        """The version as it will read once its transaction (at ``timestamp``) commits."""
        return StoredVersion(
            type=self.type,
            id=self.id,
            version=self.version,
            last_updated=to_datetime(timestamp),
            deleted=self.body is None,
            body=self.body,
            method=self.method,
            compartment=self.compartment,
        )


# --------------------------------------------------------------------------- search queries

Prefix = Literal["eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap"]


@dataclass(frozen=True, slots=True)
class TokenMatch:
    """One OR-alternative of a token criterion.

    system None: any system; system "": no system; code None: any code in ``system``.
    """

    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class TokenCriterion:
    param: str
    matches: tuple[TokenMatch, ...]
    negate: bool = False  # :not — resources with no matching value (including none at all)


@dataclass(frozen=True, slots=True)
class TokenTextCriterion:
    """``:text``: the normalised display / text contains one of ``texts``."""

    param: str
    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StringCriterion:
    param: str
    values: tuple[str, ...]  # normalised unless mode == "exact"
    mode: Literal["start", "exact", "contains"] = "start"


@dataclass(frozen=True, slots=True)
class ReferenceMatch:
    target_type: str | None  # None: any type
    target_id: str | None
    url: str | None = None  # match an absolute/canonical url instead of a local target


@dataclass(frozen=True, slots=True)
class ReferenceCriterion:
    param: str
    matches: tuple[ReferenceMatch, ...]


@dataclass(frozen=True, slots=True)
class IdentifierCriterion:
    """``reference:identifier=system|value``."""

    param: str
    matches: tuple[TokenMatch, ...]


@dataclass(frozen=True, slots=True)
class RangeMatch:
    """A prefixed value with the range its precision implies (inclusive bounds)."""

    prefix: Prefix
    low: float | int
    high: float | int


def approximate_bounds(m: RangeMatch) -> tuple[float | int, float | int]:
    """The widened range an ``ap`` match accepts: the value's precision or 10% of it (for
    decimals), whichever is wider, half on each side."""
    slack = max(abs(m.high - m.low), abs(m.low) * 0.1 if isinstance(m.low, float) else 0) / 2
    return m.low - slack, m.high + slack


@dataclass(frozen=True, slots=True)
class DateCriterion:
    param: str
    matches: tuple[RangeMatch, ...]


@dataclass(frozen=True, slots=True)
class QuantityMatch:
    range: RangeMatch
    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class QuantityCriterion:
    param: str
    matches: tuple[QuantityMatch, ...]


@dataclass(frozen=True, slots=True)
class NumberCriterion:
    param: str
    matches: tuple[RangeMatch, ...]


@dataclass(frozen=True, slots=True)
class UriCriterion:
    param: str
    values: tuple[str, ...]
    mode: Literal["exact", "below", "above"] = "exact"


IndexKind = Literal["token", "string", "reference", "date", "quantity", "number", "uri"]


@dataclass(frozen=True, slots=True)
class MissingCriterion:
    param: str
    kind: IndexKind
    missing: bool


@dataclass(frozen=True, slots=True)
class IdCriterion:
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LastUpdatedCriterion:
    matches: tuple[RangeMatch, ...]


@dataclass(frozen=True, slots=True)
class ChainCriterion:
    """``param:Type.inner``: resources whose reference ``param`` points at a ``target_type``
    resource (visible to the requester) that meets ``inner``."""

    param: str
    target_type: str
    inner: Criterion


@dataclass(frozen=True, slots=True)
class HasCriterion:
    """``_has:Source:param:inner``: resources referenced through ``param`` by a (visible)
    ``source_type`` resource that meets ``inner``."""

    source_type: str
    param: str
    inner: Criterion


@dataclass(frozen=True, slots=True)
class AnyOf:
    """OR over criteria of different shapes (e.g. a comma list mixing chain alternatives)."""

    criteria: tuple[Criterion, ...]


Criterion = (
    TokenCriterion
    | TokenTextCriterion
    | StringCriterion
    | ReferenceCriterion
    | IdentifierCriterion
    | DateCriterion
    | QuantityCriterion
    | NumberCriterion
    | UriCriterion
    | MissingCriterion
    | IdCriterion
    | LastUpdatedCriterion
    | ChainCriterion
    | HasCriterion
    | AnyOf
)


@dataclass(frozen=True, slots=True)
class SortKey:
    param: str  # a parameter code, or "_id" / "_lastUpdated"
    descending: bool = False
    kind: IndexKind | None = None  # the parameter's index kind; None for _id / _lastUpdated


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed search: resource types (several for a system search), AND-ed criteria."""

    types: tuple[str, ...]
    criteria: tuple[Criterion, ...] = ()
    sort: tuple[SortKey, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    """Which slice of a search result to fetch."""

    count: int
    after: tuple[str | float | int | None, ...] | None = None  # keyset cursor (sort values + seq)
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SearchPage:
    rows: tuple[StoredVersion, ...]
    next_after: tuple[str | float | int | None, ...] | None  # None: this is the last page
    total: int | None = None


# --------------------------------------------------------------------------- access constraints


@dataclass(frozen=True, slots=True)
class Grant:
    """One way a resource can be visible. ``None`` for a field means "any".

    A resource is covered when its compartment, type and identity match, and it is not
    excluded. ``compartments`` matches the resource's client compartment; resources that
    belong to no client (directory data: Practitioner, Organization, ...) have compartment
    ``None`` and are matched only by ``include_shared``.
    """

    compartments: frozenset[str] | None = None
    types: frozenset[str] | None = None
    resources: frozenset[tuple[str, str]] | None = None  # specific (type, id) pairs
    exclude: frozenset[tuple[str, str]] = frozenset()
    include_shared: bool = True


@dataclass(frozen=True, slots=True)
class AccessConstraint:
    """What a principal may see: the union of its grants. No grants means nothing."""

    grants: tuple[Grant, ...]

    @classmethod
    def unrestricted(cls) -> AccessConstraint:
        return cls(grants=(Grant(),))

    @property
    def is_unrestricted(self) -> bool:
        return any(
            g.compartments is None
            and g.types is None
            and g.resources is None
            and not g.exclude
            and g.include_shared
            for g in self.grants
        )

    def allows(self, type_: str, id_: str, compartment: str | None) -> bool:
        """The in-memory twin of the adapters' query filter (kept in step by the contract
        suite, which checks both on the same fixtures)."""
        for g in self.grants:
            if compartment is None:
                if not g.include_shared:
                    continue
            elif g.compartments is not None and compartment not in g.compartments:
                continue
            if g.types is not None and type_ not in g.types:
                continue
            if g.resources is not None and (type_, id_) not in g.resources:
                continue
            if (type_, id_) in g.exclude:
                continue
            return True
        return False
