"""Every operation of the project's own (fhir/operations.py) has its OperationDefinition in
profiles/, valid R4, saying the same name, type, level and HTTP use as the table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.operationdefinition import OperationDefinition

from zorgleefplan.fhir.operations import OPERATIONS, Operation
from zorgleefplan.plan.codes import CANONICAL_BASE

PROFILES = Path(__file__).resolve().parents[3] / "profiles"
OWN = [op for op in OPERATIONS if op.definition.startswith(CANONICAL_BASE + "/")]


def _definitions() -> dict[str, dict[str, Any]]:
    found = {}
    for path in PROFILES.glob("OperationDefinition-*.json"):
        resource = json.loads(path.read_text(encoding="utf-8"))
        found[resource["url"]] = resource
    return found


def test_there_are_own_operations_to_check() -> None:
    assert any(op.name == "erase" for op in OWN)


@pytest.mark.parametrize("op", OWN, ids=[op.name for op in OWN])
def test_the_definition_matches_the_table(op: Operation) -> None:
    definition = _definitions().get(op.definition)
    assert definition is not None, f"profiles/ has no OperationDefinition {op.definition}"
    OperationDefinition.model_validate(definition)
    assert definition["code"] == op.name
    assert definition["resource"] == [op.resource_type]
    assert definition["instance"] is op.instance
    assert definition["type"] is not op.instance
    # Only an operation that changes nothing may be called with GET.
    assert definition["affectsState"] is not ("GET" in op.methods)
