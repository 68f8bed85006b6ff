"""Compile the storage-neutral search model and access constraints into SQLite SQL.

Pure functions: model in, ``(sql, params)`` out. One compiler per criterion kind, picked from a
dict. Every fragment is written against a table alias of ``resource`` so that the same access
constraint can guard the searched resources, chained targets and ``_has`` sources alike.

Index tables hold a type-qualified parameter key (``CarePlan.status``) so one lookup never mixes
resource types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    LastUpdatedCriterion,
    MissingCriterion,
    NumberCriterion,
    QuantityCriterion,
    RangeMatch,
    ReferenceCriterion,
    SortKey,
    StringCriterion,
    TokenCriterion,
    TokenMatch,
    TokenTextCriterion,
    UriCriterion,
    approximate_bounds,
)

INDEX_TABLES = {
    "token": "idx_token",
    "string": "idx_string",
    "reference": "idx_reference",
    "date": "idx_date",
    "quantity": "idx_quantity",
    "number": "idx_number",
    "uri": "idx_uri",
}


def param_key(resource_type: str, code: str) -> str:
    return f"{resource_type}.{code}"


@dataclass
class Fragment:
    """A SQL boolean expression with its positional parameters."""

    sql: str
    params: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Scope:
    """Where a criterion applies: the alias of the resource row and its resource type(s)."""

    alias: str
    types: tuple[str, ...]
    access: AccessConstraint
    depth: int = 0  # nesting level, for unique aliases in sub-queries

    def nested(self, types: tuple[str, ...]) -> Scope:
        return Scope(f"t{self.depth + 1}", types, self.access, self.depth + 1)


# --------------------------------------------------------------------------- access


def compile_access(access: AccessConstraint, alias: str) -> Fragment:
    if not access.grants:
        return Fragment("0")
    if access.is_unrestricted:
        return Fragment("1")
    parts = [_compile_grant(g, alias) for g in access.grants]
    return Fragment(
        "(" + " OR ".join(p.sql for p in parts) + ")", [v for p in parts for v in p.params]
    )


def _compile_grant(grant: Grant, alias: str) -> Fragment:
    clauses: list[str] = []
    params: list[Any] = []
    if grant.compartments is not None:
        marks = _marks(len(grant.compartments))
        in_compartment = f"{alias}.compartment IN ({marks})"
        params.extend(sorted(grant.compartments))
        if grant.include_shared:
            in_compartment = f"({in_compartment} OR {alias}.compartment IS NULL)"
        clauses.append(in_compartment)
    elif not grant.include_shared:
        clauses.append(f"{alias}.compartment IS NOT NULL")
    if grant.types is not None:
        clauses.append(f"{alias}.type IN ({_marks(len(grant.types))})")
        params.extend(sorted(grant.types))
    if grant.resources is not None:
        pairs = sorted(grant.resources)
        if not pairs:
            return Fragment("0")
        clauses.append(f"({alias}.type, {alias}.id) IN (VALUES {_pair_marks(len(pairs))})")
        params.extend(v for pair in pairs for v in pair)
    if grant.exclude:
        pairs = sorted(grant.exclude)
        clauses.append(f"({alias}.type, {alias}.id) NOT IN (VALUES {_pair_marks(len(pairs))})")
        params.extend(v for pair in pairs for v in pair)
    return Fragment("(" + (" AND ".join(clauses) or "1") + ")", params)


# --------------------------------------------------------------------------- criteria


def compile_criteria(criteria: Sequence[Criterion], scope: Scope) -> Fragment:
    parts = [compile_criterion(c, scope) for c in criteria]
    if not parts:
        return Fragment("1")
    return Fragment(" AND ".join(p.sql for p in parts), [v for p in parts for v in p.params])


def compile_criterion(criterion: Criterion, scope: Scope) -> Fragment:
    compiler = _COMPILERS[type(criterion)]
    return compiler(criterion, scope)


def _rid_in(table: str, scope: Scope, param: str, where: str, params: list[Any]) -> Fragment:
    """``alias.rid IN (rows of table for param(s) meeting where)``, for every scope type."""
    keys = [param_key(t, param) for t in scope.types]
    sql = (
        f"{scope.alias}.rid IN (SELECT rid FROM {table} "
        f"WHERE param IN ({_marks(len(keys))}) AND ({where}))"
    )
    return Fragment(sql, [*keys, *params])


def _token_match(m: TokenMatch) -> tuple[str, list[Any]]:
    if m.code is None:
        return ("system = ?", [m.system]) if m.system else ("system IS NULL", [])
    if m.system is None:
        return "code = ?", [m.code]
    if m.system == "":
        return "(code = ? AND system IS NULL)", [m.code]
    return "(code = ? AND system = ?)", [m.code, m.system]


def _or(matches: Sequence[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    return (
        "(" + " OR ".join(sql for sql, _ in matches) + ")",
        [v for _, params in matches for v in params],
    )


def _token(c: TokenCriterion, scope: Scope) -> Fragment:
    where, params = _or([_token_match(m) for m in c.matches])
    frag = _rid_in("idx_token", scope, c.param, where, params)
    if c.negate:
        frag.sql = frag.sql.replace(f"{scope.alias}.rid IN", f"{scope.alias}.rid NOT IN", 1)
    return frag


def _token_text(c: TokenTextCriterion, scope: Scope) -> Fragment:
    where, params = _or([("text LIKE ? ESCAPE '\\'", [f"%{_like(t)}%"]) for t in c.texts])
    return _rid_in("idx_token", scope, c.param, where, params)


def _string(c: StringCriterion, scope: Scope) -> Fragment:
    if c.mode == "exact":
        where, params = _or([("exact = ?", [v]) for v in c.values])
    elif c.mode == "contains":
        where, params = _or([("value LIKE ? ESCAPE '\\'", [f"%{_like(v)}%"]) for v in c.values])
    else:  # starts-with as a range so the (param, value) index is used
        where, params = _or(
            [("(value >= ? AND value < ?)", [v, v + "\U0010ffff"]) for v in c.values]
        )
    return _rid_in("idx_string", scope, c.param, where, params)


def _reference(c: ReferenceCriterion, scope: Scope) -> Fragment:
    alternatives: list[tuple[str, list[Any]]] = []
    for m in c.matches:
        if m.url is not None:
            alternatives.append(("url = ?", [m.url]))
        elif m.target_type is None:
            alternatives.append(("target_id = ?", [m.target_id]))
        else:
            alternatives.append(
                ("(target_id = ? AND target_type = ?)", [m.target_id, m.target_type])
            )
    where, params = _or(alternatives)
    return _rid_in("idx_reference", scope, c.param, where, params)


def _identifier(c: IdentifierCriterion, scope: Scope) -> Fragment:
    alternatives: list[tuple[str, list[Any]]] = []
    for m in c.matches:
        sql, params = _token_match(m)
        alternatives.append(
            (sql.replace("system", "identifier_system").replace("code", "identifier_value"), params)
        )
    where, params = _or(alternatives)
    return _rid_in("idx_reference", scope, c.param, where, params)


def range_condition(m: RangeMatch, low_col: str, high_col: str) -> tuple[str, list[Any]]:
    """FHIR prefix semantics between a stored range [low_col, high_col] and the search range."""
    lo, hi = m.low, m.high
    contained = (f"({low_col} >= ? AND {high_col} <= ?)", [lo, hi])
    match m.prefix:
        case "eq":
            return contained
        case "ne":
            return f"NOT {contained[0]}", contained[1]
        case "gt":
            return f"{high_col} > ?", [hi]
        case "lt":
            return f"{low_col} < ?", [lo]
        case "ge":
            return f"({high_col} > ? OR {contained[0]})", [hi, *contained[1]]
        case "le":
            return f"({low_col} < ? OR {contained[0]})", [lo, *contained[1]]
        case "sa":
            return f"{low_col} > ?", [hi]
        case "eb":
            return f"{high_col} < ?", [lo]
        case "ap":
            low, high = approximate_bounds(m)
            return f"({low_col} <= ? AND {high_col} >= ?)", [high, low]
    raise ValueError(m.prefix)


def _date(c: DateCriterion, scope: Scope) -> Fragment:
    where, params = _or([range_condition(m, "low", "high") for m in c.matches])
    return _rid_in("idx_date", scope, c.param, where, params)


def _number(c: NumberCriterion, scope: Scope) -> Fragment:
    where, params = _or([range_condition(m, "low", "high") for m in c.matches])
    return _rid_in("idx_number", scope, c.param, where, params)


def _quantity(c: QuantityCriterion, scope: Scope) -> Fragment:
    alternatives: list[tuple[str, list[Any]]] = []
    for m in c.matches:
        sql, params = range_condition(m.range, "low", "high")
        if m.system is not None:
            sql, params = f"({sql} AND system = ?)", [*params, m.system]
        if m.code is not None:
            sql, params = f"({sql} AND (code = ? OR unit = ?))", [*params, m.code, m.code]
        alternatives.append((sql, params))
    where, params = _or(alternatives)
    return _rid_in("idx_quantity", scope, c.param, where, params)


def _uri(c: UriCriterion, scope: Scope) -> Fragment:
    if c.mode == "below":  # stored value is the search value or a path under it
        cond = "(value = ? OR substr(value, 1, length(?) + 1) = ? || '/')"
        where, params = _or([(cond, [v, v.rstrip("/"), v.rstrip("/")]) for v in c.values])
    elif c.mode == "above":  # stored value is the search value or a path above it
        cond = "(value = ? OR substr(?, 1, length(value) + 1) = rtrim(value, '/') || '/')"
        where, params = _or([(cond, [v, v]) for v in c.values])
    else:
        where, params = _or([("value = ?", [v]) for v in c.values])
    return _rid_in("idx_uri", scope, c.param, where, params)


def _missing(c: MissingCriterion, scope: Scope) -> Fragment:
    frag = _rid_in(INDEX_TABLES[c.kind], scope, c.param, "1", [])
    if c.missing:
        frag.sql = frag.sql.replace(f"{scope.alias}.rid IN", f"{scope.alias}.rid NOT IN", 1)
    return frag


def _id(c: IdCriterion, scope: Scope) -> Fragment:
    return Fragment(f"{scope.alias}.id IN ({_marks(len(c.ids))})", list(c.ids))


def _last_updated(c: LastUpdatedCriterion, scope: Scope) -> Fragment:
    col = f"{scope.alias}.last_updated"
    sql, params = _or([range_condition(m, col, col) for m in c.matches])
    return Fragment(sql, params)


def _chain(c: ChainCriterion, scope: Scope) -> Fragment:
    inner_scope = scope.nested((c.target_type,))
    t = inner_scope.alias
    inner = compile_criterion(c.inner, inner_scope)
    access = compile_access(scope.access, t)
    keys = [param_key(st, c.param) for st in scope.types]
    sql = (
        f"{scope.alias}.rid IN (SELECT x.rid FROM idx_reference x "
        f"JOIN resource {t} ON {t}.type = x.target_type AND {t}.id = x.target_id "
        f"WHERE x.param IN ({_marks(len(keys))}) AND {t}.type = ? AND {t}.deleted = 0 "
        f"AND {inner.sql} AND {access.sql})"
    )
    return Fragment(sql, [*keys, c.target_type, *inner.params, *access.params])


def _has(c: HasCriterion, scope: Scope) -> Fragment:
    inner_scope = scope.nested((c.source_type,))
    s = inner_scope.alias
    inner = compile_criterion(c.inner, inner_scope)
    access = compile_access(scope.access, s)
    sql = (
        f"({scope.alias}.type, {scope.alias}.id) IN (SELECT x.target_type, x.target_id "
        f"FROM idx_reference x JOIN resource {s} ON {s}.rid = x.rid "
        f"WHERE x.param = ? AND {s}.deleted = 0 AND {inner.sql} AND {access.sql})"
    )
    return Fragment(sql, [param_key(c.source_type, c.param), *inner.params, *access.params])


def _any_of(c: AnyOf, scope: Scope) -> Fragment:
    parts = [compile_criterion(x, scope) for x in c.criteria]
    if not parts:
        return Fragment("0")
    return Fragment(
        "(" + " OR ".join(p.sql for p in parts) + ")", [v for p in parts for v in p.params]
    )


_COMPILERS: dict[type, Callable[[Any, Scope], Fragment]] = {
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

# --------------------------------------------------------------------------- sorting

# Which index column sorts a parameter of each type; None means the row column itself.
_SORT_COLUMNS = {
    "string": ("idx_string", "value"),
    "token": ("idx_token", "code"),
    "date": ("idx_date", "low"),
    "number": ("idx_number", "value"),
    "quantity": ("idx_quantity", "value"),
    "uri": ("idx_uri", "value"),
    "reference": ("idx_reference", "target_id"),
}
_TEXT_LAST = "\U0010ffff"
_NUMBER_LAST = 2**62


@dataclass(frozen=True)
class SortColumn:
    """One ORDER BY expression (NULLs folded into a sentinel that sorts last)."""

    sql: str
    params: tuple[Any, ...]
    descending: bool


def compile_sort(keys: Sequence[SortKey], alias: str, types: Sequence[str]) -> list[SortColumn]:
    """ORDER BY columns for ``_sort``; ``rid`` always ends the list to make order total."""
    columns: list[SortColumn] = []
    for key in keys:
        if key.param == "_id":
            columns.append(SortColumn(f"{alias}.id", (), key.descending))
        elif key.param == "_lastUpdated":
            columns.append(SortColumn(f"{alias}.last_updated", (), key.descending))
        else:
            kind = key.kind or "string"
            table, col = _SORT_COLUMNS[kind]
            if kind == "date" and key.descending:
                col = "high"
            agg = "MAX" if key.descending else "MIN"
            text = kind in ("string", "token", "uri", "reference")
            # Descending puts missing values last with the low sentinel, ascending with the high.
            sentinel: Any
            if text:
                sentinel = "" if key.descending else _TEXT_LAST
            else:
                sentinel = -_NUMBER_LAST if key.descending else _NUMBER_LAST
            keys_ = [param_key(t, key.param) for t in types]
            sql = (
                f"COALESCE((SELECT {agg}({col}) FROM {table} WHERE rid = {alias}.rid "
                f"AND param IN ({_marks(len(keys_))})), ?)"
            )
            columns.append(SortColumn(sql, (*keys_, sentinel), key.descending))
    columns.append(SortColumn(f"{alias}.rid", (), False))
    return columns


def keyset_after(columns: Sequence[SortColumn], after: Sequence[Any]) -> Fragment:
    """Rows strictly after the cursor ``after`` in the order given by ``columns``."""
    ors: list[str] = []
    params: list[Any] = []
    for i, col in enumerate(columns):
        conds: list[str] = []
        for prev, value in zip(columns[:i], after[:i], strict=True):
            conds.append(f"{prev.sql} = ?")
            params.extend((*prev.params, value))
        conds.append(f"{col.sql} {'<' if col.descending else '>'} ?")
        params.extend((*col.params, after[i]))
        ors.append("(" + " AND ".join(conds) + ")")
    return Fragment("(" + " OR ".join(ors) + ")", params)


# --------------------------------------------------------------------------- helpers


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _pair_marks(n: int) -> str:
    return ", ".join(["(?, ?)"] * n)


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
