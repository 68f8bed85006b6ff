"""_summary and _elements: which elements stay, the SUBSETTED tag, and no mutation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from zorgleefplan.errors import InvalidRequest
from zorgleefplan.fhir.elements import (
    SUBSETTED_SYSTEM,
    apply_elements,
    apply_summary,
    unknown_elements,
)
from zorgleefplan.fhir.validation import ResourceValidator

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "examples"
Json = dict[str, Any]


def load(name: str) -> Json:
    data: Json = orjson.loads((EXAMPLES / name).read_bytes())
    return data


def is_subsetted(resource: Json) -> bool:
    return any(
        t.get("system") == SUBSETTED_SYSTEM and t.get("code") == "SUBSETTED"
        for t in resource.get("meta", {}).get("tag", [])
    )


@pytest.fixture
def careplan() -> Json:
    return load("careplan-example.json")


@pytest.fixture
def patient() -> Json:
    return load("patient-example.json")


# -- _summary -----------------------------------------------------------------------------------


def test_summary_true_keeps_summary_and_mandatory_elements(careplan: Json) -> None:
    before = copy.deepcopy(careplan)
    summary = apply_summary(careplan, "true")
    assert careplan == before  # input untouched
    # Not summary in CarePlan: text, contained, careTeam, goal, activity, note.
    for gone in ("text", "contained", "careTeam", "goal", "activity"):
        assert gone in careplan
        assert gone not in summary
    for kept in ("id", "status", "intent", "subject", "period", "identifier", "addresses"):
        assert summary[kept] == careplan[kept]
    assert summary["resourceType"] == "CarePlan"
    assert is_subsetted(summary)
    # The original tags are still there, the SUBSETTED tag is added once.
    assert summary["meta"]["tag"][: len(careplan["meta"]["tag"])] == careplan["meta"]["tag"]
    assert apply_summary(summary, "true")["meta"]["tag"] == summary["meta"]["tag"]


def test_summary_true_recurses_into_datatypes_and_backbones() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p",
        "name": [
            {
                "extension": [{"url": "http://example.org/x", "valueString": "y"}],
                "family": "Jansen",
            }
        ],
        "link": [
            {
                "id": "l1",
                "other": {"reference": "Patient/q"},
                "type": "seealso",
            }
        ],
        "contact": [{"name": {"family": "Smit"}}],
    }
    summary = apply_summary(patient, "true")
    assert summary["name"] == [{"family": "Jansen"}]  # HumanName.extension is not summary
    assert summary["link"] == [{"other": {"reference": "Patient/q"}, "type": "seealso"}]
    assert "contact" not in summary  # Patient.contact is not summary
    assert is_subsetted(summary)


def test_summary_keeps_summary_extensions_whole() -> None:
    # BackboneElement.modifierExtension is a summary element; Extension has none of its own.
    extension = {"url": "http://example.org/m", "valueBoolean": True}
    link = {"modifierExtension": [extension], "other": {"reference": "Patient/q"}, "type": "refer"}
    patient = {"resourceType": "Patient", "link": [link]}
    summary = apply_summary(patient, "true")
    assert summary["link"] == [link]  # the extension is not cut down to its url
    assert not is_subsetted(summary)


def test_summary_true_without_anything_to_remove_is_untouched() -> None:
    patient = {"resourceType": "Patient", "id": "p", "active": True}
    assert apply_summary(patient, "true") == patient


def test_summary_result_is_still_valid(careplan: Json) -> None:
    summary = apply_summary(careplan, "true")
    # Drop the now dangling reference to the removed contained condition before validating.
    summary["addresses"] = [{"display": "obesity"}]
    ResourceValidator().validate(summary)


def test_summary_text(careplan: Json) -> None:
    before = copy.deepcopy(careplan)
    text = apply_summary(careplan, "text")
    assert careplan == before
    assert set(text) == {"resourceType", "id", "meta", "text", "status", "intent", "subject"}
    assert text["text"] == careplan["text"]
    assert is_subsetted(text)


def test_summary_data(careplan: Json) -> None:
    before = copy.deepcopy(careplan)
    data = apply_summary(careplan, "data")
    assert careplan == before
    assert "text" not in data
    assert set(data) == set(careplan) - {"text"}
    assert is_subsetted(data)


def test_summary_data_without_text_is_not_tagged() -> None:
    patient = {"resourceType": "Patient", "id": "p"}
    assert apply_summary(patient, "data") == patient


def test_summary_false_is_unchanged(careplan: Json) -> None:
    assert apply_summary(careplan, "false") is careplan


@pytest.mark.parametrize("mode", ["count", "yes", "", "TRUE"])
def test_summary_bad_mode(careplan: Json, mode: str) -> None:
    with pytest.raises(InvalidRequest):
        apply_summary(careplan, mode)


def test_summary_creates_meta_when_missing() -> None:
    patient = {"resourceType": "Patient", "id": "p", "contact": [{"name": {"text": "Smit"}}]}
    summary = apply_summary(patient, "true")
    assert summary == {
        "resourceType": "Patient",
        "id": "p",
        "meta": {
            "tag": [{"system": SUBSETTED_SYSTEM, "code": "SUBSETTED", "display": "subsetted"}]
        },
    }
    assert "meta" not in patient


# -- _elements ----------------------------------------------------------------------------------


def test_elements_keeps_listed_plus_mandatory(careplan: Json) -> None:
    before = copy.deepcopy(careplan)
    result = apply_elements(careplan, ["goal", "note"])  # no note in this example
    assert careplan == before
    assert set(result) == {"resourceType", "id", "meta", "status", "intent", "subject", "goal"}
    assert is_subsetted(result)


def test_elements_accepts_choice_stem_and_type_prefix(patient: Json) -> None:
    for spelling in ("deceased", "deceased[x]", "deceasedBoolean", "Patient.deceased"):
        result = apply_elements(patient, [spelling])
        assert result["deceasedBoolean"] is False
        assert "name" not in result


def test_elements_keeps_primitive_extensions(patient: Json) -> None:
    result = apply_elements(patient, ["birthDate"])
    assert result["birthDate"] == patient["birthDate"]
    assert result["_birthDate"] == patient["_birthDate"]


def test_elements_ignores_unknown_names(careplan: Json) -> None:
    result = apply_elements(careplan, ["colour", "Patient.goal", "activity.detail", "goal"])
    assert set(result) == {"resourceType", "id", "meta", "status", "intent", "subject", "goal"}


def test_elements_with_everything_listed_is_untouched() -> None:
    patient = {"resourceType": "Patient", "id": "p", "active": True}
    assert apply_elements(patient, ["active"]) is patient


def test_unknown_elements() -> None:
    names = ["status", "scheduled", "colour", "Patient.status", "CarePlan.goal", "activity.x", " "]
    assert unknown_elements("CarePlan", names) == [
        "scheduled",  # only on CarePlan.activity.detail
        "colour",
        "Patient.status",
        "activity.x",
    ]
    assert unknown_elements("Patient", ["deceased", "value[x]"]) == ["value[x]"]
