"""Compile the storage-neutral search model and access constraints into MongoDB filters and
aggregation pipelines: the MongoDB twin of ``sqlite_query.py``, with the same semantics.

Pure functions: model in, filter documents out. One compiler per criterion kind, picked from a
dict. A criterion on a search parameter is an ``$elemMatch`` on the embedded index array of its
kind (``mongo_schema.INDEX_FIELDS``); the entries hold the bare parameter code, since every
document has one resource type and the search names its types.

Chains and ``_has`` are sub-searches over other resources. Where SQLite nests a sub-select,
the filter here holds a :class:`Lookup`; the adapter runs each lookup (innermost first, in the
same snapshot as the search) and :func:`substitute` puts its matches in its place. The access
constraint guards the lookups as it guards the search itself, so a hidden target or source
can never make a resource match.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING

from zorgleefplan.store.model import (
    AccessConstraint,
    AnyOf,
    ChainCriterion,
    Criterion,
    DateCriterion,
    Grant,
    HasCriterion,
    IdCriterion,
    IdentifierCriterion,
    IndexKind,
    LastUpdatedCriterion,
    MissingCriterion,
    NumberCriterion,
    Page,
    QuantityCriterion,
    RangeMatch,
    ReferenceCriterion,
    SearchQuery,
    SortKey,
    StringCriterion,
    TokenCriterion,
    TokenMatch,
    TokenTextCriterion,
    UriCriterion,
    approximate_bounds,
)
from zorgleefplan.store.mongo_schema import INDEX_FIELDS, STORED_FIELDS, keys_by_type, keys_filter
from zorgleefplan.store.port import HistoryQuery

Filter = dict[str, Any]

NOTHING: Filter = {"_id": {"$in": []}}  # matches no document
_TEXT_LAST = "\U0010ffff"  # sorts after every other string (MongoDB compares UTF-8 bytes)
_NUMBER_LAST = 2**62


# --------------------------------------------------------------------------- combinators


def and_(*filters: Filter) -> Filter:
    """The conjunction of ``filters``: empty ones (match all) dropped, nested ``$and`` lists
    flattened, and fields merged into one document when no two filters share a key."""
    parts: list[Filter] = []
    for f in filters:
        if list(f) == ["$and"]:
            parts.extend(f["$and"])
        elif f:
            parts.append(f)
    if not parts:
        return {}
    merged: Filter = {}
    for part in parts:
        if merged.keys() & part.keys():
            return {"$and": parts}
        merged.update(part)
    return merged


def or_(filters: Sequence[Filter]) -> Filter:
    """The disjunction of ``filters``; no alternatives matches nothing, an empty (match-all)
    alternative matches everything."""
    if not filters:
        return NOTHING
    if any(not f for f in filters):
        return {}
    return filters[0] if len(filters) == 1 else {"$or": list(filters)}


# --------------------------------------------------------------------------- access


def compile_access(access: AccessConstraint) -> Filter:
    """The filter for what ``access`` lets a principal see (on resources and versions)."""
    if not access.grants:
        return NOTHING
    if access.is_unrestricted:
        return {}
    return or_([_compile_grant(g) for g in access.grants])


def _compile_grant(grant: Grant) -> Filter:
    parts: list[Filter] = []
    if grant.compartments is not None:
        allowed: list[str | None] = sorted(grant.compartments)
        if grant.include_shared:
            allowed.append(None)
        parts.append({"compartment": {"$in": allowed}})
    elif not grant.include_shared:
        parts.append({"compartment": {"$ne": None}})
    if grant.types is not None:
        parts.append({"type": {"$in": sorted(grant.types)}})
    if grant.resources is not None:
        if not grant.resources:
            return NOTHING
        parts.append(keys_filter(sorted(grant.resources)))
    if grant.exclude:
        excluded = keys_by_type(sorted(grant.exclude))
        parts.append({"$nor": [{"type": t, "id": {"$in": ids}} for t, ids in excluded]})
    return and_(*parts)


# --------------------------------------------------------------------------- lookups


@dataclass(frozen=True, eq=False)  # identity: two equal-looking lookups are two sub-searches
class Lookup(ABC):
    """A sub-search over current resources whose results a filter needs: run
    :meth:`pipeline` over ``filter`` (its own lookups resolved), then :func:`substitute` the
    :meth:`values` it yields for it."""

    filter: Filter

    @abstractmethod
    def pipeline(self, resolved: Filter) -> list[Filter]: ...

    @abstractmethod
    def values(self, rows: Sequence[Mapping[str, Any]]) -> list[str]: ...


@dataclass(frozen=True, eq=False)
class ChainTargets(Lookup):
    """The ids of the visible resources a chain may point at; stands in an ``$in`` list."""

    def pipeline(self, resolved: Filter) -> list[Filter]:
        return [{"$match": resolved}, {"$project": {"_id": 0, "id": 1}}]

    def values(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return [row["id"] for row in rows]


@dataclass(frozen=True, eq=False)
class HasSources(Lookup):
    """The "Type/id" keys that visible ``_has`` sources reference through ``param``; stands in
    an ``_id $in`` list."""

    param: str

    def pipeline(self, resolved: Filter) -> list[Filter]:
        return [
            {"$match": resolved},
            {"$unwind": "$ref"},
            {"$match": {"ref.p": self.param, "ref.t": {"$ne": None}, "ref.i": {"$ne": None}}},
            {"$group": {"_id": {"$concat": ["$ref.t", "/", "$ref.i"]}}},
        ]

    def values(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return [row["_id"] for row in rows]


def lookups(value: Any) -> Iterator[Lookup]:
    """The lookups in a filter, outermost only (a lookup's own filter is its business)."""
    if isinstance(value, Lookup):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from lookups(item)
    elif isinstance(value, list):
        for item in value:
            yield from lookups(item)


def substitute(value: Any, found: Mapping[Lookup, list[str]]) -> Any:
    """``value`` with each lookup replaced by the values it found."""
    if isinstance(value, Lookup):
        return found[value]
    if isinstance(value, dict):
        return {k: substitute(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, found) for v in value]
    return value


# --------------------------------------------------------------------------- criteria


def search_filter(query: SearchQuery, access: AccessConstraint) -> Filter:
    """The current, visible resources of ``query.types`` that meet every criterion."""
    return and_(
        {"type": query.types[0] if len(query.types) == 1 else {"$in": list(query.types)}},
        {"deleted": False},
        *(compile_criterion(c, access) for c in query.criteria),
        compile_access(access),
    )


def compile_criterion(criterion: Criterion, access: AccessConstraint) -> Filter:
    return _COMPILERS[type(criterion)](criterion, access)


def _entries(kind: IndexKind, param: str, alternatives: Sequence[Filter]) -> Filter:
    """Some index entry of ``kind`` for ``param`` meets one of ``alternatives``."""
    return {INDEX_FIELDS[kind]: {"$elemMatch": and_({"p": param}, or_(alternatives))}}


def _token_match(m: TokenMatch, system: str = "s", code: str = "c") -> Filter:
    if m.code is None:
        return {system: m.system} if m.system else {system: None}
    if m.system is None:
        return {code: m.code}
    if m.system == "":
        return {code: m.code, system: None}
    return {code: m.code, system: m.system}


def _token(c: TokenCriterion, access: AccessConstraint) -> Filter:
    found = _entries("token", c.param, [_token_match(m) for m in c.matches])
    if c.negate:  # no matching entry at all, including no entry
        return {field: {"$not": cond} for field, cond in found.items()}
    return found


def _contains(text: str) -> Filter:
    return {"$regex": re.escape(text)}


def _token_text(c: TokenTextCriterion, access: AccessConstraint) -> Filter:
    return _entries("token", c.param, [{"x": _contains(t)} for t in c.texts])


def _string(c: StringCriterion, access: AccessConstraint) -> Filter:
    if c.mode == "exact":
        alternatives = [{"e": v} for v in c.values]
    elif c.mode == "contains":
        alternatives = [{"v": _contains(v)} for v in c.values]
    else:  # starts-with as a range, which the (str.p, str.v) index answers
        alternatives = [{"v": {"$gte": v, "$lt": v + _TEXT_LAST}} for v in c.values]
    return _entries("string", c.param, alternatives)


def _reference(c: ReferenceCriterion, access: AccessConstraint) -> Filter:
    alternatives: list[Filter] = []
    for m in c.matches:
        if m.url is not None:
            alternatives.append({"u": m.url})
        elif m.target_type is None:
            alternatives.append({"i": m.target_id})
        else:
            alternatives.append({"i": m.target_id, "t": m.target_type})
    return _entries("reference", c.param, alternatives)


def _identifier(c: IdentifierCriterion, access: AccessConstraint) -> Filter:
    return _entries("reference", c.param, [_token_match(m, "is", "iv") for m in c.matches])


def _bounds(*conditions: tuple[str, str, float | int]) -> Filter:
    """``field op value`` conditions, those on one field merged into one operator document."""
    out: Filter = {}
    for name, op, value in conditions:
        out.setdefault(name, {})[op] = value
    return out


def range_condition(m: RangeMatch, low: str, high: str) -> Filter:
    """FHIR prefix semantics between a stored range [low, high] and the search range."""
    contained = _bounds((low, "$gte", m.low), (high, "$lte", m.high))
    match m.prefix:
        case "eq":
            return contained
        case "ne":
            return {"$nor": [contained]}
        case "gt":
            return _bounds((high, "$gt", m.high))
        case "lt":
            return _bounds((low, "$lt", m.low))
        case "ge":
            return {"$or": [_bounds((high, "$gt", m.high)), contained]}
        case "le":
            return {"$or": [_bounds((low, "$lt", m.low)), contained]}
        case "sa":
            return _bounds((low, "$gt", m.high))
        case "eb":
            return _bounds((high, "$lt", m.low))
        case "ap":
            widened_low, widened_high = approximate_bounds(m)
            return _bounds((low, "$lte", widened_high), (high, "$gte", widened_low))
    raise ValueError(m.prefix)


def _date(c: DateCriterion, access: AccessConstraint) -> Filter:
    return _entries("date", c.param, [range_condition(m, "lo", "hi") for m in c.matches])


def _number(c: NumberCriterion, access: AccessConstraint) -> Filter:
    return _entries("number", c.param, [range_condition(m, "lo", "hi") for m in c.matches])


def _quantity(c: QuantityCriterion, access: AccessConstraint) -> Filter:
    alternatives: list[Filter] = []
    for m in c.matches:
        parts = [range_condition(m.range, "lo", "hi")]
        if m.system is not None:
            parts.append({"s": m.system})
        if m.code is not None:
            parts.append({"$or": [{"c": m.code}, {"u": m.code}]})
        alternatives.append(and_(*parts))
    return _entries("quantity", c.param, alternatives)


def uri_ancestors(value: str) -> list[str]:
    """The stored values ``:above`` ``value`` matches besides itself: every prefix that the
    value continues with a "/" (the SQLite adapter's ``substr`` test, as a list)."""
    return [value[:i] for i, ch in enumerate(value) if ch == "/" and not value[:i].endswith("/")]


def _uri(c: UriCriterion, access: AccessConstraint) -> Filter:
    if c.mode == "below":  # the search value or a path under it
        alternatives = [
            or_([{"v": v}, {"v": {"$regex": "^" + re.escape(v.rstrip("/")) + "/"}}])
            for v in c.values
        ]
    elif c.mode == "above":  # the search value or a path above it
        alternatives = [{"v": {"$in": [v, *uri_ancestors(v)]}} for v in c.values]
    else:
        alternatives = [{"v": v} for v in c.values]
    return _entries("uri", c.param, alternatives)


def _missing(c: MissingCriterion, access: AccessConstraint) -> Filter:
    codes = f"{INDEX_FIELDS[c.kind]}.p"
    return {codes: {"$ne": c.param}} if c.missing else {codes: c.param}


def _id(c: IdCriterion, access: AccessConstraint) -> Filter:
    return {"id": {"$in": list(c.ids)}}


def _last_updated(c: LastUpdatedCriterion, access: AccessConstraint) -> Filter:
    return or_([range_condition(m, "lu", "lu") for m in c.matches])


def _chain(c: ChainCriterion, access: AccessConstraint) -> Filter:
    targets = and_(
        {"type": c.target_type},
        {"deleted": False},
        compile_criterion(c.inner, access),
        compile_access(access),
    )
    reference = {"p": c.param, "t": c.target_type, "i": {"$in": ChainTargets(targets)}}
    return {"ref": {"$elemMatch": reference}}


def _has(c: HasCriterion, access: AccessConstraint) -> Filter:
    sources = and_(
        {"type": c.source_type},
        {"deleted": False},
        compile_criterion(c.inner, access),
        compile_access(access),
    )
    return {"_id": {"$in": HasSources(sources, c.param)}}


def _any_of(c: AnyOf, access: AccessConstraint) -> Filter:
    return or_([compile_criterion(x, access) for x in c.criteria])


_COMPILERS: dict[type, Callable[[Any, AccessConstraint], Filter]] = {
    TokenCriterion: _token,
    TokenTextCriterion: _token_text,
    StringCriterion: _string,
    ReferenceCriterion: _reference,
    IdentifierCriterion: _identifier,
    DateCriterion: _date,
    NumberCriterion: _number,
    QuantityCriterion: _quantity,
    UriCriterion: _uri,
    MissingCriterion: _missing,
    IdCriterion: _id,
    LastUpdatedCriterion: _last_updated,
    ChainCriterion: _chain,
    HasCriterion: _has,
    AnyOf: _any_of,
}


# --------------------------------------------------------------------------- sorting, paging

# The entry field that sorts a parameter of each index kind.
_SORT_VALUES: Mapping[IndexKind, str] = {
    "string": "v",
    "token": "c",
    "date": "lo",
    "number": "v",
    "quantity": "v",
    "uri": "v",
    "reference": "i",
}


@dataclass(frozen=True)
class SortField:
    """One sort key: a stored field, or one computed by ``expression`` (``$addFields``)."""

    name: str
    descending: bool
    expression: Filter | None = None


def compile_sort(keys: Sequence[SortKey]) -> list[SortField]:
    """The sort fields for ``_sort``; ``rid`` always ends the list to make the order total.

    A parameter sorts by its smallest value (largest when descending; a date by its end), and
    resources without one come last, as on SQLite."""
    fields: list[SortField] = []
    for n, key in enumerate(keys):
        if key.param == "_id":
            fields.append(SortField("id", key.descending))
        elif key.param == "_lastUpdated":
            fields.append(SortField("lu", key.descending))
        else:
            kind: IndexKind = key.kind or "string"
            value = "hi" if kind == "date" and key.descending else _SORT_VALUES[kind]
            text = kind in ("string", "token", "uri", "reference")
            sentinel: str | int
            if text:
                sentinel = "" if key.descending else _TEXT_LAST
            else:
                sentinel = -_NUMBER_LAST if key.descending else _NUMBER_LAST
            entries = {
                "$filter": {
                    "input": {"$ifNull": [f"${INDEX_FIELDS[kind]}", []]},
                    "as": "e",
                    "cond": {"$eq": ["$$e.p", {"$literal": key.param}]},
                }
            }
            values = {"$map": {"input": entries, "as": "e", "in": f"$$e.{value}"}}
            best = {"$max" if key.descending else "$min": values}
            fields.append(SortField(f"_sort{n}", key.descending, {"$ifNull": [best, sentinel]}))
    fields.append(SortField("rid", False))
    return fields


def keyset_after(fields: Sequence[SortField], after: Sequence[Any]) -> Filter:
    """Documents strictly after the cursor ``after`` in the order of ``fields``."""
    if len(after) != len(fields):
        raise ValueError("the cursor does not fit this sort")
    alternatives: list[Filter] = []
    for i, f in enumerate(fields):
        same = [{prev.name: value} for prev, value in zip(fields[:i], after[:i], strict=True)]
        beyond = {f.name: {"$lt" if f.descending else "$gt": after[i]}}
        alternatives.append(and_(*same, beyond))
    return or_(alternatives)


def search_pipeline(filter_: Filter, fields: Sequence[SortField], page: Page) -> list[Filter]:
    """The aggregation that reads one page (one row more than asked, to know if more follow).
    Computed sort keys are added after the filter, so the keyset condition on them follows."""
    computed = {f.name: f.expression for f in fields if f.expression is not None}
    after = keyset_after(fields, page.after) if page.after is not None else None
    stages: list[Filter]
    if computed:
        stages = [{"$match": filter_}, {"$addFields": computed}]
        if after is not None:
            stages.append({"$match": after})
    else:
        stages = [{"$match": and_(filter_, after) if after is not None else filter_}]
    stages.append({"$sort": {f.name: -1 if f.descending else 1 for f in fields}})
    if page.offset:
        stages.append({"$skip": page.offset})
    stages.append({"$limit": page.count + 1})
    stages.append({"$project": {**STORED_FIELDS, **{f.name: 1 for f in fields}}})
    return stages


# --------------------------------------------------------------------------- other reads


def revinclude_filter(
    targets: Sequence[tuple[str, str]], source_type: str, param: str, access: AccessConstraint
) -> Filter:
    """Current, visible ``source_type`` resources that reference ``targets`` through ``param``."""
    alternatives = [{"t": t, "i": {"$in": ids}} for t, ids in keys_by_type(targets)]
    if not alternatives:
        return NOTHING
    return and_(
        {"type": source_type},
        {"deleted": False},
        {"ref": {"$elemMatch": and_({"p": param}, or_(alternatives))}},
        compile_access(access),
    )


def history_filter(query: HistoryQuery, access: AccessConstraint) -> Filter:
    """The versions a history interaction asks for, all pages (one page: history_page)."""
    parts: list[Filter] = []
    if query.type is not None:
        parts.append({"type": query.type})
    if query.id is not None:
        parts.append({"id": query.id})
    if query.since is not None:
        parts.append({"lu": {"$gte": query.since}})
    if query.at is not None:  # written by the end of the range, not superseded before its start
        start, end = query.at
        parts.append({"lu": {"$lte": end}})
        parts.append({"$or": [{"superseded": None}, {"superseded": {"$gt": start}}]})
    parts.append(compile_access(access))
    return and_(*parts)


def history_page(query: HistoryQuery, where: Filter) -> tuple[Filter, int]:
    """The filter and ``seq`` order of one page of the versions ``where`` selects: newest
    first, before ``before_seq``; or oldest first, after ``after_seq`` (the change log as
    subscriptions read it)."""
    parts = [where]
    if query.before_seq is not None:
        parts.append({"seq": {"$lt": query.before_seq}})
    if query.after_seq is not None:
        parts.append({"seq": {"$gt": query.after_seq}})
        return and_(*parts), ASCENDING
    return and_(*parts), DESCENDING
