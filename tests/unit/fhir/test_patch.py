"""JSON Patch (RFC 6902) and FHIRPath Patch (FHIR R4) applied by zorgleefplan.fhir.patch."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from zorgleefplan.errors import InvalidRequest, ZlpError
from zorgleefplan.fhir.patch import apply_fhirpath_patch, apply_json_patch

Json = dict[str, Any]


@pytest.fixture
def care_plan() -> Json:
    return {
        "resourceType": "CarePlan",
        "id": "cp1",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2024-01-01"},
        "identifier": [
            {"system": "urn:a", "value": "1"},
            {"system": "urn:b", "value": "2"},
            {"system": "urn:c", "value": "3"},
        ],
        "activity": [
            {
                "detail": {
                    "status": "scheduled",
                    "scheduledString": "every morning",
                    "description": "wash",
                }
            },
            {"detail": {"status": "not-started", "description": "shop"}},
        ],
        "contained": [{"resourceType": "Goal", "id": "g1", "description": {"text": "walk"}}],
    }


@pytest.fixture
def patient() -> Json:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "active": True,
        "name": [
            {
                "family": "Jansen",
                "given": ["Anna", "Maria"],
                "_given": [None, {"extension": [{"url": "urn:x", "valueString": "roepnaam"}]}],
            }
        ],
    }


def assert_unprocessable(error: pytest.ExceptionInfo[ZlpError], expression: str) -> None:
    assert type(error.value) is ZlpError
    assert error.value.status_hint == 422
    assert error.value.issue_code == "processing"
    assert error.value.expression == [expression]


def assert_invalid(error: pytest.ExceptionInfo[InvalidRequest]) -> None:
    assert isinstance(error.value, InvalidRequest)
    assert error.value.status_hint == 400
    assert error.value.diagnostics


# --- JSON Patch ------------------------------------------------------------------------------


class TestJsonPatchOperations:
    def test_add_member(self, care_plan: Json) -> None:
        patched = apply_json_patch(care_plan, [{"op": "add", "path": "/title", "value": "Thuis"}])
        assert patched["title"] == "Thuis"

    def test_add_into_array_at_index_and_end(self, care_plan: Json) -> None:
        patched = apply_json_patch(
            care_plan,
            [
                {"op": "add", "path": "/identifier/0", "value": {"value": "first"}},
                {"op": "add", "path": "/identifier/-", "value": {"value": "last"}},
            ],
        )
        values = [identifier["value"] for identifier in patched["identifier"]]
        assert values == ["first", "1", "2", "3", "last"]

    def test_remove(self, care_plan: Json) -> None:
        patched = apply_json_patch(care_plan, [{"op": "remove", "path": "/identifier/1"}])
        assert [i["value"] for i in patched["identifier"]] == ["1", "3"]

    def test_replace(self, care_plan: Json) -> None:
        patched = apply_json_patch(
            care_plan, [{"op": "replace", "path": "/status", "value": "completed"}]
        )
        assert patched["status"] == "completed"

    def test_move(self, care_plan: Json) -> None:
        patched = apply_json_patch(
            care_plan, [{"op": "move", "from": "/period/start", "path": "/period/end"}]
        )
        assert patched["period"] == {"end": "2024-01-01"}

    def test_copy(self, care_plan: Json) -> None:
        patched = apply_json_patch(
            care_plan, [{"op": "copy", "from": "/identifier/0", "path": "/identifier/-"}]
        )
        assert patched["identifier"][-1] == {"system": "urn:a", "value": "1"}
        assert patched["identifier"][-1] is not patched["identifier"][0]

    def test_passing_test_lets_the_patch_continue(self, care_plan: Json) -> None:
        patched = apply_json_patch(
            care_plan,
            [
                {"op": "test", "path": "/status", "value": "active"},
                {"op": "replace", "path": "/status", "value": "on-hold"},
            ],
        )
        assert patched["status"] == "on-hold"

    def test_failing_test_is_unprocessable(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_json_patch(
                care_plan,
                [
                    {"op": "replace", "path": "/intent", "value": "order"},
                    {"op": "test", "path": "/status", "value": "draft"},
                ],
            )
        assert_unprocessable(error, "/status")
        assert "operation 1" in error.value.diagnostics

    def test_test_compares_json_types_strictly(self, patient: Json) -> None:
        # Python says True == 1; JSON Patch must not.
        with pytest.raises(ZlpError) as error:
            apply_json_patch(patient, [{"op": "test", "path": "/active", "value": 1}])
        assert_unprocessable(error, "/active")

    def test_empty_document_returns_an_equal_copy(self, care_plan: Json) -> None:
        patched = apply_json_patch(care_plan, [])
        assert patched == care_plan
        assert patched is not care_plan

    def test_inputs_are_not_mutated_or_aliased(self, care_plan: Json) -> None:
        original = copy.deepcopy(care_plan)
        document = [
            {"op": "add", "path": "/note", "value": [{"text": "a"}]},
            {"op": "replace", "path": "/note/0/text", "value": "b"},
            {"op": "remove", "path": "/identifier/0"},
        ]
        document_before = copy.deepcopy(document)
        patched = apply_json_patch(care_plan, document)
        assert care_plan == original
        assert document == document_before
        assert patched["note"] == [{"text": "b"}]


class TestJsonPatchUnapplicable:
    @pytest.mark.parametrize(
        ("operation", "expression"),
        [
            ({"op": "remove", "path": "/title"}, "/title"),
            ({"op": "replace", "path": "/identifier/7", "value": {}}, "/identifier/7"),
            ({"op": "add", "path": "/identifier/9", "value": {}}, "/identifier/9"),
            ({"op": "add", "path": "/category/0/text", "value": "x"}, "/category/0/text"),
            ({"op": "add", "path": "/status/x", "value": "x"}, "/status/x"),
            ({"op": "add", "path": "/identifier/01", "value": {}}, "/identifier/01"),
            ({"op": "move", "from": "/nope", "path": "/title"}, "/title"),
            ({"op": "copy", "from": "/nope", "path": "/title"}, "/title"),
            ({"op": "move", "from": "/period", "path": "/period/x"}, "/period/x"),
            ({"op": "remove", "path": ""}, ""),
        ],
    )
    def test_missing_or_impossible_target(
        self, care_plan: Json, operation: Json, expression: str
    ) -> None:
        with pytest.raises(ZlpError) as error:
            apply_json_patch(care_plan, [operation])
        assert_unprocessable(error, expression)

    def test_diagnostics_do_not_echo_the_resource(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_json_patch(care_plan, [{"op": "add", "path": "/missing/x", "value": 1}])
        assert "Patient/p1" not in error.value.diagnostics
        assert "missing" in error.value.diagnostics

    @pytest.mark.parametrize(
        ("operation", "expression"),
        [
            ({"op": "replace", "path": "/id", "value": "other"}, "/id"),
            ({"op": "remove", "path": "/id"}, "/id"),
            ({"op": "replace", "path": "/resourceType", "value": "Goal"}, "/resourceType"),
            ({"op": "replace", "path": "", "value": {"resourceType": "Goal"}}, "/resourceType"),
            ({"op": "replace", "path": "", "value": 5}, "/resourceType"),
        ],
    )
    def test_identity_may_not_change(
        self, care_plan: Json, operation: Json, expression: str
    ) -> None:
        with pytest.raises(ZlpError) as error:
            apply_json_patch(care_plan, [operation])
        assert_unprocessable(error, expression)

    def test_identity_restored_within_the_patch_is_accepted(self, care_plan: Json) -> None:
        patched = apply_json_patch(
            care_plan,
            [
                {"op": "remove", "path": "/id"},
                {"op": "add", "path": "/id", "value": "cp1"},
            ],
        )
        assert patched["id"] == "cp1"


class TestJsonPatchMalformed:
    @pytest.mark.parametrize("document", [{"op": "add"}, "[]", None, 5])
    def test_document_must_be_a_list(self, care_plan: Json, document: object) -> None:
        with pytest.raises(InvalidRequest) as error:
            apply_json_patch(care_plan, document)
        assert_invalid(error)

    @pytest.mark.parametrize(
        ("operation", "expression"),
        [
            ("add", "/0"),
            ({"path": "/status", "value": "x"}, "/0/op"),
            ({"op": "append", "path": "/status", "value": "x"}, "/0/op"),
            ({"op": 1, "path": "/status", "value": "x"}, "/0/op"),
            ({"op": "replace", "value": "x"}, "/0/path"),
            ({"op": "replace", "path": 3, "value": "x"}, "/0/path"),
            ({"op": "replace", "path": "status", "value": "x"}, "/0/path"),
            ({"op": "replace", "path": "/a~2b", "value": "x"}, "/0/path"),
            ({"op": "add", "path": "/title"}, "/0/value"),
            ({"op": "replace", "path": "/status"}, "/0/value"),
            ({"op": "test", "path": "/status"}, "/0/value"),
            ({"op": "move", "path": "/title"}, "/0/from"),
            ({"op": "copy", "from": "period", "path": "/x"}, "/0/from"),
        ],
    )
    def test_bad_operation(self, care_plan: Json, operation: object, expression: str) -> None:
        with pytest.raises(InvalidRequest) as error:
            apply_json_patch(care_plan, [operation])
        assert_invalid(error)
        assert error.value.expression == [expression]

    def test_whole_document_is_checked_before_anything_applies(self, care_plan: Json) -> None:
        # The first operation would fail with 422; the malformed second one wins with 400.
        with pytest.raises(InvalidRequest):
            apply_json_patch(
                care_plan,
                [{"op": "remove", "path": "/nope"}, {"op": "bogus", "path": "/x"}],
            )

    def test_null_value_is_present(self, care_plan: Json) -> None:
        # "value": null is a value; the caller's validation decides whether it fits.
        patched = apply_json_patch(care_plan, [{"op": "add", "path": "/title", "value": None}])
        assert patched["title"] is None


# --- FHIRPath Patch helpers ------------------------------------------------------------------


def operation(kind: str, path: str, **parts: Any) -> Json:
    """One 'operation' parameter; keyword parts are given as their part JSON (without name)."""
    entry = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    entry.extend({"name": name, **part} for name, part in parts.items())
    return {"name": "operation", "part": entry}


def patch(*operations: Json) -> Json:
    return {"resourceType": "Parameters", "parameter": list(operations)}


def name_(text: str) -> Json:
    return {"valueString": text}


def integer(number: int) -> Json:
    return {"valueInteger": number}


def system_values(resource: Json) -> list[str]:
    return [identifier["system"] for identifier in resource["identifier"]]


# --- FHIRPath Patch: the operation types ----------------------------------------------------


class TestAdd:
    def test_spec_example_adds_a_primitive(self, patient: Json) -> None:
        patched = apply_fhirpath_patch(
            patient,
            patch(
                operation(
                    "add", "Patient", name=name_("birthDate"), value={"valueDate": "1930-01-01"}
                )
            ),
        )
        assert patched["birthDate"] == "1930-01-01"

    def test_spec_example_adds_a_complex_value_given_as_parts(self, patient: Json) -> None:
        value = {
            "part": [
                {"name": "name", "valueHumanName": {"text": "a name"}},
                {"name": "telecom", "valueContactPoint": {"system": "phone", "value": "06"}},
            ]
        }
        patched = apply_fhirpath_patch(
            patient, patch(operation("add", "Patient", name=name_("contact"), value=value))
        )
        # contact and telecom repeat (lists); contact.name does not.
        assert patched["contact"] == [
            {"name": {"text": "a name"}, "telecom": [{"system": "phone", "value": "06"}]}
        ]

    def test_adds_a_codeable_concept_given_as_parts(self, care_plan: Json) -> None:
        value = {
            "part": [
                {"name": "coding", "valueCoding": {"system": "urn:s", "code": "a"}},
                {"name": "coding", "valueCoding": {"system": "urn:s", "code": "b"}},
                {"name": "text", "valueString": "Wonen"},
            ]
        }
        patched = apply_fhirpath_patch(
            care_plan, patch(operation("add", "CarePlan", name=name_("category"), value=value))
        )
        assert patched["category"] == [
            {
                "coding": [{"system": "urn:s", "code": "a"}, {"system": "urn:s", "code": "b"}],
                "text": "Wonen",
            }
        ]

    def test_nested_parts_build_backbone_elements(self, care_plan: Json) -> None:
        value = {
            "part": [
                {
                    "name": "detail",
                    "part": [
                        {"name": "status", "valueCode": "not-started"},
                        {"name": "scheduled", "valuePeriod": {"start": "2024-02-01"}},
                    ],
                }
            ]
        }
        patched = apply_fhirpath_patch(
            care_plan, patch(operation("add", "CarePlan", name=name_("activity"), value=value))
        )
        assert patched["activity"][-1] == {
            "detail": {"status": "not-started", "scheduledPeriod": {"start": "2024-02-01"}}
        }

    def test_appends_to_an_existing_list(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(
                operation(
                    "add",
                    "CarePlan",
                    name=name_("identifier"),
                    value={"valueIdentifier": {"system": "urn:d", "value": "4"}},
                )
            ),
        )
        assert system_values(patched) == ["urn:a", "urn:b", "urn:c", "urn:d"]

    def test_creates_a_list_for_a_repeating_element(self, patient: Json) -> None:
        patched = apply_fhirpath_patch(
            patient,
            patch(
                operation(
                    "add",
                    "Patient",
                    name=name_("identifier"),
                    value={"valueIdentifier": {"value": "123"}},
                )
            ),
        )
        assert patched["identifier"] == [{"value": "123"}]

    def test_adds_into_a_selected_list_item(self, patient: Json) -> None:
        patched = apply_fhirpath_patch(
            patient,
            patch(operation("add", "Patient.name[0]", name=name_("given"), value=name_("Els"))),
        )
        assert patched["name"][0]["given"] == ["Anna", "Maria", "Els"]

    def test_choice_element_by_base_name_takes_the_value_type(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(
                operation(
                    "add",
                    "CarePlan.activity[1].detail",
                    name=name_("scheduled"),
                    value={"valueString": "weekly"},
                )
            ),
        )
        assert patched["activity"][1]["detail"]["scheduledString"] == "weekly"
        assert "scheduled" not in patched["activity"][1]["detail"]

    def test_choice_element_rejects_a_type_it_cannot_hold(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(
                    operation(
                        "add",
                        "CarePlan.activity[1].detail",
                        name=name_("scheduled"),
                        value={"valueBoolean": True},
                    )
                ),
            )
        assert_unprocessable(error, "CarePlan.activity[1].detail")
        assert "scheduledTiming" in error.value.diagnostics

    def test_existing_single_element_is_not_overwritten(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(
                    operation("add", "CarePlan", name=name_("status"), value={"valueCode": "draft"})
                ),
            )
        assert_unprocessable(error, "CarePlan")

    def test_other_type_of_a_present_choice_counts_as_existing(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(
                    operation(
                        "add",
                        "CarePlan.activity[0].detail",
                        name=name_("scheduled"),
                        value={"valuePeriod": {"start": "2024-01-01"}},
                    )
                ),
            )
        assert_unprocessable(error, "CarePlan.activity[0].detail")
        assert "scheduledString" in error.value.diagnostics

    def test_unknown_element_name(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(operation("add", "CarePlan", name=name_("colour"), value=name_("x"))),
            )
        assert_unprocessable(error, "CarePlan")
        assert "colour" in error.value.diagnostics

    @pytest.mark.parametrize(
        ("path", "found"),
        [("CarePlan.activity.detail", "2 elements"), ("CarePlan.note", "no element")],
    )
    def test_target_must_be_exactly_one_element(
        self, care_plan: Json, path: str, found: str
    ) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(operation("add", path, name=name_("description"), value=name_("x"))),
            )
        assert_unprocessable(error, path)
        assert found in error.value.diagnostics

    def test_cannot_add_to_a_primitive(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(operation("add", "CarePlan.status", name=name_("id"), value=name_("x"))),
            )
        assert_unprocessable(error, "CarePlan.status")


class TestInsert:
    @pytest.mark.parametrize(
        ("index", "expected"),
        [
            (0, ["urn:new", "urn:a", "urn:b", "urn:c"]),
            (1, ["urn:a", "urn:new", "urn:b", "urn:c"]),
            (3, ["urn:a", "urn:b", "urn:c", "urn:new"]),
        ],
    )
    def test_inserts_at_index(self, care_plan: Json, index: int, expected: list[str]) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(
                operation(
                    "insert",
                    "CarePlan.identifier",
                    index=integer(index),
                    value={"valueIdentifier": {"system": "urn:new"}},
                )
            ),
        )
        assert system_values(patched) == expected

    @pytest.mark.parametrize("index", [4, -1])
    def test_index_out_of_range(self, care_plan: Json, index: int) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(
                    operation(
                        "insert",
                        "CarePlan.identifier",
                        index=integer(index),
                        value={"valueIdentifier": {"system": "urn:new"}},
                    )
                ),
            )
        assert_unprocessable(error, "CarePlan.identifier")
        assert "out of range" in error.value.diagnostics

    def test_insert_into_an_absent_list_creates_it(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(
                operation(
                    "insert",
                    "CarePlan.note",
                    index=integer(0),
                    value={"valueAnnotation": {"text": "n"}},
                )
            ),
        )
        assert patched["note"] == [{"text": "n"}]

    def test_insert_keeps_primitive_extensions_aligned(self, patient: Json) -> None:
        patched = apply_fhirpath_patch(
            patient,
            patch(operation("insert", "Patient.name.given", index=integer(0), value=name_("Els"))),
        )
        name = patched["name"][0]
        assert name["given"] == ["Els", "Anna", "Maria"]
        assert name["_given"][2] == {"extension": [{"url": "urn:x", "valueString": "roepnaam"}]}
        assert name["_given"][:2] == [None, None]

    def test_insert_into_a_single_element_is_refused(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(
                    operation(
                        "insert", "CarePlan.subject", index=integer(0), value={"valueReference": {}}
                    )
                ),
            )
        assert_unprocessable(error, "CarePlan.subject")
        assert "not a list" in error.value.diagnostics

    def test_holder_of_the_list_must_be_one_element(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(
                    operation(
                        "insert",
                        "CarePlan.activity.progress",
                        index=integer(0),
                        value={"valueAnnotation": {"text": "n"}},
                    )
                ),
            )
        assert_unprocessable(error, "CarePlan.activity.progress")
        assert "2 elements" in error.value.diagnostics


class TestDelete:
    def test_deletes_the_list_item_selected_by_where(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan, patch(operation("delete", "CarePlan.identifier.where(system = 'urn:b')"))
        )
        assert system_values(patched) == ["urn:a", "urn:c"]

    def test_deletes_a_primitive(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(care_plan, patch(operation("delete", "CarePlan.intent")))
        assert "intent" not in patched

    def test_path_matching_nothing_is_a_no_op(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan, patch(operation("delete", "CarePlan.identifier.where(system = 'urn:z')"))
        )
        assert patched == care_plan

    def test_path_matching_several_is_an_error(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(care_plan, patch(operation("delete", "CarePlan.identifier")))
        assert_unprocessable(error, "CarePlan.identifier")
        assert "3 elements" in error.value.diagnostics

    def test_deleting_the_last_item_removes_the_list(self, patient: Json) -> None:
        patched = apply_fhirpath_patch(patient, patch(operation("delete", "Patient.name")))
        assert "name" not in patched

    def test_object_left_empty_is_removed(self, care_plan: Json) -> None:
        # "period": {} is not valid FHIR JSON.
        patched = apply_fhirpath_patch(
            care_plan, patch(operation("delete", "CarePlan.period.start"))
        )
        assert "period" not in patched

    def test_deleting_a_primitive_list_item_drops_its_extensions(self, patient: Json) -> None:
        patched = apply_fhirpath_patch(
            patient, patch(operation("delete", "Patient.name.given.where($this = 'Maria')"))
        )
        assert patched["name"][0]["given"] == ["Anna"]
        assert "_given" not in patched["name"][0]

    def test_deleting_a_primitive_list_item_keeps_other_extensions(self, patient: Json) -> None:
        patched = apply_fhirpath_patch(patient, patch(operation("delete", "Patient.name.given[0]")))
        assert patched["name"][0]["given"] == ["Maria"]
        assert patched["name"][0]["_given"] == [
            {"extension": [{"url": "urn:x", "valueString": "roepnaam"}]}
        ]

    def test_cannot_delete_the_resource(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(care_plan, patch(operation("delete", "CarePlan")))
        assert_unprocessable(error, "CarePlan")


class TestReplace:
    def test_replaces_a_primitive(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(operation("replace", "CarePlan.status", value={"valueCode": "completed"})),
        )
        assert patched["status"] == "completed"

    def test_replaces_a_list_item_in_place(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(
                operation(
                    "replace",
                    "CarePlan.identifier.where(system = 'urn:b')",
                    value={"valueIdentifier": {"system": "urn:x", "value": "9"}},
                )
            ),
        )
        assert system_values(patched) == ["urn:a", "urn:x", "urn:c"]

    def test_replaces_with_a_value_given_as_parts(self, care_plan: Json) -> None:
        value = {"part": [{"name": "start", "valueDateTime": "2025-01-01"}]}
        patched = apply_fhirpath_patch(
            care_plan, patch(operation("replace", "CarePlan.period", value=value))
        )
        assert patched["period"] == {"start": "2025-01-01"}

    def test_replacing_a_choice_element_with_another_type_renames_it(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(
                operation(
                    "replace",
                    "CarePlan.activity[0].detail.scheduled",
                    value={"valuePeriod": {"start": "2024-03-01"}},
                )
            ),
        )
        detail = patched["activity"][0]["detail"]
        assert detail["scheduledPeriod"] == {"start": "2024-03-01"}
        assert "scheduledString" not in detail

    @pytest.mark.parametrize(
        ("path", "found"),
        [
            ("CarePlan.identifier.value", "3 elements"),
            ("CarePlan.title", "no element"),
            ("CarePlan.identifier.where(system = 'urn:z')", "no element"),
        ],
    )
    def test_path_must_select_exactly_one(self, care_plan: Json, path: str, found: str) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(care_plan, patch(operation("replace", path, value=name_("x"))))
        assert_unprocessable(error, path)
        assert found in error.value.diagnostics

    def test_cannot_replace_the_resource(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan, patch(operation("replace", "CarePlan", value={"valueString": "x"}))
            )
        assert_unprocessable(error, "CarePlan")

    def test_id_may_not_change(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan, patch(operation("replace", "CarePlan.id", value={"valueId": "x"}))
            )
        assert_unprocessable(error, "CarePlan.id")

    def test_id_may_not_be_deleted(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(care_plan, patch(operation("delete", "CarePlan.id")))
        assert_unprocessable(error, "CarePlan.id")


class TestMove:
    @pytest.mark.parametrize(
        ("source", "destination", "expected"),
        [
            (2, 0, ["urn:c", "urn:a", "urn:b"]),
            (0, 2, ["urn:b", "urn:c", "urn:a"]),
            (0, 1, ["urn:b", "urn:a", "urn:c"]),
            (1, 1, ["urn:a", "urn:b", "urn:c"]),
        ],
    )
    def test_moves_within_the_list(
        self, care_plan: Json, source: int, destination: int, expected: list[str]
    ) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(
                operation(
                    "move",
                    "CarePlan.identifier",
                    source=integer(source),
                    destination=integer(destination),
                )
            ),
        )
        assert system_values(patched) == expected

    @pytest.mark.parametrize(("source", "destination"), [(3, 0), (0, 3), (-1, 0)])
    def test_out_of_range(self, care_plan: Json, source: int, destination: int) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(
                    operation(
                        "move",
                        "CarePlan.identifier",
                        source=integer(source),
                        destination=integer(destination),
                    )
                ),
            )
        assert_unprocessable(error, "CarePlan.identifier")
        assert "out of range" in error.value.diagnostics

    def test_move_carries_primitive_extensions(self, patient: Json) -> None:
        patched = apply_fhirpath_patch(
            patient,
            patch(
                operation("move", "Patient.name.given", source=integer(1), destination=integer(0))
            ),
        )
        assert patched["name"][0]["given"] == ["Maria", "Anna"]
        assert patched["name"][0]["_given"][0] == {
            "extension": [{"url": "urn:x", "valueString": "roepnaam"}]
        }


# --- FHIRPath Patch: path evaluation --------------------------------------------------------


class TestPaths:
    def replace_description(self, care_plan: Json, path: str) -> Json:
        return apply_fhirpath_patch(
            care_plan, patch(operation("replace", path, value=name_("new")))
        )

    def test_first_and_last(self, care_plan: Json) -> None:
        first = self.replace_description(care_plan, "CarePlan.activity.first().detail.description")
        last = self.replace_description(care_plan, "CarePlan.activity.last().detail.description")
        assert [a["detail"]["description"] for a in first["activity"]] == ["new", "shop"]
        assert [a["detail"]["description"] for a in last["activity"]] == ["wash", "new"]

    def test_indexer_counts_across_the_whole_collection(self, care_plan: Json) -> None:
        patched = self.replace_description(care_plan, "CarePlan.activity.detail.description[1]")
        assert [a["detail"]["description"] for a in patched["activity"]] == ["wash", "new"]

    def test_path_without_the_type_name(self, care_plan: Json) -> None:
        patched = self.replace_description(care_plan, "activity[0].detail.description")
        assert patched["activity"][0]["detail"]["description"] == "new"

    def test_other_type_name_selects_nothing(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            self.replace_description(care_plan, "Patient.name")
        assert "no element" in error.value.diagnostics

    def test_where_with_full_fhirpath_criteria(self, care_plan: Json) -> None:
        patched = self.replace_description(
            care_plan,
            "CarePlan.activity.where(detail.status = 'not-started' and "
            "detail.description.startsWith('sh')).detail.description",
        )
        assert [a["detail"]["description"] for a in patched["activity"]] == ["wash", "new"]

    def test_where_can_use_the_resource(self, care_plan: Json) -> None:
        patched = self.replace_description(
            care_plan,
            "CarePlan.activity.where(%resource.status = 'active').first().detail.description",
        )
        assert patched["activity"][0]["detail"]["description"] == "new"

    def test_where_criteria_with_parentheses_inside_strings(self, care_plan: Json) -> None:
        care_plan["activity"][1]["detail"]["description"] = "shop (weekly)"
        patched = self.replace_description(
            care_plan, "CarePlan.activity.detail.description.where($this = 'shop (weekly)')"
        )
        assert patched["activity"][1]["detail"]["description"] == "new"

    def test_where_syntax_error_is_invalid_even_without_candidates(self, care_plan: Json) -> None:
        # CarePlan has no note, so the delete would be a no-op; the path is still malformed.
        with pytest.raises(InvalidRequest) as error:
            apply_fhirpath_patch(
                care_plan, patch(operation("delete", "CarePlan.note.where(text = )"))
            )
        assert_invalid(error)

    def test_choice_element_by_base_name_and_of_type(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(
                operation(
                    "replace",
                    "CarePlan.activity.detail.scheduled.ofType(string)",
                    value=name_("every evening"),
                )
            ),
        )
        assert patched["activity"][0]["detail"]["scheduledString"] == "every evening"

    def test_of_type_filters_out_other_types(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(
                    operation(
                        "replace",
                        "CarePlan.activity.detail.scheduled.ofType(Period)",
                        value={"valuePeriod": {}},
                    )
                ),
            )
        assert "no element" in error.value.diagnostics

    def test_contained_resources_by_of_type(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(
                operation(
                    "replace",
                    "CarePlan.contained.ofType(Goal).description.text",
                    value=name_("walk daily"),
                )
            ),
        )
        assert patched["contained"][0]["description"]["text"] == "walk daily"

    def test_unknown_element_in_path_is_unprocessable(self, care_plan: Json) -> None:
        with pytest.raises(ZlpError) as error:
            apply_fhirpath_patch(care_plan, patch(operation("delete", "CarePlan.colour")))
        assert_unprocessable(error, "CarePlan.colour")

    @pytest.mark.parametrize(
        "path",
        [
            "CarePlan.identifier.exists()",
            "CarePlan.subject.resolve().name",
            "CarePlan.identifier | CarePlan.note",
            "CarePlan.identifier.where(system = 'a'",
            "CarePlan.identifier.",
            "CarePlan..identifier",
            "CarePlan.identifier[-1]",
            "CarePlan.identifier.first(1)",
            "CarePlan.identifier.where()",
            "CarePlan.identifier.ofType('Identifier')",
            "$this.identifier",
            "CarePlan.identifier.where(system = )",
            "CarePlan.identifier.where(nosuchfunction())",
            " ",
        ],
    )
    def test_unsupported_or_malformed_path_is_invalid(self, care_plan: Json, path: str) -> None:
        with pytest.raises(InvalidRequest) as error:
            apply_fhirpath_patch(care_plan, patch(operation("delete", path)))
        assert_invalid(error)


# --- FHIRPath Patch: the Parameters document ------------------------------------------------


class TestParametersDocument:
    def test_operations_apply_in_order(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(
            care_plan,
            patch(
                operation("delete", "CarePlan.identifier.where(system = 'urn:a')"),
                operation("move", "CarePlan.identifier", source=integer(1), destination=integer(0)),
                operation("replace", "CarePlan.identifier[0].value", value=name_("first")),
            ),
        )
        assert patched["identifier"] == [
            {"system": "urn:c", "value": "first"},
            {"system": "urn:b", "value": "2"},
        ]

    def test_inputs_are_not_mutated_or_aliased(self, care_plan: Json) -> None:
        original = copy.deepcopy(care_plan)
        parameters = patch(
            operation(
                "add", "CarePlan", name=name_("note"), value={"valueAnnotation": {"text": "a"}}
            ),
            operation("delete", "CarePlan.identifier[0]"),
        )
        parameters_before = copy.deepcopy(parameters)
        patched = apply_fhirpath_patch(care_plan, parameters)
        patched["note"][0]["text"] = "changed"
        assert care_plan == original
        assert parameters == parameters_before

    def test_empty_parameters_returns_an_equal_copy(self, care_plan: Json) -> None:
        patched = apply_fhirpath_patch(care_plan, {"resourceType": "Parameters"})
        assert patched == care_plan
        assert patched is not care_plan

    def test_value_given_as_a_resource(self, care_plan: Json) -> None:
        goal = {"resourceType": "Goal", "id": "g2", "description": {"text": "cook"}}
        patched = apply_fhirpath_patch(
            care_plan,
            patch(operation("add", "CarePlan", name=name_("contained"), value={"resource": goal})),
        )
        assert patched["contained"][-1] == goal

    @pytest.mark.parametrize(
        "parameters",
        [
            None,
            [],
            {"resourceType": "Bundle", "parameter": []},
            {"parameter": []},
            {"resourceType": "Parameters", "parameter": {"name": "operation"}},
        ],
    )
    def test_must_be_a_parameters_resource(self, care_plan: Json, parameters: object) -> None:
        with pytest.raises(InvalidRequest) as error:
            apply_fhirpath_patch(care_plan, parameters)
        assert_invalid(error)

    @pytest.mark.parametrize(
        "entry",
        [
            pytest.param({"name": "op", "part": []}, id="wrong-parameter-name"),
            pytest.param({"name": "operation"}, id="no-parts"),
            pytest.param(operation("upsert", "CarePlan.status"), id="unknown-type"),
            pytest.param(
                {"name": "operation", "part": [{"name": "path", "valueString": "CarePlan.x"}]},
                id="missing-type",
            ),
            pytest.param(
                {"name": "operation", "part": [{"name": "type", "valueCode": "delete"}]},
                id="missing-path",
            ),
            pytest.param(operation("replace", "CarePlan.status"), id="replace-without-value"),
            pytest.param(operation("add", "CarePlan", value=name_("x")), id="add-without-name"),
            pytest.param(
                operation("insert", "CarePlan.identifier", value=name_("x")), id="insert-no-index"
            ),
            pytest.param(
                operation("move", "CarePlan.identifier", source=integer(0)), id="move-no-dest"
            ),
            pytest.param(
                operation("add", "CarePlan", name=name_("x"), value=name_("x"), index=integer(0)),
                id="part-not-used-by-type",
            ),
            pytest.param(
                operation("delete", "CarePlan.status", bogus=name_("x")), id="unknown-part"
            ),
            pytest.param(
                {
                    "name": "operation",
                    "part": [
                        {"name": "type", "valueCode": "delete"},
                        {"name": "path", "valueString": "CarePlan.status"},
                        {"name": "path", "valueString": "CarePlan.intent"},
                    ],
                },
                id="repeated-part",
            ),
            pytest.param(
                operation(
                    "insert",
                    "CarePlan.identifier",
                    index={"valueString": "0"},
                    value={"valueIdentifier": {}},
                ),
                id="index-not-integer",
            ),
            pytest.param(
                operation(
                    "insert",
                    "CarePlan.identifier",
                    index={"valueBoolean": True},
                    value={"valueIdentifier": {}},
                ),
                id="index-boolean",
            ),
            pytest.param(
                operation("replace", "CarePlan.status", value={}), id="value-without-content"
            ),
            pytest.param(
                operation(
                    "replace",
                    "CarePlan.status",
                    value={"valueCode": "draft", "part": [{"name": "x", "valueString": "y"}]},
                ),
                id="value-and-parts",
            ),
            pytest.param(
                operation(
                    "replace", "CarePlan.status", value={"valueCode": "a", "valueString": "b"}
                ),
                id="two-values",
            ),
            pytest.param(
                operation("replace", "CarePlan.period", value={"part": []}), id="empty-parts"
            ),
            pytest.param(
                operation("replace", "CarePlan.period", value={"part": [{"valueString": "x"}]}),
                id="sub-part-without-name",
            ),
            pytest.param(
                operation("delete", "  "),
                id="empty-path",
            ),
            pytest.param(
                operation(
                    "insert",
                    "CarePlan.identifier.where(system = 'urn:a')",
                    index=integer(0),
                    value={"valueIdentifier": {}},
                ),
                id="insert-path-not-a-list-name",
            ),
            pytest.param(
                operation("move", "CarePlan", source=integer(0), destination=integer(1)),
                id="move-path-is-the-resource",
            ),
        ],
    )
    def test_malformed_operation(self, care_plan: Json, entry: Json) -> None:
        with pytest.raises(InvalidRequest) as error:
            apply_fhirpath_patch(care_plan, patch(entry))
        assert_invalid(error)
        assert error.value.expression

    def test_whole_document_is_checked_before_anything_applies(self, care_plan: Json) -> None:
        # The first operation would fail with 422; the malformed second one wins with 400.
        with pytest.raises(InvalidRequest):
            apply_fhirpath_patch(
                care_plan,
                patch(
                    operation("replace", "CarePlan.title", value=name_("x")),
                    operation("frobnicate", "CarePlan.status"),
                ),
            )

    def test_error_expression_names_the_parameter(self, care_plan: Json) -> None:
        with pytest.raises(InvalidRequest) as error:
            apply_fhirpath_patch(
                care_plan,
                patch(
                    operation("delete", "CarePlan.intent"), operation("replace", "CarePlan.status")
                ),
            )
        assert error.value.expression == ["Parameters.parameter[1].part"]
