"""The server's Provenance is a valid R4 Provenance for every kind of principal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.provenance import Provenance

from zorgleefplan.access.principal import Principal
from zorgleefplan.fhir.provenance import provenance_for
from zorgleefplan.store.model import StoredVersion

CHANGED = StoredVersion("Goal", "g1", 3, datetime(2026, 1, 1, tzinfo=UTC), False, b"{}", 0, "PUT")
PRINCIPALS = [
    Principal("patient", "Patient/p1", fhir_user="Patient/p1", patient="p1", client_id="pgo"),
    Principal("related-person", "RelatedPerson/v", fhir_user="RelatedPerson/v", patient="p1"),
    Principal(
        "practitioner",
        "PractitionerRole/r",
        fhir_user="PractitionerRole/r",
        organization="Organization/o",
        client_id="epd",
    ),
    Principal("system", "epd", organization="Organization/o", client_id="epd"),
]


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.kind)
def test_provenance_validates_and_names_the_versioned_target(principal: Principal) -> None:
    made = provenance_for(
        principal, CHANGED, "2026-01-01T00:00:00.000000Z", on_behalf_of="Patient/p1"
    )
    Provenance.model_validate({**made, "id": "x"})
    assert made["target"] == [{"reference": "Goal/g1/_history/3"}]
    assert made["activity"]["coding"][0]["code"] == "UPDATE"
    assert made["agent"][0]["onBehalfOf"] == {"reference": "Patient/p1"}
    expected_who = principal.fhir_user or principal.organization
    assert made["agent"][0]["who"] == {"reference": expected_who}
