"""``_summary`` and ``_elements``: returning a subset of a resource's elements.

Both work on stored resource JSON with the element tables of ``fhir/structure.py`` and mark a
resource from which something was removed with the SUBSETTED tag
(https://hl7.org/fhir/R4/search.html#summary). The input is never changed; the result shares
the unchanged nested values with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from zorgleefplan.errors import InvalidRequest
from zorgleefplan.fhir.structure import Kind, TypeTable, type_table

SUBSETTED_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
SUBSETTED_TAG: dict[str, str] = {
    "system": SUBSETTED_SYSTEM,
    "code": "SUBSETTED",
    "display": "subsetted",
}
SUMMARY_MODES = frozenset({"true", "text", "data", "false"})
# Kept by every subset: without them the result is no longer an identifiable resource.
_ALWAYS = frozenset({"resourceType", "id", "meta"})

Json = dict[str, Any]


def apply_summary(resource: Json, mode: str) -> Json:
    """The resource as returned for ``_summary=mode`` (``true``, ``text``, ``data``, ``false``).

    ``_summary=count`` concerns search results, not a resource, and is refused here.
    """
    if mode not in SUMMARY_MODES:
        raise InvalidRequest(
            f"_summary must be one of true, text, data or false, not {mode!r}",
            expression=["_summary"],
        )
    if mode == "false":
        return resource
    if mode == "data":
        if "text" not in resource:
            return resource
        return _tagged({k: v for k, v in resource.items() if k != "text"})
    table = _resource_table(resource)
    if mode == "text":
        keep = _ALWAYS | {"text"} | (table.mandatory_names if table else frozenset())
        return _keep_top_level(resource, keep)
    if table is None:
        return resource
    summary, removed = _summarise(resource, table, top=True)
    return _tagged(summary) if removed else resource


def apply_elements(resource: Json, elements: Iterable[str]) -> Json:
    """The resource as returned for ``_elements``: the listed top-level elements plus id, meta,
    resourceType and the mandatory elements. Unknown names are ignored (see
    ``unknown_elements`` to refuse them)."""
    table = _resource_table(resource)
    keep = set(_ALWAYS)
    if table is not None:
        keep |= table.mandatory_names
        for name in elements:
            keep.update(_resolve(table, resource.get("resourceType", ""), name))
    return _keep_top_level(resource, frozenset(keep))


def unknown_elements(resource_type: str, elements: Iterable[str]) -> list[str]:
    """The names in an ``_elements`` list that are not elements of ``resource_type``."""
    table = type_table(resource_type)
    if table is None:
        return list(elements)
    return [name for name in elements if name.strip() and not _resolve(table, resource_type, name)]


def _resolve(table: TypeTable, resource_type: str, name: str) -> tuple[str, ...]:
    """JSON names meant by an ``_elements`` entry: ``name``, ``Type.name``, a choice stem
    (``value`` or ``value[x]``) for all its expansions."""
    name = name.strip()
    if "." in name:
        prefix, _, name = name.partition(".")
        if prefix != resource_type or "." in name:
            return ()
    return table.names_for(name) if name else ()


def _resource_table(resource: Json) -> TypeTable | None:
    resource_type = resource.get("resourceType")
    return type_table(resource_type) if isinstance(resource_type, str) else None


def _keep_top_level(resource: Json, keep: frozenset[str]) -> Json:
    result = {k: v for k, v in resource.items() if k in keep or (k[:1] == "_" and k[1:] in keep)}
    return _tagged(result) if len(result) < len(resource) else resource


def _summarise(node: Json, table: TypeTable, top: bool = False) -> tuple[Json, bool]:
    """Keep summary and mandatory elements, recursing into the complex ones kept."""
    result: Json = {}
    removed = False
    keep_always = _ALWAYS if top else frozenset()
    for key, value in node.items():
        name = key[1:] if key[:1] == "_" else key
        element = table.get(name)
        if key in keep_always or (element is not None and (element.summary or element.mandatory)):
            if element is not None and element.kind is Kind.COMPLEX and key[:1] != "_":
                value, inner_removed = _summarise_value(value, element.type)
                removed = removed or inner_removed
            result[key] = value
        else:
            removed = True
    return result, removed


def _summarise_value(value: Any, type_name: str) -> tuple[Any, bool]:
    table = type_table(type_name)
    # Datatypes with no summary elements (Extension, Narrative) are kept whole: cutting them
    # down to their mandatory parts would leave e.g. an extension without its value.
    if table is None or not table.summary_names:
        return value, False
    if isinstance(value, dict):
        return _summarise(value, table)
    if isinstance(value, list):
        items = [_summarise(v, table) if isinstance(v, dict) else (v, False) for v in value]
        return [v for v, _ in items], any(r for _, r in items)
    return value, False


def _tagged(resource: Json) -> Json:
    """Add the SUBSETTED tag to (a copy of) meta, once."""
    meta = resource.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    tags = meta.get("tag")
    tags = list(tags) if isinstance(tags, list) else []
    if not any(
        isinstance(t, dict) and t.get("system") == SUBSETTED_SYSTEM and t.get("code") == "SUBSETTED"
        for t in tags
    ):
        tags.append(dict(SUBSETTED_TAG))
    meta["tag"] = tags
    resource["meta"] = meta
    return resource
