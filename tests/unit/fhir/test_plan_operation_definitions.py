"""The OperationDefinitions of $summary and $checklist: committed as generated, valid, and
listed in the operations table by their canonical URL."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B.operationdefinition import OperationDefinition

from zorgleefplan.fhir import operations

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import gen_operation_definitions as gen  # noqa: E402


def committed(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(
        (ROOT / "profiles" / f"OperationDefinition-CarePlan-{name}.json").read_bytes()
    )
    return data


def test_committed_definitions_are_what_the_generator_writes() -> None:
    assert committed("summary") == gen.summary()
    assert committed("checklist") == gen.checklist()


def test_definitions_are_valid_and_match_the_operations_table() -> None:
    for name in ("summary", "checklist"):
        definition = committed(name)
        OperationDefinition.model_validate(definition)
        op = operations.find("CarePlan", True, name)
        assert op is not None
        assert op.definition == definition["url"]
        assert definition["code"] == name and definition["instance"] is True
        assert definition["resource"] == ["CarePlan"]
