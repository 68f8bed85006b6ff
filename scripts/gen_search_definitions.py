"""Generate the search parameter and Patient compartment subset the service loads at start-up.

Reads the official R4 ``search-parameters.json`` and ``compartmentdefinition-patient.json`` and
writes ``definitions/search_parameters.json`` and ``definitions/compartment.json`` in the format
``SearchParameterRegistry.from_definitions`` reads. Run from the repository root:

    python scripts/gen_search_definitions.py

Choices made here (the service relies on them):
- Only parameter types we index: token, string, reference, date, uri, quantity, number.
  Composite and special parameters are left out, and so are phonetic ones (``xpathUsage``
  "phonetic"): we have no phonetic matching and would silently answer them as plain prefix
  searches.
- Official expressions are unions over many resource types; each is narrowed to the branches
  rooted at the type it is listed under. A parameter whose narrowed expression is empty is left out.
- Of the Resource-level parameters only ``_tag``, ``_profile``, ``_security`` and ``_source`` are
  indexed (rewritten to ``<Type>.meta...``); ``_id`` and ``_lastUpdated`` live on the resource
  row, the others are handled elsewhere or not supported.
- Compartment: the parameters of the official Patient CompartmentDefinition, for every served type
  (``[]`` for types that are never in a Patient compartment). Patient itself gets ``[]`` instead of
  the official ``link``: a Patient is in its own compartment by id, and a linked Patient is another
  client whose records must not join this one's compartment (and its consent).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fhir_source import PROFILES, SUPPORTED_TYPES, bundle_resources, write_json

from zorgleefplan.fhir.search.fhirpath import split_union

INDEXED_TYPES = frozenset({"token", "string", "reference", "date", "uri", "quantity", "number"})
RESOURCE_LEVEL = frozenset({"_tag", "_profile", "_security", "_source"})
EXCLUDED_USAGE = frozenset({"phonetic"})

_DESCRIPTION_LINE = re.compile(r"^\* \[(\w+)\]\([^)]*\): (.*)$")


def narrow_expression(expression: str, resource_type: str) -> str:
    """Keep the union branches that start at ``resource_type`` (possibly after '(')."""
    root = re.compile(r"^\(*\s*" + re.escape(resource_type) + r"\.")
    return " | ".join(b for b in split_union(expression) if b and root.match(b))


def narrow_description(description: str, resource_type: str) -> str:
    """Pick this type's line out of a 'Multiple Resources:' description."""
    if not description.startswith("Multiple Resources:"):
        return description.strip()
    for line in description.splitlines():
        m = _DESCRIPTION_LINE.match(line.strip())
        if m and m.group(1) == resource_type:
            return m.group(2).strip()
    return ""


def _entry(sp: dict[str, Any], resource_type: str, expression: str) -> dict[str, Any]:
    return {
        "code": sp["code"],
        "type": sp["type"],
        "expression": expression,
        "url": sp["url"],
        "description": narrow_description(sp.get("description", ""), resource_type),
        "targets": list(sp.get("target", [])) if sp["type"] == "reference" else [],
    }


def build_search_parameters(
    parameters: list[dict[str, Any]], types: tuple[str, ...]
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in types}
    for sp in parameters:
        if sp.get("type") not in INDEXED_TYPES or sp.get("xpathUsage") in EXCLUDED_USAGE:
            continue
        expression = sp.get("expression") or ""
        bases = sp.get("base", [])
        if "Resource" in bases:
            if sp["code"] not in RESOURCE_LEVEL:
                continue
            for t in types:
                out[t].append(_entry(sp, t, re.sub(r"^Resource\.", f"{t}.", expression)))
            continue
        for t in types:
            if t not in bases:
                continue
            narrowed = narrow_expression(expression, t)
            if narrowed:
                out[t].append(_entry(sp, t, narrowed))
    for t, entries in out.items():
        codes = [e["code"] for e in entries]
        duplicates = {c for c in codes if codes.count(c) > 1}
        if duplicates:
            raise SystemExit(f"{t}: duplicate search parameter codes {sorted(duplicates)}")
        entries.sort(key=lambda e: e["code"])
    return out


def build_compartment(
    definition: dict[str, Any], types: tuple[str, ...], search: dict[str, list[dict[str, Any]]]
) -> dict[str, list[str]]:
    params = {r["code"]: list(r.get("param", [])) for r in definition.get("resource", [])}
    out = {t: ([] if t == "Patient" else params.get(t, [])) for t in types}
    for t, codes in out.items():
        known = {e["code"] for e in search[t]}
        missing = [c for c in codes if c not in known]
        if missing:
            raise SystemExit(f"{t}: compartment parameters {missing} are not indexed")
    return out


def project_search_parameters() -> list[dict[str, Any]]:
    """The project's own SearchParameters (profiles/SearchParameter-*.json)."""
    return [json.loads(p.read_text()) for p in sorted(PROFILES.glob("SearchParameter-*.json"))]


def main() -> None:
    official = bundle_resources("search-parameters.json")
    search = build_search_parameters(official + project_search_parameters(), SUPPORTED_TYPES)
    (definition,) = bundle_resources("compartmentdefinition-patient.json")
    compartment = build_compartment(definition, SUPPORTED_TYPES, search)
    write_json("search_parameters.json", search)
    write_json("compartment.json", compartment)
    total = sum(len(v) for v in search.values())
    print(f"search_parameters.json: {total} parameters over {len(search)} types")


if __name__ == "__main__":
    main()
