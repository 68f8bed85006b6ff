"""Operation input and output as FHIR Parameters (R4 operations.html#request).

Inputs come as query parameters (GET, or beside a POST body) or as a Parameters resource in the
POST body; an unknown name, a value of the wrong kind or a body that is not Parameters is a 400
naming the element. Outputs are Parameters with parts; a narrative travels as a Composition
(Parameters and Bundle carry no ``text``: only a DomainResource has a narrative).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zorgleefplan.errors import InvalidRequest
from zorgleefplan.fhir.request import FhirRequest

Part = dict[str, Any]
_RESULT_PARAMS = frozenset({"_format", "_pretty"})
# The value[x] types an input of kind "string" accepts (ids, codes and tokens are strings).
_STRING_VALUES = ("valueString", "valueCode", "valueId", "valueUri", "valueCanonical")


def operation_inputs(
    req: FhirRequest, operation: str, allowed: frozenset[str]
) -> list[tuple[str, str]]:
    """(name, value) of every input, in order; all of kind string."""
    found: list[tuple[str, str]] = []
    for key, value in req.params:
        if key in _RESULT_PARAMS:
            continue
        if key not in allowed:
            if req.lenient:
                continue
            raise InvalidRequest(
                f"${operation} does not take the parameter {key!r}"
                + (f"; it takes {', '.join(sorted(allowed))}" if allowed else ""),
                expression=[key],
            )
        found.append((key, value))
    if req.method == "POST" and req.body is not None:
        found.extend(_body_inputs(req.body, operation, allowed))
    return found


def _body_inputs(body: object, operation: str, allowed: frozenset[str]) -> list[tuple[str, str]]:
    if not isinstance(body, Mapping) or body.get("resourceType") != "Parameters":
        raise InvalidRequest(
            f"the body of ${operation} must be a Parameters resource", expression=["resourceType"]
        )
    listed = body.get("parameter", [])
    if not isinstance(listed, list):
        raise InvalidRequest(
            "Parameters.parameter must be a list", expression=["Parameters.parameter"]
        )
    found = []
    for i, entry in enumerate(listed):
        path = f"Parameters.parameter[{i}]"
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or name not in allowed:
            raise InvalidRequest(
                f"${operation} does not take the parameter {name!r}"
                + (f"; it takes {', '.join(sorted(allowed))}" if allowed else ""),
                expression=[f"{path}.name"],
            )
        values = [entry[k] for k in _STRING_VALUES if isinstance(entry.get(k), str)]
        if len(values) != 1 or not values[0]:
            raise InvalidRequest(
                f"{name} needs one text value (valueString or valueCode)",
                expression=[f"{path}.value[x]"],
            )
        found.append((name, values[0]))
    return found


def part(name: str, value_type: str, value: Any) -> Part:
    """A parameter or part with a value (``value_type`` like ``valueString``)."""
    return {"name": name, value_type: value}


def group(name: str, parts: Iterable[Part | None]) -> Part:
    """A parameter or part made of parts (``None`` entries are left out)."""
    return {"name": name, "part": [p for p in parts if p is not None]}


def text(name: str, value: str | None) -> Part | None:
    return part(name, "valueString", value) if value else None


def reference(name: str, target: str | None, display: str | None = None) -> Part | None:
    if target is None:
        return None
    value: dict[str, str] = {"reference": target}
    if display:
        value["display"] = display
    return part(name, "valueReference", value)


def parameters(parts: Iterable[Part | None]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [p for p in parts if p is not None]}


def narrative(title: str, div: str, subject: str | None, date: str) -> Part:
    """The ``narrative`` output: a Composition whose ``text.div`` is the readable version."""
    composition: dict[str, Any] = {
        "resourceType": "Composition",
        "text": {"status": "generated", "div": div},
        "status": "final",
        "type": {"text": title},
        "date": date,
        "author": [{"display": "Zorgleefplan"}],
        "title": title,
    }
    if subject:
        composition["subject"] = {"reference": subject}
    return part("narrative", "resource", composition)


def collection(name: str, base: str, resources: Sequence[Mapping[str, Any]]) -> Part:
    """A Bundle of type collection holding ``resources`` as they are stored."""
    return part(
        name,
        "resource",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
                for r in resources
            ],
        },
    )
