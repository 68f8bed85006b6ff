"""Compile SearchParameter FHIRPath expressions once into fast evaluators over JSON dicts.

fhirpathpy costs ~50-80 µs per expression evaluation; a create indexes ~20 of them. The search
expressions are almost all of one small shape, which this module compiles into hand-written
navigators (a few µs each):

    Type.a.b.c                        dotted paths; arrays flatten on the way
    x.as(T) / x.ofType(T) / (x as T)  type tests, also on choice elements (onset -> onsetDateTime)
    x.where(resolve() is T)           a filter on the reference's type (fhirpathpy has no resolve())
    x.where(name = 'literal')         a filter on a child's value
    a | b                             unions

Anything else falls back to fhirpathpy ``compile()`` (compiled once). Every value comes with its
FHIR type where the R4 model (fhirpathpy's own ``path2Type`` tables) knows it, so index
extraction can tell an Identifier from a ContactPoint without guessing from the shape.

``as`` is evaluated per item (a filter), as the search expressions intend (R5 rewrote them to
``ofType()``); fhirpathpy raises on ``as`` over more than one item, so the fallback rewrites it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import FP_Type, ResourceNode

__all__ = [
    "CompiledExpression",
    "TypedValue",
    "compile_expression",
    "compile_fast",
    "compile_fhirpathpy",
    "fhirpathpy_expression",
    "reference_type",
    "split_union",
]

TypedValue = tuple[Any, str | None]  # a value and its FHIR type name (None: unknown)
_Items = list[Any]
_Step = Callable[[_Items], _Items]


@dataclass(frozen=True, slots=True)
class CompiledExpression:
    """One expression, compiled once. ``fast`` is False when it runs on fhirpathpy.

    ``types`` are the FHIR types its values can have, as far as known at compile time
    (``None`` in it: unknown, e.g. on the fhirpathpy fallback).
    """

    expression: str
    fast: bool
    types: frozenset[str | None]
    _run: Callable[[Mapping[str, Any]], list[TypedValue]]

    def evaluate(self, resource: Mapping[str, Any]) -> list[TypedValue]:
        """The expression's values (None and primitive-extension stubs left out), typed."""
        return self._run(resource)

    def values(self, resource: Mapping[str, Any]) -> list[Any]:
        return [v for v, _ in self._run(resource)]


def compile_expression(expression: str) -> CompiledExpression:
    """The fast navigator when the expression is in the supported subset, else fhirpathpy."""
    return compile_fast(expression) or compile_fhirpathpy(expression)


# --------------------------------------------------------------------------- R4 type model


@cache
def _model() -> dict[str, Any]:
    """fhirpathpy's R4 model tables (path -> type, choice paths, content references, parents)."""
    root = resources.files("fhirpathpy.models").joinpath("r4")
    names = ("path2Type", "choiceTypePaths", "pathsDefinedElsewhere", "type2Parent")
    return {n: json.loads(root.joinpath(f"{n}.json").read_text("utf-8")) for n in names}


def _is_type(type_name: str, wanted: str) -> bool:
    parents: dict[str, str] = _model()["type2Parent"]
    current: str | None = type_name
    while current:
        if current == wanted:
            return True
        current = parents.get(current)
    return False


def _child(context: str, key: str) -> list[tuple[str, str]]:
    """(JSON key, model context) for ``key`` below ``context`` (a type name or backbone path).

    A choice element yields one entry per allowed type (``onset`` -> ``onsetDateTime`` ...).
    Data types inherit children from their parents (Age.value is Quantity.value).
    """
    model = _model()
    path2type: dict[str, str] = model["path2Type"]
    choices: dict[str, list[str]] = model["choiceTypePaths"]
    elsewhere: dict[str, str] = model["pathsDefinedElsewhere"]
    owner: str | None = context
    while owner:
        path = elsewhere.get(f"{owner}.{key}", f"{owner}.{key}")
        if path in choices:
            return [(key + s, path2type.get(path + s, path + s)) for s in choices[path]]
        if path in path2type or "." in owner:
            return [(key, path2type.get(path, path))]
        owner = model["type2Parent"].get(owner)
    return [(key, f"{context}.{key}")]


def _type_name(context: str) -> str | None:
    """The FHIR type of a model context; None for backbone elements and unknown paths."""
    return None if "." in context else context


# --------------------------------------------------------------------------- parsing

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TYPE_FILTER = re.compile(r"(?:as|ofType)\(\s*(?:FHIR\.)?([A-Za-z]+)\s*\)")
_RESOLVE_FILTER = re.compile(r"where\(\s*resolve\(\)\s+is\s+(?:FHIR\.)?([A-Za-z]+)\s*\)")
_EQUALS_FILTER = re.compile(r"where\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*'([^'\\]*)'\s*\)")
_AS_OPERATOR = re.compile(r"(.*\S)\s+as\s+(?:FHIR\.)?([A-Za-z]+)", re.DOTALL)


class _Unsupported(Exception):
    """The expression is outside the fast subset."""


def split_union(expression: str) -> list[str]:
    """Split on the top-level ``|`` operators (not inside parentheses or string literals)."""
    return _split_top_level(expression, "|")


def _split_top_level(expression: str, separator: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, ch in enumerate(expression):
        if quoted:
            if ch == "'" and expression[i - 1] != "\\":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == separator and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return parts


def _balanced(text: str) -> bool:
    """Parentheses (outside string literals) close in order: '(a)(b)' yes, 'a)(b' no."""
    depth = 0
    for ch in re.sub(r"'[^']*'", "", text):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


def _unparenthesise(branch: str) -> str:
    """'(x)' -> 'x' when the outer parentheses enclose the whole branch ('(a).b' stays)."""
    while branch.startswith("(") and branch.endswith(")") and _balanced(branch[1:-1]):
        branch = branch[1:-1].strip()
    return branch


def _segments(branch: str) -> list[str]:
    """A branch as path segments, with the ``x as T`` operator turned into ``ofType(T)``."""
    branch = _unparenthesise(branch.strip())
    suffix: list[str] = []
    as_match = _AS_OPERATOR.fullmatch(branch)
    if as_match and _balanced(as_match.group(1)):  # the ``as`` is top level, not inside (...)
        branch = _unparenthesise(as_match.group(1))
        suffix = [f"ofType({as_match.group(2)})"]
    segments = _split_top_level(branch, ".")
    if not all(segments):
        raise _Unsupported(branch)
    return segments + suffix


# --------------------------------------------------------------------------- navigation steps


def _field(key: str) -> _Step:
    def step(items: _Items) -> _Items:
        out: _Items = []
        for item in items:
            if isinstance(item, dict):
                value = item.get(key)
                if value is not None:
                    if isinstance(value, list):
                        out.extend(value)
                    else:
                        out.append(value)
        return out

    return step


def _equals(key: str, literal: str) -> _Step:
    def step(items: _Items) -> _Items:
        return [
            item
            for item in items
            if isinstance(item, dict) and (item.get(key) == literal or item.get(key) == [literal])
        ]

    return step


_REFERENCE_TYPE = re.compile(r"(?:^|/)([A-Z][A-Za-z]*)/[^/]+(?:/_history/[^/]+)?$")


def reference_type(reference: str) -> str | None:
    """The resource type a literal reference points at ('Patient/1', 'http://x/Patient/1')."""
    match = _REFERENCE_TYPE.search(reference)
    return match.group(1) if match else None


def _references(type_name: str) -> _Step:
    """``where(resolve() is T)``: the reference string names a T, or (no reference string)
    ``Reference.type`` is T, which keeps identifier-only references searchable."""

    def step(items: _Items) -> _Items:
        out: _Items = []
        for item in items:
            if isinstance(item, dict):
                ref = item.get("reference")
                if ref is None:
                    if item.get("type") == type_name:
                        out.append(item)
                elif isinstance(ref, str) and reference_type(ref) == type_name:
                    out.append(item)
        return out

    return step


# --------------------------------------------------------------------------- compilation


@dataclass(frozen=True, slots=True)
class _Node:
    """Steps run in order; then either the values are typed ``type`` or each fork runs on them
    (forks come from choice elements: one per allowed type)."""

    steps: tuple[_Step, ...]
    type: str | None
    forks: tuple[_Node, ...] = ()

    def value_types(self) -> frozenset[str | None]:
        if not self.forks:
            return frozenset({self.type})
        return frozenset().union(*(fork.value_types() for fork in self.forks))

    def run(self, items: _Items, out: list[TypedValue]) -> None:
        for step in self.steps:
            items = step(items)
            if not items:
                return
        if self.forks:
            for fork in self.forks:
                fork.run(items, out)
        else:
            t = self.type
            out.extend((v, t) for v in items if v is not None)


def _compile_segments(segments: list[str], context: str) -> _Node | None:
    """Compile path segments below ``context``; None when the path can never yield a value."""
    steps: list[_Step] = []
    for i, segment in enumerate(segments):
        if _IDENT.fullmatch(segment):
            children = _child(context, segment)
            if len(children) == 1:
                key, context = children[0]
                steps.append(_field(key))
                continue
            # A choice element: one fork per allowed type whose remaining path can match.
            forks = [
                _Node((_field(key), *node.steps), node.type, node.forks)
                for key, ctx in children
                if (node := _compile_segments(segments[i + 1 :], ctx)) is not None
            ]
            if not forks:
                return None
            if len(forks) == 1:
                return _Node((*steps, *forks[0].steps), forks[0].type, forks[0].forks)
            return _Node(tuple(steps), None, tuple(forks))
        if m := _TYPE_FILTER.fullmatch(segment):
            current = _type_name(context)
            if current is None:
                raise _Unsupported(segment)
            if not _is_type(current, m.group(1)):
                return None
        elif m := _RESOLVE_FILTER.fullmatch(segment):
            steps.append(_references(m.group(1)))
        elif m := _EQUALS_FILTER.fullmatch(segment):
            steps.append(_equals(m.group(1), m.group(2)))
        else:
            raise _Unsupported(segment)
    return _Node(tuple(steps), _type_name(context))


def compile_fast(expression: str) -> CompiledExpression | None:
    """The hand-written navigator, or None when the expression is outside the fast subset."""
    roots: dict[str, list[_Node]] = {}
    try:
        for branch in split_union(expression):
            segments = _segments(branch)
            root = segments[0]
            if not _IDENT.fullmatch(root) or not root[0].isupper():
                return None
            node = _compile_segments(segments[1:], root)
            roots.setdefault(root, [])
            if node is not None:
                roots[root].append(node)
    except _Unsupported:
        return None
    plan = tuple((root, tuple(nodes)) for root, nodes in roots.items())

    def run(resource: Mapping[str, Any]) -> list[TypedValue]:
        out: list[TypedValue] = []
        resource_type = resource.get("resourceType")
        for root, nodes in plan:
            if root == resource_type:
                for node in nodes:
                    node.run([resource], out)
        return out

    types = frozenset(t for _, nodes in plan for node in nodes for t in node.value_types())
    return CompiledExpression(expression, True, types, run)


# --------------------------------------------------------------------------- fhirpathpy fallback

_RESOLVE_IS = re.compile(r"\.where\(\s*resolve\(\)\s+is\s+(?:FHIR\.)?([A-Za-z]+)\s*\)")
_PARENTHESISED_AS = re.compile(r"\(\s*([^()|]+?)\s+as\s+(?:FHIR\.)?([A-Za-z]+)\s*\)")
_AS_FUNCTION = re.compile(r"\.as\(")


def fhirpathpy_expression(expression: str) -> str:
    """Rewrite what fhirpathpy lacks: resolve() type tests become the same reference-string
    filter the fast path applies, and ``as`` becomes the per-item ``ofType``."""

    def resolve_is(m: re.Match[str]) -> str:
        t = m.group(1)
        pattern = f"(^|/){t}/[^/]+(/_history/[^/]+)?$"
        return (
            f".where((reference.exists() and reference.matches('{pattern}'))"
            f" or (reference.empty() and type = '{t}'))"
        )

    rewritten = _RESOLVE_IS.sub(resolve_is, expression)
    rewritten = _PARENTHESISED_AS.sub(lambda m: f"{m.group(1)}.ofType({m.group(2)})", rewritten)
    return _AS_FUNCTION.sub(".ofType(", rewritten)


def _is_extension_stub(value: Any) -> bool:
    """The ``_field`` companion of a primitive (id/extension only), which fhirpathpy returns."""
    return isinstance(value, dict) and value.keys() <= {"id", "extension"}


def compile_fhirpathpy(expression: str) -> CompiledExpression:
    """fhirpathpy, compiled once, with raw nodes unwrapped into typed values."""
    fn = fhirpathpy.compile(
        fhirpathpy_expression(expression), _model(), options={"returnRawData": True}
    )

    def run(resource: Mapping[str, Any]) -> list[TypedValue]:
        try:
            raw = fn(resource, None)
        except Exception:  # malformed data must not break a write: no values
            return []
        out: list[TypedValue] = []
        for item in raw:
            if isinstance(item, ResourceNode):
                path = item.path if isinstance(item.path, str) else None
                value, type_name = item.data, (path if path and "." not in path else None)
            elif isinstance(item, FP_Type):
                value, type_name = str(item), None
            else:
                value, type_name = item, None
            if value is not None and not _is_extension_stub(value):
                out.append((value, type_name))
        return out

    return CompiledExpression(expression, False, frozenset({None}), run)
