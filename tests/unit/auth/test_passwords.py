"""Password hashing (argon2id, off the event loop) and the login check with lockout."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import Type, extract_parameters

from zorgleefplan.auth.passwords import (
    MEMORY_COST_KIB,
    PARALLELISM,
    TIME_COST,
    PasswordLogin,
    Passwords,
    check_password_policy,
)
from zorgleefplan.auth.registry import InvalidRegistration, new_account
from zorgleefplan.auth.sqlite_registry import SqliteAuthRegistry
from zorgleefplan.config import Settings

PASSWORD = "correct horse battery"
LOCKOUT = timedelta(minutes=15)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class CountingPasswords(Passwords):
    """Cheap parameters (tests), and a record of every verification: (hash parameters, thread)."""

    def __init__(self, memory_cost: int = 256) -> None:
        super().__init__(time_cost=1, memory_cost=memory_cost, parallelism=1)
        self.verified: list[tuple[int, int]] = []

    def _verify_now(self, password_hash: str, password: str) -> bool:
        self.verified.append((extract_parameters(password_hash).memory_cost, threading.get_ident()))
        return super()._verify_now(password_hash, password)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def registry(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteAuthRegistry]:
    opened = await SqliteAuthRegistry.open(tmp_path / "zorgleefplan.sqlite3", clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def passwords() -> CountingPasswords:
    return CountingPasswords()


@pytest.fixture
def login(
    registry: SqliteAuthRegistry, passwords: CountingPasswords, clock: FakeClock
) -> PasswordLogin:
    return PasswordLogin(registry, passwords, max_failures=3, lockout=LOCKOUT, clock=clock)


async def add_account(
    registry: SqliteAuthRegistry, passwords: Passwords, clock: FakeClock, username: str = "Anna"
) -> None:
    await registry.add_account(
        new_account(
            username=username,
            fhir_users=["Patient/anna"],
            created=clock(),
            password_hash=await passwords.hash(PASSWORD),
        )
    )


# --------------------------------------------------------------------------- hashing


async def test_hash_format_and_parameters() -> None:
    passwords = Passwords()
    first, second = await passwords.hash(PASSWORD), await passwords.hash(PASSWORD)
    assert first.startswith(f"$argon2id$v=19$m={MEMORY_COST_KIB},t={TIME_COST},p={PARALLELISM}$")
    parameters = extract_parameters(first)
    assert parameters.type is Type.ID
    assert (parameters.salt_len, parameters.hash_len) == (16, 32)
    assert MEMORY_COST_KIB >= 19 * 1024  # OWASP's floor for argon2id
    assert first != second  # salted
    assert await passwords.verify(first, PASSWORD)
    assert not await passwords.verify(first, PASSWORD + "!")
    assert not await passwords.verify("not a hash", PASSWORD)
    assert not passwords.needs_rehash(first)


async def test_unicode_is_normalised() -> None:
    passwords = CountingPasswords()
    composed, decomposed = "cr\u00e8me br\u00fbl\u00e9e!", "cre\u0300me bru\u0302le\u0301e!"
    assert await passwords.verify(await passwords.hash(composed), decomposed)


async def test_hashing_runs_off_the_event_loop(passwords: CountingPasswords) -> None:
    loop_thread = threading.get_ident()
    await passwords.verify(await passwords.hash(PASSWORD), PASSWORD)
    assert passwords.verified
    assert all(thread != loop_thread for _, thread in passwords.verified)


async def test_event_loop_keeps_running_while_hashing() -> None:
    passwords = Passwords()  # real parameters: tens of milliseconds of work
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await passwords.hash(PASSWORD)
    done.set()
    await task
    assert ticks > 10


def test_needs_rehash_on_other_parameters() -> None:
    cheap = CountingPasswords(memory_cost=256)
    other = CountingPasswords(memory_cost=512)
    hashed = asyncio.run(cheap.hash(PASSWORD))
    assert not cheap.needs_rehash(hashed)
    assert other.needs_rehash(hashed)
    assert other.needs_rehash("garbage")


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("123456789", False),
        ("1234567890", True),
        ("\u00e9" * 9, False),
        ("e\u0301" * 9, False),  # 18 code points, 9 characters once normalised
        ("x" * 1024, True),
        ("x" * 1025, False),
    ],
)
def test_password_policy(password: str, ok: bool) -> None:
    if ok:
        check_password_policy(password)
    else:
        with pytest.raises(InvalidRegistration, match="characters"):
            check_password_policy(password)


# --------------------------------------------------------------------------- login


async def test_login_succeeds_case_insensitively(
    registry: SqliteAuthRegistry,
    passwords: CountingPasswords,
    login: PasswordLogin,
    clock: FakeClock,
) -> None:
    await add_account(registry, passwords, clock)
    account = await login.authenticate("anna", PASSWORD)
    assert account is not None
    assert account.username == "Anna"
    assert account.fhir_users == ("Patient/anna",)


async def test_refusals_are_uniform(
    registry: SqliteAuthRegistry,
    passwords: CountingPasswords,
    login: PasswordLogin,
    clock: FakeClock,
) -> None:
    """Unknown user, wrong password, disabled, locked and external-only accounts all get None
    after exactly one verification against a hash with the same parameters."""
    for name in ("anna", "disabled", "locked"):
        await add_account(registry, passwords, clock, name)
    await registry.add_account(
        new_account(
            username="extern",
            fhir_users=["PractitionerRole/pr"],
            created=clock(),
            external=("https://broker.example", "sub-1"),
        )
    )
    await registry.set_account_active("disabled", False)
    await registry.record_login_failure("locked", max_failures=1, lockout=LOCKOUT)

    attempts = [
        ("nobody", PASSWORD),
        ("anna", "wrong password"),
        ("disabled", PASSWORD),
        ("locked", PASSWORD),
        ("extern", PASSWORD),
        ("", PASSWORD),
        ("anna", "x" * 5000),
    ]
    for username, password in attempts:
        passwords.verified.clear()
        assert await login.authenticate(username, password) is None, username
        assert [cost for cost, _ in passwords.verified] == [256], username


async def test_lockout_after_consecutive_failures(
    registry: SqliteAuthRegistry,
    passwords: CountingPasswords,
    login: PasswordLogin,
    clock: FakeClock,
) -> None:
    await add_account(registry, passwords, clock)
    for _ in range(3):
        assert await login.authenticate("anna", "wrong password") is None
    account = await registry.get_account("anna")
    assert account is not None
    assert account.locked_until == clock() + LOCKOUT
    locked_until = account.locked_until

    clock.advance(seconds=LOCKOUT.total_seconds() - 1)
    assert await login.authenticate("anna", PASSWORD) is None  # right password, still locked
    assert await login.authenticate("anna", "wrong password") is None
    account = await registry.get_account("anna")
    assert account is not None
    assert account.locked_until == locked_until  # attempts while locked do not extend it

    clock.advance(seconds=1)
    assert await login.authenticate("anna", PASSWORD) is not None
    account = await registry.get_account("anna")
    assert account is not None
    assert (account.failed_logins, account.locked_until) == (0, None)


async def test_success_resets_the_counter(
    registry: SqliteAuthRegistry,
    passwords: CountingPasswords,
    login: PasswordLogin,
    clock: FakeClock,
) -> None:
    await add_account(registry, passwords, clock)
    for _ in range(2):
        assert await login.authenticate("anna", "wrong password") is None
    assert (await registry.get_account("anna")).failed_logins == 2  # type: ignore[union-attr]
    account = await login.authenticate("anna", PASSWORD)
    assert account is not None
    assert account.failed_logins == 0
    for _ in range(2):  # a fresh budget: two more failures do not lock
        assert await login.authenticate("anna", "wrong password") is None
    assert await login.authenticate("anna", PASSWORD) is not None


async def test_disabled_account_counts_no_failures(
    registry: SqliteAuthRegistry,
    passwords: CountingPasswords,
    login: PasswordLogin,
    clock: FakeClock,
) -> None:
    await add_account(registry, passwords, clock)
    await registry.set_account_active("anna", False)
    for _ in range(5):
        assert await login.authenticate("anna", "wrong password") is None
    account = await registry.get_account("anna")
    assert account is not None
    assert (account.failed_logins, account.locked_until) == (0, None)


async def test_rehash_on_new_parameters(
    registry: SqliteAuthRegistry, passwords: CountingPasswords, clock: FakeClock
) -> None:
    await add_account(registry, passwords, clock)  # m=256
    stronger = CountingPasswords(memory_cost=512)
    login = PasswordLogin(registry, stronger, max_failures=3, lockout=LOCKOUT, clock=clock)

    assert await login.authenticate("anna", "wrong password") is None
    stored = (await registry.get_account("anna")).password_hash  # type: ignore[union-attr]
    assert stored is not None
    assert extract_parameters(stored).memory_cost == 256  # no rehash on failure

    account = await login.authenticate("anna", PASSWORD)
    assert account is not None
    stored = (await registry.get_account("anna")).password_hash  # type: ignore[union-attr]
    assert stored == account.password_hash
    assert extract_parameters(stored).memory_cost == 512
    assert await login.authenticate("anna", PASSWORD) is not None


async def test_from_settings(registry: SqliteAuthRegistry, clock: FakeClock) -> None:
    passwords = CountingPasswords()
    settings = Settings(login_max_failures=2, login_lockout_seconds=60)
    login = PasswordLogin.from_settings(registry, settings, passwords, clock=clock)
    await add_account(registry, passwords, clock)
    for _ in range(2):
        assert await login.authenticate("anna", "wrong password") is None
    assert (await registry.get_account("anna")).locked_until == clock() + timedelta(seconds=60)  # type: ignore[union-attr]
