"""Generate the element tables and required-binding value sets the validator needs.

Reads the official R4 StructureDefinitions, ValueSets and CodeSystems from ../shared/fhir-r4 and
writes two compact files into service/zorgleefplan/definitions/:

``elements.json``
    ``resourceTypes``: every concrete R4 resource type name (to check references).
    ``types``: per resource type, complex datatype and backbone element (synthetic name = its
    element path, e.g. ``CarePlan.activity.detail``), a map from JSON element name to a small
    record. Keys are left out when they have their default value, to keep the file small:
    ``type`` (FHIR type code or backbone name), ``array`` (max is not 1), ``summary`` (isSummary),
    ``min`` (1 when mandatory), ``choice`` (the ``[x]`` base name for choice expansions such as
    ``valueString``), ``binding`` (required ValueSet url), ``targets`` (allowed Reference target
    types, absent = any). Tables exist for every resource type, not only the served ones,
    because any resource may be contained in a served one.
``valuesets.json``
    Per required-binding ValueSet url: ``{"codes": {system: [code, ...]}}`` when it could be
    expanded completely from the definitions at hand, else ``{"codes": null, "reason": ...}``
    (not checkable: e.g. it draws on SNOMED CT, BCP-47 or a regex filter).

Run from the repository root: ``python scripts/gen_structure_definitions.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fhir_source import SUPPORTED_TYPES, bundle_resources, write_json

Json = dict[str, Any]

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
# FHIRPath system types used for Element.id, Extension.url and Resource.id when the
# structuredefinition-fhir-type extension is missing.
SYSTEM_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}
BACKBONE_CODES = {"BackboneElement", "Element"}


class NotExpandable(Exception):
    """A value set that cannot be expanded completely from the local definitions."""


# ---------------------------------------------------------------------------------------------
# Element tables


def structure_definitions() -> dict[str, Json]:
    """Concrete resource types and complex datatypes by name (primitives are leaves)."""
    result: dict[str, Json] = {}
    for name in ("profiles-types.json", "profiles-resources.json"):
        for sd in bundle_resources(name):
            if sd.get("resourceType") != "StructureDefinition":
                continue
            if sd.get("derivation") == "constraint" or sd.get("kind") == "logical":
                continue  # SimpleQuantity, MoneyQuantity: same JSON shape as their base type
            if sd.get("fhirVersion") != "4.0.1":
                continue  # the redistribution adds R4B's SubscriptionStatus
            result[sd["id"]] = sd
    return result


def type_code(type_entry: Json) -> str:
    code: str = type_entry["code"]
    for ext in type_entry.get("extension", []):
        if ext.get("url") == FHIR_TYPE_EXT:
            return str(ext["valueUrl"])
    return SYSTEM_TYPES.get(code, code)


def official_elements(sd: Json) -> Iterator[Json]:
    """Snapshot elements below the root, without the extras the Medplum redistribution adds
    (Meta.author, Meta.project, ...): official R4 elements always state isSummary."""
    for element in sd["snapshot"]["element"]:
        if "." in element["path"] and "isSummary" in element:
            yield element


def required_binding(element: Json) -> str | None:
    binding = element.get("binding")
    if not binding or binding.get("strength") != "required" or "valueSet" not in binding:
        return None
    return str(binding["valueSet"]).split("|", 1)[0]


def reference_targets(type_entry: Json, resource_types: set[str]) -> list[str]:
    """Allowed target types of a Reference; empty means any resource type."""
    targets = []
    for profile in type_entry.get("targetProfile", []):
        name = profile.removeprefix(SD_PREFIX)
        if name == "Resource" or name not in resource_types:
            return []  # any resource (or a profile we cannot map: do not guess)
        targets.append(name)
    return sorted(set(targets))


def element_records(element: Json, resource_types: set[str]) -> Iterator[tuple[str, Json]]:
    """(JSON name, record) pairs for one ElementDefinition; several for a choice element."""
    name = element["path"].rsplit(".", 1)[1]
    base: Json = {}
    if element["max"] != "1":
        base["array"] = True
    if element.get("isSummary"):
        base["summary"] = True
    if element.get("min", 0) >= 1:
        base["min"] = 1
    if binding := required_binding(element):
        base["binding"] = binding
    if "contentReference" in element:
        yield name, {"type": element["contentReference"].split("#", 1)[1], **base}
        return
    types = element.get("type", [])
    choice = name.endswith("[x]")
    for entry in types:
        code = type_code(entry)
        record = dict(base)
        record["type"] = element["path"] if code in BACKBONE_CODES else code
        if code == "Reference" and (targets := reference_targets(entry, resource_types)):
            record["targets"] = targets
        if choice:
            stem = name[:-3]
            record["choice"] = stem
            yield stem + code[0].upper() + code[1:], record
        else:
            yield name, record


def element_tables(sds: dict[str, Json], resource_types: set[str]) -> dict[str, dict[str, Json]]:
    """Tables for every resource type and every complex type / backbone reachable from them."""
    tables: dict[str, dict[str, Json]] = {}
    for sd in sds.values():
        if sd["kind"] == "primitive-type":
            continue
        if sd["kind"] == "resource" and sd["id"] not in resource_types:
            continue  # abstract Resource / DomainResource: inherited into each snapshot
        tables.setdefault(sd["id"], {})
        for element in official_elements(sd):
            parent = element["path"].rsplit(".", 1)[0]
            table = tables.setdefault(parent, {})
            for json_name, record in element_records(element, resource_types):
                table[json_name] = record
    return reachable(tables, resource_types)


def reachable(tables: dict[str, dict[str, Json]], roots: Iterable[str]) -> dict[str, Json]:
    """Drop tables no resource can reach (e.g. the abstract Element's own children)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in tables:
            continue
        seen.add(name)
        todo.extend(record["type"] for record in tables[name].values())
    # Element itself holds the id/extension of primitive values (`_status`).
    seen.add("Element")
    return {name: tables[name] for name in sorted(seen) if name in tables}


def resource_type_names(sds: dict[str, Json]) -> set[str]:
    return {
        name
        for name, sd in sds.items()
        if sd["kind"] == "resource" and not sd.get("abstract") and sd["type"] == name
    }


# ---------------------------------------------------------------------------------------------
# Value set expansion


class Terminology:
    """CodeSystems and ValueSets by url, with the expansion rules we can apply faithfully."""

    def __init__(self, resources: Iterable[Json]) -> None:
        self.code_systems: dict[str, Json] = {}
        self.value_sets: dict[str, Json] = {}
        for resource in resources:
            if resource.get("resourceType") == "CodeSystem":
                self.code_systems[resource["url"]] = resource
            elif resource.get("resourceType") == "ValueSet":
                self.value_sets[resource["url"]] = resource
        self._hierarchy: dict[str, dict[str, set[str]]] = {}

    def expand(self, url: str, stack: tuple[str, ...] = ()) -> set[tuple[str, str]]:
        if url in stack:
            raise NotExpandable(f"value set {url} includes itself")
        value_set = self.value_sets.get(url)
        if value_set is None:
            raise NotExpandable(f"value set {url} is not in the definitions")
        compose = value_set.get("compose")
        if not compose:
            raise NotExpandable(f"value set {url} has no compose")
        codes: set[tuple[str, str]] = set()
        for include in compose.get("include", []):
            codes |= self._include(include, (*stack, url))
        for exclude in compose.get("exclude", []):
            codes -= self._include(exclude, (*stack, url))
        return codes

    def _include(self, include: Json, stack: tuple[str, ...]) -> set[tuple[str, str]]:
        parts: list[set[tuple[str, str]]] = []
        if system := include.get("system"):
            parts.append(self._system_part(system, include))
        parts.extend(self.expand(vs.split("|", 1)[0], stack) for vs in include.get("valueSet", []))
        if not parts:
            raise NotExpandable("include without system or value set")
        result = parts[0]
        for part in parts[1:]:
            result = result & part
        return result

    def _system_part(self, system: str, include: Json) -> set[tuple[str, str]]:
        if "concept" in include:
            # An explicit list needs no code system (e.g. UCUM units of time).
            return {(system, c["code"]) for c in include["concept"]}
        children = self._children(system)
        if not include.get("filter"):
            return {(system, code) for code in children}
        selected: set[str] | None = None
        for flt in include["filter"]:
            codes = self._filter(system, children, flt)
            selected = codes if selected is None else selected & codes
        return {(system, code) for code in selected or set()}

    def _filter(self, system: str, children: dict[str, set[str]], flt: Json) -> set[str]:
        if flt.get("property") != "concept" or flt.get("op") not in ("is-a", "descendent-of"):
            raise NotExpandable(f"filter {flt.get('property')} {flt.get('op')} on {system}")
        root = flt["value"]
        if root not in children:
            raise NotExpandable(f"filter root {root} is not a code of {system}")
        found = descendants(children, root)
        if flt["op"] == "is-a":
            found.add(root)
        return found

    def _children(self, system: str) -> dict[str, set[str]]:
        """Every code of a complete code system, mapped to its direct children."""
        if system in self._hierarchy:
            return self._hierarchy[system]
        cs = self.code_systems.get(system)
        if cs is None:
            raise NotExpandable(f"code system {system} is not in the definitions")
        if cs.get("content") != "complete":
            raise NotExpandable(f"code system {system} content is {cs.get('content')}")
        children: dict[str, set[str]] = {}
        collect_concepts(cs.get("concept", []), None, children)
        self._hierarchy[system] = children
        return children


def collect_concepts(concepts: list[Json], parent: str | None, out: dict[str, set[str]]) -> None:
    """Hierarchy from nested concepts and from parent/child/subsumedBy properties."""
    for concept in concepts:
        code = concept["code"]
        out.setdefault(code, set())
        if parent is not None:
            out[parent].add(code)
        for prop in concept.get("property", []):
            value = prop.get("valueCode")
            if value is None:
                continue
            if prop["code"] in ("parent", "subsumedBy"):
                out.setdefault(value, set()).add(code)
            elif prop["code"] == "child":
                out[code].add(value)
        collect_concepts(concept.get("concept", []), code, out)


def descendants(children: dict[str, set[str]], root: str) -> set[str]:
    found: set[str] = set()
    todo = list(children.get(root, ()))
    while todo:
        code = todo.pop()
        if code not in found:
            found.add(code)
            todo.extend(children.get(code, ()))
    return found


def value_set_table(terminology: Terminology, urls: Iterable[str]) -> dict[str, Json]:
    table: dict[str, Json] = {}
    for url in sorted(set(urls)):
        try:
            pairs = terminology.expand(url)
        except NotExpandable as exc:
            table[url] = {"codes": None, "reason": str(exc)}
            continue
        by_system: dict[str, list[str]] = {}
        for system, code in sorted(pairs):
            by_system.setdefault(system, []).append(code)
        table[url] = {"codes": by_system}
    return table


def bound_value_sets(tables: dict[str, dict[str, Json]]) -> set[str]:
    return {
        rec["binding"] for table in tables.values() for rec in table.values() if "binding" in rec
    }


def main() -> None:
    sds = structure_definitions()
    resource_types = resource_type_names(sds)
    missing = set(SUPPORTED_TYPES) - resource_types
    if missing:
        raise SystemExit(f"served types missing from the definitions: {sorted(missing)}")
    tables = element_tables(sds, resource_types)
    terminology = Terminology(
        [*bundle_resources("valuesets.json"), *bundle_resources("v3-codesystems.json")]
    )
    write_json(
        "elements.json",
        {"fhirVersion": "4.0.1", "resourceTypes": sorted(resource_types), "types": tables},
    )
    write_json("valuesets.json", value_set_table(terminology, bound_value_sets(tables)))


if __name__ == "__main__":
    main()
