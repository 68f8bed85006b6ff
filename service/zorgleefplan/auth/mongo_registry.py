"""The MongoDB adapter of the authorization registries, in the FHIR store's database.

Collections ``auth_*`` beside the store's, indexes created on open. Every operation that reads
before it writes is one MongoDB transaction (retried by the driver on a transient conflict),
or one atomic single-document update, so any number of workers stay correct: a code is
consumed once, a refresh token rotates once, a failure counter never loses an increment.
Revoked access tokens take their sequence number (the pollers' cursor) from a counter inside
the revoking transaction, so the numbers follow commit order and a poller never skips one.

Times are µs since the epoch (UTC), like the store; codes and tokens SHA-256 digests only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import ASCENDING, AsyncMongoClient, IndexModel, ReadPreference, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

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
from zorgleefplan.errors import Conflict
from zorgleefplan.store.mongo_connection import (
    TRANSACTION_READS,
    WRITES,
    Document,
    connect,
    open_database,
    translated,
    unavailable,
)

T = TypeVar("T")
Session = AsyncClientSession | None

APPS = "auth_apps"
ACCOUNTS = "auth_accounts"
CODES = "auth_codes"
FAMILIES = "auth_families"
REFRESH_TOKENS = "auth_refresh_tokens"
REVOKED_FAMILIES = "auth_revoked_families"
ACCESS_TOKENS = "auth_access_tokens"
REVOKED_TOKENS = "auth_revoked_tokens"
CONSENT_DECISIONS = "auth_consent_decisions"
ASSERTIONS = "auth_assertions"
COUNTERS = "auth_counters"
REVOCATIONS = "revocations"  # counters document: the last revoked-token sequence number


def _index(*keys: str, **options: Any) -> IndexModel:
    return IndexModel([(k, ASCENDING) for k in keys], **options)


INDEXES: Mapping[str, Sequence[IndexModel]] = {
    APPS: (_index("created"),),
    ACCOUNTS: (
        _index("created"),
        # At most one account per external (issuer, subject); accounts without one are many.
        _index(
            "external_issuer",
            "external_subject",
            unique=True,
            partialFilterExpression={"external_issuer": {"$type": "string"}},
        ),
    ),
    CODES: (_index("expires_at"), _index("family_id")),
    FAMILIES: (_index("client_id"), _index("account_key"), _index("last_used")),
    REFRESH_TOKENS: (_index("family_id"),),
    REVOKED_FAMILIES: (_index("revoked_at"),),
    ACCESS_TOKENS: (_index("family_id"), _index("client_id"), _index("account_key"), _index("exp")),
    REVOKED_TOKENS: (_index("seq", unique=True), _index("exp")),
    CONSENT_DECISIONS: (_index("username"), _index("client_id")),
    ASSERTIONS: (_index("exp"),),
}


def _us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("registry times must be timezone-aware")
    return int(moment.timestamp() * 1_000_000)


def _dt(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


# --------------------------------------------------------------------------- documents


def app_document(app: App) -> Document:
    return {
        "_id": app.client_id,
        "name": app.name,
        "kind": app.kind,
        "redirect_uris": list(app.redirect_uris),
        "jwks": None if app.jwks is None else dict(app.jwks),
        "jwks_uri": app.jwks_uri,
        "scopes": list(app.scopes),
        "organization": app.organization,
        "organization_name": app.organization_name,
        "active": app.active,
        "created": _us(app.created),
    }


def app_record(doc: Mapping[str, Any]) -> App:
    return App(
        client_id=doc["_id"],
        name=doc["name"],
        kind=doc["kind"],
        redirect_uris=tuple(doc["redirect_uris"]),
        jwks=doc["jwks"],
        jwks_uri=doc["jwks_uri"],
        scopes=tuple(doc["scopes"]),
        organization=doc["organization"],
        organization_name=doc["organization_name"],
        active=doc["active"],
        created=_dt(doc["created"]),
    )


def account_document(account: Account) -> Document:
    return {
        "_id": account.key,
        "username": account.username,
        "display_name": account.display_name,
        "fhir_users": list(account.fhir_users),
        "password_hash": account.password_hash,
        "external_issuer": account.external_issuer,
        "external_subject": account.external_subject,
        "active": account.active,
        "failed_logins": account.failed_logins,
        "locked_until": None if account.locked_until is None else _us(account.locked_until),
        "created": _us(account.created),
    }


def account_record(doc: Mapping[str, Any]) -> Account:
    return Account(
        username=doc["username"],
        display_name=doc["display_name"],
        fhir_users=tuple(doc["fhir_users"]),
        password_hash=doc["password_hash"],
        external_issuer=doc["external_issuer"],
        external_subject=doc["external_subject"],
        active=doc["active"],
        failed_logins=doc["failed_logins"],
        locked_until=None if doc["locked_until"] is None else _dt(doc["locked_until"]),
        created=_dt(doc["created"]),
    )


def code_document(digest: str, code: AuthorizationCode) -> Document:
    return {
        "_id": digest,
        "client_id": code.client_id,
        "redirect_uri": code.redirect_uri,
        "scope": code.scope,
        "code_challenge": code.code_challenge,
        "code_challenge_method": code.code_challenge_method,
        "username": code.username,
        "fhir_user": code.fhir_user,
        "patient": code.patient,
        "nonce": code.nonce,
        "remember": code.remember,
        "family_id": code.family_id,
        "expires_at": _us(code.expires_at),
        "used_at": None,
    }


def code_record(doc: Mapping[str, Any]) -> AuthorizationCode:
    return AuthorizationCode(
        client_id=doc["client_id"],
        redirect_uri=doc["redirect_uri"],
        scope=doc["scope"],
        code_challenge=doc["code_challenge"],
        code_challenge_method=doc["code_challenge_method"],
        username=doc["username"],
        fhir_user=doc["fhir_user"],
        patient=doc["patient"],
        nonce=doc["nonce"],
        remember=doc["remember"],
        family_id=doc["family_id"],
        expires_at=_dt(doc["expires_at"]),
    )


def family_record(doc: Mapping[str, Any]) -> RefreshFamily:
    return RefreshFamily(
        family_id=doc["_id"],
        client_id=doc["client_id"],
        scope=doc["scope"],
        username=doc["username"],
        fhir_user=doc["fhir_user"],
        patient=doc["patient"],
        created=_dt(doc["created"]),
        last_used=_dt(doc["last_used"]),
    )


def decision_document(decision: ConsentDecision) -> Document:
    return {
        "_id": ObjectId(),  # increasing: the order decisions were recorded in
        "username": decision.username,
        "fhir_user": decision.fhir_user,
        "patient": decision.patient,
        "client_id": decision.client_id,
        "scopes": list(decision.scopes),
        "approved": decision.approved,
        "remember": decision.remember,
        "decided_at": _us(decision.decided_at),
    }


def decision_record(doc: Mapping[str, Any]) -> ConsentDecision:
    return ConsentDecision(
        username=doc["username"],
        fhir_user=doc["fhir_user"],
        patient=doc["patient"],
        client_id=doc["client_id"],
        scopes=tuple(doc["scopes"]),
        approved=doc["approved"],
        remember=doc["remember"],
        decided_at=_dt(doc["decided_at"]),
    )


def failure_update(max_failures: int, until: int) -> list[Document]:
    """One failed login as an update pipeline (atomic on the account document): count it, and
    on the ``max_failures``-th lock the account until ``until`` and start counting again."""
    counted = {"$add": ["$failed_logins", 1]}
    reached = {"$gte": [counted, max_failures]}
    return [
        {
            "$set": {
                "locked_until": {"$cond": [reached, until, "$locked_until"]},
                "failed_logins": {"$cond": [reached, 0, counted]},
            }
        }
    ]


# --------------------------------------------------------------------------- the adapter


class MongoAuthRegistry:
    """:class:`zorgleefplan.auth.registry.AuthRegistry` on MongoDB."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        *,
        refresh_idle_lifetime: timedelta = timedelta(days=183),
        clock: Clock = utc_now,
    ) -> None:
        self._client = client
        self._db = db
        self._idle = int(refresh_idle_lifetime.total_seconds() * 1_000_000)
        self._clock = clock
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        database: str | None = None,
        timeout: float = 10.0,
        refresh_idle_lifetime: timedelta = timedelta(days=183),
        clock: Clock = utc_now,
    ) -> MongoAuthRegistry:
        """Connect (the same checks as the store) and create the collections, indexes and the
        revocation counter when missing (transactions may not create collections)."""
        client = await connect(url, timeout)
        try:
            db = open_database(client, database)
            with translated():
                for name, models in INDEXES.items():
                    await db[name].create_indexes(list(models))
                with contextlib.suppress(DuplicateKeyError):  # another worker made it just now
                    await db[COUNTERS].update_one(
                        {"_id": REVOCATIONS}, {"$setOnInsert": {"seq": 0}}, upsert=True
                    )
        except BaseException:
            await client.close()
            raise
        return cls(client, db, refresh_idle_lifetime=refresh_idle_lifetime, clock=clock)

    @classmethod
    async def from_settings(
        cls, settings: Settings, *, clock: Clock = utc_now
    ) -> MongoAuthRegistry:
        url = settings.mongodb_url
        if url is None:
            raise ValueError("the settings name no MongoDB store (ZLP_STORE)")
        return await cls.open(
            url,
            timeout=settings.store_timeout,
            refresh_idle_lifetime=timedelta(seconds=settings.refresh_idle_lifetime),
            clock=clock,
        )

    # ----------------------------------------------------------------- plumbing

    def _now(self) -> int:
        return _us(self._clock())

    def _c(self, name: str) -> AsyncCollection[Document]:
        return self._db[name]

    async def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """One operation, translating the driver's errors at this one seam."""
        try:
            return await fn()
        except DuplicateKeyError as exc:
            raise Conflict(f"the registry refused a duplicate: {exc}") from exc
        except PyMongoError as exc:
            raise unavailable(exc) from exc

    async def _tx(self, fn: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """``fn`` in one MongoDB transaction (all or nothing), retried by the driver when it
        conflicts with another."""

        async def transaction() -> T:
            async with self._client.start_session() as s:
                return await s.with_transaction(
                    fn,
                    read_concern=TRANSACTION_READS,
                    write_concern=WRITES,
                    read_preference=ReadPreference.PRIMARY,
                )

        return await self._run(transaction)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.close()

    # ----------------------------------------------------------------- apps

    async def add_app(self, app: App) -> None:
        try:
            await self._run(lambda: self._c(APPS).insert_one(app_document(app)))
        except Conflict as exc:
            raise AlreadyRegistered(f"an app with client_id {app.client_id!r} exists") from exc

    async def get_app(self, client_id: str) -> App | None:
        doc = await self._run(lambda: self._c(APPS).find_one({"_id": client_id}))
        return None if doc is None else app_record(doc)

    async def list_apps(self) -> list[App]:
        cursor = self._c(APPS).find().sort([("created", 1), ("_id", 1)])
        return [app_record(d) for d in await self._run(cursor.to_list)]

    async def set_app_active(self, client_id: str, active: bool) -> App:
        now = self._now()

        async def change(s: AsyncClientSession) -> Document | None:
            doc = await self._c(APPS).find_one_and_update(
                {"_id": client_id},
                {"$set": {"active": active}},
                return_document=ReturnDocument.AFTER,
                session=s,
            )
            if doc is not None and not active:
                await self._revoke_families({"client_id": client_id}, now, s)
                await self._revoke_access_tokens({"client_id": client_id}, now, s)
            return doc

        doc = await self._tx(change)
        if doc is None:
            raise NotRegistered(f"no app with client_id {client_id!r}")
        return app_record(doc)

    # ----------------------------------------------------------------- accounts

    async def add_account(self, account: Account) -> None:
        try:
            await self._run(lambda: self._c(ACCOUNTS).insert_one(account_document(account)))
        except Conflict as exc:
            if await self.get_account(account.username) is not None:
                raise AlreadyRegistered(f"username {account.username!r} is taken") from exc
            raise AlreadyRegistered(
                f"external subject {account.external_subject!r} of {account.external_issuer!r}"
                " is linked to another account"
            ) from exc

    async def get_account(self, username: str) -> Account | None:
        key = username_key(username)
        doc = await self._run(lambda: self._c(ACCOUNTS).find_one({"_id": key}))
        return None if doc is None else account_record(doc)

    async def get_account_by_subject(self, issuer: str, subject: str) -> Account | None:
        where = {"external_issuer": issuer, "external_subject": subject}
        doc = await self._run(lambda: self._c(ACCOUNTS).find_one(where))
        return None if doc is None else account_record(doc)

    async def list_accounts(self) -> list[Account]:
        cursor = self._c(ACCOUNTS).find().sort([("created", 1), ("_id", 1)])
        return [account_record(d) for d in await self._run(cursor.to_list)]

    async def set_account_active(self, username: str, active: bool) -> Account:
        key, now = username_key(username), self._now()
        change: Document = {"active": active}
        if active:
            change.update(failed_logins=0, locked_until=None)

        async def update(s: AsyncClientSession) -> Document | None:
            doc = await self._c(ACCOUNTS).find_one_and_update(
                {"_id": key}, {"$set": change}, return_document=ReturnDocument.AFTER, session=s
            )
            if doc is not None and not active:
                await self._revoke_families({"account_key": key}, now, s)
                await self._revoke_access_tokens({"account_key": key}, now, s)
            return doc

        doc = await self._tx(update)
        if doc is None:
            raise NotRegistered(f"no account {username!r}")
        return account_record(doc)

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        key = username_key(username)
        result = await self._run(
            lambda: self._c(ACCOUNTS).update_one(
                {"_id": key}, {"$set": {"password_hash": password_hash}}
            )
        )
        if result.matched_count == 0:
            raise NotRegistered(f"no account {username!r}")

    async def record_login_failure(
        self, username: str, *, max_failures: int, lockout: timedelta
    ) -> Account | None:
        until = self._now() + int(lockout.total_seconds() * 1_000_000)
        doc = await self._run(
            lambda: self._c(ACCOUNTS).find_one_and_update(
                {"_id": username_key(username)},
                failure_update(max_failures, until),
                return_document=ReturnDocument.AFTER,
            )
        )
        return None if doc is None else account_record(doc)

    async def record_login_success(self, username: str) -> None:
        where = {
            "_id": username_key(username),
            "$or": [{"failed_logins": {"$gt": 0}}, {"locked_until": {"$ne": None}}],
        }
        await self._run(
            lambda: self._c(ACCOUNTS).update_one(
                where, {"$set": {"failed_logins": 0, "locked_until": None}}
            )
        )

    # ----------------------------------------------------------------- codes

    async def save_code(self, code: str, record: AuthorizationCode) -> None:
        doc = code_document(token_digest(code), record)
        await self._run(lambda: self._c(CODES).insert_one(doc))

    async def consume_code(self, code: str) -> CodeRedemption:
        digest, now = token_digest(code), self._now()
        # One atomic update decides the winner; a loser then reads why it lost.
        used = await self._run(
            lambda: self._c(CODES).find_one_and_update(
                {"_id": digest, "used_at": None, "expires_at": {"$gt": now}},
                {"$set": {"used_at": now}},
            )
        )
        if used is not None:
            return CodeRedemption("granted", code_record(used))
        doc = await self._run(lambda: self._c(CODES).find_one({"_id": digest}))
        if doc is None:
            return CodeRedemption("unknown")
        if doc["used_at"] is not None:
            return CodeRedemption("replayed", code_record(doc))
        return CodeRedemption("expired")

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
        digest, now = token_digest(token), self._now()
        family: Document = {
            "_id": family_id,
            "client_id": client_id,
            "scope": scope,
            "username": username,
            "fhir_user": fhir_user,
            "patient": patient,
            "created": now,
            "last_used": now,
            "account_key": username_key(username),
        }

        async def start(s: AsyncClientSession) -> bool:
            if await self._family_revoked(family_id, s):
                return False
            await self._c(FAMILIES).insert_one(family, session=s)
            token_doc = {"_id": digest, "family_id": family_id, "issued": now, "rotated": None}
            await self._c(REFRESH_TOKENS).insert_one(token_doc, session=s)
            return True

        try:
            started = await self._tx(start)
        except Conflict as exc:
            raise Conflict(f"refresh family {family_id!r} or its token exists already") from exc
        if not started:
            raise FamilyRevoked(f"grant {family_id!r} has been revoked")
        return family_record(family)

    async def rotate_refresh_token(self, old_token: str, new_token: str) -> RefreshRotation:
        old, new, now = token_digest(old_token), token_digest(new_token), self._now()

        async def rotate(s: AsyncClientSession) -> RefreshRotation:
            token = await self._c(REFRESH_TOKENS).find_one({"_id": old}, session=s)
            if token is None:
                return RefreshRotation("unknown")
            family_id = token["family_id"]
            found = await self._c(FAMILIES).find_one({"_id": family_id}, session=s)
            if found is None:
                return RefreshRotation("unknown")
            family = family_record(found)
            if token["rotated"] is not None:
                await self._revoke_family(family_id, now, s)
                return RefreshRotation("reused", family)
            if found["last_used"] + self._idle <= now:
                await self._revoke_family(family_id, now, s)
                return RefreshRotation("lapsed", family)
            await self._c(REFRESH_TOKENS).update_one(
                {"_id": old}, {"$set": {"rotated": now}}, session=s
            )
            token_doc = {"_id": new, "family_id": family_id, "issued": now, "rotated": None}
            await self._c(REFRESH_TOKENS).insert_one(token_doc, session=s)
            await self._c(FAMILIES).update_one(
                {"_id": family_id}, {"$set": {"last_used": now}}, session=s
            )
            return RefreshRotation("rotated", family_record({**found, "last_used": now}))

        try:
            return await self._tx(rotate)
        except Conflict as exc:
            raise Conflict("the new refresh token is not new") from exc

    async def find_refresh_token(self, token: str) -> RefreshFamily | None:
        digest, now = token_digest(token), self._now()
        found = await self._run(
            lambda: self._c(REFRESH_TOKENS).find_one({"_id": digest, "rotated": None})
        )
        if found is None:
            return None
        where = {"_id": found["family_id"], "last_used": {"$gt": now - self._idle}}
        family = await self._run(lambda: self._c(FAMILIES).find_one(where))
        return None if family is None else family_record(family)

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
        doc: Document = {
            "_id": jti,
            "exp": _us(exp),
            "client_id": client_id,
            "account_key": None if username is None else username_key(username),
            "family_id": family_id,
        }

        async def record(s: AsyncClientSession) -> bool:
            await self._c(ACCESS_TOKENS).insert_one(doc, session=s)
            if family_id is not None and await self._family_revoked(family_id, s):
                await self._revoke([(jti, doc["exp"])], s)
                return False
            return True

        try:
            recorded = await self._tx(record)
        except Conflict as exc:
            raise Conflict(f"access token jti {jti!r} was recorded before") from exc
        if not recorded:  # the token is recorded and revoked: committed, then refused
            raise FamilyRevoked(f"grant {family_id!r} has been revoked")

    async def revoke_family(self, family_id: str) -> None:
        now = self._now()
        await self._tx(lambda s: self._revoke_family(family_id, now, s))

    async def revoke_access_token(self, jti: str, exp: datetime) -> None:
        await self._tx(lambda s: self._revoke([(jti, _us(exp))], s))

    async def is_access_token_revoked(self, jti: str) -> bool:
        where = {"_id": jti, "exp": {"$gt": self._now()}}
        return await self._run(lambda: self._c(REVOKED_TOKENS).find_one(where)) is not None

    async def revoked_access_tokens(self, cursor: str | None = None) -> RevocationBatch:
        try:
            after = int(cursor) if cursor else 0
        except ValueError:
            raise ValueError(f"not a revocation cursor of this registry: {cursor!r}") from None
        now = self._now()

        async def poll() -> tuple[list[Document], int]:
            async with self._client.start_session(snapshot=True) as s:  # one point in time
                where = {"seq": {"$gt": after}, "exp": {"$gt": now}}
                found = self._c(REVOKED_TOKENS).find(where, session=s).sort("seq", 1)
                rows = await found.to_list()
                counter = await self._c(COUNTERS).find_one({"_id": REVOCATIONS}, session=s)
            return rows, 0 if counter is None else int(counter["seq"])

        rows, latest = await self._run(poll)
        return RevocationBatch(
            tokens=tuple(RevokedToken(r["_id"], _dt(r["exp"])) for r in rows),
            cursor=str(max(after, latest)),
        )

    async def purge_expired(self) -> int:
        now = self._now()
        retention = int(CODE_RETENTION.total_seconds() * 1_000_000)

        async def purge(s: AsyncClientSession) -> int:
            lapsed_cursor = self._c(FAMILIES).find(
                {"last_used": {"$lte": now - self._idle}}, {"_id": 1}, session=s
            )
            lapsed = [d["_id"] for d in await lapsed_cursor.to_list()]
            removed = 0
            for name, where in (
                (REFRESH_TOKENS, {"family_id": {"$in": lapsed}}),
                (FAMILIES, {"_id": {"$in": lapsed}}),
                (CODES, {"expires_at": {"$lte": now - retention}}),
                (REVOKED_FAMILIES, {"revoked_at": {"$lte": now - retention}}),
                (ACCESS_TOKENS, {"exp": {"$lte": now}}),
                (REVOKED_TOKENS, {"exp": {"$lte": now}}),
                (ASSERTIONS, {"exp": {"$lte": now}}),
            ):
                removed += (await self._c(name).delete_many(where, session=s)).deleted_count
            return removed

        return await self._tx(purge)

    # ----------------------------------------------------------------- revocation helpers
    # Run inside a caller's transaction (session ``s``).

    async def _family_revoked(self, family_id: str, s: AsyncClientSession) -> bool:
        found = await self._c(REVOKED_FAMILIES).find_one({"_id": family_id}, session=s)
        return found is not None

    async def _revoke(self, tokens: Sequence[tuple[str, int]], s: AsyncClientSession) -> None:
        """Mark access tokens (jti, exp) revoked, those not revoked yet with the next sequence
        numbers, in the order given."""
        jtis = [jti for jti, _ in tokens]
        known = self._c(REVOKED_TOKENS).find({"_id": {"$in": jtis}}, {"_id": 1}, session=s)
        revoked = {d["_id"] for d in await known.to_list()}
        fresh = list(dict((jti, exp) for jti, exp in tokens if jti not in revoked).items())
        if not fresh:
            return
        counter = await self._c(COUNTERS).find_one_and_update(
            {"_id": REVOCATIONS},
            {"$inc": {"seq": len(fresh)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=s,
        )
        assert counter is not None  # upserted
        first = int(counter["seq"]) - len(fresh) + 1
        docs = [{"_id": jti, "exp": exp, "seq": first + i} for i, (jti, exp) in enumerate(fresh)]
        await self._c(REVOKED_TOKENS).insert_many(docs, session=s)

    async def _revoke_access_tokens(self, where: Document, now: int, s: AsyncClientSession) -> None:
        """Revoke the unexpired recorded access tokens matching ``where``, in jti order."""
        found = (
            self._c(ACCESS_TOKENS)
            .find({**where, "exp": {"$gt": now}}, {"exp": 1}, session=s)
            .sort("_id", 1)
        )
        await self._revoke([(d["_id"], d["exp"]) for d in await found.to_list()], s)

    async def _revoke_families(self, where: Document, now: int, s: AsyncClientSession) -> None:
        found = self._c(FAMILIES).find(where, {"_id": 1}, session=s)
        for doc in await found.to_list():
            await self._revoke_family(doc["_id"], now, s)

    async def _revoke_family(self, family_id: str, now: int, s: AsyncClientSession) -> None:
        """Revoke a grant: remember it, drop its refresh tokens, use up its codes, revoke its
        access tokens."""
        await self._c(REVOKED_FAMILIES).update_one(
            {"_id": family_id}, {"$setOnInsert": {"revoked_at": now}}, upsert=True, session=s
        )
        await self._c(REFRESH_TOKENS).delete_many({"family_id": family_id}, session=s)
        await self._c(FAMILIES).delete_one({"_id": family_id}, session=s)
        await self._c(CODES).update_many(
            {"family_id": family_id, "used_at": None}, {"$set": {"used_at": now}}, session=s
        )
        await self._revoke_access_tokens({"family_id": family_id}, now, s)

    # ----------------------------------------------------------------- consent screen

    async def record_consent_decision(self, decision: ConsentDecision) -> None:
        doc = decision_document(decision)
        await self._run(lambda: self._c(CONSENT_DECISIONS).insert_one(doc))

    async def consent_decisions(
        self, *, username: str | None = None, client_id: str | None = None
    ) -> list[ConsentDecision]:
        where: Document = {}
        if username is not None:
            where["username"] = username
        if client_id is not None:
            where["client_id"] = client_id
        cursor = self._c(CONSENT_DECISIONS).find(where).sort("_id", 1)
        return [decision_record(d) for d in await self._run(cursor.to_list)]

    # ----------------------------------------------------------------- client assertions

    async def remember_assertion(self, client_id: str, jti: str, exp: datetime) -> bool:
        now = self._now()
        key = {"client": client_id, "jti": jti}
        try:
            # Insert, or take over the document only when its assertion has expired: a live
            # one makes the upsert collide with it (a replay).
            await self._run(
                lambda: self._c(ASSERTIONS).update_one(
                    {"_id": key, "exp": {"$lte": now}}, {"$set": {"exp": _us(exp)}}, upsert=True
                )
            )
        except Conflict:
            return False
        return True
