"""Reading FHIR JSON the way the plan's rules need it: references, codings, extensions.

Rules run after structural validation, so shapes are mostly right; these accessors still never
raise on an odd shape (they answer "absent"), and the rules decide what absence means.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from zorgleefplan.access.facts import normalize_reference

Resource = dict[str, Any]

# Where each type of the plan names the client it belongs to.
CLIENT_FIELD = {
    "CarePlan": "subject",
    "CareTeam": "subject",
    "Communication": "subject",
    "Consent": "patient",
    "Goal": "subject",
    "Task": "for",
}


def reference(value: object) -> str | None:
    """``Type/id`` of a Reference object with a literal reference, else None."""
    if not isinstance(value, Mapping):
        return None
    return normalize_reference(value.get("reference"))


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


def client_of(resource: Mapping[str, Any] | None) -> str | None:
    """The id of the client (Patient) a plan resource names as its owner, or None."""
    if resource is None:
        return None
    field = CLIENT_FIELD.get(str(resource.get("resourceType")))
    target = reference(resource.get(field)) if field else None
    if target is None or not target.startswith("Patient/"):
        return None
    return target.split("/", 1)[1]


def has_coding(concept: object, system: str, code: str) -> bool:
    """Whether a CodeableConcept (or a list of them) carries ``system#code``."""
    concepts = concept if isinstance(concept, list) else [concept]
    for item in concepts:
        if not isinstance(item, Mapping):
            continue
        for coding in item.get("coding") or []:
            if (
                isinstance(coding, Mapping)
                and coding.get("system") == system
                and coding.get("code") == code
            ):
                return True
    return False


def extensions(element: Mapping[str, Any], url: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, extension) of each extension of ``element`` with ``url``."""
    for index, ext in enumerate(element.get("extension") or []):
        if isinstance(ext, dict) and ext.get("url") == url:
            yield index, ext


def items(value: object) -> list[Any]:
    """A repeating element as a list (absent or malformed: empty)."""
    return value if isinstance(value, list) else []
