"""The authorization registries' contract: every adapter must pass this suite unchanged.

``ADAPTERS`` maps a name to a factory ``(directory, clock) -> AuthRegistry``; calling it twice
with the same directory must give two independent handles on the same data (two worker
processes), which the race tests use. MongoDB runs when ``ZLP_TEST_MONGODB_URL`` names a real
replica set (a fresh database per test, dropped afterwards), and is skipped otherwise.
Time comes from a fake clock, never from sleeping.
Validation of apps and accounts (above the port) is tested at the end, once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sqlite3
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, OKPKey, RSAKey

from zorgleefplan.auth.registry import (
    CODE_RETENTION,
    DEFAULT_SCOPES,
    AlreadyRegistered,
    App,
    AuthorizationCode,
    AuthRegistry,
    Clock,
    ConsentDecision,
    FamilyRevoked,
    InvalidRegistration,
    NotRegistered,
    new_account,
    new_app,
    new_secret,
    token_digest,
)
from zorgleefplan.auth.sqlite_registry import SqliteAuthRegistry
from zorgleefplan.config import Settings
from zorgleefplan.store.sqlite import SqliteStore

IDLE = timedelta(days=183)
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HASH = "$argon2id$v=19$m=47104,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def _sqlite(directory: Path, clock: Clock) -> AuthRegistry:
    return await SqliteAuthRegistry.open(
        directory / "zorgleefplan.sqlite3", clock=clock, refresh_idle_lifetime=IDLE
    )


MONGODB_URL = os.environ.get("ZLP_TEST_MONGODB_URL")
_mongodb_databases: set[str] = set()  # created by the current test, dropped after it


async def _mongodb(directory: Path, clock: Clock) -> AuthRegistry:
    if MONGODB_URL is None:
        pytest.skip("ZLP_TEST_MONGODB_URL is not set: no MongoDB replica set to run against")
    from zorgleefplan.auth.mongo_registry import MongoAuthRegistry

    # One database per test directory: handles opened on the same directory share the data.
    database = "zlp_auth_" + hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    _mongodb_databases.add(database)
    return await MongoAuthRegistry.open(
        MONGODB_URL, database=database, clock=clock, refresh_idle_lifetime=IDLE
    )


Factory = Callable[[Path, Clock], Awaitable[AuthRegistry]]
ADAPTERS: dict[str, Factory] = {"sqlite": _sqlite, "mongodb": _mongodb}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(ADAPTERS))
async def factory(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    yield ADAPTERS[request.param]
    if MONGODB_URL is not None and _mongodb_databases:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGODB_URL)
        for database in _mongodb_databases:
            await client.drop_database(database)
        _mongodb_databases.clear()
        await client.close()


@pytest.fixture
async def registry(
    factory: Factory, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[AuthRegistry]:
    opened = await factory(tmp_path, clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def twin(factory: Factory, tmp_path: Path, clock: FakeClock) -> AsyncIterator[AuthRegistry]:
    """A second, independent handle on the same data (another worker process)."""
    opened = await factory(tmp_path, clock)
    try:
        yield opened
    finally:
        await opened.close()


def ec_jwks(kid: str = "k1") -> dict[str, Any]:
    return {"keys": [{**ECKey.generate_key("P-256").as_dict(private=False), "kid": kid}]}


def public_app(clock: Clock, **kw: Any) -> App:
    return new_app(
        name=kw.pop("name", "Mijn PGO"),
        kind="public",
        created=clock(),
        redirect_uris=kw.pop("redirect_uris", ["https://pgo.example/cb"]),
        **kw,
    )


def backend_app(clock: Clock, **kw: Any) -> App:
    fields: dict[str, Any] = {
        "name": "EHR",
        "kind": "backend",
        "created": clock(),
        "jwks": ec_jwks(),
        "organization": "Organization/zh-1",
    }
    return new_app(**(fields | kw))


def code_record(clock: Clock, **kw: Any) -> AuthorizationCode:
    fields: dict[str, Any] = {
        "client_id": "app-1",
        "redirect_uri": "https://pgo.example/cb",
        "scope": "openid fhirUser launch/patient patient/CarePlan.rs",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "username": "Anna",
        "fhir_user": "RelatedPerson/vm-1",
        "patient": "Patient/anna",
        "nonce": "n-0S6_WzA2Mj",
        "remember": True,
        "family_id": new_secret(),
        "expires_at": clock() + timedelta(seconds=60),
    }
    fields.update(kw)
    return AuthorizationCode(**fields)


async def start_family(registry: AuthRegistry, token: str, **kw: Any) -> str:
    family_id = kw.pop("family_id", new_secret())
    await registry.start_refresh_family(
        token,
        family_id=family_id,
        client_id=kw.pop("client_id", "app-1"),
        scope=kw.pop("scope", "openid offline_access patient/CarePlan.rs"),
        username=kw.pop("username", "Anna"),
        fhir_user=kw.pop("fhir_user", "Patient/anna"),
        patient=kw.pop("patient", "Patient/anna"),
    )
    return family_id


async def revoked_jtis(registry: AuthRegistry) -> set[str]:
    return {t.jti for t in (await registry.revoked_access_tokens()).tokens}


# --------------------------------------------------------------------------- apps


async def test_app_round_trip(registry: AuthRegistry, clock: FakeClock) -> None:
    app = new_app(
        name="Zorgapp",
        kind="confidential",
        created=clock(),
        redirect_uris=["https://app.example/cb", "http://localhost:8765/cb"],
        jwks=ec_jwks(),
        jwks_uri="https://app.example/jwks.json",
        scopes=["openid", "patient/CarePlan.rs"],
        organization="Organization/vendor",
        organization_name="Zorgapp B.V.",
    )
    await registry.add_app(app)
    assert await registry.get_app(app.client_id) == app
    assert await registry.get_app("no-such-app") is None


async def test_apps_listed_oldest_first(registry: AuthRegistry, clock: FakeClock) -> None:
    first = public_app(clock, name="Eerste")
    clock.advance(seconds=1)
    second = backend_app(clock)
    await registry.add_app(second)
    await registry.add_app(first)
    assert [a.client_id for a in await registry.list_apps()] == [first.client_id, second.client_id]


async def test_duplicate_client_id_refused(registry: AuthRegistry, clock: FakeClock) -> None:
    app = public_app(clock)
    await registry.add_app(app)
    with pytest.raises(AlreadyRegistered):
        await registry.add_app(public_app(clock, client_id=app.client_id))


async def test_disable_and_enable_app(registry: AuthRegistry, clock: FakeClock) -> None:
    app = public_app(clock)
    await registry.add_app(app)
    disabled = await registry.set_app_active(app.client_id, False)
    assert not disabled.active
    assert (await registry.get_app(app.client_id)).active is False  # type: ignore[union-attr]
    assert (await registry.set_app_active(app.client_id, True)).active
    with pytest.raises(NotRegistered):
        await registry.set_app_active("no-such-app", False)


async def test_disabling_an_app_revokes_what_was_issued_to_it(
    registry: AuthRegistry, clock: FakeClock
) -> None:
    app, other = public_app(clock), public_app(clock)
    await registry.add_app(app)
    await registry.add_app(other)
    exp = clock() + timedelta(minutes=15)
    family = await start_family(registry, "rt-app", client_id=app.client_id)
    await registry.record_access_token("at-app", exp, client_id=app.client_id, family_id=family)
    await registry.record_access_token("at-app-2", exp, client_id=app.client_id)
    await registry.record_access_token("at-other", exp, client_id=other.client_id)

    await registry.set_app_active(app.client_id, False)

    assert await revoked_jtis(registry) == {"at-app", "at-app-2"}
    assert await registry.find_refresh_token("rt-app") is None
    assert (await registry.rotate_refresh_token("rt-app", "rt-new")).outcome == "unknown"


# --------------------------------------------------------------------------- accounts


async def test_account_round_trip_case_insensitive(
    registry: AuthRegistry, clock: FakeClock
) -> None:
    account = new_account(
        username="Anna.Berends",
        fhir_users=["RelatedPerson/vm-1", "RelatedPerson/vm-2"],
        created=clock(),
        password_hash=HASH,
        display_name="Anna Berends",
    )
    await registry.add_account(account)
    assert await registry.get_account("anna.berends") == account
    assert await registry.get_account("ANNA.BERENDS") == account
    assert await registry.get_account("anna") is None
    assert (await registry.get_account("anna.berends")).username == "Anna.Berends"  # type: ignore[union-attr]


async def test_username_taken_in_any_case(registry: AuthRegistry, clock: FakeClock) -> None:
    await registry.add_account(
        new_account(username="anna", fhir_users=["Patient/a"], created=clock(), password_hash=HASH)
    )
    with pytest.raises(AlreadyRegistered, match="taken"):
        await registry.add_account(
            new_account(
                username="ANNA", fhir_users=["Patient/b"], created=clock(), password_hash=HASH
            )
        )
    assert len(await registry.list_accounts()) == 1


async def test_external_subject(registry: AuthRegistry, clock: FakeClock) -> None:
    issuer = "https://broker.example"
    account = new_account(
        username="dokter",
        fhir_users=["PractitionerRole/pr-1"],
        created=clock(),
        external=(issuer, "sub-123"),
    )
    await registry.add_account(account)
    assert await registry.get_account_by_subject(issuer, "sub-123") == account
    assert await registry.get_account_by_subject(issuer, "sub-999") is None
    assert await registry.get_account_by_subject("https://other.example", "sub-123") is None
    with pytest.raises(AlreadyRegistered, match="another account"):
        await registry.add_account(
            new_account(
                username="tweede",
                fhir_users=["PractitionerRole/pr-2"],
                created=clock(),
                external=(issuer, "sub-123"),
            )
        )


async def test_accounts_listed_oldest_first(registry: AuthRegistry, clock: FakeClock) -> None:
    for name in ("zoe", "adam"):
        await registry.add_account(
            new_account(
                username=name, fhir_users=["Patient/p"], created=clock(), password_hash=HASH
            )
        )
        clock.advance(seconds=1)
    assert [a.username for a in await registry.list_accounts()] == ["zoe", "adam"]


async def test_login_failures_lock_then_count_again(
    registry: AuthRegistry, clock: FakeClock
) -> None:
    await registry.add_account(
        new_account(username="anna", fhir_users=["Patient/a"], created=clock(), password_hash=HASH)
    )
    lockout = timedelta(minutes=15)
    for expected in (1, 2):
        account = await registry.record_login_failure("ANNA", max_failures=3, lockout=lockout)
        assert account is not None
        assert account.failed_logins == expected
        assert account.locked_until is None
    locked = await registry.record_login_failure("anna", max_failures=3, lockout=lockout)
    assert locked is not None
    assert locked.locked_until == clock() + lockout
    assert locked.failed_logins == 0
    assert locked.locked(clock())
    assert not locked.locked(clock() + lockout)
    assert await registry.record_login_failure("nobody", max_failures=3, lockout=lockout) is None


async def test_login_success_resets(registry: AuthRegistry, clock: FakeClock) -> None:
    await registry.add_account(
        new_account(username="anna", fhir_users=["Patient/a"], created=clock(), password_hash=HASH)
    )
    await registry.record_login_failure("anna", max_failures=1, lockout=timedelta(minutes=1))
    await registry.record_login_failure("anna", max_failures=5, lockout=timedelta(minutes=1))
    await registry.record_login_success("Anna")
    account = await registry.get_account("anna")
    assert account is not None
    assert (account.failed_logins, account.locked_until) == (0, None)


async def test_concurrent_failures_all_count(
    registry: AuthRegistry, twin: AuthRegistry, clock: FakeClock
) -> None:
    await registry.add_account(
        new_account(username="anna", fhir_users=["Patient/a"], created=clock(), password_hash=HASH)
    )
    lockout = timedelta(minutes=1)
    await asyncio.gather(
        *(
            handle.record_login_failure("anna", max_failures=100, lockout=lockout)
            for _ in range(10)
            for handle in (registry, twin)
        )
    )
    assert (await twin.get_account("anna")).failed_logins == 20  # type: ignore[union-attr]


async def test_set_password_hash(registry: AuthRegistry, clock: FakeClock) -> None:
    await registry.add_account(
        new_account(username="anna", fhir_users=["Patient/a"], created=clock(), password_hash=HASH)
    )
    new_hash = HASH.replace("t=1", "t=2")
    await registry.set_password_hash("ANNA", new_hash)
    assert (await registry.get_account("anna")).password_hash == new_hash  # type: ignore[union-attr]
    with pytest.raises(NotRegistered):
        await registry.set_password_hash("nobody", new_hash)


async def test_disable_account_revokes_tokens_enable_clears_lockout(
    registry: AuthRegistry, clock: FakeClock
) -> None:
    await registry.add_account(
        new_account(username="Anna", fhir_users=["Patient/a"], created=clock(), password_hash=HASH)
    )
    exp = clock() + timedelta(minutes=15)
    family = await start_family(registry, "rt-anna", username="Anna")
    await registry.record_access_token(
        "at-anna", exp, client_id="app-1", username="anna", family_id=family
    )
    await registry.record_access_token("at-bob", exp, client_id="app-1", username="bob")
    await registry.record_login_failure("anna", max_failures=1, lockout=timedelta(hours=1))

    disabled = await registry.set_account_active("ANNA", False)
    assert not disabled.active
    assert await revoked_jtis(registry) == {"at-anna"}
    assert await registry.find_refresh_token("rt-anna") is None

    enabled = await registry.set_account_active("anna", True)
    assert enabled.active
    assert (enabled.failed_logins, enabled.locked_until) == (0, None)
    with pytest.raises(NotRegistered):
        await registry.set_account_active("nobody", False)


# --------------------------------------------------------------------------- codes


async def test_code_single_use(registry: AuthRegistry, clock: FakeClock) -> None:
    record = code_record(clock)
    await registry.save_code("the-code", record)
    first = await registry.consume_code("the-code")
    assert (first.outcome, first.code) == ("granted", record)
    second = await registry.consume_code("the-code")
    assert second.outcome == "replayed"
    assert second.code is not None
    assert second.code.family_id == record.family_id
    assert (await registry.consume_code("other-code")).outcome == "unknown"


async def test_expired_code_refused(registry: AuthRegistry, clock: FakeClock) -> None:
    await registry.save_code("c1", code_record(clock))
    await registry.save_code("c2", code_record(clock))
    clock.advance(seconds=59)
    assert (await registry.consume_code("c1")).outcome == "granted"
    clock.advance(seconds=1)
    expired = await registry.consume_code("c2")
    assert (expired.outcome, expired.code) == ("expired", None)
    assert (await registry.consume_code("c2")).outcome == "expired"


async def test_replay_recognised_until_retention_ends(
    registry: AuthRegistry, clock: FakeClock
) -> None:
    await registry.save_code("c1", code_record(clock))
    assert (await registry.consume_code("c1")).outcome == "granted"
    clock.advance(hours=12)
    await registry.purge_expired()
    assert (await registry.consume_code("c1")).outcome == "replayed"
    clock.advance(seconds=60 + CODE_RETENTION.total_seconds())
    assert await registry.purge_expired() >= 1
    assert (await registry.consume_code("c1")).outcome == "unknown"


async def test_code_race_between_two_handles(
    registry: AuthRegistry, twin: AuthRegistry, clock: FakeClock
) -> None:
    codes = [new_secret() for _ in range(20)]
    for code in codes:
        await registry.save_code(code, code_record(clock))
    results = await asyncio.gather(
        *(handle.consume_code(code) for code in codes for handle in (registry, twin, registry))
    )
    for i in range(len(codes)):
        outcomes = sorted(r.outcome for r in results[3 * i : 3 * i + 3])
        assert outcomes == ["granted", "replayed", "replayed"]


async def test_revoking_a_family_kills_its_unused_code(
    registry: AuthRegistry, clock: FakeClock
) -> None:
    record = code_record(clock)
    await registry.save_code("c1", record)
    await registry.revoke_family(record.family_id)
    assert (await registry.consume_code("c1")).outcome != "granted"


# --------------------------------------------------------------------------- refresh tokens


async def test_rotation(registry: AuthRegistry, clock: FakeClock) -> None:
    family_id = await start_family(registry, "rt-1")
    found = await registry.find_refresh_token("rt-1")
    assert found is not None
    assert (found.family_id, found.client_id, found.username) == (family_id, "app-1", "Anna")
    assert (found.fhir_user, found.patient) == ("Patient/anna", "Patient/anna")
    assert found.created == found.last_used == clock()

    clock.advance(minutes=20)
    rotation = await registry.rotate_refresh_token("rt-1", "rt-2")
    assert rotation.outcome == "rotated"
    assert rotation.family is not None
    assert rotation.family.family_id == family_id
    assert rotation.family.scope == "openid offline_access patient/CarePlan.rs"
    assert rotation.family.last_used == clock()
    assert rotation.family.created == START
    assert await registry.find_refresh_token("rt-1") is None
    assert (await registry.find_refresh_token("rt-2")).last_used == clock()  # type: ignore[union-attr]
    assert (await registry.rotate_refresh_token("rt-2", "rt-3")).outcome == "rotated"


async def test_reuse_revokes_the_family(registry: AuthRegistry, clock: FakeClock) -> None:
    family_id = await start_family(registry, "rt-1")
    other = await start_family(registry, "rt-other")
    exp = clock() + timedelta(minutes=15)
    await registry.record_access_token("at-1", exp, client_id="app-1", family_id=family_id)
    await registry.record_access_token("at-other", exp, client_id="app-1", family_id=other)
    assert (await registry.rotate_refresh_token("rt-1", "rt-2")).outcome == "rotated"
    await registry.record_access_token("at-2", exp, client_id="app-1", family_id=family_id)

    reuse = await registry.rotate_refresh_token("rt-1", "rt-attacker")
    assert reuse.outcome == "reused"
    assert reuse.family is not None
    assert reuse.family.family_id == family_id

    assert (await registry.rotate_refresh_token("rt-2", "rt-3")).outcome == "unknown"
    assert await registry.find_refresh_token("rt-2") is None
    assert await revoked_jtis(registry) == {"at-1", "at-2"}
    assert await registry.find_refresh_token("rt-other") is not None
    with pytest.raises(FamilyRevoked):
        await registry.record_access_token("at-3", exp, client_id="app-1", family_id=family_id)
    assert "at-3" in await revoked_jtis(registry)


async def test_family_lapses_after_idle_lifetime(registry: AuthRegistry, clock: FakeClock) -> None:
    await start_family(registry, "rt-1")
    clock.advance(seconds=IDLE.total_seconds() - 1)
    assert (await registry.rotate_refresh_token("rt-1", "rt-2")).outcome == "rotated"
    clock.advance(seconds=IDLE.total_seconds() - 1)  # idle counts from the last use
    assert await registry.find_refresh_token("rt-2") is not None
    clock.advance(seconds=1)
    assert await registry.find_refresh_token("rt-2") is None
    lapsed = await registry.rotate_refresh_token("rt-2", "rt-3")
    assert lapsed.outcome == "lapsed"
    assert (await registry.rotate_refresh_token("rt-2", "rt-3")).outcome == "unknown"


async def test_purge_removes_lapsed_families(registry: AuthRegistry, clock: FakeClock) -> None:
    await start_family(registry, "rt-old")
    clock.advance(days=100)
    await start_family(registry, "rt-new")
    clock.advance(seconds=IDLE.total_seconds() - 100 * 86400)
    assert await registry.purge_expired() >= 2
    assert (await registry.rotate_refresh_token("rt-old", "x")).outcome == "unknown"
    assert (await registry.rotate_refresh_token("rt-new", "y")).outcome == "rotated"


async def test_rotation_race_between_two_handles(
    registry: AuthRegistry, twin: AuthRegistry, clock: FakeClock
) -> None:
    for round_ in range(10):
        await start_family(registry, f"rt-{round_}")
        results = await asyncio.gather(
            registry.rotate_refresh_token(f"rt-{round_}", f"a-{round_}"),
            twin.rotate_refresh_token(f"rt-{round_}", f"b-{round_}"),
        )
        assert sorted(r.outcome for r in results) == ["reused", "rotated"]
        # The loser's reuse revoked the family, the winner's new token included.
        winner = "a" if results[0].outcome == "rotated" else "b"
        assert await twin.find_refresh_token(f"{winner}-{round_}") is None


async def test_family_revoked_before_it_starts(registry: AuthRegistry, clock: FakeClock) -> None:
    family_id = new_secret()
    await registry.revoke_family(family_id)
    with pytest.raises(FamilyRevoked):
        await start_family(registry, "rt-1", family_id=family_id)
    assert await registry.find_refresh_token("rt-1") is None


async def test_revoke_family_explicitly(registry: AuthRegistry, clock: FakeClock) -> None:
    family_id = await start_family(registry, "rt-1")
    await registry.revoke_family(family_id)
    assert await registry.find_refresh_token("rt-1") is None
    assert (await registry.rotate_refresh_token("rt-1", "rt-2")).outcome == "unknown"


# --------------------------------------------------------------------------- revocations


async def test_revocation_polling(
    registry: AuthRegistry, twin: AuthRegistry, clock: FakeClock
) -> None:
    empty = await twin.revoked_access_tokens()
    assert empty.tokens == ()
    exp = clock() + timedelta(minutes=15)
    await registry.revoke_access_token("jti-1", exp)
    await registry.revoke_access_token("jti-1", exp)  # idempotent
    first = await twin.revoked_access_tokens(empty.cursor)
    assert [(t.jti, t.exp) for t in first.tokens] == [("jti-1", exp)]
    assert (await twin.revoked_access_tokens(first.cursor)).tokens == ()

    await registry.revoke_access_token("jti-2", exp + timedelta(minutes=1))
    await registry.revoke_access_token("jti-3", exp)
    second = await twin.revoked_access_tokens(first.cursor)
    assert [t.jti for t in second.tokens] == ["jti-2", "jti-3"]
    assert await twin.is_access_token_revoked("jti-2")
    assert not await twin.is_access_token_revoked("jti-9")

    clock.advance(minutes=15)  # jti-1 and jti-3 expire
    assert [t.jti for t in (await twin.revoked_access_tokens()).tokens] == ["jti-2"]
    assert not await twin.is_access_token_revoked("jti-1")
    assert await registry.purge_expired() == 2
    await registry.revoke_access_token("jti-4", clock() + timedelta(minutes=5))
    third = await twin.revoked_access_tokens(second.cursor)
    assert [t.jti for t in third.tokens] == ["jti-4"]
    assert (await twin.revoked_access_tokens(third.cursor)).tokens == ()


async def test_revoke_family_revokes_its_access_tokens_only(
    registry: AuthRegistry, clock: FakeClock
) -> None:
    exp = clock() + timedelta(minutes=15)
    await registry.record_access_token("a1", exp, client_id="app-1", family_id="fam-a")
    await registry.record_access_token("a2", exp, client_id="app-1", family_id="fam-a")
    await registry.record_access_token("b1", exp, client_id="app-1", family_id="fam-b")
    await registry.record_access_token("old", clock(), client_id="app-1", family_id="fam-a")
    await registry.revoke_family("fam-a")
    assert await revoked_jtis(registry) == {"a1", "a2"}


async def test_purge_keeps_live_records(registry: AuthRegistry, clock: FakeClock) -> None:
    exp = clock() + timedelta(minutes=15)
    await registry.record_access_token("live", exp, client_id="app-1", family_id="fam")
    await registry.remember_assertion("app-1", "jti", exp)
    assert await registry.purge_expired() == 0
    await registry.revoke_family("fam")
    assert await revoked_jtis(registry) == {"live"}


# --------------------------------------------------------------------------- consent screen


async def test_consent_decisions(registry: AuthRegistry, clock: FakeClock) -> None:
    approve = ConsentDecision(
        username="Anna",
        fhir_user="RelatedPerson/vm-1",
        patient="Patient/piet",
        client_id="app-1",
        scopes=("launch/patient", "patient/CarePlan.rs"),
        approved=True,
        remember=True,
        decided_at=clock(),
    )
    deny = ConsentDecision(
        username="bob",
        fhir_user=None,
        patient=None,
        client_id="app-2",
        scopes=("patient/*.cruds",),
        approved=False,
        remember=False,
        decided_at=clock() + timedelta(seconds=1),
    )
    await registry.record_consent_decision(approve)
    await registry.record_consent_decision(deny)
    assert await registry.consent_decisions() == [approve, deny]
    assert await registry.consent_decisions(username="Anna") == [approve]
    assert await registry.consent_decisions(client_id="app-2") == [deny]
    assert await registry.consent_decisions(username="Anna", client_id="app-2") == []


# --------------------------------------------------------------------------- client assertions


async def test_assertion_replay(
    registry: AuthRegistry, twin: AuthRegistry, clock: FakeClock
) -> None:
    exp = clock() + timedelta(minutes=5)
    assert await registry.remember_assertion("ehr-1", "jti-1", exp)
    assert not await twin.remember_assertion("ehr-1", "jti-1", exp)
    assert await registry.remember_assertion("ehr-2", "jti-1", exp)
    clock.advance(minutes=5)
    assert await twin.remember_assertion("ehr-1", "jti-1", clock() + timedelta(minutes=5))
    assert not await registry.remember_assertion("ehr-1", "jti-1", clock() + timedelta(minutes=5))


async def test_assertion_race(registry: AuthRegistry, twin: AuthRegistry, clock: FakeClock) -> None:
    exp = clock() + timedelta(minutes=5)
    results = await asyncio.gather(
        *(h.remember_assertion("ehr", f"j{i}", exp) for i in range(10) for h in (registry, twin))
    )
    assert sum(results) == 10


# --------------------------------------------------------------------------- SQLite specifics


async def test_sqlite_shares_the_fhir_store_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    store = await SqliteStore.open(settings.database_path)
    registry = await SqliteAuthRegistry.from_settings(settings)
    try:
        app = backend_app(FakeClock())
        await registry.add_app(app)
        assert await registry.get_app(app.client_id) == app
    finally:
        await registry.close()
        await store.close()
    with sqlite3.connect(settings.database_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert {"resource", "auth_app", "auth_account", "auth_code", "auth_revoked_token"} <= tables
    assert mode == "wal"


async def test_sqlite_stores_digests_only(tmp_path: Path) -> None:
    clock = FakeClock()
    registry = await _sqlite(tmp_path, clock)
    code, refresh, rotated = new_secret(), new_secret(), new_secret()
    try:
        await registry.save_code(code, code_record(clock))
        await start_family(registry, refresh)
        await registry.rotate_refresh_token(refresh, rotated)
    finally:
        await registry.close()
    dump = "\n".join(sqlite3.connect(tmp_path / "zorgleefplan.sqlite3").iterdump())
    for secret in (code, refresh, rotated):
        assert secret not in dump
        assert token_digest(secret) in dump


async def test_sqlite_reopen_keeps_data(tmp_path: Path) -> None:
    clock = FakeClock()
    registry = await _sqlite(tmp_path, clock)
    app = public_app(clock)
    await registry.add_app(app)
    await registry.close()
    await registry.close()  # idempotent
    reopened = await _sqlite(tmp_path, clock)
    try:
        assert await reopened.list_apps() == [app]
    finally:
        await reopened.close()


# --------------------------------------------------------------------------- validation


def test_client_ids_are_unguessable() -> None:
    ids = {public_app(FakeClock()).client_id for _ in range(200)}
    assert len(ids) == 200
    # 32 base32 characters = 160 bits; nothing a shell or argparse reads as an option.
    assert all(re.fullmatch(r"[a-z2-7]{32}", i) for i in ids)


@pytest.mark.parametrize(
    "uri",
    [
        "https://pgo.example/cb",
        "https://pgo.example:8443/oauth/callback?x=1",
        "http://localhost/cb",
        "http://localhost:8765/cb",
        "http://127.0.0.1:9000/cb",
        "http://[::1]:9000/cb",
    ],
)
def test_redirect_uri_accepted(uri: str) -> None:
    assert public_app(FakeClock(), redirect_uris=[uri]).redirect_uris == (uri,)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://pgo.example/cb", "must use https"),
        ("http://localhost.evil.example/cb", "must use https"),
        ("http://127.0.0.2/cb", "must use https"),
        ("ftp://pgo.example/cb", "must use https"),
        ("nl.pgo.app:/cb", "absolute URL"),
        ("/cb", "absolute URL"),
        ("https:///cb", "absolute URL"),
        ("https://pgo.example/cb#frag", "fragment"),
        ("https://user@pgo.example/cb", "user information"),
        ("https://pgo.example/c b", "not a valid URL"),
        ("https://pgo.example:99999/cb", "not a valid URL"),
    ],
)
def test_redirect_uri_refused(uri: str, message: str) -> None:
    with pytest.raises(InvalidRegistration, match=message):
        public_app(FakeClock(), redirect_uris=[uri])


def test_app_kind_rules() -> None:
    clock = FakeClock()
    with pytest.raises(InvalidRegistration, match="at least one redirect URI"):
        public_app(clock, redirect_uris=[])
    with pytest.raises(InvalidRegistration, match="no keys"):
        public_app(clock, jwks=ec_jwks())
    with pytest.raises(InvalidRegistration, match="private_key_jwt"):
        new_app(name="A", kind="confidential", created=clock(), redirect_uris=["https://a/cb"])
    with pytest.raises(InvalidRegistration, match="no redirect URIs"):
        backend_app(clock, redirect_uris=["https://a/cb"])
    with pytest.raises(InvalidRegistration, match="Organization/ID"):
        new_app(name="EHR", kind="backend", created=clock(), jwks=ec_jwks())
    with pytest.raises(InvalidRegistration, match="kind"):
        new_app(name="A", kind="secret", created=clock())  # type: ignore[arg-type]
    with pytest.raises(InvalidRegistration, match="name"):
        public_app(clock, name="  ")
    with pytest.raises(InvalidRegistration, match="Organization/ID"):
        backend_app(clock, organization="Org/1")
    with pytest.raises(InvalidRegistration, match="JWKS URI"):
        backend_app(clock, jwks_uri="http://ehr.example/jwks")


def test_default_and_explicit_scopes() -> None:
    clock = FakeClock()
    assert public_app(clock).scopes == DEFAULT_SCOPES["public"]
    assert backend_app(clock).scopes == ("system/*.cruds",)
    assert backend_app(
        clock, scopes=["system/Task.u", "system/Task.u", "system/CarePlan.rs"]
    ).scopes == (
        "system/Task.u",
        "system/CarePlan.rs",
    )
    for bad in ("two words", 'quote"', ""):
        with pytest.raises(InvalidRegistration, match="scope"):
            backend_app(clock, scopes=[bad])


def _rsa(bits: int) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RSAKey.generate_key(bits).as_dict(private=False)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda: _rsa(2048), id="rsa-2048"),
        pytest.param(lambda: ECKey.generate_key("P-384").as_dict(private=False), id="ec"),
        pytest.param(lambda: OKPKey.generate_key("Ed25519").as_dict(private=False), id="okp"),
    ],
)
def test_public_jwks_accepted(key: Callable[[], dict[str, Any]]) -> None:
    jwks = {"keys": [{**key(), "use": "sig", "kid": "k"}]}
    assert backend_app(FakeClock(), jwks=jwks).jwks == jwks


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        (lambda: {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}, r"private .*\(d\)"),
        (lambda: {"keys": [RSAKey.generate_key(2048).as_dict(private=True)]}, "private"),
        (lambda: {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "secret"),
        (lambda: {"keys": [{"kty": "oct"}]}, "kty 'oct'"),
        (lambda: {"keys": [_rsa(1024)]}, "2048"),
        (lambda: {"keys": [{**ec_jwks()["keys"][0], "use": "enc"}]}, "use"),
        (lambda: {"keys": [*ec_jwks("a")["keys"], *ec_jwks("a")["keys"]]}, "duplicate kid"),
        (lambda: {"keys": [{"kty": "EC", "crv": "P-256", "x": "abc", "y": "def"}]}, "valid public"),
        (lambda: {"keys": []}, "non-empty"),
        (lambda: [], "non-empty"),
        (lambda: {"keys": ["x"]}, "not a JSON object"),
    ],
)
def test_bad_jwks_refused(jwks: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidRegistration, match=message):
        backend_app(FakeClock(), jwks=jwks())


def test_account_rules() -> None:
    clock = FakeClock()
    ok = new_account(
        username="anna",
        fhir_users=["Patient/a", "Patient/a", "RelatedPerson/r"],
        created=clock(),
        password_hash=HASH,
    )
    assert ok.fhir_users == ("Patient/a", "RelatedPerson/r")
    assert ok.display_name == "anna"
    assert (ok.active, ok.failed_logins, ok.locked_until) == (True, 0, None)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"password_hash": None}, "either a password or an external"),
        ({"external": ("https://idp.example", "s")}, "either a password or an external"),
        ({"password_hash": "$2b$12$bcrypt"}, "argon2id"),
        ({"fhir_users": []}, "at least one fhirUser"),
        ({"fhir_users": ["Practitioner/p"]}, "PractitionerRole/ID"),
        ({"fhir_users": ["Patient/a b"]}, "fhirUser"),
        ({"username": "an na"}, "spaces"),
        ({"username": "-anna"}, "start with '-'"),
        ({"username": ""}, "1 to 128"),
        ({"username": "x" * 129}, "1 to 128"),
    ]
    for change, message in cases:
        fields: dict[str, Any] = {
            "username": "anna",
            "fhir_users": ["Patient/a"],
            "created": clock(),
            "password_hash": HASH,
            **change,
        }
        with pytest.raises(InvalidRegistration, match=message):
            new_account(**fields)
    with pytest.raises(InvalidRegistration, match="external issuer"):
        new_account(
            username="x", fhir_users=["Patient/a"], created=clock(), external=("http://idp", "s")
        )
