"""The subscriber's registration, checked before every notification against the registry: the
app registered and active, a backend still acting for its organisation, a person's account
active and still acting as the fhirUser it had; the development principal only when allowed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from joserfc.jwk import ECKey

from zorgleefplan.access.subscriber import Subscriber
from zorgleefplan.auth.registry import new_account, new_app, utc_now
from zorgleefplan.auth.sqlite_registry import SqliteAuthRegistry
from zorgleefplan.fhir.subscription.subscriber_gate import registry_gate


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[SqliteAuthRegistry]:
    opened = await SqliteAuthRegistry.open(tmp_path / "zorgleefplan.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_persons_subscription(registry: SqliteAuthRegistry) -> None:
    app = new_app(
        name="PGO", kind="public", redirect_uris=["https://pgo.example.org/cb"], created=utc_now()
    )
    await registry.add_app(app)
    account = new_account(
        username="anna",
        fhir_users=["Patient/p1", "RelatedPerson/r1"],
        external=("https://idp.example.org", "anna-1"),
        created=utc_now(),
    )
    await registry.add_account(account)
    gate = registry_gate(registry, allow_development=False)
    anna = Subscriber(
        "patient", "anna", client_id=app.client_id, fhir_user="Patient/p1", patient="p1"
    )
    assert await gate(anna) is None
    assert "no longer acts as Patient/p9" in (
        await gate(Subscriber("patient", "anna", client_id=app.client_id, fhir_user="Patient/p9"))
        or ""
    )
    assert "account" in (await gate(Subscriber("patient", "bob", client_id=app.client_id)) or "")
    assert "no app" in (await gate(Subscriber("patient", "anna")) or "")
    await registry.set_account_active("anna", False)
    assert "no longer active" in (await gate(anna) or "")
    await registry.set_account_active("anna", True)
    await registry.set_app_active(app.client_id, False)
    assert "no longer registered or active" in (await gate(anna) or "")


async def test_a_backends_subscription(registry: SqliteAuthRegistry) -> None:
    jwks = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    ehr = new_app(
        name="EHR", kind="backend", jwks=jwks, organization="Organization/o1", created=utc_now()
    )
    await registry.add_app(ehr)
    gate = registry_gate(registry, allow_development=False)
    assert (
        await gate(
            Subscriber(
                "system", ehr.client_id, client_id=ehr.client_id, organization="Organization/o1"
            )
        )
        is None
    )
    moved = Subscriber(
        "system", ehr.client_id, client_id=ehr.client_id, organization="Organization/o2"
    )
    assert "organisation" in (await gate(moved) or "")
    assert "no longer registered" in (
        await gate(Subscriber("system", "x", client_id="unknown")) or ""
    )


async def test_the_development_principal_only_where_the_app_was_built_with_it(
    registry: SqliteAuthRegistry,
) -> None:
    development = Subscriber("development", "development")
    assert await registry_gate(registry, allow_development=True)(development) is None
    assert await registry_gate(registry, allow_development=False)(development) is not None
