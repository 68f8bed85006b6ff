"""Passwords of the built-in account store: argon2id hashing and the login check with lockout.

Hashing is deliberately slow and memory-hard, so it never runs on the event loop
(``asyncio.to_thread``), and at most a few hashes run at once per process so that a burst of
logins cannot take all CPU and memory from FHIR requests.

Parameters: argon2id, 46 MiB, 1 pass, 1 lane (OWASP's first recommended configuration; about
70 ms per hash on the development machine). Stored hashes carry their parameters; a hash made
with other parameters still verifies and is replaced at the next successful login.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import unicodedata
from dataclasses import replace
from datetime import timedelta

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from zorgleefplan.auth.registry import (
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    Account,
    AccountRegistry,
    Clock,
    InvalidRegistration,
    utc_now,
)
from zorgleefplan.config import Settings

log = logging.getLogger("zorgleefplan.auth.login")

# argon2id, m = 46 MiB, t = 1, p = 1 (OWASP Password Storage Cheat Sheet).
TIME_COST = 1
MEMORY_COST_KIB = 47104
PARALLELISM = 1


def _normalize(password: str) -> str:
    # NIST SP 800-63B: normalise Unicode so that the same password typed on another device
    # (composed or decomposed accents) still matches.
    return unicodedata.normalize("NFKC", password)


def check_password_policy(password: str) -> None:
    """Refuse passwords too short to be safe (or too long to be sensible)."""
    length = len(_normalize(password))
    if length < PASSWORD_MIN_LENGTH:
        raise InvalidRegistration(
            f"the password must have at least {PASSWORD_MIN_LENGTH} characters"
        )
    if length > PASSWORD_MAX_LENGTH:
        raise InvalidRegistration(
            f"the password must have at most {PASSWORD_MAX_LENGTH} characters"
        )


class Passwords:
    """argon2id hashing and verification, off the event loop."""

    def __init__(
        self,
        *,
        time_cost: int = TIME_COST,
        memory_cost: int = MEMORY_COST_KIB,
        parallelism: int = PARALLELISM,
        max_concurrent: int = 2,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # A thread semaphore (not asyncio's) so one instance serves any event loop.
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._dummy: str | None = None

    def _hash_now(self, password: str) -> str:
        with self._slots:
            return self._hasher.hash(_normalize(password))

    def _verify_now(self, password_hash: str, password: str) -> bool:
        with self._slots:
            try:
                return self._hasher.verify(password_hash, _normalize(password))
            except (VerificationError, InvalidHashError):
                return False

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hash_now, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; False on mismatch or a malformed hash."""
        return await asyncio.to_thread(self._verify_now, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Spend what a real verification costs (for unknown users: no timing difference)."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


class PasswordLogin:
    """The built-in account login: one uniform answer for every refusal, lockout after
    ``max_failures`` consecutive failures, rehash on new parameters."""

    def __init__(
        self,
        accounts: AccountRegistry,
        passwords: Passwords,
        *,
        max_failures: int,
        lockout: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._accounts = accounts
        self._passwords = passwords
        self._max_failures = max_failures
        self._lockout = lockout
        self._clock = clock

    @classmethod
    def from_settings(
        cls,
        accounts: AccountRegistry,
        settings: Settings,
        passwords: Passwords | None = None,
        *,
        clock: Clock = utc_now,
    ) -> PasswordLogin:
        return cls(
            accounts,
            passwords or Passwords(),
            max_failures=settings.login_max_failures,
            lockout=timedelta(seconds=settings.login_lockout_seconds),
            clock=clock,
        )

    async def authenticate(self, username: str, password: str) -> Account | None:
        """The account when ``password`` is right and the account active and not locked;
        otherwise None, whatever the reason (unknown user, wrong password, disabled, locked,
        external-only account), after the same amount of hashing work."""
        account = None
        if 0 < len(username) <= 128:
            account = await self._accounts.get_account(username)
        if len(password) > PASSWORD_MAX_LENGTH:
            password = password[:PASSWORD_MAX_LENGTH]  # cannot match; keeps the cost bounded
            account = None if account is None else replace(account, password_hash=None)
        if account is None or account.password_hash is None:
            await self._passwords.verify_dummy(password)
            # The same store round trip as a wrong password (no-op for unknown usernames).
            if account is None and 0 < len(username) <= 128:
                await self._accounts.record_login_failure(
                    username, max_failures=self._max_failures, lockout=self._lockout
                )
            log.info("login refused for %r: %s", username, "unknown or no password")
            return None
        matches = await self._passwords.verify(account.password_hash, password)
        if not account.active:
            log.info("login refused for %r: account disabled", username)
            return None
        if account.locked(self._clock()):
            log.info("login refused for %r: locked until %s", username, account.locked_until)
            return None
        if not matches:
            updated = await self._accounts.record_login_failure(
                username, max_failures=self._max_failures, lockout=self._lockout
            )
            locked = updated is not None and updated.locked_until is not None
            log.info("login refused for %r: wrong password%s", username, " (locked)" * locked)
            return None
        if account.failed_logins or account.locked_until is not None:
            await self._accounts.record_login_success(username)
            account = replace(account, failed_logins=0, locked_until=None)
        if self._passwords.needs_rehash(account.password_hash):
            new_hash = await self._passwords.hash(password)
            await self._accounts.set_password_hash(username, new_hash)
            account = replace(account, password_hash=new_hash)
        return account
