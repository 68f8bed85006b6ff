"""The MongoDB registry's documents, as pure functions (no server): every record survives the
trip to its document and back, and the one-document update of a failed login is exact. Its
operations are the registry contract suite's, run on a real MongoDB (ZLP_TEST_MONGODB_URL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import bson
import pytest
from joserfc.jwk import ECKey

from zorgleefplan.auth.mongo_registry import (
    ACCOUNTS,
    INDEXES,
    MongoAuthRegistry,
    account_document,
    account_record,
    app_document,
    app_record,
    code_document,
    code_record,
    decision_document,
    decision_record,
    failure_update,
    family_record,
)
from zorgleefplan.auth.registry import (
    AuthorizationCode,
    ConsentDecision,
    new_account,
    new_app,
    token_digest,
)
from zorgleefplan.config import Settings

NOW = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
HASH = "$argon2id$v=19$m=47104,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"


def round_trip(doc: dict[str, object]) -> dict[str, object]:
    """What MongoDB gives back: the document through BSON."""
    return bson.decode(bson.encode(doc))


def test_apps_round_trip() -> None:
    jwks = {"keys": [{**ECKey.generate_key("P-256").as_dict(private=False), "kid": "k1"}]}
    backend = new_app(
        name="EHR",
        kind="backend",
        created=NOW,
        jwks=jwks,
        organization="Organization/o1",
        organization_name="Zorggroep",
    )
    public = new_app(name="PGO", kind="public", created=NOW, redirect_uris=["https://p/cb"])
    for app in (backend, public):
        doc = round_trip(app_document(app))
        assert doc["_id"] == app.client_id
        assert app_record(doc) == app


def test_accounts_round_trip_keyed_case_insensitively() -> None:
    account = new_account(
        username="Anna", fhir_users=["Patient/a"], created=NOW, password_hash=HASH
    )
    locked = new_account(
        username="Bob", fhir_users=["Patient/b"], created=NOW, external=("https://idp", "sub-1")
    )
    locked = replace(locked, failed_logins=2, locked_until=NOW + timedelta(minutes=15))
    for record in (account, locked):
        doc = round_trip(account_document(record))
        assert doc["_id"] == record.key
        assert account_record(doc) == record


def test_codes_round_trip_under_their_digest_unused() -> None:
    record = AuthorizationCode(
        client_id="app",
        redirect_uri="https://p/cb",
        scope="openid",
        code_challenge="x" * 43,
        code_challenge_method="S256",
        username="anna",
        fhir_user="Patient/a",
        patient="Patient/a",
        nonce=None,
        remember=True,
        family_id="fam",
        expires_at=NOW,
    )
    doc = round_trip(code_document(token_digest("the-code"), record))
    assert doc["_id"] == token_digest("the-code") and doc["used_at"] is None
    assert "the-code" not in str(doc)
    assert code_record(doc) == record


def test_families_and_decisions_round_trip() -> None:
    micros = int(NOW.timestamp() * 1_000_000)
    family = family_record(
        {
            "_id": "fam",
            "client_id": "app",
            "scope": "openid",
            "username": "anna",
            "fhir_user": None,
            "patient": "Patient/a",
            "created": micros,
            "last_used": micros,
        }
    )
    assert (family.family_id, family.created, family.last_used) == ("fam", NOW, NOW)
    decision = ConsentDecision(
        username="anna",
        fhir_user=None,
        patient="Patient/a",
        client_id="app",
        scopes=("openid", "patient/*.rs"),
        approved=False,
        remember=False,
        decided_at=NOW,
    )
    first, second = decision_document(decision), decision_document(decision)
    assert first["_id"] < second["_id"]  # recorded order
    assert decision_record(round_trip(first)) == decision


def test_a_failed_login_is_one_pipeline_update() -> None:
    counted = {"$add": ["$failed_logins", 1]}
    reached = {"$gte": [counted, 5]}
    assert failure_update(5, 99) == [
        {
            "$set": {
                "locked_until": {"$cond": [reached, 99, "$locked_until"]},
                "failed_logins": {"$cond": [reached, 0, counted]},
            }
        }
    ]


def test_external_subjects_are_unique_only_where_there_is_one() -> None:
    [unique] = [m.document for m in INDEXES[ACCOUNTS] if m.document.get("unique")]
    assert list(unique["key"]) == ["external_issuer", "external_subject"]
    assert unique["partialFilterExpression"] == {"external_issuer": {"$type": "string"}}


async def test_from_settings_needs_a_mongodb_store() -> None:
    with pytest.raises(ValueError, match="ZLP_STORE"):
        await MongoAuthRegistry.from_settings(Settings())
