"""The shape of FHIR R4 resources: element tables and required-binding value sets.

Loaded once from ``definitions/elements.json`` and ``definitions/valuesets.json`` (written by
``scripts/gen_structure_definitions.py``) into immutable lookups. Validation and ``_summary`` /
``_elements`` walk resource JSON with these tables, so everything a walk needs per element is
precomputed here rather than on each call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import orjson

# JSON types of FHIR primitives (https://hl7.org/fhir/R4/json.html#primitive).
_BOOLEAN_TYPES = frozenset({"boolean"})
_INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
_DECIMAL_TYPES = frozenset({"decimal"})
PRIMITIVE_TYPES = frozenset(
    {
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
        "xhtml",
    }
)


class Kind(IntEnum):
    """How a walk treats an element's value."""

    PRIMITIVE = 0
    COMPLEX = 1  # datatype or backbone element: a JSON object with its own table
    RESOURCE = 2  # a whole resource (contained, Bundle.entry.resource)


class JsonKind(IntEnum):
    """The JSON type a primitive value must have."""

    STRING = 0
    BOOLEAN = 1
    INTEGER = 2
    DECIMAL = 3


class Special(IntEnum):
    """Elements whose content is checked beyond its shape."""

    NONE = 0
    REFERENCE = 1
    CODING = 2
    CODEABLE_CONCEPT = 3
    LOCAL_URI = 4  # canonical/uri/url: '#id' may point at a contained resource
    NARRATIVE_DIV = 5


@dataclass(frozen=True, slots=True)
class ValueSet:
    """The expansion of a required-binding value set; ``checkable`` is False when it could not
    be expanded completely (then nothing is rejected against it)."""

    url: str
    checkable: bool
    pairs: frozenset[tuple[str, str]]
    codes: frozenset[str]

    def has_code(self, code: str) -> bool:
        return code in self.codes

    def has_coding(self, system: object, code: str) -> bool:
        """Whether (system, code) is allowed; a missing or non-string system never is."""
        return type(system) is str and (system, code) in self.pairs

    def sample(self, limit: int = 12) -> list[str]:
        """A sorted selection of the allowed codes, for messages."""
        return sorted(self.codes)[:limit]


@dataclass(frozen=True, slots=True)
class ElementInfo:
    """One JSON property of a type (a choice element has one per allowed type)."""

    name: str
    type: str  # FHIR type code, or backbone path such as "CarePlan.activity.detail"
    kind: Kind
    json_kind: JsonKind
    special: Special
    array: bool
    summary: bool
    mandatory: bool
    choice: str | None  # "value" for valueString
    binding: ValueSet | None  # required binding, only when checkable
    targets: frozenset[str]  # allowed Reference target types; empty = any
    plain: bool  # a primitive with nothing to check beyond its JSON type (the fast path)

    @property
    def definition_name(self) -> str:
        """The name in the definition: ``value[x]`` for a choice expansion."""
        return f"{self.choice}[x]" if self.choice is not None else self.name


@dataclass(frozen=True, slots=True)
class TypeTable:
    """The elements of one resource type, datatype or backbone element."""

    name: str
    elements: Mapping[str, ElementInfo]
    # (definition name, JSON names that satisfy it): several for a mandatory choice element.
    mandatory: tuple[tuple[str, tuple[str, ...]], ...]
    summary_names: frozenset[str]
    mandatory_names: frozenset[str]

    def get(self, name: str) -> ElementInfo | None:
        return self.elements.get(name)

    def names_for(self, name: str) -> tuple[str, ...]:
        """JSON names for an element given by JSON name, choice stem or ``stem[x]``."""
        if name in self.elements:
            return (name,)
        stem = name.removesuffix("[x]")
        return tuple(n for n, e in self.elements.items() if e.choice == stem)


@dataclass(frozen=True, slots=True)
class Structure:
    tables: Mapping[str, TypeTable]
    resource_types: frozenset[str]
    value_sets: Mapping[str, ValueSet]


def _json_kind(type_code: str) -> JsonKind:
    if type_code in _BOOLEAN_TYPES:
        return JsonKind.BOOLEAN
    if type_code in _INTEGER_TYPES:
        return JsonKind.INTEGER
    if type_code in _DECIMAL_TYPES:
        return JsonKind.DECIMAL
    return JsonKind.STRING


_SPECIAL = {
    "Reference": Special.REFERENCE,
    "Coding": Special.CODING,
    "CodeableConcept": Special.CODEABLE_CONCEPT,
    "canonical": Special.LOCAL_URI,
    "uri": Special.LOCAL_URI,
    "url": Special.LOCAL_URI,
    "xhtml": Special.NARRATIVE_DIV,
}


def _kind(type_code: str) -> Kind:
    if type_code in PRIMITIVE_TYPES:
        return Kind.PRIMITIVE
    if type_code == "Resource":
        return Kind.RESOURCE
    return Kind.COMPLEX


def _element(name: str, record: dict[str, Any], value_sets: Mapping[str, ValueSet]) -> ElementInfo:
    type_code = record["type"]
    found = value_sets.get(record.get("binding", ""))
    binding = found if found is not None and found.checkable else None
    kind = _kind(type_code)
    special = _SPECIAL.get(type_code, Special.NONE)
    return ElementInfo(
        name=name,
        type=type_code,
        kind=kind,
        json_kind=_json_kind(type_code),
        special=special,
        array=bool(record.get("array")),
        summary=bool(record.get("summary")),
        mandatory=record.get("min", 0) >= 1,
        choice=record.get("choice"),
        binding=binding,
        targets=frozenset(record.get("targets", ())),
        plain=kind is Kind.PRIMITIVE and binding is None and special is Special.NONE,
    )


def _table(name: str, records: dict[str, Any], value_sets: Mapping[str, ValueSet]) -> TypeTable:
    elements = {n: _element(n, r, value_sets) for n, r in records.items()}
    mandatory: dict[str, list[str]] = {}
    for element in elements.values():
        if element.mandatory:
            mandatory.setdefault(element.definition_name, []).append(element.name)
    return TypeTable(
        name=name,
        elements=elements,  # a plain dict: looked up for every JSON property validated
        mandatory=tuple((d, tuple(ns)) for d, ns in mandatory.items()),
        summary_names=frozenset(n for n, e in elements.items() if e.summary),
        mandatory_names=frozenset(n for n, e in elements.items() if e.mandatory),
    )


def _value_set(url: str, record: dict[str, Any]) -> ValueSet:
    codes_by_system: dict[str, list[str]] | None = record.get("codes")
    if codes_by_system is None:
        return ValueSet(url, False, frozenset(), frozenset())
    pairs = frozenset((s, c) for s, cs in codes_by_system.items() for c in cs)
    return ValueSet(url, True, pairs, frozenset(c for _, c in pairs))


def _read(name: str) -> Any:
    return orjson.loads(resources.files("zorgleefplan.definitions").joinpath(name).read_bytes())


@cache
def structure() -> Structure:
    """The loaded definitions (parsed once per process)."""
    raw_value_sets: dict[str, Any] = _read("valuesets.json")
    value_sets = {url: _value_set(url, rec) for url, rec in raw_value_sets.items()}
    raw = _read("elements.json")
    tables = {name: _table(name, recs, value_sets) for name, recs in raw["types"].items()}
    return Structure(
        tables=MappingProxyType(tables),
        resource_types=frozenset(raw["resourceTypes"]),
        value_sets=MappingProxyType(value_sets),
    )


def type_table(type_name: str) -> TypeTable | None:
    """The element table of a resource type, datatype or backbone path; None if unknown."""
    return structure().tables.get(type_name)


def is_resource_type(name: str) -> bool:
    """Whether ``name`` is a concrete FHIR R4 resource type (served or not)."""
    return name in structure().resource_types


def value_set(url: str) -> ValueSet | None:
    """A required-binding value set by url (version suffix ignored); None if never bound."""
    return structure().value_sets.get(url.split("|", 1)[0])


def element_at(type_name: str, path: Iterable[str]) -> ElementInfo | None:
    """The element reached by following JSON names (array indexes left out) from a type.

    ``_name`` (the id/extensions of primitive ``name``) resolves to ``name`` and continues
    in the ``Element`` table.
    """
    table = type_table(type_name)
    element: ElementInfo | None = None
    for name in path:
        if table is None:
            return None
        element = table.get(name)
        if element is None and name[:1] == "_":
            element = table.get(name[1:])
            if element is None or element.kind is not Kind.PRIMITIVE:
                return None
            table = type_table("Element")
            continue
        if element is None:
            return None
        table = type_table(element.type) if element.kind is Kind.COMPLEX else None
    return element
