"""Parse a FHIR R4 search query into a :class:`SearchRequest`: typed values, no I/O.

Follows https://hl7.org/fhir/R4/search.html: a repeated parameter ANDs, a comma ORs within one
parameter, and ``\\,`` ``\\|`` ``\\$`` ``\\\\`` escape. Every problem becomes an
:class:`InvalidRequest` naming the parameter; with ``lenient`` (``Prefer: handling=lenient``) the
parameter is dropped instead and named in :attr:`SearchRequest.ignored`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, cast, get_args

from zorgleefplan.errors import InvalidRequest, UnknownResourceType
from zorgleefplan.fhir.resource_types import SUPPORTED, SUPPORTED_TYPES
from zorgleefplan.fhir.search.normalize import date_range, normalize_string, number_range
from zorgleefplan.fhir.search.parameters import (
    COLUMN_PARAMETERS,
    ParamType,
    SearchParameter,
    SearchParameterRegistry,
)
from zorgleefplan.store.model import (
    AnyOf,
    ChainCriterion,
    Criterion,
    DateCriterion,
    HasCriterion,
    IdCriterion,
    IdentifierCriterion,
    LastUpdatedCriterion,
    MissingCriterion,
    NumberCriterion,
    Prefix,
    QuantityCriterion,
    QuantityMatch,
    RangeMatch,
    ReferenceCriterion,
    ReferenceMatch,
    SearchQuery,
    SortKey,
    StringCriterion,
    TokenCriterion,
    TokenMatch,
    TokenTextCriterion,
    UriCriterion,
)

Total = Literal["none", "estimate", "accurate"]
Summary = Literal["true", "text", "data", "count", "false"]

_PREFIXES: frozenset[str] = frozenset(get_args(Prefix))
_TOTALS: frozenset[str] = frozenset(get_args(Total))
_SUMMARIES: frozenset[str] = frozenset(get_args(Summary))

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{0,63}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")  # a value with a scheme is a URL, not Type/id
_ELEMENT = re.compile(r"(?:[A-Z][A-Za-z]*\.)?[A-Za-z][A-Za-z0-9_]*(?:\[x\])?")  # [Type.]name[[x]]
_DIGITS = re.compile(r"[0-9]+")
_ESCAPE = re.compile(r"\\([\\,|$])")

# Chains and _has nest recursively; a bound keeps hostile keys from exhausting the stack.
MAX_DEPTH = 4
# Each OR alternative becomes bound query variables; stay far below SQLite's 32766.
MAX_ALTERNATIVES = 1000

_FOR_THE_CALLER = frozenset({"_format", "_pretty"})
_REFUSED = frozenset(
    {"_contained", "_containedType", "_text", "_content", "_list", "_query", "_filter"}
)
SYSTEM_CRITERIA = frozenset({"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"})


@dataclass(frozen=True, slots=True)
class Include:
    """One ``_include`` / ``_revinclude`` directive (a ``*`` wildcard is already expanded)."""

    source_type: str
    param: str
    target_type: str | None = None
    iterate: bool = False


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A parsed search: what to match (``query``) and how to return it."""

    query: SearchQuery
    count: int
    cursor: str | None = None  # opaque paging token, passed through untouched
    total: Total | None = None
    summary: Summary | None = None
    elements: tuple[str, ...] | None = None
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    ignored: tuple[str, ...] = ()  # parameters dropped under lenient handling

    @property
    def sort(self) -> tuple[SortKey, ...]:
        return self.query.sort


class _Invalid(Exception):
    """A problem with one parameter; turned into InvalidRequest (or dropped) at the top."""

    def __init__(self, message: str, *, unsupported: bool = False, unknown: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported or unknown
        self.unknown = unknown  # the parameter name itself is not known for the type


@dataclass(frozen=True, slots=True)
class _Context:
    registry: SearchParameterRegistry
    base_url: str | None  # without trailing slash


@dataclass(slots=True)
class _State:
    """What the result parameters collect while the query is walked."""

    types: tuple[str, ...]
    count: int
    max_count: int
    criteria: list[Criterion] = field(default_factory=list)
    sort: tuple[SortKey, ...] = ()
    cursor: str | None = None
    total: Total | None = None
    summary: Summary | None = None
    elements: tuple[str, ...] | None = None
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


def parse_search(
    resource_type: str | None,
    params: Sequence[tuple[str, str]],
    registry: SearchParameterRegistry,
    *,
    lenient: bool = False,
    max_count: int = 1000,
    default_count: int = 50,
    base_url: str | None = None,
) -> SearchRequest:
    """Parse decoded query pairs for a type-level (or, with ``None``, system-level) search.

    Raises :class:`InvalidRequest` for any bad parameter unless ``lenient``, and
    :class:`UnknownResourceType` for a ``resource_type`` this server does not serve.
    """
    if resource_type is not None and resource_type not in SUPPORTED:
        raise UnknownResourceType(f"Resource type '{_cut(resource_type)}' is not supported")
    ctx = _Context(registry, base_url.rstrip("/") if base_url else None)
    ignored: list[str] = []

    def attempt(key: str, step: Callable[[], None]) -> None:
        try:
            step()
        except _Invalid as exc:
            if not lenient:
                raise _as_error(key, exc) from None
            ignored.append(key)

    types = _searched_types(resource_type, params, attempt)
    state = _State(types=types, count=min(default_count, max_count), max_count=max_count)
    for key, value in params:
        if not _is_type_param(key) and key.partition(":")[0] not in _FOR_THE_CALLER:
            attempt(key, partial(_apply, ctx, state, key, value, resource_type is None))
    return SearchRequest(
        query=SearchQuery(types=types, criteria=tuple(state.criteria), sort=state.sort),
        count=state.count,
        cursor=state.cursor,
        total=state.total,
        summary=state.summary,
        elements=state.elements,
        includes=tuple(dict.fromkeys(state.includes)),
        revincludes=tuple(dict.fromkeys(state.revincludes)),
        ignored=tuple(dict.fromkeys(ignored)),
    )


def _as_error(key: str, exc: _Invalid) -> InvalidRequest:
    return InvalidRequest(
        f"Search parameter '{_cut(key)}': {exc}",
        expression=[key],
        issue_code="not-supported" if exc.unsupported else None,
    )


def _cut(text: str, limit: int = 100) -> str:
    """Echo client input in messages without letting a huge value bloat the outcome."""
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------- _type


def _is_type_param(key: str) -> bool:
    return key.partition(":")[0] == "_type"


def _searched_types(
    resource_type: str | None,
    params: Sequence[tuple[str, str]],
    attempt: Callable[[str, Callable[[], None]], None],
) -> tuple[str, ...]:
    """The types searched; ``_type`` is read first because it decides what else is valid."""
    chosen: list[tuple[str, ...]] = []

    def read(key: str, value: str) -> None:
        if resource_type is not None:
            raise _Invalid("_type is only allowed in a search across all types")
        if key != "_type":
            raise _Invalid("_type takes no modifier")
        if chosen:
            raise _Invalid("_type given more than once; list the types separated by commas")
        chosen.append(_type_list(value))

    for key, value in params:
        if _is_type_param(key):
            attempt(key, partial(read, key, value))
    if resource_type is not None:
        return (resource_type,)
    return chosen[0] if chosen else SUPPORTED_TYPES


def _type_list(value: str) -> tuple[str, ...]:
    names = value.split(",")
    for name in names:
        if name not in SUPPORTED:
            raise _Invalid(f"'{_cut(name)}' is not a resource type served here", unsupported=True)
    return tuple(dict.fromkeys(names))


# --------------------------------------------------------------------------- dispatch


def _apply(ctx: _Context, state: _State, key: str, value: str, system: bool) -> None:
    if value == "":
        raise _Invalid("empty value")
    name, sep, modifier = key.partition(":")
    handler = _RESULT_PARAMETERS.get(name)
    if handler is not None:
        if name in state.seen and name not in ("_include", "_revinclude"):
            raise _Invalid(f"{name} given more than once")
        state.seen.add(name)
        handler(ctx, state, modifier if sep else None, value)
        return
    if system:
        state.criteria.append(_system_criterion(ctx, state.types, key, value))
    else:
        state.criteria.append(_criterion(ctx, state.types[0], key, value, 0))


def _system_criterion(ctx: _Context, types: tuple[str, ...], key: str, value: str) -> Criterion:
    """A criterion across types must parse, to the same thing, for every searched type."""
    base = key.partition(":")[0].partition(".")[0]
    if base not in SYSTEM_CRITERIA:
        allowed = ", ".join(sorted(SYSTEM_CRITERIA | {"_type"}))
        raise _Invalid(
            f"'{_cut(base)}' cannot be used in a search across all types (allowed: {allowed})",
            unsupported=True,
        )
    parsed = {_criterion(ctx, t, key, value, 0) for t in types}
    if len(parsed) != 1:
        raise _Invalid("the parameter means different things for the searched types")
    return parsed.pop()


def _criterion(ctx: _Context, rtype: str, key: str, value: str, depth: int) -> Criterion:
    if depth > MAX_DEPTH:
        raise _Invalid(f"chains and _has nest at most {MAX_DEPTH} levels deep", unsupported=True)
    if key == "_has" or key.startswith("_has:"):
        return _reverse_chain(ctx, rtype, key, value, depth)
    if "." in key:
        return _chain(ctx, rtype, key, value, depth)
    code, sep, mod = key.partition(":")
    modifier = mod if sep else None
    if code == "_id":
        _no_modifier(code, modifier)
        return IdCriterion(tuple(_checked_id(_unescape(a)) for a in _alternatives(value)))
    if code == "_lastUpdated":
        _no_modifier(code, modifier)
        return LastUpdatedCriterion(_date_matches(value))
    param = _lookup(ctx, rtype, code)
    if modifier == "missing":
        return _missing(param, value)
    return _VALUE_PARSERS[param.type](ctx, param, modifier, value)


def _lookup(ctx: _Context, rtype: str, code: str) -> SearchParameter:
    param = ctx.registry.get(rtype, code)
    if param is not None:
        return param
    if code in _REFUSED or code in ("_has", "_type"):
        raise _Invalid(f"{code} is not supported here", unsupported=True)
    raise _Invalid(f"'{_cut(code)}' is not a search parameter of {rtype}", unknown=True)


def _is_known_type(ctx: _Context, name: str) -> bool:
    return name in SUPPORTED or bool(ctx.registry.for_type(name))


def _no_modifier(code: str, modifier: str | None) -> None:
    if modifier is not None:
        raise _Invalid(f"{code} takes no modifier (got ':{_cut(modifier)}')", unsupported=True)


def _bad_modifier(param: SearchParameter, modifier: str) -> _Invalid:
    if not modifier:
        return _Invalid("empty modifier after ':'")
    return _Invalid(
        f"modifier ':{_cut(modifier)}' is not supported on {param.type} parameter '{param.code}'",
        unsupported=True,
    )


# --------------------------------------------------------------------------- value syntax


def _split(value: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not escaped; escapes stay for :func:`_unescape`."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            current.append(value[i : i + 2])
            i += 2
            continue
        if char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)


def _alternatives(value: str) -> list[str]:
    """The comma-separated OR alternatives, each still escaped."""
    parts = _split(value, ",")
    if any(p == "" for p in parts):
        raise _Invalid(f"empty alternative in '{_cut(value)}'")
    if len(parts) > MAX_ALTERNATIVES:
        raise _Invalid(f"more than {MAX_ALTERNATIVES} comma-separated values", unsupported=True)
    return parts


def _checked_id(text: str) -> str:
    if not _ID.fullmatch(text):
        raise _Invalid(f"'{_cut(text)}' is not a valid resource id")
    return text


def _normalized(raw: str) -> str:
    text = normalize_string(_unescape(raw))
    if not text:
        raise _Invalid(f"'{_cut(raw)}' is empty once case, accents and spaces are normalised")
    return text


def _prefixed(raw: str) -> tuple[Prefix, str]:
    head = raw[:2]
    if head in _PREFIXES:
        rest = raw[2:]
        if not rest:
            raise _Invalid(f"no value after the prefix '{head}'")
        return cast(Prefix, head), rest
    if raw[:1].isalpha():
        raise _Invalid(
            f"'{_cut(raw)}' starts with an unknown prefix (use eq ne lt gt le ge sa eb ap)"
        )
    return "eq", raw


# --------------------------------------------------------------------------- per type


def _missing(param: SearchParameter, value: str) -> MissingCriterion:
    if value not in ("true", "false"):
        raise _Invalid(f":missing takes true or false, not '{_cut(value)}'")
    return MissingCriterion(param.code, param.type, value == "true")


def _token_match(raw: str) -> TokenMatch:
    parts = _split(raw, "|")
    if len(parts) == 1:
        return TokenMatch(None, _unescape(raw))
    if len(parts) > 2:
        raise _Invalid(f"'{_cut(raw)}' has more than one unescaped '|'")
    system, code = _unescape(parts[0]), _unescape(parts[1])
    if not system and not code:
        raise _Invalid("'|' needs a system, a code or both")
    return TokenMatch(system, code or None)  # "|code" keeps system "": explicitly no system


def _token(
    ctx: _Context, param: SearchParameter, modifier: str | None, value: str
) -> TokenCriterion | TokenTextCriterion:
    alternatives = _alternatives(value)
    if modifier == "text":
        return TokenTextCriterion(param.code, tuple(_normalized(a) for a in alternatives))
    if modifier not in (None, "not"):
        raise _bad_modifier(param, modifier)
    matches = tuple(_token_match(a) for a in alternatives)
    return TokenCriterion(param.code, matches, negate=modifier == "not")


def _string(
    ctx: _Context, param: SearchParameter, modifier: str | None, value: str
) -> StringCriterion:
    alternatives = _alternatives(value)
    if modifier == "exact":
        return StringCriterion(param.code, tuple(_unescape(a) for a in alternatives), "exact")
    if modifier not in (None, "contains"):
        raise _bad_modifier(param, modifier)
    mode: Literal["start", "contains"] = "contains" if modifier else "start"
    return StringCriterion(param.code, tuple(_normalized(a) for a in alternatives), mode)


def _target_type(param: SearchParameter, name: str) -> str:
    """``name`` as a target type of reference ``param`` (a ``:Type`` modifier or ``Type/id``)."""
    if not _TYPE_NAME.fullmatch(name):
        raise _Invalid(f"'{_cut(name)}' is not a resource type")
    if param.targets and name not in param.targets:
        allowed = ", ".join(param.targets)
        raise _Invalid(f"{name} is not a target type of '{param.code}' (allowed: {allowed})")
    return name


def _local_path(ctx: _Context, url: str) -> str | None:
    """``Type/id`` for an absolute URL on this server, else None."""
    if ctx.base_url and url.startswith(ctx.base_url + "/"):
        return url[len(ctx.base_url) + 1 :]
    return None


def _reference_match(
    ctx: _Context, param: SearchParameter, raw: str, restriction: str | None
) -> ReferenceMatch:
    ref = _unescape(raw)
    path = ref
    if _SCHEME.match(ref):
        local = _local_path(ctx, ref)
        if local is None:
            return ReferenceMatch(None, None, url=ref)
        path = local  # a URL on this server must still name the type: Type/id
    elif "/" not in ref:
        only = param.targets[0] if len(param.targets) == 1 else None
        return ReferenceMatch(restriction or only, _checked_id(ref))
    parts = path.split("/")
    if len(parts) != 2:
        raise _Invalid(f"'{_cut(ref)}' is not an id, Type/id or absolute URL")
    target = _target_type(param, parts[0])
    if restriction is not None and target != restriction:
        raise _Invalid(f"'{_cut(ref)}' is not a {restriction} reference")
    return ReferenceMatch(target, _checked_id(parts[1]))


def _reference(
    ctx: _Context, param: SearchParameter, modifier: str | None, value: str
) -> ReferenceCriterion | IdentifierCriterion:
    alternatives = _alternatives(value)
    if modifier == "identifier":
        return IdentifierCriterion(param.code, tuple(_token_match(a) for a in alternatives))
    restriction = None
    if modifier is not None:
        if not _TYPE_NAME.fullmatch(modifier):
            raise _bad_modifier(param, modifier)
        restriction = _target_type(param, modifier)
    matches = tuple(_reference_match(ctx, param, a, restriction) for a in alternatives)
    return ReferenceCriterion(param.code, matches)


def _date_match(raw: str) -> RangeMatch:
    prefix, rest = _prefixed(raw)
    try:
        low, high = date_range(rest)
    except (ValueError, ArithmeticError):
        # A '+' in a query string decodes to a space, the usual way an offset gets lost.
        hint = " (send a '+' in a time zone as %2B)" if " " in rest else ""
        raise _Invalid(f"'{_cut(raw)}' is not a valid date{hint}") from None
    return RangeMatch(prefix, low, high)


def _date_matches(value: str) -> tuple[RangeMatch, ...]:
    return tuple(_date_match(a) for a in _alternatives(value))


def _date(ctx: _Context, param: SearchParameter, modifier: str | None, value: str) -> DateCriterion:
    if modifier is not None:
        raise _bad_modifier(param, modifier)
    return DateCriterion(param.code, _date_matches(value))


def _number_match(raw: str) -> RangeMatch:
    prefix, rest = _prefixed(raw)
    try:
        _, low, high = number_range(rest)
    except (ValueError, ArithmeticError):
        raise _Invalid(f"'{_cut(raw)}' is not a valid number") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise _Invalid(f"'{_cut(raw)}' is out of range")
    return RangeMatch(prefix, low, high)


def _number(
    ctx: _Context, param: SearchParameter, modifier: str | None, value: str
) -> NumberCriterion:
    if modifier is not None:
        raise _bad_modifier(param, modifier)
    return NumberCriterion(param.code, tuple(_number_match(a) for a in _alternatives(value)))


def _quantity_match(raw: str) -> QuantityMatch:
    parts = _split(raw, "|")
    if len(parts) == 1:
        return QuantityMatch(_number_match(raw), None, None)
    if len(parts) != 3:
        raise _Invalid(f"'{_cut(raw)}' is not number, number|system|code or number||code")
    system, code = _unescape(parts[1]), _unescape(parts[2])
    if not code:
        raise _Invalid(f"'{_cut(raw)}' has a system but no unit code")
    # number||code: no system given, so the code may match the unit or the code.
    return QuantityMatch(_number_match(parts[0]), system or None, code)


def _quantity(
    ctx: _Context, param: SearchParameter, modifier: str | None, value: str
) -> QuantityCriterion:
    if modifier is not None:
        raise _bad_modifier(param, modifier)
    return QuantityCriterion(param.code, tuple(_quantity_match(a) for a in _alternatives(value)))


def _uri(ctx: _Context, param: SearchParameter, modifier: str | None, value: str) -> UriCriterion:
    values = tuple(_unescape(a) for a in _alternatives(value))
    if modifier == "below":
        return UriCriterion(param.code, values, "below")
    if modifier == "above":
        return UriCriterion(param.code, values, "above")
    if modifier is not None:
        raise _bad_modifier(param, modifier)
    return UriCriterion(param.code, values)


_VALUE_PARSERS: dict[str, Callable[[_Context, SearchParameter, str | None, str], Criterion]] = {
    "token": _token,
    "string": _string,
    "reference": _reference,
    "date": _date,
    "number": _number,
    "quantity": _quantity,
    "uri": _uri,
}


# --------------------------------------------------------------------------- chains


def _chain(ctx: _Context, rtype: str, key: str, value: str, depth: int) -> Criterion:
    """``param[:Type].rest``: one ChainCriterion, or AnyOf over the target types that fit."""
    head, _, tail = key.partition(".")
    code, sep, modifier = head.partition(":")
    param = _lookup(ctx, rtype, code)
    if param.type != "reference":
        raise _Invalid(f"'{code}' is a {param.type} parameter; only references can be chained")
    if not tail:
        raise _Invalid("nothing after '.' in the chain")
    if sep:
        if not _TYPE_NAME.fullmatch(modifier):
            raise _bad_modifier(param, modifier)
        candidates: tuple[str, ...] = (_target_type(param, modifier),)
    elif param.targets:
        candidates = tuple(t for t in param.targets if _is_known_type(ctx, t))
    else:
        raise _Invalid(f"'{code}' has no declared target types; name one as '{code}:Type.'")
    links: list[Criterion] = []
    errors: list[_Invalid] = []
    for target in candidates:
        try:
            links.append(
                ChainCriterion(code, target, _criterion(ctx, target, tail, value, depth + 1))
            )
        except _Invalid as exc:
            errors.append(exc)
    if not links:
        raise _chain_failure(param, tail, candidates, errors)
    return links[0] if len(links) == 1 else AnyOf(tuple(links))


def _chain_failure(
    param: SearchParameter, tail: str, candidates: tuple[str, ...], errors: list[_Invalid]
) -> _Invalid:
    """The most useful error when no target type accepts the rest of the chain."""
    if not candidates:
        return _Invalid(f"no target type of '{param.code}' is served here", unsupported=True)
    for exc in errors:
        if not exc.unknown:
            return exc
    if len(candidates) == 1:
        return errors[0]
    inner = _cut(tail.partition(".")[0].partition(":")[0])
    return _Invalid(
        f"'{inner}' is not a search parameter of any target of '{param.code}' "
        f"({', '.join(candidates)})",
        unknown=True,
    )


def _reverse_chain(ctx: _Context, rtype: str, key: str, value: str, depth: int) -> HasCriterion:
    """``_has:Source:param:rest``: resources that a matching Source points at via ``param``."""
    parts = key.split(":", 3)
    if len(parts) < 4 or not all(parts):
        raise _Invalid("_has needs the form _has:Type:parameter:criterion")
    _, source, code, inner = parts
    if not _is_known_type(ctx, source):
        raise _Invalid(f"'{_cut(source)}' is not a resource type served here", unsupported=True)
    param = _lookup(ctx, source, code)
    if param.type != "reference":
        raise _Invalid(f"{source}.{code} is a {param.type} parameter, not a reference")
    if param.targets and rtype not in param.targets:
        raise _Invalid(f"{source}.{code} cannot refer to a {rtype}")
    return HasCriterion(source, code, _criterion(ctx, source, inner, value, depth + 1))


# --------------------------------------------------------------------------- result parameters


def _count(ctx: _Context, state: _State, modifier: str | None, value: str) -> None:
    _no_modifier("_count", modifier)
    if not _DIGITS.fullmatch(value):
        raise _Invalid(f"_count must be a non-negative integer, not '{_cut(value)}'")
    # Beyond nine digits the cap applies anyway; skip int() on arbitrarily long input.
    state.count = state.max_count if len(value) > 9 else min(int(value), state.max_count)


def _sort(ctx: _Context, state: _State, modifier: str | None, value: str) -> None:
    _no_modifier("_sort", modifier)
    keys: list[SortKey] = []
    for item in value.split(","):
        descending = item.startswith("-")
        code = item[1:] if descending else item
        if not code:
            raise _Invalid(f"empty sort key in '{_cut(value)}'")
        kind = _sort_kind(ctx, state.types, code)
        if any(k.param == code for k in keys):
            raise _Invalid(f"'{code}' is sorted on twice")
        keys.append(SortKey(code, descending, kind))
    state.sort = tuple(keys)


def _sort_kind(ctx: _Context, types: Iterable[str], code: str) -> ParamType | None:
    """The index kind to sort ``code`` by (None for row columns); it must exist on every type."""
    if code in COLUMN_PARAMETERS:
        return None
    kinds = set()
    for rtype in types:
        param = ctx.registry.get(rtype, code)
        if param is None:
            raise _Invalid(f"cannot sort on '{_cut(code)}': not a search parameter of {rtype}")
        kinds.add(param.type)
    if len(kinds) != 1:
        raise _Invalid(f"cannot sort on '{_cut(code)}': its type differs between resource types")
    return kinds.pop()


def _enum(name: str, allowed: frozenset[str], modifier: str | None, value: str) -> str:
    _no_modifier(name, modifier)
    if value not in allowed:
        raise _Invalid(f"{name} must be one of {', '.join(sorted(allowed))}, not '{_cut(value)}'")
    return value


def _total(ctx: _Context, state: _State, modifier: str | None, value: str) -> None:
    state.total = cast(Total, _enum("_total", _TOTALS, modifier, value))


def _summary(ctx: _Context, state: _State, modifier: str | None, value: str) -> None:
    state.summary = cast(Summary, _enum("_summary", _SUMMARIES, modifier, value))


def _elements(ctx: _Context, state: _State, modifier: str | None, value: str) -> None:
    _no_modifier("_elements", modifier)
    names = [n.strip() for n in value.split(",")]  # "name, birthDate" is common
    for name in names:
        if not _ELEMENT.fullmatch(name):
            raise _Invalid(f"'{_cut(name)}' is not an element name")
    # Whether each name exists on the type is the renderer's check (fhir/elements.py).
    state.elements = tuple(dict.fromkeys(names))


def _cursor(ctx: _Context, state: _State, modifier: str | None, value: str) -> None:
    _no_modifier("_cursor", modifier)
    state.cursor = value


def _include(ctx: _Context, state: _State, modifier: str | None, value: str) -> None:
    state.includes.extend(_inclusions(ctx, state.types, modifier, value, reverse=False))


def _revinclude(ctx: _Context, state: _State, modifier: str | None, value: str) -> None:
    state.revincludes.extend(_inclusions(ctx, state.types, modifier, value, reverse=True))


def _inclusions(
    ctx: _Context, types: tuple[str, ...], modifier: str | None, value: str, *, reverse: bool
) -> list[Include]:
    """``Source:param[:Target]``; without :iterate it must start from (or, reversed, point
    at) the searched types, since it applies to the matches only."""
    if modifier not in (None, "iterate"):
        raise _Invalid(f"unknown modifier ':{_cut(modifier)}' (only :iterate)", unsupported=True)
    iterate = modifier == "iterate"
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise _Invalid(f"'{_cut(value)}' is not Type:parameter or Type:parameter:TargetType")
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if not _is_known_type(ctx, source):
        raise _Invalid(f"'{_cut(source)}' is not a resource type served here", unsupported=True)
    if target is not None and not _TYPE_NAME.fullmatch(target):
        raise _Invalid(f"'{_cut(target)}' is not a resource type")
    if not iterate and not reverse and source not in types:
        raise _Invalid(f"{source} is not the searched type; use _include:iterate")
    if not iterate and reverse and target is not None and target not in types:
        raise _Invalid(f"{target} is not the searched type; use _revinclude:iterate")
    reach = (target,) if target else (types if reverse and not iterate else None)
    fitting = [p for p in _reference_params(ctx, source, code) if _can_refer(p, reach)]
    if not fitting:
        raise _no_inclusion(source, code, reach or ())  # reach None lets all fit
    return [Include(source, p.code, target, iterate) for p in fitting]


def _no_inclusion(source: str, code: str, reach: tuple[str, ...]) -> _Invalid:
    if code == "*":
        return _Invalid(f"no reference parameter of {source} can refer to {' or '.join(reach)}")
    return _Invalid(f"{source}:{code} cannot refer to {' or '.join(reach)}")


def _reference_params(ctx: _Context, source: str, code: str) -> list[SearchParameter]:
    if code == "*":
        found = [p for p in ctx.registry.for_type(source).values() if p.type == "reference"]
        if not found:
            raise _Invalid(f"{source} has no reference parameters")
        return found
    param = _lookup(ctx, source, code)
    if param.type != "reference":
        raise _Invalid(f"{source}.{code} is a {param.type} parameter, not a reference")
    return [param]


def _can_refer(param: SearchParameter, reach: tuple[str, ...] | None) -> bool:
    return reach is None or not param.targets or any(t in param.targets for t in reach)


_RESULT_PARAMETERS: dict[str, Callable[[_Context, _State, str | None, str], None]] = {
    "_count": _count,
    "_sort": _sort,
    "_total": _total,
    "_summary": _summary,
    "_elements": _elements,
    "_cursor": _cursor,
    "_include": _include,
    "_revinclude": _revinclude,
}
