"""The project's profiles, loaded once from ``definitions/profiles.json`` into rule trees.

``scripts/gen_profile_definitions.py`` writes that file from the StructureDefinitions,
ValueSets and CodeSystems in profiles/: per profile its differential elements (cardinality,
fixed and pattern values, required bindings, allowed choice types and reference targets,
extension slices, slicing, invariants), and the expansion of the project's value sets.

Here each differential becomes a tree of :class:`ElementRule`: children by JSON element name,
slices under the element they slice, each slice with the discriminator values that recognise
its items. Invariants are compiled with fhirpathpy once, when the profiles are loaded.
``fhir/conformance.py`` walks resources against these trees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import fhirpathpy
import orjson
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from zorgleefplan.fhir.structure import Kind, TypeTable, ValueSet, type_table, value_set
from zorgleefplan.plan.codes import CANONICAL_BASE

DEFINITIONS = "profiles.json"
STRUCTURE_BASE = f"{CANONICAL_BASE}/StructureDefinition/"

Json = dict[str, Any]


class ProfileError(Exception):
    """A profile the loader cannot turn into rules (a bug in profiles/, caught by the tests)."""


@dataclass(frozen=True, slots=True)
class Invariant:
    """A FHIRPath constraint; ``evaluate`` is the compiled expression."""

    key: str
    severity: str  # error | warning
    human: str
    expression: str
    evaluate: Callable[[Any, Mapping[str, Any]], list[Any]]


@dataclass(frozen=True, slots=True)
class Discriminator:
    """What an item of a slice has at ``path`` (() is the item itself): exactly ``value``
    (a fixed value) or at least ``value`` (a pattern)."""

    path: tuple[str, ...]
    value: Any
    exact: bool


@dataclass(frozen=True, slots=True)
class ElementRule:
    """The constraints of one element (or one slice of it) of a profile."""

    id: str  # the ElementDefinition id, e.g. "CarePlan.category:domein"
    name: str  # the JSON element name; "value[x]" for a choice element
    min: int = 0
    max: int | None = None  # None: unbounded
    fixed: Any = None  # a JSON value; never null in FHIR, so None means "none"
    pattern: Any = None
    binding: ValueSet | None = None  # a required binding
    types: frozenset[str] = frozenset()  # allowed types of a choice element; empty: any
    targets: frozenset[str] = frozenset()  # allowed Reference target types; empty: any
    invariants: tuple[Invariant, ...] = ()
    children: Mapping[str, ElementRule] = field(default_factory=dict)
    slices: tuple[ElementRule, ...] = ()
    closed: bool = False  # slicing rules "closed": every item must be in a slice
    slice_name: str | None = None
    discriminators: tuple[Discriminator, ...] = ()  # how an item of this slice is recognised


@dataclass(frozen=True, slots=True)
class Profile:
    url: str
    name: str
    title: str
    type: str  # the resource type, or "Extension"
    kind: str  # "resource" or "extension"
    context: tuple[str, ...]  # element paths an extension may be used on
    root: ElementRule


@dataclass(frozen=True)
class ProfileSet:
    profiles: Mapping[str, Profile]

    def get(self, url: str) -> Profile | None:
        """A profile by canonical URL (a ``|version`` suffix is ignored)."""
        return self.profiles.get(url.split("|", 1)[0])

    def for_type(self, resource_type: str) -> list[Profile]:
        """The resource profiles of one type, by URL."""
        return sorted(
            (p for p in self.profiles.values() if p.kind == "resource" and p.type == resource_type),
            key=lambda p: p.url,
        )

    @classmethod
    def from_definitions(cls, data: Json) -> ProfileSet:
        own = {url: _value_set(url, codes) for url, codes in data["valueSets"].items()}
        profiles = {p["url"]: _profile(p, own) for p in data["profiles"]}
        return cls(MappingProxyType(profiles))


def is_ours(url: str) -> bool:
    """Whether a canonical URL is under the project's canonical base."""
    return url.startswith(CANONICAL_BASE + "/")


@cache
def default_profiles() -> ProfileSet:
    """The committed profiles (loaded and compiled once per process)."""
    raw = resources.files("zorgleefplan.definitions").joinpath(DEFINITIONS).read_bytes()
    return ProfileSet.from_definitions(orjson.loads(raw))


# ---------------------------------------------------------------------------------------------
# Building the rule trees


def _value_set(url: str, codes: dict[str, list[str]]) -> ValueSet:
    pairs = frozenset((system, code) for system, cs in codes.items() for code in cs)
    return ValueSet(url, True, pairs, frozenset(code for _, code in pairs))


def _profile(data: Json, own: Mapping[str, ValueSet]) -> Profile:
    type_ = data["type"]
    root = _Node(type_, type_)
    for element in data["elements"]:
        _place(root, element, own)
    _check_names(root, type_table(type_))
    return Profile(
        url=data["url"],
        name=data["name"],
        title=data["title"],
        type=type_,
        kind=data["kind"],
        context=tuple(data.get("context", ())),
        root=root.freeze(),
    )


class _Node:
    """An ElementRule being built from the differential, element by element."""

    def __init__(self, id_: str, name: str, slice_name: str | None = None) -> None:
        self.id = id_
        self.name = name
        self.slice_name = slice_name
        self.data: Json = {}
        self.binding: ValueSet | None = None
        self.invariants: list[Invariant] = []
        self.children: dict[str, _Node] = {}
        self.slices: dict[str, _Node] = {}

    def child(self, name: str) -> _Node:
        if name not in self.children:
            self.children[name] = _Node(f"{self.id}.{name}", name)
        return self.children[name]

    def slice(self, name: str) -> _Node:
        if name not in self.slices:
            self.slices[name] = _Node(f"{self.id}:{name}", self.name, name)
        return self.slices[name]

    def freeze(self) -> ElementRule:
        slicing = self.data.get("slicing")
        if self.slices and slicing is None:
            raise ProfileError(f"{self.id} has slices but no slicing")
        slices = tuple(
            _with_discriminators(node.freeze(), node, slicing) for node in self.slices.values()
        )
        return ElementRule(
            id=self.id,
            name=self.name,
            min=self.data.get("min", 0),
            max=self.data.get("max"),
            fixed=self.data.get("fixed"),
            pattern=self.data.get("pattern"),
            binding=self.binding,
            types=frozenset(self.data.get("types", ())),
            targets=frozenset(self.data.get("targets", ())),
            invariants=tuple(self.invariants),
            children=MappingProxyType({n: c.freeze() for n, c in self.children.items()}),
            slices=slices,
            closed=bool(slicing and slicing["rules"] == "closed"),
            slice_name=self.slice_name,
        )

    def discriminator_value(self, path: str) -> Discriminator:
        node: _Node | None = self
        steps = () if path == "$this" else tuple(path.split("."))
        for step in steps:
            node = node.children.get(step) if node is not None else None
        if node is not None and "fixed" in node.data:
            return Discriminator(steps, node.data["fixed"], exact=True)
        if node is not None and "pattern" in node.data:
            return Discriminator(steps, node.data["pattern"], exact=False)
        if steps == ("url",) and "profile" in self.data:
            # An extension slice is recognised by the url of the extension it is typed with.
            return Discriminator(steps, self.data["profile"], exact=True)
        raise ProfileError(f"{self.id} has no fixed or pattern value at the discriminator {path}")


def _check_names(node: _Node, table: TypeTable | None) -> None:
    """Every constrained element exists in the base type (with the choice types it names), so
    that a misspelt element cannot silently constrain nothing."""
    for name, child in node.children.items():
        names = table.names_for(name) if table is not None else ()
        if not names:
            raise ProfileError(f"{child.id}: {name} is not an element of {node.id}")
        stem = name.removesuffix("[x]")
        allowed = [f"{stem}{t[0].upper()}{t[1:]}" for t in child.data.get("types", ())]
        if any(key not in names for key in allowed):
            raise ProfileError(f"{child.id}: a type of {allowed} is not allowed for {name}")
        key = allowed[0] if len(allowed) == 1 else names[0]
        info = table.get(key) if table is not None else None
        below = type_table(info.type) if info is not None and info.kind is Kind.COMPLEX else None
        for each in (child, *child.slices.values()):
            _check_names(each, below)


def _with_discriminators(rule: ElementRule, node: _Node, slicing: Json) -> ElementRule:
    found = tuple(node.discriminator_value(d["path"]) for d in slicing["discriminator"])
    return replace(rule, discriminators=found)


def _place(root: _Node, element: Json, own: Mapping[str, ValueSet]) -> None:
    """Put one differential element into the tree: ``CarePlan.category:domein`` is the slice
    ``domein`` of the child ``category`` of the root."""
    first, *rest = element["id"].split(".")
    if first != root.name:
        raise ProfileError(f"{element['id']} is not an element of {root.name}")
    node = root
    for part in rest:
        name, _, slice_name = part.partition(":")
        node = node.child(name)
        if slice_name:
            node = node.slice(slice_name)
    node.data.update(
        {k: v for k, v in element.items() if k not in ("id", "binding", "constraints")}
    )
    if "binding" in element:
        node.binding = own.get(element["binding"]) or value_set(element["binding"])
        if node.binding is None or not node.binding.checkable:
            raise ProfileError(f"{element['id']}: value set {element['binding']} is not known")
    base = re.sub(r":[^.]+", "", element["id"])  # the element path: slices left out
    node.invariants.extend(_invariant(c, base) for c in element.get("constraints", ()))


def _invariant(constraint: Json, base: str) -> Invariant:
    """Compile once; a trial run on an empty element finds what fhirpathpy's forgiving parser
    lets through (unbalanced parentheses, wrong arity)."""
    expression = constraint["expression"]
    empty: Json = {}
    try:
        compiled = fhirpathpy.compile(expression, models["r4"])
        compiled(ResourceNode.create_node(empty, base), {"resource": empty, "rootResource": empty})
    except Exception as exc:  # the parser and engine raise assorted errors
        raise ProfileError(f"{constraint['key']}: cannot compile {expression!r}: {exc}") from exc
    return Invariant(
        key=constraint["key"],
        severity=constraint["severity"],
        human=constraint["human"],
        expression=expression,
        evaluate=compiled,
    )
