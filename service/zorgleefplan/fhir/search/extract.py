"""Index values of a resource, extracted at write time from its search parameters.

Each parameter's expression is compiled once (``fhirpath.py``); its typed values are turned
into rows of the parameter's index kind by one converter per kind. Values of an unexpected
shape are skipped: the resource was validated before, and a write must never fail here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zorgleefplan.fhir.resource_types import SUPPORTED_TYPES
from zorgleefplan.fhir.search.fhirpath import CompiledExpression, compile_expression
from zorgleefplan.fhir.search.normalize import date_range, normalize_string, number_range
from zorgleefplan.fhir.search.parameters import SearchParameterRegistry
from zorgleefplan.store.model import (
    DateIndex,
    IndexValues,
    NumberIndex,
    QuantityIndex,
    ReferenceIndex,
    StringIndex,
    TokenIndex,
    UriIndex,
)

__all__ = ["IndexExtractor"]

_Converter = Callable[[str, Any, str | None, list[Any]], None]

_INF = float("inf")
_ISO_4217 = "urn:iso:std:iso:4217"
_RELATIVE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?")


def _text(value: Any) -> str | None:
    return normalize_string(value) if isinstance(value, str) and value else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


# --------------------------------------------------------------------------- token


def _coding(param: str, coding: Any, out: list[Any]) -> None:
    if isinstance(coding, dict):
        code, text = _str(coding.get("code")), _text(coding.get("display"))
        if code is not None or text is not None:
            out.append(TokenIndex(param, _str(coding.get("system")), code, text))


def _tokens(param: str, value: Any, type_: str | None, out: list[Any]) -> None:
    if isinstance(value, str):
        out.append(TokenIndex(param, None, value))
    elif isinstance(value, bool):
        out.append(TokenIndex(param, None, "true" if value else "false"))
    elif not isinstance(value, dict):
        return
    elif type_ == "CodeableConcept" or (type_ is None and ("coding" in value or "text" in value)):
        codings = value.get("coding")
        if isinstance(codings, list):
            for coding in codings:
                _coding(param, coding, out)
        if (text := _text(value.get("text"))) is not None:
            out.append(TokenIndex(param, None, None, text))
    elif type_ == "Coding" or (type_ is None and "code" in value):
        _coding(param, value, out)
    elif type_ == "ContactPoint":
        if (contact := _str(value.get("value"))) is not None:
            out.append(TokenIndex(param, None, contact))
    elif type_ == "Identifier" or (type_ is None and "value" in value):
        system, code = _str(value.get("system")), _str(value.get("value"))
        kind = value.get("type")
        text = _text(kind.get("text")) if isinstance(kind, dict) else None
        if system is not None or code is not None:
            out.append(TokenIndex(param, system, code, text))


# --------------------------------------------------------------------------- string

_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def _string(param: str, value: Any, out: list[Any]) -> None:
    if isinstance(value, str) and value:
        out.append(StringIndex(param, normalize_string(value), value))


def _strings(param: str, value: Any, type_: str | None, out: list[Any]) -> None:
    if isinstance(value, str):
        _string(param, value, out)
        return
    if not isinstance(value, dict):
        return
    if type_ == "HumanName":
        parts = _NAME_PARTS
    elif type_ == "Address":
        parts = _ADDRESS_PARTS
    elif type_ is None:
        parts = _ADDRESS_PARTS if "city" in value or "line" in value else _NAME_PARTS
    else:
        return
    for part in parts:
        item = value.get(part)
        if isinstance(item, list):
            for element in item:
                _string(param, element, out)
        else:
            _string(param, item, out)


# --------------------------------------------------------------------------- date


def _bound(value: Any, index: int) -> int | None:
    """One end of a value's range; None when absent. Raises ValueError when malformed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("not a date string")
    return date_range(value)[index]


def _period(param: str, period: Any, out: list[Any]) -> None:
    if not isinstance(period, dict):
        return
    try:
        low, high = _bound(period.get("start"), 0), _bound(period.get("end"), 1)
    except ValueError:
        return
    if low is not None or high is not None:
        out.append(DateIndex(param, low, high))


def _instant(param: str, value: Any, out: list[Any]) -> None:
    if isinstance(value, str):
        try:
            low, high = date_range(value)
        except ValueError:
            return
        out.append(DateIndex(param, low, high))


def _dates(param: str, value: Any, type_: str | None, out: list[Any]) -> None:
    if isinstance(value, str):
        if type_ in ("date", "dateTime", "instant", None):
            _instant(param, value, out)
    elif not isinstance(value, dict):
        return
    elif type_ == "Period" or (type_ is None and ("start" in value or "end" in value)):
        _period(param, value, out)
    elif type_ == "Timing" or (type_ is None and ("event" in value or "repeat" in value)):
        events = value.get("event")
        if isinstance(events, list):
            for event in events:
                _instant(param, event, out)
        repeat = value.get("repeat")
        if isinstance(repeat, dict):
            _period(param, repeat.get("boundsPeriod"), out)


# --------------------------------------------------------------------------- quantity / number


def _precise(value: float | int) -> tuple[float, float, float]:
    """The stored number with the range its written precision implies (JSON keeps digits)."""
    return number_range(repr(value))


def _quantity(param: str, q: dict[str, Any], out: list[Any], *, money: bool = False) -> None:
    number = _number(q.get("value"))
    if number is None:
        return
    value, low, high = _precise(number)
    comparator = q.get("comparator")
    if comparator in ("<", "<="):
        low = -_INF
    elif comparator in (">", ">="):
        high = _INF
    if money:
        currency = _str(q.get("currency"))
        out.append(QuantityIndex(param, value, low, high, _ISO_4217, currency, currency))
    else:
        system, code, unit = _str(q.get("system")), _str(q.get("code")), _str(q.get("unit"))
        out.append(QuantityIndex(param, value, low, high, system, code, unit))


def _range(param: str, r: dict[str, Any], out: list[Any]) -> None:
    """A Range is one row spanning [low, high]; its bounds are exact (the spec says so) and a
    missing bound is open (infinite)."""
    low_q, high_q = r.get("low"), r.get("high")
    low_q = low_q if isinstance(low_q, dict) else {}
    high_q = high_q if isinstance(high_q, dict) else {}
    low, high = _number(low_q.get("value")), _number(high_q.get("value"))
    if low is None and high is None:
        return
    unit_of = low_q if low is not None else high_q
    out.append(
        QuantityIndex(
            param,
            float(low if low is not None else high),  # type: ignore[arg-type]
            float(low) if low is not None else -_INF,
            float(high) if high is not None else _INF,
            _str(unit_of.get("system")),
            _str(unit_of.get("code")),
            _str(unit_of.get("unit")),
        )
    )


def _quantities(param: str, value: Any, type_: str | None, out: list[Any]) -> None:
    if not isinstance(value, dict):
        return
    if type_ == "Range" or (type_ is None and ("low" in value or "high" in value)):
        _range(param, value, out)
    elif type_ == "Money" or (type_ is None and "currency" in value):
        _quantity(param, value, out, money=True)
    else:
        _quantity(param, value, out)


def _numbers(param: str, value: Any, type_: str | None, out: list[Any]) -> None:
    number = _number(value)
    if number is not None:
        out.append(NumberIndex(param, *_precise(number)))


# --------------------------------------------------------------------------- uri


def _uris(param: str, value: Any, type_: str | None, out: list[Any]) -> None:
    if isinstance(value, str) and value:
        out.append(UriIndex(param, value))


# --------------------------------------------------------------------------- extractor


@dataclass(frozen=True, slots=True)
class _Plan:
    code: str
    kind: int  # index into the per-kind row lists (see _KINDS)
    expression: CompiledExpression
    convert: _Converter


_KINDS = ("token", "string", "reference", "date", "quantity", "number", "uri")
_CONVERTERS: dict[str, _Converter | None] = {
    "token": _tokens,
    "string": _strings,
    "reference": None,  # bound per extractor: it needs the server base
    "date": _dates,
    "quantity": _quantities,
    "number": _numbers,
    "uri": _uris,
}


class IndexExtractor:
    """Turns a resource into its index rows and its Patient compartment.

    All expressions of ``types`` are compiled at construction. ``base_url`` is this server's
    own base: absolute references under it are indexed as local ``Type/id`` targets.
    """

    def __init__(
        self,
        registry: SearchParameterRegistry,
        *,
        base_url: str | None = None,
        types: Iterable[str] = SUPPORTED_TYPES,
    ) -> None:
        self._registry = registry
        self._base = base_url.rstrip("/") + "/" if base_url else None
        self._plans: dict[str, tuple[_Plan, ...]] = {t: self._compile(t) for t in types}

    def _compile(self, resource_type: str) -> tuple[_Plan, ...]:
        plans = []
        for code, param in self._registry.for_type(resource_type).items():
            convert = _CONVERTERS[param.type] or self._references
            expression = compile_expression(param.expression)
            plans.append(_Plan(code, _KINDS.index(param.type), expression, convert))
        return tuple(plans)

    def fallback_expressions(self) -> dict[tuple[str, str], str]:
        """(type, code) -> expression of the parameters evaluated by fhirpathpy."""
        return {
            (t, p.code): p.expression.expression
            for t, plans in self._plans.items()
            for p in plans
            if not p.expression.fast
        }

    def extract(self, resource: Mapping[str, Any]) -> IndexValues:
        """Every index row of the resource, deduplicated, per index kind."""
        resource_type = resource.get("resourceType") if isinstance(resource, Mapping) else None
        if not isinstance(resource_type, str):
            return IndexValues()
        plans = self._plans.get(resource_type)
        if plans is None:  # outside ``types``: compile on first use, if the registry knows it
            if not self._registry.for_type(resource_type):
                return IndexValues()
            plans = self._plans[resource_type] = self._compile(resource_type)
        rows: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
        for plan in plans:
            out = rows[plan.kind]
            for value, type_ in plan.expression.evaluate(resource):
                plan.convert(plan.code, value, type_, out)
        tokens, strings, references, dates, quantities, numbers, uris = (
            tuple(dict.fromkeys(r)) if r else () for r in rows
        )
        return IndexValues(tokens, strings, references, dates, quantities, numbers, uris)

    def compartment(self, resource: Mapping[str, Any], index: IndexValues) -> str | None:
        """The id of the Patient whose compartment the resource is in, or None.

        A Patient is in its own; anything else in that of the first Patient reference found
        through the type's compartment parameters, in their registry order.
        """
        resource_type = resource.get("resourceType")
        if resource_type == "Patient":
            return _str(resource.get("id"))
        if not isinstance(resource_type, str):
            return None
        for code in self._registry.compartment_params(resource_type):
            for row in index.references:
                if row.param == code and row.target_type == "Patient" and row.target_id:
                    return row.target_id
        return None

    # reference rows depend on the configured base, so this converter is a method
    def _references(self, param: str, value: Any, type_: str | None, out: list[Any]) -> None:
        if isinstance(value, str):  # canonical / uri: matched by url, never by id
            if value and not value.startswith("#"):
                out.append(ReferenceIndex(param, None, None, value))
            return
        if not isinstance(value, dict) or type_ not in ("Reference", None):
            return
        target_type = target_id = url = None
        literal = value.get("reference")
        if isinstance(literal, str) and literal and not literal.startswith("#"):
            local = self._local_target(literal)
            if local is not None:
                target_type, target_id = local
            else:
                url = literal
        identifier = value.get("identifier")
        system = code = None
        if isinstance(identifier, dict):
            system, code = _str(identifier.get("system")), _str(identifier.get("value"))
        if target_type is not None or url is not None or code is not None:
            out.append(ReferenceIndex(param, target_type, target_id, url, system, code))

    def _local_target(self, literal: str) -> tuple[str, str] | None:
        """(type, id) of a relative reference, or of an absolute one on this server."""
        if self._base is not None and literal.startswith(self._base):
            literal = literal[len(self._base) :]
        match = _RELATIVE.fullmatch(literal)
        return (match.group(1), match.group(2)) if match else None
