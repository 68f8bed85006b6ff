"""The SQLite adapter of the authorization registries, in the service's own store file.

The ``auth_*`` tables live in the same SQLite file as the FHIR store (``Settings.database_path``)
and are created on open. Auth operations are rare next to FHIR reads, so the adapter has one
dedicated thread with its own connection (WAL, busy_timeout); every method is async and never
blocks the event loop. Every operation that reads before it writes runs in a ``BEGIN
IMMEDIATE`` transaction, so several worker processes on one file stay correct: a code is
consumed once, a refresh token rotates once, a failure counter never loses an increment.

Times are stored as µs since the epoch (UTC), like the FHIR store; codes and tokens as SHA-256
digests only.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from zorgleefplan.auth.registry import (
    CODE_RETENTION,
    Account,
    AlreadyRegistered,
    App,
    AuthorizationCode,
    Clock,
    CodeRedemption,
    ConsentDecision,
    FamilyRevoked,
    NotRegistered,
    RefreshFamily,
    RefreshRotation,
    RevocationBatch,
    RevokedToken,
    token_digest,
    username_key,
    utc_now,
)
from zorgleefplan.config import Settings
from zorgleefplan.errors import Conflict, StoreUnavailable

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_app (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,             -- JSON list
    jwks TEXT,                               -- JSON object
    jwks_uri TEXT,
    scopes TEXT NOT NULL,                    -- JSON list
    organization TEXT,
    organization_name TEXT,
    active INTEGER NOT NULL,
    created INTEGER NOT NULL                 -- µs since epoch, UTC (all times below too)
);

CREATE TABLE IF NOT EXISTS auth_account (
    username_key TEXT PRIMARY KEY,           -- NFKC case-folded username
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    fhir_users TEXT NOT NULL,                -- JSON list
    password_hash TEXT,
    external_issuer TEXT,
    external_subject TEXT,
    active INTEGER NOT NULL,
    failed_logins INTEGER NOT NULL,
    locked_until INTEGER,
    created INTEGER NOT NULL,
    UNIQUE (external_issuer, external_subject)
);

CREATE TABLE IF NOT EXISTS auth_code (
    digest TEXT PRIMARY KEY,                 -- SHA-256 of the code
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    username TEXT NOT NULL,
    fhir_user TEXT,
    patient TEXT,
    nonce TEXT,
    remember INTEGER NOT NULL,
    family_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX IF NOT EXISTS auth_code_expires ON auth_code (expires_at);
CREATE INDEX IF NOT EXISTS auth_code_family ON auth_code (family_id);

CREATE TABLE IF NOT EXISTS auth_refresh_family (
    family_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    username TEXT NOT NULL,
    fhir_user TEXT,
    patient TEXT,
    created INTEGER NOT NULL,
    last_used INTEGER NOT NULL,
    account_key TEXT NOT NULL                -- username_key(username)
);
CREATE INDEX IF NOT EXISTS auth_family_client ON auth_refresh_family (client_id);
CREATE INDEX IF NOT EXISTS auth_family_account ON auth_refresh_family (account_key);
CREATE INDEX IF NOT EXISTS auth_family_last_used ON auth_refresh_family (last_used);

CREATE TABLE IF NOT EXISTS auth_refresh_token (
    digest TEXT PRIMARY KEY,                 -- SHA-256 of the refresh token
    family_id TEXT NOT NULL,
    issued INTEGER NOT NULL,
    rotated INTEGER                          -- set once replaced: presenting it again is reuse
);
CREATE INDEX IF NOT EXISTS auth_refresh_token_family ON auth_refresh_token (family_id);

CREATE TABLE IF NOT EXISTS auth_revoked_family (
    family_id TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS auth_access_token (   -- every issued access token
    jti TEXT PRIMARY KEY,
    exp INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    account_key TEXT,                        -- username_key; NULL for backend services
    family_id TEXT
);
CREATE INDEX IF NOT EXISTS auth_access_family ON auth_access_token (family_id);
CREATE INDEX IF NOT EXISTS auth_access_client ON auth_access_token (client_id);
CREATE INDEX IF NOT EXISTS auth_access_account ON auth_access_token (account_key);
CREATE INDEX IF NOT EXISTS auth_access_exp ON auth_access_token (exp);

CREATE TABLE IF NOT EXISTS auth_revoked_token (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- revocation order: the pollers' cursor
    jti TEXT NOT NULL UNIQUE,
    exp INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_revoked_exp ON auth_revoked_token (exp);

CREATE TABLE IF NOT EXISTS auth_consent_decision (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    fhir_user TEXT,
    patient TEXT,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,                    -- space-separated
    approved INTEGER NOT NULL,
    remember INTEGER NOT NULL,
    decided_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_consent_username ON auth_consent_decision (username);
CREATE INDEX IF NOT EXISTS auth_consent_client ON auth_consent_decision (client_id);

CREATE TABLE IF NOT EXISTS auth_assertion (  -- client-assertion jtis seen (RFC 7523 replay)
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    exp INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX IF NOT EXISTS auth_assertion_exp ON auth_assertion (exp);
"""


def _us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("registry times must be timezone-aware")
    return int(moment.timestamp() * 1_000_000)


def _dt(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


def _opt_dt(micros: int | None) -> datetime | None:
    return None if micros is None else _dt(micros)


# --------------------------------------------------------------------------- rows

_APP = (
    "client_id, name, kind, redirect_uris, jwks, jwks_uri, scopes, organization, "
    "organization_name, active, created"
)
_ACCOUNT = (
    "username, display_name, fhir_users, password_hash, external_issuer, external_subject, "
    "active, failed_logins, locked_until, created"
)
_CODE = (
    "client_id, redirect_uri, scope, code_challenge, code_challenge_method, username, "
    "fhir_user, patient, nonce, remember, family_id, expires_at"
)
_FAMILY = "family_id, client_id, scope, username, fhir_user, patient, created, last_used"
_DECISION = "username, fhir_user, patient, client_id, scopes, approved, remember, decided_at"


# Records are built positionally: the column lists above follow the dataclasses' field order.


def _app(row: tuple[Any, ...]) -> App:
    uris, jwks, scopes = json.loads(row[3]), row[4] and json.loads(row[4]), json.loads(row[6])
    return App(
        *row[:3], tuple(uris), jwks, row[5], tuple(scopes), *row[7:9], bool(row[9]), _dt(row[10])
    )


def _account(row: tuple[Any, ...]) -> Account:
    fhir_users = tuple(json.loads(row[2]))
    return Account(
        *row[:2], fhir_users, *row[3:6], bool(row[6]), row[7], _opt_dt(row[8]), _dt(row[9])
    )


def _code(row: tuple[Any, ...]) -> AuthorizationCode:
    return AuthorizationCode(*row[:9], bool(row[9]), row[10], _dt(row[11]))


def _family(row: tuple[Any, ...]) -> RefreshFamily:
    return RefreshFamily(*row[:6], _dt(row[6]), _dt(row[7]))


def _decision(row: tuple[Any, ...]) -> ConsentDecision:
    scopes = tuple(row[4].split())
    return ConsentDecision(*row[:4], scopes, bool(row[5]), bool(row[6]), _dt(row[7]))


# --------------------------------------------------------------------------- operations
# Synchronous functions on the registry's connection; ``_tx`` ones run inside BEGIN IMMEDIATE.


def _get_app(conn: sqlite3.Connection, client_id: str) -> App | None:
    row = conn.execute(f"SELECT {_APP} FROM auth_app WHERE client_id = ?", (client_id,)).fetchone()
    return None if row is None else _app(row)


def _get_account(conn: sqlite3.Connection, key: str) -> Account | None:
    row = conn.execute(
        f"SELECT {_ACCOUNT} FROM auth_account WHERE username_key = ?", (key,)
    ).fetchone()
    return None if row is None else _account(row)


def _insert_app(conn: sqlite3.Connection, app: App) -> None:
    try:
        conn.execute(
            f"INSERT INTO auth_app ({_APP}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                app.client_id,
                app.name,
                app.kind,
                json.dumps(list(app.redirect_uris)),
                None if app.jwks is None else json.dumps(app.jwks, sort_keys=True),
                app.jwks_uri,
                json.dumps(list(app.scopes)),
                app.organization,
                app.organization_name,
                int(app.active),
                _us(app.created),
            ),
        )
    except sqlite3.IntegrityError as exc:
        raise AlreadyRegistered(f"an app with client_id {app.client_id!r} exists") from exc


def _insert_account(conn: sqlite3.Connection, account: Account) -> None:
    try:
        conn.execute(
            f"INSERT INTO auth_account (username_key, {_ACCOUNT}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                account.key,
                account.username,
                account.display_name,
                json.dumps(list(account.fhir_users)),
                account.password_hash,
                account.external_issuer,
                account.external_subject,
                int(account.active),
                account.failed_logins,
                None if account.locked_until is None else _us(account.locked_until),
                _us(account.created),
            ),
        )
    except sqlite3.IntegrityError as exc:
        if _get_account(conn, account.key) is not None:
            raise AlreadyRegistered(f"username {account.username!r} is taken") from exc
        raise AlreadyRegistered(
            f"external subject {account.external_subject!r} of {account.external_issuer!r}"
            " is linked to another account"
        ) from exc


def _revoke_jtis(conn: sqlite3.Connection, where: str, params: tuple[Any, ...], now: int) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO auth_revoked_token (jti, exp) "
        f"SELECT jti, exp FROM auth_access_token WHERE {where} AND exp > ? ORDER BY jti",
        (*params, now),
    )


def _revoke_families(
    conn: sqlite3.Connection, where: str, params: tuple[Any, ...], now: int
) -> None:
    """Revoke the refresh families matching ``where`` (on auth_refresh_family) with their
    refresh tokens and access tokens."""
    ids = [
        r[0]
        for r in conn.execute(f"SELECT family_id FROM auth_refresh_family WHERE {where}", params)
    ]
    for family_id in ids:
        _revoke_family_tx(conn, family_id, now)


def _revoke_family_tx(conn: sqlite3.Connection, family_id: str, now: int) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO auth_revoked_family (family_id, revoked_at) VALUES (?, ?)",
        (family_id, now),
    )
    conn.execute("DELETE FROM auth_refresh_token WHERE family_id = ?", (family_id,))
    conn.execute("DELETE FROM auth_refresh_family WHERE family_id = ?", (family_id,))
    conn.execute(
        "UPDATE auth_code SET used_at = ? WHERE family_id = ? AND used_at IS NULL",
        (now, family_id),
    )
    _revoke_jtis(conn, "family_id = ?", (family_id,), now)


def _family_revoked(conn: sqlite3.Connection, family_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM auth_revoked_family WHERE family_id = ?", (family_id,)
    ).fetchone()
    return row is not None


def _set_app_active_tx(conn: sqlite3.Connection, client_id: str, active: bool, now: int) -> App:
    if (
        conn.execute(
            "UPDATE auth_app SET active = ? WHERE client_id = ?", (int(active), client_id)
        ).rowcount
        == 0
    ):
        raise NotRegistered(f"no app with client_id {client_id!r}")
    if not active:
        _revoke_families(conn, "client_id = ?", (client_id,), now)
        _revoke_jtis(conn, "client_id = ?", (client_id,), now)
    app = _get_app(conn, client_id)
    assert app is not None
    return app


def _set_account_active_tx(
    conn: sqlite3.Connection, username: str, active: bool, now: int
) -> Account:
    key = username_key(username)
    if active:
        sql = (
            "UPDATE auth_account SET active = 1, failed_logins = 0, locked_until = NULL "
            "WHERE username_key = ?"
        )
    else:
        sql = "UPDATE auth_account SET active = 0 WHERE username_key = ?"
    if conn.execute(sql, (key,)).rowcount == 0:
        raise NotRegistered(f"no account {username!r}")
    if not active:
        _revoke_families(conn, "account_key = ?", (key,), now)
        _revoke_jtis(conn, "account_key = ?", (key,), now)
    account = _get_account(conn, key)
    assert account is not None
    return account


def _login_failure_tx(
    conn: sqlite3.Connection, username: str, max_failures: int, lockout: timedelta, now: int
) -> Account | None:
    key = username_key(username)
    row = conn.execute(
        "SELECT failed_logins FROM auth_account WHERE username_key = ?", (key,)
    ).fetchone()
    if row is None:
        return None
    failures = row[0] + 1
    if failures >= max_failures:
        until = now + int(lockout.total_seconds() * 1_000_000)
        conn.execute(
            "UPDATE auth_account SET failed_logins = 0, locked_until = ? WHERE username_key = ?",
            (until, key),
        )
    else:
        conn.execute(
            "UPDATE auth_account SET failed_logins = ? WHERE username_key = ?", (failures, key)
        )
    return _get_account(conn, key)


def _consume_code_tx(conn: sqlite3.Connection, digest: str, now: int) -> CodeRedemption:
    row = conn.execute(
        f"SELECT {_CODE}, used_at FROM auth_code WHERE digest = ?", (digest,)
    ).fetchone()
    if row is None:
        return CodeRedemption("unknown")
    record = _code(row)
    if row[12] is not None:
        return CodeRedemption("replayed", record)
    if now >= row[11]:
        return CodeRedemption("expired")
    conn.execute("UPDATE auth_code SET used_at = ? WHERE digest = ?", (now, digest))
    return CodeRedemption("granted", record)


def _start_family_tx(
    conn: sqlite3.Connection, digest: str, values: tuple[Any, ...], now: int
) -> RefreshFamily:
    family_id = values[0]
    if _family_revoked(conn, family_id):
        raise FamilyRevoked(f"grant {family_id!r} has been revoked")
    try:
        conn.execute(
            f"INSERT INTO auth_refresh_family ({_FAMILY}, account_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*values, now, now, username_key(values[3])),
        )
        conn.execute(
            "INSERT INTO auth_refresh_token (digest, family_id, issued) VALUES (?, ?, ?)",
            (digest, family_id, now),
        )
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"refresh family {family_id!r} or its token exists already") from exc
    return _family((*values, now, now))


def _rotate_tx(
    conn: sqlite3.Connection, old: str, new: str, idle: int, now: int
) -> RefreshRotation:
    row = conn.execute(
        "SELECT family_id, rotated FROM auth_refresh_token WHERE digest = ?", (old,)
    ).fetchone()
    if row is None:
        return RefreshRotation("unknown")
    family_id, rotated = row
    found = conn.execute(
        f"SELECT {_FAMILY} FROM auth_refresh_family WHERE family_id = ?", (family_id,)
    ).fetchone()
    if found is None:
        return RefreshRotation("unknown")
    family = _family(found)
    if rotated is not None:
        _revoke_family_tx(conn, family_id, now)
        return RefreshRotation("reused", family)
    if found[7] + idle <= now:
        _revoke_family_tx(conn, family_id, now)
        return RefreshRotation("lapsed", family)
    conn.execute("UPDATE auth_refresh_token SET rotated = ? WHERE digest = ?", (now, old))
    try:
        conn.execute(
            "INSERT INTO auth_refresh_token (digest, family_id, issued) VALUES (?, ?, ?)",
            (new, family_id, now),
        )
    except sqlite3.IntegrityError as exc:
        raise Conflict("the new refresh token is not new") from exc
    conn.execute(
        "UPDATE auth_refresh_family SET last_used = ? WHERE family_id = ?", (now, family_id)
    )
    return RefreshRotation("rotated", _family((*found[:7], now)))


def _find_refresh(
    conn: sqlite3.Connection, digest: str, idle: int, now: int
) -> RefreshFamily | None:
    row = conn.execute(
        f"SELECT {', '.join('f.' + c for c in _FAMILY.split(', '))} FROM auth_refresh_token t "
        "JOIN auth_refresh_family f ON f.family_id = t.family_id "
        "WHERE t.digest = ? AND t.rotated IS NULL AND f.last_used > ?",
        (digest, now - idle),
    ).fetchone()
    return None if row is None else _family(row)


def _record_access_tx(conn: sqlite3.Connection, values: tuple[Any, ...], now: int) -> None:
    jti, exp, _client_id, _account_key, family_id = values
    try:
        conn.execute(
            "INSERT INTO auth_access_token (jti, exp, client_id, account_key, family_id) "
            "VALUES (?, ?, ?, ?, ?)",
            values,
        )
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"access token jti {jti!r} was recorded before") from exc
    if family_id is not None and _family_revoked(conn, family_id):
        conn.execute(
            "INSERT OR IGNORE INTO auth_revoked_token (jti, exp) VALUES (?, ?)", (jti, exp)
        )
        raise _Commit(FamilyRevoked(f"grant {family_id!r} has been revoked"))


def _revocations(conn: sqlite3.Connection, after: int, now: int) -> RevocationBatch:
    conn.execute("BEGIN")  # one snapshot for both queries
    try:
        rows = conn.execute(
            "SELECT jti, exp FROM auth_revoked_token WHERE seq > ? AND exp > ? ORDER BY seq",
            (after, now),
        ).fetchall()
        latest = conn.execute("SELECT MAX(seq) FROM auth_revoked_token").fetchone()[0]
    finally:
        conn.execute("COMMIT")
    return RevocationBatch(
        tokens=tuple(RevokedToken(jti, _dt(exp)) for jti, exp in rows),
        cursor=str(max(after, latest or 0)),
    )


def _purge_tx(conn: sqlite3.Connection, idle: int, now: int) -> int:
    retention = int(CODE_RETENTION.total_seconds() * 1_000_000)
    removed = 0
    lapsed = [
        r[0]
        for r in conn.execute(
            "SELECT family_id FROM auth_refresh_family WHERE last_used <= ?", (now - idle,)
        )
    ]
    for family_id in lapsed:
        removed += conn.execute(
            "DELETE FROM auth_refresh_token WHERE family_id = ?", (family_id,)
        ).rowcount
        removed += conn.execute(
            "DELETE FROM auth_refresh_family WHERE family_id = ?", (family_id,)
        ).rowcount
    for sql, params in (
        ("DELETE FROM auth_code WHERE expires_at <= ?", (now - retention,)),
        ("DELETE FROM auth_revoked_family WHERE revoked_at <= ?", (now - retention,)),
        ("DELETE FROM auth_access_token WHERE exp <= ?", (now,)),
        ("DELETE FROM auth_revoked_token WHERE exp <= ?", (now,)),
        ("DELETE FROM auth_assertion WHERE exp <= ?", (now,)),
    ):
        removed += conn.execute(sql, params).rowcount
    return removed


class _Commit(Exception):
    """Raised inside a transaction: commit what was written, then raise ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


# --------------------------------------------------------------------------- the adapter


class SqliteAuthRegistry:
    """:class:`zorgleefplan.auth.registry.AuthRegistry` on SQLite."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "NORMAL",
        refresh_idle_lifetime: timedelta = timedelta(days=183),
        clock: Clock = utc_now,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path = path
        self._synchronous = synchronous
        self._idle = int(refresh_idle_lifetime.total_seconds() * 1_000_000)
        self._clock = clock
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="zlp-auth-registry")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: Path, **kwargs: Any) -> SqliteAuthRegistry:
        """Open (creating the file and the ``auth_*`` tables when needed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        registry = cls(path, **kwargs)
        try:
            await registry._run(lambda c: c.executescript(SCHEMA))
        except BaseException:
            await registry.close()
            raise
        return registry

    @classmethod
    async def from_settings(
        cls, settings: Settings, *, clock: Clock = utc_now
    ) -> SqliteAuthRegistry:
        return await cls.open(
            settings.database_path,
            synchronous=settings.sqlite_synchronous,
            refresh_idle_lifetime=timedelta(seconds=settings.refresh_idle_lifetime),
            clock=clock,
        )

    # ----------------------------------------------------------------- plumbing

    def _now(self) -> int:
        return _us(self._clock())

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """On the registry thread: run ``fn``, translating SQLite's errors at this one seam."""
        try:
            if self._conn is None:
                self._conn = _connect(self.path, self._synchronous)
            return fn(self._conn)
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"the registry refused a duplicate: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the registry could not complete the request: {exc}") from exc

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._call, fn)

    async def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one BEGIN IMMEDIATE transaction (all or nothing)."""

        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except _Commit as signal:
                conn.execute("COMMIT")
                raise signal.error from None
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._run(transaction)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, close)
        self._pool.shutdown(wait=True)

    # ----------------------------------------------------------------- apps

    async def add_app(self, app: App) -> None:
        await self._tx(lambda c: _insert_app(c, app))

    async def get_app(self, client_id: str) -> App | None:
        return await self._run(lambda c: _get_app(c, client_id))

    async def list_apps(self) -> list[App]:
        return await self._run(
            lambda c: [
                _app(r)
                for r in c.execute(f"SELECT {_APP} FROM auth_app ORDER BY created, client_id")
            ]
        )

    async def set_app_active(self, client_id: str, active: bool) -> App:
        now = self._now()
        return await self._tx(lambda c: _set_app_active_tx(c, client_id, active, now))

    # ----------------------------------------------------------------- accounts

    async def add_account(self, account: Account) -> None:
        await self._tx(lambda c: _insert_account(c, account))

    async def get_account(self, username: str) -> Account | None:
        key = username_key(username)
        return await self._run(lambda c: _get_account(c, key))

    async def get_account_by_subject(self, issuer: str, subject: str) -> Account | None:
        def find(conn: sqlite3.Connection) -> Account | None:
            row = conn.execute(
                f"SELECT {_ACCOUNT} FROM auth_account "
                "WHERE external_issuer = ? AND external_subject = ?",
                (issuer, subject),
            ).fetchone()
            return None if row is None else _account(row)

        return await self._run(find)

    async def list_accounts(self) -> list[Account]:
        return await self._run(
            lambda c: [
                _account(r)
                for r in c.execute(
                    f"SELECT {_ACCOUNT} FROM auth_account ORDER BY created, username_key"
                )
            ]
        )

    async def set_account_active(self, username: str, active: bool) -> Account:
        now = self._now()
        return await self._tx(lambda c: _set_account_active_tx(c, username, active, now))

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        key = username_key(username)

        def update(conn: sqlite3.Connection) -> None:
            if (
                conn.execute(
                    "UPDATE auth_account SET password_hash = ? WHERE username_key = ?",
                    (password_hash, key),
                ).rowcount
                == 0
            ):
                raise NotRegistered(f"no account {username!r}")

        await self._run(update)

    async def record_login_failure(
        self, username: str, *, max_failures: int, lockout: timedelta
    ) -> Account | None:
        now = self._now()
        return await self._tx(lambda c: _login_failure_tx(c, username, max_failures, lockout, now))

    async def record_login_success(self, username: str) -> None:
        key = username_key(username)
        await self._run(
            lambda c: c.execute(
                "UPDATE auth_account SET failed_logins = 0, locked_until = NULL "
                "WHERE username_key = ? AND (failed_logins > 0 OR locked_until IS NOT NULL)",
                (key,),
            )
        )

    # ----------------------------------------------------------------- codes

    async def save_code(self, code: str, record: AuthorizationCode) -> None:
        values = (
            token_digest(code),
            record.client_id,
            record.redirect_uri,
            record.scope,
            record.code_challenge,
            record.code_challenge_method,
            record.username,
            record.fhir_user,
            record.patient,
            record.nonce,
            int(record.remember),
            record.family_id,
            _us(record.expires_at),
        )
        await self._run(
            lambda c: c.execute(
                f"INSERT INTO auth_code (digest, {_CODE}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        )

    async def consume_code(self, code: str) -> CodeRedemption:
        digest, now = token_digest(code), self._now()
        return await self._tx(lambda c: _consume_code_tx(c, digest, now))

    # ----------------------------------------------------------------- refresh tokens

    async def start_refresh_family(
        self,
        token: str,
        *,
        family_id: str,
        client_id: str,
        scope: str,
        username: str,
        fhir_user: str | None,
        patient: str | None,
    ) -> RefreshFamily:
        values = (family_id, client_id, scope, username, fhir_user, patient)
        digest, now = token_digest(token), self._now()
        return await self._tx(lambda c: _start_family_tx(c, digest, values, now))

    async def rotate_refresh_token(self, old_token: str, new_token: str) -> RefreshRotation:
        old, new, now = token_digest(old_token), token_digest(new_token), self._now()
        return await self._tx(lambda c: _rotate_tx(c, old, new, self._idle, now))

    async def find_refresh_token(self, token: str) -> RefreshFamily | None:
        digest, now = token_digest(token), self._now()
        return await self._run(lambda c: _find_refresh(c, digest, self._idle, now))

    # ----------------------------------------------------------------- access tokens

    async def record_access_token(
        self,
        jti: str,
        exp: datetime,
        *,
        client_id: str,
        username: str | None = None,
        family_id: str | None = None,
    ) -> None:
        key = None if username is None else username_key(username)
        values = (jti, _us(exp), client_id, key, family_id)
        now = self._now()
        await self._tx(lambda c: _record_access_tx(c, values, now))

    async def revoke_family(self, family_id: str) -> None:
        now = self._now()
        await self._tx(lambda c: _revoke_family_tx(c, family_id, now))

    async def revoke_access_token(self, jti: str, exp: datetime) -> None:
        values = (jti, _us(exp))
        await self._run(
            lambda c: c.execute(
                "INSERT OR IGNORE INTO auth_revoked_token (jti, exp) VALUES (?, ?)", values
            )
        )

    async def is_access_token_revoked(self, jti: str) -> bool:
        now = self._now()
        row = await self._run(
            lambda c: c.execute(
                "SELECT 1 FROM auth_revoked_token WHERE jti = ? AND exp > ?", (jti, now)
            ).fetchone()
        )
        return row is not None

    async def revoked_access_tokens(self, cursor: str | None = None) -> RevocationBatch:
        try:
            after = int(cursor) if cursor else 0
        except ValueError:
            raise ValueError(f"not a revocation cursor of this registry: {cursor!r}") from None
        now = self._now()
        return await self._run(lambda c: _revocations(c, after, now))

    async def purge_expired(self) -> int:
        now = self._now()
        return await self._tx(lambda c: _purge_tx(c, self._idle, now))

    # ----------------------------------------------------------------- consent screen

    async def record_consent_decision(self, decision: ConsentDecision) -> None:
        values = (
            decision.username,
            decision.fhir_user,
            decision.patient,
            decision.client_id,
            " ".join(decision.scopes),
            int(decision.approved),
            int(decision.remember),
            _us(decision.decided_at),
        )
        await self._run(
            lambda c: c.execute(
                f"INSERT INTO auth_consent_decision ({_DECISION}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        )

    async def consent_decisions(
        self, *, username: str | None = None, client_id: str | None = None
    ) -> list[ConsentDecision]:
        where, params = ["1 = 1"], []
        if username is not None:
            where.append("username = ?")
            params.append(username)
        if client_id is not None:
            where.append("client_id = ?")
            params.append(client_id)
        sql = (
            f"SELECT {_DECISION} FROM auth_consent_decision WHERE {' AND '.join(where)} "
            "ORDER BY seq"
        )
        return await self._run(lambda c: [_decision(r) for r in c.execute(sql, params)])

    # ----------------------------------------------------------------- client assertions

    async def remember_assertion(self, client_id: str, jti: str, exp: datetime) -> bool:
        values, now = (client_id, jti, _us(exp)), self._now()

        def remember(conn: sqlite3.Connection) -> bool:
            # One statement: insert, or take over the row only when its assertion has expired.
            cursor = conn.execute(
                "INSERT INTO auth_assertion (client_id, jti, exp) VALUES (?, ?, ?) "
                "ON CONFLICT (client_id, jti) DO UPDATE SET exp = excluded.exp "
                "WHERE auth_assertion.exp <= ?",
                (*values, now),
            )
            return cursor.rowcount == 1

        return await self._run(remember)
