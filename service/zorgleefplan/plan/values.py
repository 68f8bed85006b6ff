"""Reading elements of FHIR JSON without trusting its shape: the plan's view of a resource.

Resources reach the plan layer validated, but old versions, other profiles and hand-made data
exist; every reader here returns "nothing" for a part it cannot read instead of raising, so a
malformed element never breaks a summary or a checklist (it only counts as absent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from zorgleefplan.access.facts import Unreadable, normalize_reference, parse_instant_range

Json = Mapping[str, Any]

# A path step is an element name, or "extension:<url>" for the extensions with that url.
_EXTENSION = "extension:"


def walk(obj: object, path: Sequence[str]) -> list[Any]:
    """The values at ``path`` below ``obj``, lists flattened at every step."""
    current: list[Any] = [obj]
    for step in path:
        found: list[Any] = []
        for node in current:
            if not isinstance(node, Mapping):
                continue
            if step.startswith(_EXTENSION):
                found.extend(extensions(node, step[len(_EXTENSION) :]))
                continue
            value = node.get(step)
            if isinstance(value, list):
                found.extend(value)
            elif value is not None:
                found.append(value)
        current = found
    return current


def extensions(obj: object, url: str) -> list[Json]:
    """The extensions of ``obj`` with this url."""
    if not isinstance(obj, Mapping):
        return []
    listed = obj.get("extension")
    if not isinstance(listed, list):
        return []
    return [e for e in listed if isinstance(e, Mapping) and e.get("url") == url]


def reference(obj: object) -> str | None:
    """``Type/id`` of a Reference object with a literal reference; None otherwise."""
    if not isinstance(obj, Mapping):
        return None
    return normalize_reference(obj.get("reference"))


def references(obj: object, path: Sequence[str]) -> list[str]:
    """The literal references (``Type/id``) of the Reference objects at ``path``."""
    return [r for r in map(reference, walk(obj, path)) if r is not None]


def codings(concept: object) -> list[Json]:
    """The codings of a CodeableConcept (or a bare Coding), those with a code only."""
    if not isinstance(concept, Mapping):
        return []
    if "coding" not in concept:
        return [concept] if isinstance(concept.get("code"), str) else []
    listed = concept.get("coding")
    if not isinstance(listed, list):
        return []
    return [c for c in listed if isinstance(c, Mapping) and isinstance(c.get("code"), str)]


def has_code(concept: object, system: str, code: str | None = None) -> bool:
    """Whether the concept carries ``system|code`` (any code of ``system`` when None)."""
    return any(
        c.get("system") == system and (code is None or c.get("code") == code)
        for c in codings(concept)
    )


def codes_in(concept: object, system: str) -> list[str]:
    return [str(c["code"]) for c in codings(concept) if c.get("system") == system]


def text(concept: object) -> str | None:
    """What a CodeableConcept says to a person: its text, else the first display."""
    if isinstance(concept, str):
        return concept or None
    if not isinstance(concept, Mapping):
        return None
    if isinstance(concept.get("text"), str) and concept["text"]:
        return str(concept["text"])
    for coding in codings(concept):
        if isinstance(coding.get("display"), str) and coding["display"]:
            return str(coding["display"])
    return None


def string(obj: object, key: str) -> str | None:
    if not isinstance(obj, Mapping):
        return None
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def moment(value: object) -> datetime | None:
    """The start of a FHIR date/dateTime/instant (UTC), or None when it is not one."""
    try:
        return parse_instant_range(value)[0]
    except Unreadable:
        return None


def period_covers(period: object, now: datetime) -> bool:
    """Whether a Period (absent: always) covers ``now``; an unreadable one covers nothing."""
    if period is None:
        return True
    if not isinstance(period, Mapping):
        return False
    try:
        start = period.get("start")
        end = period.get("end")
        if start is not None and parse_instant_range(start)[0] > now:
            return False
        return end is None or now < parse_instant_range(end)[1]
    except Unreadable:
        return False
