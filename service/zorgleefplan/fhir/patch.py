"""Apply a patch to a resource's JSON form: JSON Patch (RFC 6902) and FHIRPath Patch (FHIR R4).

Both functions are pure: they copy the resource, apply every operation to the copy and return it;
the caller validates and stores the result. A malformed patch document is an ``InvalidRequest``
(400); a well-formed patch that cannot be applied to this resource is a ``ZlpError`` with status
hint 422 and issue code ``processing``. The whole patch document is checked before anything is
applied, so a malformed operation late in the list is still a 400.

FHIRPath Patch needs *locations* (the object and key holding each selected element), which a
FHIRPath engine does not return, so paths are walked here over a subset of FHIRPath: element
names (choice elements also by their base name, ``Observation.value``), ``[n]``, ``first()``,
``last()``, ``where(criteria)`` and ``ofType(T)``. ``where`` criteria are full FHIRPath, evaluated
by fhirpathpy on each candidate. Cardinality and choice types come from the fhir.resources R4B
models (the same structure as R4 for the types this server serves): ``add`` must know whether to
create a list, and ``valueQuantity`` added under the name ``value`` is stored as ``valueQuantity``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import jsonpatch
import jsonpointer
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from fhirpathpy import compile as compile_fhirpath

from zorgleefplan.errors import InvalidRequest, ZlpError

__all__ = ["apply_fhirpath_patch", "apply_json_patch"]

Json = dict[str, Any]


def _invalid(diagnostics: str, expression: str) -> InvalidRequest:
    """A malformed patch document."""
    return InvalidRequest(diagnostics, expression=[expression])


def _unprocessable(diagnostics: str, expression: str) -> ZlpError:
    """A well-formed patch that cannot be applied to this resource."""
    return ZlpError(diagnostics, expression=[expression], status_hint=422, issue_code="processing")


def _check_identity(original: Json, patched: object, expression: Callable[[str], str]) -> Json:
    """Refuse a result whose resourceType or id differs: a patch edits one resource in place."""
    if not isinstance(patched, dict) or patched.get("resourceType") != original.get("resourceType"):
        raise _unprocessable("A patch may not change the resourceType", expression("resourceType"))
    if patched.get("id") != original.get("id"):
        raise _unprocessable("A patch may not change the resource id", expression("id"))
    return patched


# --- JSON Patch (RFC 6902) -------------------------------------------------------------------

_JSON_PATCH_MEMBERS: dict[str, tuple[str, ...]] = {
    "add": ("path", "value"),
    "remove": ("path",),
    "replace": ("path", "value"),
    "move": ("from", "path"),
    "copy": ("from", "path"),
    "test": ("path", "value"),
}
# RFC 6901: "" or "/"-prefixed reference tokens, "~" only as the escapes "~0" and "~1".
_JSON_POINTER = re.compile(r"(?:/(?:[^~/]|~[01])*)*")


def apply_json_patch(resource: Json, document: object) -> Json:
    """Apply an RFC 6902 JSON Patch document to a copy of ``resource``."""
    operations = _parse_json_patch(document)
    patched: object = copy.deepcopy(resource)
    for number, operation in enumerate(operations):
        # One operation at a time, so a failure names the operation that failed.
        try:
            patched = jsonpatch.apply_patch(patched, [operation], in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise _json_patch_failure(number, operation, exc) from exc
    return _check_identity(resource, patched, lambda name: f"/{name}")


def _json_patch_failure(number: int, operation: Json, exc: Exception) -> ZlpError:
    label = f"JSON Patch operation {number} ({operation['op']} {operation['path']!r})"
    if isinstance(exc, jsonpatch.JsonPatchTestFailed):
        return _unprocessable(
            f"{label} failed: the value there is absent or differs", operation["path"]
        )
    # jsonpointer quotes the whole document in some messages; keep only the reason.
    reason = re.split(r" in [{\[]|, must be ", str(exc), maxsplit=1)[0]
    return _unprocessable(f"{label} cannot be applied: {reason}", operation["path"])


def _parse_json_patch(document: object) -> list[Json]:
    """Check the document's shape; return a deep copy so applied values never alias the input.

    (Recent jsonpatch releases copy values themselves; this does not rely on that.)
    """
    if not isinstance(document, list):
        raise InvalidRequest("A JSON Patch document must be a JSON array of operations")
    for number, operation in enumerate(document):
        _check_json_patch_operation(number, operation)
    return copy.deepcopy(document)


def _check_json_patch_operation(number: int, operation: object) -> None:
    if not isinstance(operation, dict):
        raise _invalid(f"JSON Patch operation {number} is not an object", f"/{number}")
    op = operation.get("op")
    if not isinstance(op, str) or op not in _JSON_PATCH_MEMBERS:
        raise _invalid(
            f"JSON Patch operation {number} has no valid 'op' "
            f"(one of {', '.join(_JSON_PATCH_MEMBERS)})",
            f"/{number}/op",
        )
    for member in _JSON_PATCH_MEMBERS[op]:
        if member not in operation:
            raise _invalid(
                f"JSON Patch operation {number} ({op}) lacks '{member}'", f"/{number}/{member}"
            )
        pointer = operation[member]
        if member != "value" and not (
            isinstance(pointer, str) and _JSON_POINTER.fullmatch(pointer)
        ):
            raise _invalid(
                f"JSON Patch operation {number} ({op}): '{member}' is not a JSON Pointer",
                f"/{number}/{member}",
            )


# --- FHIR type information (fhir.resources R4B models) ----------------------------------------

# Primitive type names whose model metadata class is not simply the capitalised FHIR name.
_PRIMITIVE_NAMES = {"EncodedBytes": "base64Binary", "UuidVersion": "uuid"}
_PYTHON_PRIMITIVES: dict[object, str] = {bool: "boolean", int: "integer", str: "string"}


@dataclass(frozen=True, slots=True)
class _Element:
    """One element of a FHIR type, under its JSON property name."""

    key: str
    repeats: bool
    model: type[Any] | None  # model class of the element's type; None for primitives
    type_name: str
    choice: str | None  # base name when one type of a choice element (valueString -> "value")


@dataclass(frozen=True, slots=True)
class _Schema:
    type_name: str
    elements: Mapping[str, _Element]
    choices: Mapping[str, Mapping[str, str]]  # base name -> type suffix -> JSON key


@cache
def _schema(model: type[Any]) -> _Schema:
    elements: dict[str, _Element] = {}
    choices: dict[str, dict[str, str]] = {}
    for field in model.model_fields.values():
        key = field.alias
        # "_x" carries a primitive's extensions; fhir_comments is not FHIR.
        if not key or key.startswith("_") or key == "fhir_comments":
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        base = extra.get("one_of_many")
        choice = base if isinstance(base, str) else None
        repeats, element_model, type_name = _describe(field.annotation)
        elements[key] = _Element(key, repeats, element_model, type_name, choice)
        if choice is not None:
            choices.setdefault(choice, {})[key[len(choice) :]] = key
    return _Schema(model.get_resource_type(), elements, choices)


def _describe(annotation: Any) -> tuple[bool, type[Any] | None, str]:
    """(repeats, model class or None, FHIR type name) from a field annotation."""
    repeats = False
    current = annotation
    while True:
        origin = get_origin(current)
        if origin in (Union, UnionType):
            current = next(arg for arg in get_args(current) if arg is not type(None))
        elif origin is list:
            repeats = True
            current = get_args(current)[0]
        elif origin is Annotated:
            metadata = type(get_args(current)[1]).__name__
            name = _PRIMITIVE_NAMES.get(metadata, metadata[:1].lower() + metadata[1:])
            return repeats, None, name
        else:
            break
    model_class = getattr(current, "get_model_klass", None)
    if model_class is not None:
        model: type[Any] = model_class()
        return repeats, model, model.get_resource_type()
    return repeats, None, _PYTHON_PRIMITIVES.get(current, "")


@cache
def _resource_model(resource_type: str) -> type[Any] | None:
    try:
        model: type[Any] = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    return model if issubclass(model, Resource) else None


# --- Path evaluation to locations ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Name:
    name: str


@dataclass(frozen=True, slots=True)
class _Index:
    position: int


@dataclass(frozen=True, slots=True)
class _Call:
    function: str
    argument: str


_Step = _Name | _Index | _Call

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|`[^`]+`")
_INDEXER = re.compile(r"\[\s*(\d+)\s*\]")
_TYPE_SPECIFIER = re.compile(r"(?:(?:FHIR|System)\.)?[A-Za-z][A-Za-z0-9_]*")
_SUPPORTED = "element names, [n], first(), last(), where(criteria) and ofType(Type)"


@dataclass(frozen=True, slots=True)
class _Location:
    """Where a selected element lives, so it can be replaced or removed in place."""

    node: Any
    owner: Json | None  # the object holding the element; None for the resource itself
    key: str
    index: int | None  # position when the element is an item of a list
    parent: _Location | None
    element: _Element | None  # definition of owner[key]; None at the root or if unknown
    model: type[Any] | None  # model class of node, for navigating further


def _parse_path(path: str) -> tuple[_Step, ...]:
    steps: list[_Step] = []
    position = 0
    expect_name = True
    while (position := _skip_space(path, position)) < len(path):
        if expect_name:
            match = _IDENTIFIER.match(path, position)
            if match is None:
                raise _unsupported(path, position)
            name = match.group().strip("`")
            position = _skip_space(path, match.end())
            if path.startswith("(", position):
                argument, position = _call_argument(path, position)
                steps.append(_call(name, argument, path))
            else:
                steps.append(_Name(name))
            expect_name = False
        elif path[position] == ".":
            position += 1
            expect_name = True
        elif (match := _INDEXER.match(path, position)) is not None:
            steps.append(_Index(int(match.group(1))))
            position = match.end()
        else:
            raise _unsupported(path, position)
    if expect_name:
        raise _invalid(f"FHIRPath {path!r} is empty or incomplete", path)
    return tuple(steps)


def _skip_space(path: str, position: int) -> int:
    while position < len(path) and path[position].isspace():
        position += 1
    return position


def _unsupported(path: str, position: int) -> InvalidRequest:
    return _invalid(
        f"Unsupported FHIRPath construct at {path[position:]!r} in {path!r}; "
        f"patch paths support {_SUPPORTED}",
        path,
    )


def _call_argument(path: str, start: int) -> tuple[str, int]:
    """The text between the parenthesis at ``start`` and its match, skipping quoted text."""
    depth = 0
    quote: str | None = None
    position = start
    while position < len(path):
        char = path[position]
        if quote is not None:
            if char == "\\":
                position += 1
            elif char == quote:
                quote = None
        elif char in "'`\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return path[start + 1 : position].strip(), position + 1
        position += 1
    raise _invalid(f"Unbalanced parentheses or quotes in FHIRPath {path!r}", path)


def _call(function: str, argument: str, path: str) -> _Call:
    if function in ("first", "last") and not argument:
        return _Call(function, argument)
    if function == "where" and argument:
        _evaluate_criteria({}, argument, {}, path)  # syntax errors are 400 even with no candidates
        return _Call(function, argument)
    if function == "ofType" and _TYPE_SPECIFIER.fullmatch(argument):
        return _Call(function, argument.rsplit(".", 1)[-1])
    if function in ("first", "last", "where", "ofType"):
        raise _invalid(f"Wrong argument to {function}() in FHIRPath {path!r}", path)
    raise _invalid(
        f"FHIRPath function {function}() is not supported in patch paths ({_SUPPORTED})", path
    )


def _select(resource: Json, steps: Iterable[_Step], path: str) -> list[_Location]:
    root = _Location(resource, None, "", None, None, None, _node_model(resource, None))
    remaining = list(steps)
    if remaining and isinstance(remaining[0], _Name) and remaining[0].name[:1].isupper():
        # A leading type name: the resource itself, or nothing if it names another type.
        type_name = remaining.pop(0)
        if type_name.name != resource.get("resourceType"):
            return []
    locations = [root]
    for step in remaining:
        locations = _apply_step(locations, step, resource, path)
    return locations


def _apply_step(
    locations: list[_Location], step: _Step, resource: Json, path: str
) -> list[_Location]:
    if isinstance(step, _Name):
        return [child for location in locations for child in _children(location, step.name, path)]
    if isinstance(step, _Index):
        return locations[step.position : step.position + 1]
    if step.function == "first":
        return locations[:1]
    if step.function == "last":
        return locations[-1:]
    if step.function == "where":
        return [loc for loc in locations if _matches(loc.node, step.argument, resource, path)]
    return [loc for loc in locations if _same_type(_type_of(loc), step.argument)]


def _children(location: _Location, name: str, path: str) -> list[_Location]:
    node = location.node
    if not isinstance(node, dict):
        return []  # a primitive's id and extensions are not navigable here
    schema = _schema(location.model) if location.model is not None else None
    key = _present_key(node, schema, name, path)
    if key is None:
        return []
    element = schema.elements.get(key) if schema is not None else None
    value = node[key]
    items: Iterable[tuple[int | None, Any]] = (
        enumerate(value) if isinstance(value, list) else [(None, value)]
    )
    return [
        _Location(item, node, key, index, location, element, _node_model(item, element))
        for index, item in items
    ]


def _present_key(node: Json, schema: _Schema | None, name: str, path: str) -> str | None:
    """The JSON key under which ``name`` is present in ``node`` (choice names by base name)."""
    if schema is not None and name not in schema.elements and name not in schema.choices:
        raise _unprocessable(f"{schema.type_name} has no element {name!r} (in {path!r})", path)
    if name in node:
        return name
    if schema is not None:
        candidates: Iterable[str] = schema.choices.get(name, {}).values()
    else:
        candidates = (
            key for key in node if key.startswith(name) and key[len(name) :][:1].isupper()
        )
    return next((key for key in candidates if key in node), None)


def _node_model(node: Any, element: _Element | None) -> type[Any] | None:
    # Contained and Bundle resources are typed by their own resourceType, not by the element.
    if isinstance(node, dict) and isinstance(node.get("resourceType"), str):
        return _resource_model(node["resourceType"])
    return element.model if element is not None else None


@lru_cache(maxsize=256)
def _criteria(criteria: str) -> Callable[..., list[Any]]:
    # select() binds $this to the candidate, as where() would, and returns the raw result.
    return compile_fhirpath(f"candidate.select({criteria})")


def _matches(node: Any, criteria: str, resource: Json, path: str) -> bool:
    result = _evaluate_criteria(node, criteria, resource, path)
    return len(result) == 1 and result[0] is True


def _evaluate_criteria(node: Any, criteria: str, resource: Json, path: str) -> list[Any]:
    try:
        return _criteria(criteria)(
            {"candidate": node}, {"resource": resource, "rootResource": resource}
        )
    except Exception as exc:  # fhirpathpy raises bare Exception for syntax and unknown functions
        raise _invalid(f"Cannot evaluate where({criteria}) in {path!r}: {exc}", path) from exc


def _type_of(location: _Location) -> str | None:
    node = location.node
    if isinstance(node, dict) and isinstance(node.get("resourceType"), str):
        return str(node["resourceType"])
    return location.element.type_name if location.element is not None else None


def _same_type(actual: str | None, wanted: str) -> bool:
    # System.String and FHIR.string differ only in the first letter's case.
    return actual is not None and actual[:1].lower() + actual[1:] == wanted[:1].lower() + wanted[1:]


# --- FHIRPath Patch: the Parameters document --------------------------------------------------

_OPERATION_PARTS: dict[str, frozenset[str]] = {
    "add": frozenset({"type", "path", "name", "value"}),
    "insert": frozenset({"type", "path", "value", "index"}),
    "delete": frozenset({"type", "path"}),
    "replace": frozenset({"type", "path", "value"}),
    "move": frozenset({"type", "path", "source", "destination"}),
}


@dataclass(frozen=True, slots=True)
class _Value:
    """A value to put into the resource: JSON given as value[x] or resource, or nested parts."""

    json: Any = None
    type_suffix: str | None = None  # "String" for valueString; None for parts or a resource
    parts: tuple[tuple[str, _Value], ...] | None = None


@dataclass(frozen=True, slots=True)
class _Operation:
    type: str
    path: str
    steps: tuple[_Step, ...]
    name: str = ""
    value: _Value | None = None
    index: int = 0
    source: int = 0
    destination: int = 0


def _parse_parameters(parameters: object) -> list[_Operation]:
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise _invalid("A FHIRPath Patch must be a Parameters resource", "Parameters")
    entries = parameters.get("parameter", [])
    if not isinstance(entries, list):
        raise _invalid("Parameters.parameter must be a list", "Parameters.parameter")
    return [
        _parse_operation(entry, f"Parameters.parameter[{i}]") for i, entry in enumerate(entries)
    ]


def _parse_operation(entry: object, where: str) -> _Operation:
    if not isinstance(entry, dict) or entry.get("name") != "operation":
        raise _invalid(f"{where} must be a parameter named 'operation'", where)
    parts = _named_parts(entry, where)
    kind = _text_part(parts, "type", where)
    allowed = _OPERATION_PARTS.get(kind)
    if allowed is None:
        raise _invalid(
            f"{where}: unknown operation type {kind!r} (add, insert, delete, replace or move)",
            f"{where}.part",
        )
    if missing := allowed - parts.keys():
        raise _invalid(
            f"{where}: {kind} needs part(s) {', '.join(sorted(missing))}", f"{where}.part"
        )
    if unexpected := parts.keys() - allowed:
        raise _invalid(
            f"{where}: part(s) {', '.join(sorted(unexpected))} not used by {kind}", f"{where}.part"
        )
    path = _text_part(parts, "path", where)
    steps = _parse_path(path)
    if kind in ("insert", "move"):
        _check_list_path(steps, path)
    return _Operation(
        type=kind,
        path=path,
        steps=steps,
        name=_text_part(parts, "name", where) if "name" in parts else "",
        value=_parse_value(*parts["value"]) if "value" in parts else None,
        index=_integer_part(parts, "index", where) if "index" in parts else 0,
        source=_integer_part(parts, "source", where) if "source" in parts else 0,
        destination=_integer_part(parts, "destination", where) if "destination" in parts else 0,
    )


def _named_parts(entry: Json, where: str) -> dict[str, tuple[Json, str]]:
    """Each part by name, with its own location for messages; names must not repeat."""
    raw = entry.get("part")
    if not isinstance(raw, list):
        raise _invalid(f"{where} has no list of parts", f"{where}.part")
    parts: dict[str, tuple[Json, str]] = {}
    for i, part in enumerate(raw):
        location = f"{where}.part[{i}]"
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise _invalid(f"{location} must be an object with a name", location)
        if part["name"] in parts:
            raise _invalid(f"{where} repeats part {part['name']!r}", location)
        parts[part["name"]] = (part, location)
    return parts


def _text_part(parts: Mapping[str, tuple[Json, str]], name: str, where: str) -> str:
    if name not in parts:
        raise _invalid(f"{where} lacks the part {name!r}", f"{where}.part")
    part, location = parts[name]
    text = part.get("valueCode", part.get("valueString"))
    if not isinstance(text, str) or not text.strip():
        raise _invalid(f"{location} ({name}) needs a non-empty valueString or valueCode", location)
    return text.strip()


def _integer_part(parts: Mapping[str, tuple[Json, str]], name: str, where: str) -> int:
    part, location = parts[name]
    number = part.get("valueInteger")
    if not isinstance(number, int) or isinstance(number, bool):
        raise _invalid(f"{location} ({name}) needs a valueInteger", location)
    return number


def _parse_value(part: Json, location: str) -> _Value:
    value_keys = [key for key in part if key.startswith("value") and key[5:6].isupper()]
    if len(value_keys) + ("part" in part) + ("resource" in part) != 1:
        raise _invalid(f"{location} needs exactly one of value[x], resource or part", location)
    if any(key.startswith("_value") for key in part):
        raise _invalid(
            f"{location}: extensions on a primitive patch value are not supported", location
        )
    if value_keys:
        return _Value(json=part[value_keys[0]], type_suffix=value_keys[0][5:])
    if "resource" in part:
        if not isinstance(part["resource"], dict) or "resourceType" not in part["resource"]:
            raise _invalid(f"{location}: resource is not a resource", location)
        return _Value(json=part["resource"])
    sub_parts = part["part"]
    if not isinstance(sub_parts, list) or not sub_parts:
        raise _invalid(f"{location}: part must be a non-empty list", location)
    values: list[tuple[str, _Value]] = []
    for i, sub_part in enumerate(sub_parts):
        sub_location = f"{location}.part[{i}]"
        if not isinstance(sub_part, dict) or not isinstance(sub_part.get("name"), str):
            raise _invalid(f"{sub_location} must be an object with a name", sub_location)
        values.append((sub_part["name"], _parse_value(sub_part, sub_location)))
    return _Value(parts=tuple(values))


def _check_list_path(steps: tuple[_Step, ...], path: str) -> None:
    """insert and move name the list itself: the path must end in an element name."""
    last = steps[-1]
    if not isinstance(last, _Name) or (len(steps) == 1 and last.name[:1].isupper()):
        raise _invalid(
            f"The path {path!r} of insert or move must end with the name of a list element, "
            "e.g. Patient.identifier",
            path,
        )


# --- FHIRPath Patch: applying operations ------------------------------------------------------


def apply_fhirpath_patch(resource: Json, parameters: object) -> Json:
    """Apply a FHIR R4 FHIRPath Patch (a Parameters resource) to a copy of ``resource``."""
    operations = _parse_parameters(parameters)
    patched = copy.deepcopy(resource)
    for operation in operations:
        _APPLY[operation.type](patched, operation)
    resource_type = resource.get("resourceType", "Resource")
    return _check_identity(resource, patched, lambda name: f"{resource_type}.{name}")


def _add(resource: Json, operation: _Operation) -> None:
    target = _single(_select(resource, operation.steps, operation.path), operation)
    if not isinstance(target.node, dict):
        raise _unprocessable(
            f"add: {operation.path!r} selects a primitive; cannot add {operation.name!r} to it",
            operation.path,
        )
    assert operation.value is not None  # guaranteed by _OPERATION_PARTS
    schema = _schema(target.model) if target.model is not None else None
    element = _element_for(schema, operation.name, operation.value, operation.path)
    key = element.key if element is not None else operation.name
    item = _materialise(operation.value, element, operation.path)
    _put(target.node, schema, element, key, item, operation.path)


def _insert(resource: Json, operation: _Operation) -> None:
    owner, key, element = _list_location(resource, operation)
    items = owner.get(key, [])
    if not 0 <= operation.index <= len(items):
        raise _unprocessable(
            f"insert: index {operation.index} is out of range for {operation.path!r} "
            f"({len(items)} items)",
            operation.path,
        )
    assert operation.value is not None  # guaranteed by _OPERATION_PARTS
    item = _materialise(operation.value, element, operation.path)
    shadow = _shadow(owner, key)
    items.insert(operation.index, item)
    owner[key] = items
    if shadow is not None:
        shadow.insert(operation.index, None)


def _delete(resource: Json, operation: _Operation) -> None:
    locations = _select(resource, operation.steps, operation.path)
    if not locations:
        return  # deleting what is not there is not an error (FHIRPath Patch)
    location = _single(locations, operation)
    if location.owner is None:
        raise _unprocessable("delete cannot remove the resource itself", operation.path)
    _remove(location)


def _replace(resource: Json, operation: _Operation) -> None:
    location = _single(_select(resource, operation.steps, operation.path), operation)
    owner = location.owner
    if owner is None:
        raise _unprocessable("replace cannot replace the resource itself", operation.path)
    assert operation.value is not None  # guaranteed by _OPERATION_PARTS
    element = location.element
    if (choice := _choice_of(location, operation.value)) is not None:
        # valueQuantity replaced by a valueString value becomes valueString.
        owner_schema, base = choice
        element = _element_for(owner_schema, base, operation.value, operation.path)
    item = _materialise(operation.value, element, operation.path)
    if location.index is not None:
        owner[location.key][location.index] = item
        return
    key = element.key if element is not None else location.key
    if key != location.key:
        del owner[location.key]
        owner.pop(f"_{location.key}", None)
    owner[key] = item


def _move(resource: Json, operation: _Operation) -> None:
    owner, key, _ = _list_location(resource, operation)
    items = owner.get(key, [])
    for name, position in (("source", operation.source), ("destination", operation.destination)):
        if not 0 <= position < len(items):
            raise _unprocessable(
                f"move: {name} {position} is out of range for {operation.path!r} "
                f"({len(items)} items)",
                operation.path,
            )
    shadow = _shadow(owner, key)
    items.insert(operation.destination, items.pop(operation.source))
    if shadow is not None:
        shadow.insert(operation.destination, shadow.pop(operation.source))


_APPLY: dict[str, Callable[[Json, _Operation], None]] = {
    "add": _add,
    "insert": _insert,
    "delete": _delete,
    "replace": _replace,
    "move": _move,
}


def _single(locations: list[_Location], operation: _Operation) -> _Location:
    if len(locations) == 1:
        return locations[0]
    found = "no element" if not locations else f"{len(locations)} elements"
    raise _unprocessable(
        f"{operation.type}: {operation.path!r} matches {found}; exactly one is required",
        operation.path,
    )


def _list_location(resource: Json, operation: _Operation) -> tuple[Json, str, _Element | None]:
    """The object holding the list an insert or move works on, the list's key and definition."""
    last = operation.steps[-1]
    assert isinstance(last, _Name)  # guaranteed by _check_list_path
    holders = _select(resource, operation.steps[:-1], operation.path)
    if len(holders) != 1:
        found = "no element" if not holders else f"{len(holders)} elements"
        raise _unprocessable(
            f"{operation.type}: the element holding {operation.path!r} matches {found}; "
            "exactly one is required",
            operation.path,
        )
    holder = holders[0]
    if not isinstance(holder.node, dict):
        raise _unprocessable(f"{operation.type}: {operation.path!r} is not a list", operation.path)
    element: _Element | None = None
    if holder.model is not None:
        schema = _schema(holder.model)
        element = schema.elements.get(last.name)
        if element is None or not element.repeats:
            raise _unprocessable(
                f"{operation.type}: {schema.type_name}.{last.name} is not a list element",
                operation.path,
            )
    if not isinstance(holder.node.get(last.name, []), list):
        raise _unprocessable(f"{operation.type}: {operation.path!r} is not a list", operation.path)
    return holder.node, last.name, element


def _element_for(schema: _Schema | None, name: str, value: _Value, path: str) -> _Element | None:
    """The element ``name`` names in ``schema``; a choice base name picks the value's type."""
    if schema is None:
        return None
    if name in schema.elements:
        return schema.elements[name]
    variants = schema.choices.get(name)
    if variants is None:
        raise _unprocessable(f"{schema.type_name} has no element {name!r}", path)
    if value.type_suffix not in variants:
        raise _unprocessable(
            f"{schema.type_name}.{name}[x] cannot hold a value given as "
            f"{'value' + value.type_suffix if value.type_suffix else 'parts'}; "
            f"allowed: {', '.join(name + suffix for suffix in variants)}",
            path,
        )
    return schema.elements[variants[value.type_suffix]]


def _choice_of(location: _Location, value: _Value) -> tuple[_Schema, str] | None:
    """The owner's schema and the choice base name, when a typed value replaces a choice element."""
    element, parent = location.element, location.parent
    if (
        location.index is None
        and element is not None
        and element.choice is not None
        and value.type_suffix is not None
        and parent is not None
        and parent.model is not None
    ):
        return _schema(parent.model), element.choice
    return None


def _materialise(value: _Value, element: _Element | None, path: str) -> Any:
    """The JSON for ``value``; parts are assembled into an object of the element's type."""
    if value.parts is None:
        return copy.deepcopy(value.json)
    model = element.model if element is not None else None
    schema = _schema(model) if model is not None else None
    result: Json = {}
    for name, part in value.parts:
        child = _element_for(schema, name, part, path)
        key = child.key if child is not None else name
        _put(result, schema, child, key, _materialise(part, child, path), path)
    return result


def _put(
    target: Json,
    schema: _Schema | None,
    element: _Element | None,
    key: str,
    item: Any,
    path: str,
) -> None:
    """Append to a list element (creating it), or set a single element that is still empty."""
    existing = target.get(key)
    repeats = element.repeats if element is not None else isinstance(existing, list)
    if repeats:
        if existing is None:
            target[key] = [item]
        elif isinstance(existing, list):
            existing.append(item)
        else:
            raise _unprocessable(f"{key!r} holds a single value, not a list", path)
        return
    siblings = [key]
    if schema is not None and element is not None and element.choice is not None:
        siblings = list(schema.choices[element.choice].values())
    if occupied := [sibling for sibling in siblings if sibling in target]:
        raise _unprocessable(f"{occupied[0]!r} already has a value; use replace to change it", path)
    target[key] = item


def _remove(location: _Location) -> None:
    """Remove the element, then any object left empty by it (FHIR JSON has no empty objects)."""
    owner = location.owner
    assert owner is not None  # callers refuse the root
    key = location.key
    if location.index is None:
        del owner[key]
        owner.pop(f"_{key}", None)
    else:
        shadow = _shadow(owner, key)
        del owner[key][location.index]
        if shadow is not None:
            del shadow[location.index]
        if not owner[key]:
            del owner[key]
            owner.pop(f"_{key}", None)
        elif shadow is not None and all(entry is None for entry in shadow):
            del owner[f"_{key}"]
    parent = location.parent
    if not owner and parent is not None and parent.owner is not None:
        _remove(parent)


def _shadow(owner: Json, key: str) -> list[Any] | None:
    """The "_key" list holding extensions of a primitive list, if it is aligned with it."""
    shadow = owner.get(f"_{key}")
    items = owner.get(key)
    if isinstance(shadow, list) and isinstance(items, list) and len(shadow) == len(items):
        return shadow
    return None
