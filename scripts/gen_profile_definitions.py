"""Generate ``definitions/profiles.json``: the project's profiles as the validator loads them.

Reads the StructureDefinitions, ValueSets and CodeSystems in profiles/ (nothing outside the
repository) and writes, in the format ``fhir/profiles.py`` loads:

``profiles``
    Per StructureDefinition: url, name, title, the type it constrains, ``kind`` (``resource`` or
    ``extension``), an extension's ``context`` and its differential elements, each cut down to
    what is validated: ``min``, ``max`` (absent when unbounded), ``fixed`` / ``pattern`` (the
    value of ``fixed[x]`` / ``pattern[x]``), ``binding`` (a required binding's value set),
    ``types`` (the allowed types of a choice element), ``targets`` (the resource types a
    Reference may point at, from ``targetProfile``), ``profile`` (the extension an extension
    slice is typed with), ``slicing`` and ``constraints`` (key, severity, human, expression).
``valueSets``
    The expansion of every value set in profiles/, per system.

Choices made here (the validator relies on them): only required bindings are kept (weaker
ones are never enforced); a binding to an official value set must be one that
``definitions/valuesets.json`` can check; slicing discriminators are ``value`` or ``pattern``;
a targetProfile is one of ours or an official resource type. Anything else stops the script.
The result is loaded once here, so a profile the validator cannot use fails at generation.

Run from the repository root: ``python scripts/gen_profile_definitions.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fhir_source import PROFILES, write_json

from zorgleefplan.fhir.profiles import DEFINITIONS, ProfileSet
from zorgleefplan.fhir.structure import is_resource_type, value_set
from zorgleefplan.plan.codes import CANONICAL_BASE

Json = dict[str, Any]

HL7_PROFILE = "http://hl7.org/fhir/StructureDefinition/"
DISCRIMINATORS = frozenset({"value", "pattern"})


def read(kind: str) -> list[Json]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(PROFILES.glob(f"{kind}-*.json"))]


def check_identity(resource: Json) -> None:
    """Files are named Type-id.json and urls are [canonical base]/Type/id."""
    kind, id_ = resource["resourceType"], resource["id"]
    if not (PROFILES / f"{kind}-{id_}.json").is_file():
        raise SystemExit(f"{kind}/{id_}: the file should be named {kind}-{id_}.json")
    if resource["url"] != f"{CANONICAL_BASE}/{kind}/{id_}":
        raise SystemExit(
            f"{kind}/{id_}: url {resource['url']} should be {CANONICAL_BASE}/{kind}/{id_}"
        )


# ---------------------------------------------------------------------------------------------
# Value sets


def concepts(items: Iterable[Json]) -> Iterable[str]:
    for item in items:
        yield item["code"]
        yield from concepts(item.get("concept", ()))


def expand(
    url: str,
    value_sets: dict[str, Json],
    code_systems: dict[str, Json],
    stack: tuple[str, ...] = (),
) -> set[tuple[str, str]]:
    if url in stack:
        raise SystemExit(f"value set {url} includes itself")
    compose = value_sets[url]["compose"]
    found: set[tuple[str, str]] = set()
    for part, sign in ((compose.get("include", []), 1), (compose.get("exclude", []), -1)):
        for include in part:
            codes = include_codes(include, url, value_sets, code_systems, (*stack, url))
            found = found | codes if sign > 0 else found - codes
    return found


def include_codes(
    include: Json,
    url: str,
    value_sets: dict[str, Json],
    code_systems: dict[str, Json],
    stack: tuple[str, ...],
) -> set[tuple[str, str]]:
    if "filter" in include:
        raise SystemExit(f"{url}: filters are not supported")
    codes: set[tuple[str, str]] = set()
    system = include.get("system")
    if system is not None and "concept" in include:
        codes |= {(system, c["code"]) for c in include["concept"]}
    elif system is not None:
        cs = code_systems.get(system)
        if cs is None or cs.get("content") != "complete":
            raise SystemExit(f"{url}: include all of {system}, which is not in profiles/")
        codes |= {(system, code) for code in concepts(cs.get("concept", ()))}
    for nested in include.get("valueSet", []):
        codes |= expand(nested, value_sets, code_systems, stack)
    return codes


def value_set_table(value_sets: dict[str, Json], code_systems: dict[str, Json]) -> Json:
    table: Json = {}
    for url in sorted(value_sets):
        by_system: dict[str, list[str]] = {}
        for system, code in sorted(expand(url, value_sets, code_systems)):
            by_system.setdefault(system, []).append(code)
        table[url] = by_system
    return table


# ---------------------------------------------------------------------------------------------
# StructureDefinitions


def compact_element(element: Json, types_by_url: dict[str, str], own_value_sets: set[str]) -> Json:
    where = element["id"]
    out: Json = {"id": where}
    if "min" in element:
        out["min"] = element["min"]
    if element.get("max", "*") != "*":
        out["max"] = int(element["max"])
    for key, value in element.items():
        if key.startswith("fixed"):
            out["fixed"] = value
        elif key.startswith("pattern"):
            out["pattern"] = value
    binding = element.get("binding")
    if binding is not None and binding["strength"] == "required":
        url = binding["valueSet"].split("|", 1)[0]
        official = value_set(url)
        if url not in own_value_sets and (official is None or not official.checkable):
            raise SystemExit(f"{where}: required value set {url} cannot be checked")
        out["binding"] = url
    types = element.get("type", [])
    if where.endswith("[x]") and types:
        out["types"] = [t["code"] for t in types]
    targets = [
        target_type(p, types_by_url, where) for t in types for p in t.get("targetProfile", [])
    ]
    if targets:
        out["targets"] = sorted(set(targets))
    for t in types:
        for profile in t.get("profile", []):
            if t["code"] != "Extension" or types_by_url.get(profile) != "Extension":
                raise SystemExit(f"{where}: type profile {profile} is not our extension")
            out["profile"] = profile
    if "slicing" in element:
        slicing = element["slicing"]
        for d in slicing["discriminator"]:
            if d["type"] not in DISCRIMINATORS:
                raise SystemExit(f"{where}: discriminator type {d['type']} unsupported")
        out["slicing"] = {"discriminator": slicing["discriminator"], "rules": slicing["rules"]}
    if "constraint" in element:
        out["constraints"] = [
            {k: c[k] for k in ("key", "severity", "human", "expression")}
            for c in element["constraint"]
        ]
    return out


def target_type(profile: str, types_by_url: dict[str, str], where: str) -> str:
    if profile in types_by_url:
        return types_by_url[profile]
    name = profile.removeprefix(HL7_PROFILE)
    if profile.startswith(HL7_PROFILE) and is_resource_type(name):
        return name
    raise SystemExit(f"{where}: target profile {profile} is unknown")


def compact_profile(sd: Json, types_by_url: dict[str, str], own_value_sets: set[str]) -> Json:
    is_extension = sd["type"] == "Extension"
    if sd.get("derivation") != "constraint" or "differential" not in sd:
        raise SystemExit(f"{sd['url']}: a constraint with a differential is expected")
    out: Json = {
        "url": sd["url"],
        "name": sd["name"],
        "title": sd["title"],
        "type": sd["type"],
        "kind": "extension" if is_extension else "resource",
        "elements": [
            compact_element(e, types_by_url, own_value_sets) for e in sd["differential"]["element"]
        ],
    }
    if is_extension:
        out["context"] = [c["expression"] for c in sd.get("context", [])]
    return out


def build() -> Json:
    code_systems, value_sets, structures = (
        read("CodeSystem"),
        read("ValueSet"),
        read("StructureDefinition"),
    )
    for resource in (*code_systems, *value_sets, *structures):
        check_identity(resource)
    vs_by_url = {vs["url"]: vs for vs in value_sets}
    types_by_url = {sd["url"]: sd["type"] for sd in structures}
    data = {
        "profiles": [compact_profile(sd, types_by_url, set(vs_by_url)) for sd in structures],
        "valueSets": value_set_table(vs_by_url, {cs["url"]: cs for cs in code_systems}),
    }
    ProfileSet.from_definitions(data)  # fails here on anything the validator cannot use
    return data


def main() -> None:
    data = build()
    write_json(DEFINITIONS, data)
    print(f"{DEFINITIONS}: {len(data['profiles'])} profiles, {len(data['valueSets'])} value sets")


if __name__ == "__main__":
    main()
