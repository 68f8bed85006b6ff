"""Validation of incoming FHIR R4 resources.

Two passes, all problems collected before anything is raised:

1. A walk over the JSON with the element tables of ``fhir/structure.py``: strict JSON types
   (the pydantic models accept ``"yes"`` for a boolean and ``null`` anywhere), empty objects and
   arrays, unknown elements, required code bindings, resource ids, references (format, target
   type, contained resolution) and the contained-resource rules dom-2, dom-3 and dom-4.
2. The ``fhir.resources`` R4B model of the type, for primitive formats (dates, ids, ...),
   cardinality and choice rules. Its errors are translated into FHIRPath-ish expressions and
   plain messages; one already reported by the walk at the same place is dropped.

The result names the relative references (``Patient/123``) so the caller can check that the
targets exist; ``urn:uuid:`` references must have been resolved (bundle processing) before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError

from zorgleefplan.errors import InvalidResource
from zorgleefplan.fhir.structure import (
    ElementInfo,
    Kind,
    Special,
    Structure,
    TypeTable,
    ValueSet,
    element_at,
    structure,
)

ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_RELATIVE = re.compile(
    r"(?P<type>[A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/(?P<vid>[A-Za-z0-9\-.]{1,64}))?"
)
# The RESTful tail of an absolute reference: .../Patient/123[/_history/2]
_ABSOLUTE_TAIL = re.compile(r"/(?P<type>[A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[^/]+)?$")
_ABSOLUTE = re.compile(r"https?://[^\s/]+(?:/\S*)?")  # unambiguous: no backtracking blow-up
_DIV_START = re.compile(r"\s*<div\b[^>]*\bxmlns\s*=\s*[\"']http://www\.w3\.org/1999/xhtml[\"']")
_DIV_END = re.compile(r"</div>\s*$")
# Active content FHIR narrative forbids (txt-1): elements, event-handler attributes and
# javascript: URLs inside tags. A denylist against stored XSS, not a full XHTML check.
_ACTIVE_CONTENT = re.compile(
    r"<\s*(script|iframe|object|embed|applet|form|input|button|style|link|meta|base|frame"
    r"|frameset|head|body|html)\b|<[^<>]*\son[a-z]+\s*=|<[^<>]*=\s*[\"']?\s*javascript:",
    re.IGNORECASE,
)
MAX_DEPTH = 64  # deeper nesting is refused before it can exhaust the Python stack
_ACCEPTED: tuple[tuple[type, ...], ...] = ((str,), (bool,), (int,), (int, float))
_JSON_KIND_NAME = ("a JSON string", "true or false", "a JSON integer", "a JSON number")
_TRUNCATE = 60


@dataclass(frozen=True, slots=True)
class LocalReference:
    """A relative reference to a resource on this server, e.g. ``Patient/123``."""

    path: str  # where the reference is, e.g. "CarePlan.subject.reference"
    type: str
    id: str
    version: str | None


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What a valid resource refers to; the caller checks that these targets exist."""

    resource_type: str
    references: tuple[LocalReference, ...]


class _Issue(NamedTuple):
    expression: str
    message: str
    code: str  # OperationOutcome issue type: structure, required, value, code-invalid, invariant


class ResourceValidator:
    """Validates resource JSON (already parsed) against FHIR R4 and its required bindings."""

    def __init__(self, definitions: Structure | None = None) -> None:
        self._structure = definitions if definitions is not None else structure()

    def validate(self, resource: Any) -> ValidationReport:
        """Check a resource; raise ``InvalidResource`` listing every problem found."""
        resource_type = self._resource_type(resource)
        walk = _Walk(self._structure.tables, self._structure.resource_types)
        walk.resource_root(resource, resource_type)
        issues = walk.issues
        if not walk.too_deep:
            model_issues = _model_issues(resource, resource_type, self._structure.resource_types)
            issues = _merge(issues, model_issues)
        if issues:
            raise _error(issues)
        return ValidationReport(resource_type, tuple(walk.references))

    def _resource_type(self, resource: Any) -> str:
        if type(resource) is not dict:
            raise InvalidResource("A resource must be a JSON object", issue_code="structure")
        resource_type = resource.get("resourceType")
        if resource_type is None:
            raise InvalidResource(
                "The resource has no resourceType",
                expression=["resourceType"],
                issue_code="required",
            )
        if type(resource_type) is not str:
            raise InvalidResource(
                "resourceType must be a string naming a FHIR resource type",
                expression=["resourceType"],
                issue_code="structure",
            )
        if resource_type not in self._structure.resource_types:
            raise InvalidResource(
                f"Unknown resource type {_show(resource_type)}",
                expression=["resourceType"],
                issue_code="not-supported",
            )
        if _model_class(resource_type) is None:
            raise InvalidResource(
                f"Resource type {resource_type} is not supported (it was dropped after R4)",
                expression=["resourceType"],
                issue_code="not-supported",
            )
        return resource_type


# ---------------------------------------------------------------------------------------------
# The JSON walk


class _Walk:
    """One validation pass over one resource and its contained resources."""

    __slots__ = (
        "contained",
        "current",
        "issues",
        "local_ids",
        "references",
        "refers_to_container",
        "resource_types",
        "tables",
        "too_deep",
    )

    def __init__(self, tables: Mapping[str, TypeTable], resource_types: frozenset[str]) -> None:
        self.tables = tables
        self.resource_types = resource_types
        self.issues: list[_Issue] = []
        self.references: list[LocalReference] = []
        self.contained: dict[str, tuple[str, int]] = {}  # id -> (resourceType, index)
        self.current: int | None = None  # index of the contained resource being walked
        self.local_ids: set[str] = set()  # ids referred to with '#id'
        self.refers_to_container: set[int] = set()
        self.too_deep = False

    def issue(self, expression: str, message: str, code: str = "structure") -> None:
        self.issues.append(_Issue(expression, f"{expression}: {message}", code))

    # -- resources --------------------------------------------------------------------------

    def resource_root(self, resource: dict[str, Any], resource_type: str) -> None:
        self.index_contained(resource, resource_type)
        self.resource(resource, resource_type, resource_type, 0)
        self.check_local_targets(resource_type)

    def index_contained(self, resource: dict[str, Any], path: str) -> None:
        contained = resource.get("contained")
        if type(contained) is not list:
            return
        for i, item in enumerate(contained):
            if type(item) is not dict:
                continue
            cid, ctype = item.get("id"), item.get("resourceType")
            if cid is None:
                self.issue(
                    f"{path}.contained[{i}].id", "a contained resource needs an id", "required"
                )
            elif type(cid) is not str:
                continue  # reported as a wrong JSON type by the walk
            elif cid in self.contained:
                self.issue(f"{path}.contained[{i}].id", f"duplicate contained id {_show(cid)}")
            elif type(ctype) is str:
                self.contained[cid] = (ctype, i)

    def resource(self, node: dict[str, Any], resource_type: str, path: str, depth: int) -> None:
        rid = node.get("id")
        if type(rid) is str and not ID_PATTERN.fullmatch(rid):  # other types: see complex()
            self.issue(
                f"{path}.id",
                f"{_show(rid)} is not a valid id (1-64 of A-Z, a-z, 0-9, '-' and '.')",
                "value",
            )
        self.complex(node, self.tables[resource_type], path, depth, root=True)

    def resource_value(self, key: str, index: int, item: Any, path: str, depth: int) -> None:
        if type(item) is not dict:
            self.issue(path, "must be a JSON object (a resource)")
            return
        resource_type = item.get("resourceType")
        if type(resource_type) is not str or resource_type not in self.resource_types:
            self.issue(f"{path}.resourceType", f"unknown resource type {_show(resource_type)}")
            return
        if key != "contained":
            self.resource(item, resource_type, path, depth)
            return
        if self.current is not None:
            self.issue(path, "a contained resource cannot contain resources (dom-2)", "invariant")
            return
        meta = item.get("meta")
        if type(meta) is dict and ("versionId" in meta or "lastUpdated" in meta):
            self.issue(
                f"{path}.meta",
                "a contained resource cannot have meta.versionId or meta.lastUpdated (dom-4)",
                "invariant",
            )
        self.current = index
        try:
            self.resource(item, resource_type, path, depth)
        finally:
            self.current = None

    # -- elements ---------------------------------------------------------------------------

    def complex(
        self, node: dict[str, Any], table: TypeTable, path: str, depth: int, root: bool = False
    ) -> None:
        if depth > MAX_DEPTH:
            if not self.too_deep:
                self.issue(path, f"nested more than {MAX_DEPTH} levels deep")
            self.too_deep = True
            return
        if not node:
            self.issue(path, "must not be an empty object")
            return
        elements = table.elements
        choices: dict[str, str] | None = None
        for key, value in node.items():
            element = elements.get(key)
            if element is None:
                if key[:1] == "_":
                    self.primitive_extension(node, key, value, table, path, depth)
                elif not (root and key == "resourceType"):
                    self.issue(f"{path}.{key}", "unknown element")
                continue
            if element.choice is not None:
                if choices is None:
                    choices = {}
                other = choices.setdefault(element.choice, key)
                if other != key:
                    self.issue(
                        f"{path}.{element.choice}[x]",
                        f"only one of {element.choice}[x] may be present (found {other} and {key})",
                    )
            if element.array:
                self.array(node, key, value, element, path, depth)
            elif type(value) is list:
                self.issue(f"{path}.{key}", "must be a single value, not an array")
            else:
                self.value(element, value, path, key, -1, depth)
        if table.mandatory:
            self.check_mandatory(node, table, path)
        if table.name == "Extension":
            self.check_extension(node, path)

    def array(
        self,
        node: dict[str, Any],
        key: str,
        value: Any,
        element: ElementInfo,
        path: str,
        depth: int,
    ) -> None:
        if type(value) is not list:
            self.issue(f"{path}.{key}", "must be a JSON array")
            return
        if not value:
            self.issue(f"{path}.{key}", "must not be an empty array")
            return
        for i, item in enumerate(value):
            if item is None and element.kind is Kind.PRIMITIVE and _aligned(node, key, value, i):
                continue  # null placeholder for a value that only has extensions (`_key`)
            self.value(element, item, path, key, i, depth)

    def value(
        self, element: ElementInfo, item: Any, path: str, key: str, index: int, depth: int
    ) -> None:
        if element.plain and type(item) in _ACCEPTED[element.json_kind]:
            return  # most values: a string, number or boolean of the right JSON type
        if item is None:
            self.issue(_at(path, key, index), "null is not allowed")
            return
        kind = element.kind
        if kind is Kind.PRIMITIVE:
            self.primitive(element, item, path, key, index)
            return
        here = _at(path, key, index)
        if kind is Kind.RESOURCE:
            self.resource_value(key, index, item, here, depth + 1)
            return
        if type(item) is not dict:
            self.issue(here, "must be a JSON object")
            return
        special = element.special
        if special is Special.REFERENCE:
            self.reference(item, element, here)
        elif element.binding is not None:
            if special is Special.CODEABLE_CONCEPT:
                self.codeable_concept(item, element.binding, here)
            elif special is Special.CODING:
                self.coding(item, element.binding, here)
        self.complex(item, self.tables[element.type], here, depth + 1)

    def primitive(self, element: ElementInfo, item: Any, path: str, key: str, index: int) -> None:
        if type(item) not in _ACCEPTED[element.json_kind]:
            self.issue(
                _at(path, key, index),
                f"{_show(item)} is not a valid {element.type}: "
                f"expected {_JSON_KIND_NAME[element.json_kind]}",
            )
            return
        if element.binding is not None and not element.binding.has_code(item):
            self.issue(_at(path, key, index), _not_in(repr(item), element.binding), "code-invalid")
        special = element.special
        if special is Special.LOCAL_URI and item[:1] == "#":
            self.local_uri(item)
        elif special is Special.NARRATIVE_DIV:
            self.narrative(item, _at(path, key, index))

    def primitive_extension(
        self,
        node: dict[str, Any],
        key: str,
        value: Any,
        table: TypeTable,
        path: str,
        depth: int,
    ) -> None:
        """``_name``: the id/extensions of primitive ``name`` (same position when an array)."""
        name = key[1:]
        element = table.get(name)
        here = f"{path}.{name}"
        if element is None or element.kind is not Kind.PRIMITIVE:
            self.issue(f"{path}.{key}", "unknown element")
            return
        extension_table = self.tables["Element"]
        if not element.array:
            if type(value) is not dict:
                self.issue(here, f"{key} must be a JSON object (the value's id and extensions)")
            else:
                self.complex(value, extension_table, here, depth + 1)
            return
        values = node.get(name)
        if type(value) is not list or (type(values) is list and len(values) != len(value)):
            self.issue(here, f"{key} must be an array as long as {name}")
            return
        for i, item in enumerate(value):
            if item is None:
                continue
            if type(item) is not dict:
                self.issue(f"{here}[{i}]", f"{key}[{i}] must be a JSON object or null")
            else:
                self.complex(item, extension_table, f"{here}[{i}]", depth + 1)

    # -- rules ------------------------------------------------------------------------------

    def check_mandatory(self, node: dict[str, Any], table: TypeTable, path: str) -> None:
        for definition_name, names in table.mandatory:
            for name in names:
                if name in node or "_" + name in node:
                    break
            else:
                self.issue(f"{path}.{definition_name}", "a value is required", "required")

    def check_extension(self, node: dict[str, Any], path: str) -> None:
        has_value = any(k[:5] == "value" for k in node)
        if has_value == ("extension" in node):
            self.issue(
                path,
                "an extension must have either a value[x] or extensions, not both (ext-1)",
                "invariant",
            )

    def narrative(self, div: str, path: str) -> None:
        if not _DIV_START.match(div) or not _DIV_END.search(div):
            self.issue(path, "narrative must be an XHTML <div> in the XHTML namespace", "value")
        elif _ACTIVE_CONTENT.search(div):
            self.issue(
                path,
                "narrative must not contain active content (scripts, forms, ...) (txt-1)",
                "value",
            )

    def codeable_concept(self, node: dict[str, Any], value_set: ValueSet, path: str) -> None:
        codings = node.get("coding")
        if type(codings) is not list:
            return
        coded = [c for c in codings if type(c) is dict and type(c.get("code")) is str]
        if coded and not any(value_set.has_coding(c.get("system"), c["code"]) for c in coded):
            shown = ", ".join(_coding_text(c) for c in coded)
            self.issue(path, _not_in(shown, value_set), "code-invalid")

    def coding(self, node: dict[str, Any], value_set: ValueSet, path: str) -> None:
        code = node.get("code")
        if type(code) is str and not value_set.has_coding(node.get("system"), code):
            self.issue(path, _not_in(_coding_text(node), value_set), "code-invalid")

    def reference(self, node: dict[str, Any], element: ElementInfo, path: str) -> None:
        target = node.get("reference")
        if type(target) is not str:
            return  # a logical (identifier) or display-only reference; shape checked elsewhere
        here = f"{path}.reference"
        if target[:1] == "#":
            self.local_reference(target[1:], element, here)
            return
        if target.startswith(("urn:uuid:", "urn:oid:")):
            self.issue(
                here,
                f"{_show(target)} cannot be resolved: urn:uuid/urn:oid references are only "
                "allowed between entries of a transaction or batch Bundle",
            )
            return
        match = _RELATIVE.fullmatch(target)
        if match is not None:
            rtype, rid, vid = match.group("type", "id", "vid")
            if self.check_target(rtype, element, here, target):
                self.references.append(LocalReference(here, rtype, rid, vid))
            self.check_reference_type(node, rtype, element, path)
            return
        if _ABSOLUTE.fullmatch(target):
            tail = _ABSOLUTE_TAIL.search(target)
            if tail is not None and tail.group("type") in self.resource_types:
                self.check_target(tail.group("type"), element, here, target)
            self.check_reference_type(node, None, element, path)
            return
        self.issue(
            here,
            f"{_show(target)} is not a valid reference: expected Type/id, an absolute http(s) URL "
            "or #id of a contained resource",
        )

    def local_reference(self, target_id: str, element: ElementInfo, here: str) -> None:
        if not target_id:
            if self.current is None:
                self.issue(
                    here,
                    "'#' refers to the containing resource; only a contained resource may use it",
                )
            else:
                self.refers_to_container.add(self.current)
            return
        self.local_ids.add(target_id)
        target = self.contained.get(target_id)
        if target is None:
            self.issue(here, f"'#{target_id}' does not match the id of a contained resource")
        elif element.targets and target[0] not in element.targets:
            self.issue(here, _wrong_target(target[0], element), "invariant")

    def check_target(self, rtype: str, element: ElementInfo, here: str, target: str) -> bool:
        if rtype not in self.resource_types:
            self.issue(here, f"{_show(target)} does not refer to a known FHIR resource type")
            return False
        if element.targets and rtype not in element.targets:
            self.issue(here, _wrong_target(rtype, element), "invariant")
            return False
        return True

    def check_reference_type(
        self, node: dict[str, Any], rtype: str | None, element: ElementInfo, path: str
    ) -> None:
        """Reference.type, when given as a resource type name, must agree with the target."""
        declared = node.get("type")
        if type(declared) is not str or declared not in self.resource_types:
            return
        if rtype is not None and declared != rtype:
            self.issue(f"{path}.type", f"type {declared} does not match the reference to {rtype}")
        elif element.targets and declared not in element.targets:
            self.issue(f"{path}.type", _wrong_target(declared, element), "invariant")

    def local_uri(self, value: str) -> None:
        """A '#id' canonical/uri counts as a use of a contained resource (dom-3). It is not
        required to resolve: spec examples point such canonicals at resources they omit."""
        target_id = value[1:]
        if target_id:
            self.local_ids.add(target_id)
        elif self.current is not None:
            self.refers_to_container.add(self.current)

    def check_local_targets(self, resource_type: str) -> None:
        for contained_id, (_, i) in self.contained.items():
            if contained_id not in self.local_ids and i not in self.refers_to_container:
                self.issue(
                    f"{resource_type}.contained[{i}]",
                    f"contained resource {_show(contained_id)} is not referenced from the "
                    "resource and does not refer to it (dom-3)",
                    "invariant",
                )


def _aligned(node: dict[str, Any], key: str, values: list[Any], index: int) -> bool:
    """A null in a primitive array is fine when ``_key`` has extensions at that position."""
    extensions = node.get("_" + key)
    return (
        type(extensions) is list
        and len(extensions) == len(values)
        and extensions[index] is not None
    )


def _at(path: str, key: str, index: int) -> str:
    return f"{path}.{key}" if index < 0 else f"{path}.{key}[{index}]"


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else _json_name(value)
    return text if len(text) <= _TRUNCATE else text[: _TRUNCATE - 3] + "..."


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "an array" if isinstance(value, list) else "an object"


def _coding_text(coding: dict[str, Any]) -> str:
    system = coding.get("system")
    return (
        f"{system}|{coding['code']}" if type(system) is str else f"{coding['code']!r} (no system)"
    )


def _not_in(shown: str, value_set: ValueSet) -> str:
    sample = value_set.sample()
    allowed = ", ".join(sample) + (", ..." if len(value_set.codes) > len(sample) else "")
    return f"{shown} is not in the required value set {value_set.url} (allowed: {allowed})"


def _wrong_target(rtype: str, element: ElementInfo) -> str:
    return f"may not refer to a {rtype}; allowed: {', '.join(sorted(element.targets))}"


# ---------------------------------------------------------------------------------------------
# The pydantic model pass


@cache
def _model_class(resource_type: str) -> type[BaseModel] | None:
    """The R4B model of an R4 resource type (callers check the name is one: cache is bounded)."""
    try:
        model: type[BaseModel] = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None  # R4 types dropped in R4B (MedicinalProduct, ...): the walk still checks
    return model


def _model_issues(
    resource: dict[str, Any], resource_type: str, resource_types: frozenset[str]
) -> list[_Issue]:
    """Model errors of the resource and of each contained resource, validated one by one so
    that one bad contained resource cannot hide the rest."""
    issues = _validate_model(resource, resource_type, resource_type)
    contained = resource.get("contained")
    if type(contained) is list:
        for i, item in enumerate(contained):
            if type(item) is not dict:
                continue
            contained_type = item.get("resourceType")
            if type(contained_type) is str and contained_type in resource_types:
                path = f"{resource_type}.contained[{i}]"
                issues.extend(_validate_model(item, contained_type, path))
    return issues


def _validate_model(data: dict[str, Any], resource_type: str, path: str) -> list[_Issue]:
    model = _model_class(resource_type)
    if model is None:
        return []
    if "contained" in data:
        data = {k: v for k, v in data.items() if k != "contained"}
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [_translate(error, resource_type, path) for error in exc.errors()]
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
        # The models raise these for a few malformed inputs; the walk has reported the cause.
        return [_Issue(path, f"{path}: the resource could not be read", "structure")]
    return []


def _translate(error: Mapping[str, Any], resource_type: str, path: str) -> _Issue:
    names, expression = _expression(error.get("loc", ()), resource_type, path)
    kind = str(error.get("type", ""))
    message = str(error.get("msg", ""))
    if kind == "value_error" and "field value" in message and "list" in message:
        stem = _choice_stem(message, resource_type, names)
        expression = f"{expression}.{stem}[x]"
        if "multiple" in message:
            return _Issue(
                expression, f"{expression}: only one of {stem}[x] may be present", "structure"
            )
        return _Issue(expression, f"{expression}: a value is required", "required")
    element = element_at(resource_type, names)
    text, code = _describe(kind, error, element)
    return _Issue(expression, f"{expression}: {text}", code)


def _expression(loc: Iterable[Any], resource_type: str, path: str) -> tuple[list[str], str]:
    """JSON names and FHIRPath-ish expression of a pydantic location. Pydantic internals
    ('root', validator tags) are left out; ``_name`` is shown as ``name``."""
    names: list[str] = []
    parts = [path]
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
            continue
        name = str(part)
        element = element_at(resource_type, [*names, name])
        if element is None and (name == "root" or "[" in name or "-" in name):
            continue
        names.append(name)
        shown = name[1:] if element is not None and name[:1] == "_" else name
        parts.append(f".{shown}")
    return names, "".join(parts)


def _choice_stem(message: str, resource_type: str, names: list[str]) -> str:
    """The ``[x]`` stem of the choice a model error lists, e.g. "scheduled"."""
    for candidate in re.findall(r"'([A-Za-z]+)'", message):
        element = element_at(resource_type, [*names, candidate])
        if element is not None and element.choice is not None:
            return element.choice
    return "value"


_SHAPE = {
    "string_type": "must be a JSON string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a JSON integer",
    "int_parsing": "must be a JSON integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a JSON number",
    "float_parsing": "must be a JSON number",
    "decimal_type": "must be a JSON number",
    "decimal_parsing": "must be a JSON number",
    "list_type": "must be a JSON array",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "model_validation_format": "must be a JSON object",
    "json_invalid": "must be a JSON object",
    "json_type": "must be a JSON object",
    "extra_forbidden": "unknown element",
    "missing": "a value is required",
    "model_field_validation.missing": "a value is required",
    "string_too_short": "must not be empty",
    "string_too_long": "is too long",
}
_BOUNDS = {
    "greater_than_equal": "ge",
    "greater_than": "gt",
    "less_than_equal": "le",
    "less_than": "lt",
}
_BOUND_TEXT = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}


def _describe(kind: str, error: Mapping[str, Any], element: ElementInfo | None) -> tuple[str, str]:
    """Plain message and issue code for one model error."""
    if kind in _SHAPE:
        code = "required" if "missing" in kind else "structure"
        if (
            kind == "list_type"
            and error.get("input") is not None
            and "None" in str(error.get("msg", ""))
        ):
            return "null is not allowed in an array", code
        return _SHAPE[kind], code
    ctx = error.get("ctx") or {}
    if kind in _BOUNDS:
        limit = ctx.get(_BOUNDS[kind])
        return f"{_show(error.get('input'))} must be {_BOUND_TEXT[_BOUNDS[kind]]} {limit}", "value"
    if kind == "fhir-validation-wrong-resource-type":
        return "does not match the resource type", "structure"
    type_name = element.type if element is not None else "value"
    return f"{_show(error.get('input'))} is not a valid {type_name}", "value"


# ---------------------------------------------------------------------------------------------
# Reporting


def _merge(walk: list[_Issue], model: list[_Issue]) -> list[_Issue]:
    """Walk issues first (document order), then model issues about elements the walk said
    nothing about: not the same element, nor one inside or around a reported one."""
    if not model:
        return walk
    reported = {issue.expression for issue in walk}
    merged = list(walk)
    for issue in model:
        if _overlaps(issue.expression, reported):
            continue
        reported.add(issue.expression)
        merged.append(issue)
    return merged


def _overlaps(expression: str, reported: set[str]) -> bool:
    if expression in reported:
        return True
    for cut in range(len(expression) - 1, 0, -1):
        if expression[cut] in ".[" and expression[:cut] in reported:
            return True
    return any(r.startswith((expression + ".", expression + "[")) for r in reported)


def _error(issues: list[_Issue]) -> InvalidResource:
    first, *rest = issues
    return InvalidResource(
        first.message,
        expression=[first.expression],
        issue_code=first.code,
        issues=[
            InvalidResource(i.message, expression=[i.expression], issue_code=i.code) for i in rest
        ],
    )
