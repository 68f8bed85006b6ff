"""The workflow Tasks' status tables and fixed fields (pure), checked against the state
machines their modules document."""

from __future__ import annotations

import pytest

from zorgleefplan.errors import Forbidden, InvalidResource
from zorgleefplan.plan import complaint, handover
from zorgleefplan.plan.workflow import OPEN, keep, move

STATUSES = (
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
)


def test_a_status_change_follows_the_table_and_its_parties() -> None:
    table = {("requested", "accepted"): frozenset({"receiver"})}
    names = {"receiver": "de ontvanger"}
    move(table, "requested", "requested", frozenset(), names, "x")  # no change: always
    move(table, "requested", "accepted", frozenset({"receiver", "client"}), names, "x")
    with pytest.raises(Forbidden) as denied:
        move(table, "requested", "accepted", frozenset({"client"}), names, "de taak")
    assert "alleen de ontvanger zet de taak op 'accepted'" in denied.value.diagnostics
    with pytest.raises(InvalidResource) as invalid:
        move(table, "accepted", "requested", frozenset({"receiver"}), names, "de taak")
    assert invalid.value.expression == ["Task.status"]


def test_fixed_fields_name_the_first_one_changed() -> None:
    old = {"owner": {"reference": "PractitionerRole/b"}, "note": []}
    keep(old, {**old, "note": [{"text": "x"}]}, ("owner",), "de taak")
    with pytest.raises(InvalidResource) as caught:
        keep(old, {**old, "owner": None}, ("code", "owner"), "de taak")
    assert caught.value.expression == ["Task.owner"]


@pytest.mark.parametrize(
    "table",
    [handover.TRANSITIONS, complaint.COMPLAINT_TRANSITIONS, complaint.PART_TRANSITIONS],
)
def test_final_states_are_final_and_every_state_is_a_fhir_status(table: dict) -> None:
    for before, after in table:
        assert before in STATUSES and after in STATUSES
        assert before in OPEN, f"{before} -> {after} leaves a final state"


def test_only_the_receiver_accepts_or_rejects_a_handover() -> None:
    deciding = {k: v for k, v in handover.TRANSITIONS.items() if k[1] in ("accepted", "rejected")}
    assert deciding and all(v == {handover.RECEIVING} for v in deciding.values())
    assert {k[0] for k in deciding} == {"requested", "received"}


def test_the_client_withdraws_a_complaint_and_the_regiebehandelaar_closes_it() -> None:
    table = complaint.COMPLAINT_TRANSITIONS
    assert {v for (_, to), v in table.items() if to == "cancelled"} == {
        frozenset({complaint.CLIENT})
    }
    assert {v for (_, to), v in table.items() if to != "cancelled"} == {
        frozenset({complaint.REGIE})
    }
    parts = complaint.PART_TRANSITIONS
    assert {v for (_, to), v in parts.items() if to != "cancelled"} == {
        frozenset({complaint.PROVIDER})
    }
