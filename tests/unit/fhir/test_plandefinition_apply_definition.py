"""The OperationDefinition of $apply in profiles/ says what the handler takes and returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class

from zorgleefplan.fhir import operations, plandefinition_apply
from zorgleefplan.plan import placement

PATH = (
    Path(__file__).resolve().parents[3]
    / "profiles"
    / "OperationDefinition-PlanDefinition-apply.json"
)


def definition() -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(PATH.read_bytes())
    return parsed


def test_it_is_valid_and_the_operation_table_points_at_it() -> None:
    get_fhir_model_class("OperationDefinition").model_validate(definition())
    assert definition()["url"] == plandefinition_apply.DEFINITION
    op = operations.find("PlanDefinition", True, "apply")
    assert op is not None and op.definition == definition()["url"]
    assert operations.find("PlanDefinition", False, "apply") is None
    assert definition()["instance"] is True and definition()["type"] is False


def test_its_parameters_are_the_handlers() -> None:
    inputs = {p["name"]: p for p in definition()["parameter"] if p["use"] == "in"}
    assert list(inputs) == [
        plandefinition_apply.SUBJECT,
        *placement.PARTY_ROLES,
        *placement.FLAGS,
    ]
    required = {name for name, p in inputs.items() if p["min"] == 1}
    assert required == {plandefinition_apply.SUBJECT, *placement.REQUIRED_PARTIES}
    assert all(p["max"] == "1" for p in inputs.values())
    assert all(inputs[role]["type"] == "Reference" for role in placement.PARTY_ROLES)
    (out,) = [p for p in definition()["parameter"] if p["use"] == "out"]
    assert (out["name"], out["type"]) == ("return", "CarePlan")
