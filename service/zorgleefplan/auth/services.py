"""What the authorization server and the resource server share, built once per application.

``open_auth_services`` opens the registries in the store (its SQLite file or MongoDB), loads (or
creates) the signing keys, and starts the revocation feed that keeps this process's in-memory
list of revoked access tokens current with revocations made by any process on the same store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from starlette.requests import Request

from zorgleefplan.auth.data_services import DataServiceRegistry, data_services
from zorgleefplan.auth.keys import SigningKeys
from zorgleefplan.auth.passwords import PasswordLogin
from zorgleefplan.auth.registry import AuthRegistry
from zorgleefplan.auth.sqlite_registry import SqliteAuthRegistry
from zorgleefplan.auth.tokens import MemoryRevokedTokens, TokenVerifier
from zorgleefplan.config import Settings

log = logging.getLogger(__name__)

REVOCATION_POLL_SECONDS = 1.0
PURGE_EVERY_POLLS = 3600  # about hourly


def public_root(request: Request, settings: Settings) -> str:
    """scheme://host[:port] of this service: the configured base URL, else the request's
    (from the Host header as Starlette's ``request.url`` would, without building a URL: this
    runs on every request)."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    scope = request.scope
    scheme = scope.get("scheme", "http")
    for name, value in scope["headers"]:
        if name == b"host":
            return f"{scheme}://{value.decode('latin-1')}"
    host, port = scope.get("server") or ("localhost", None)
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + ("" if port in (None, default) else f":{port}")


@dataclass(frozen=True)
class AuthServices:
    settings: Settings
    registry: AuthRegistry
    keys: SigningKeys
    revoked: MemoryRevokedTokens
    verifier: TokenVerifier
    login: PasswordLogin
    data_services: DataServiceRegistry
    feed: RevocationFeed

    def issuer(self, request: Request) -> str:
        """The ``iss`` of every token this service issues (RFC 9068, SMART)."""
        return public_root(request, self.settings)

    def audience(self, request: Request) -> str:
        """The ``aud`` of access tokens: the FHIR base URL."""
        return self.issuer(request) + "/fhir"

    async def close(self) -> None:
        await self.feed.stop()
        await self.registry.close()


class RevocationFeed:
    """Polls the registry for access tokens revoked by any process and adds them to the
    in-memory list every request consults (so a check costs a dict lookup, not a query).
    A revocation in this process is added at once by the revoking code; other workers learn
    of it within one poll interval. Every ``purge_every`` polls it also has the registry drop
    what has expired (codes, lapsed grants, old revocations, seen assertion ids)."""

    def __init__(
        self,
        registry: AuthRegistry,
        revoked: MemoryRevokedTokens,
        interval: float = REVOCATION_POLL_SECONDS,
        purge_every: int = PURGE_EVERY_POLLS,
    ) -> None:
        self._registry = registry
        self._revoked = revoked
        self._interval = interval
        self._purge_every = purge_every
        self._cursor: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def catch_up(self) -> None:
        batch = await self._registry.revoked_access_tokens(self._cursor)
        for revoked in batch.tokens:
            self._revoked.add(revoked.jti, int(revoked.exp.timestamp()))
        self._cursor = batch.cursor

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="zlp-revocation-feed")

    async def _run(self) -> None:
        polls = 0
        while True:
            await asyncio.sleep(self._interval)
            polls += 1
            try:
                await self.catch_up()
                if polls % self._purge_every == 0:
                    await self._registry.purge_expired()
            except Exception:  # keep polling: a busy store must not end revocation checks
                log.exception("revocation feed: polling the registry failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def open_registry(settings: Settings) -> AuthRegistry:
    """The registries in the configured store: its SQLite file, or its MongoDB database."""
    if settings.mongodb_url is not None:
        from zorgleefplan.auth.mongo_registry import MongoAuthRegistry  # loads the driver

        return await MongoAuthRegistry.from_settings(settings)
    return await SqliteAuthRegistry.from_settings(settings)


async def open_auth_services(settings: Settings) -> AuthServices:
    registry = await open_registry(settings)
    try:
        keys = await asyncio.to_thread(SigningKeys.open, settings.data_dir)
        revoked = MemoryRevokedTokens()
        feed = RevocationFeed(registry, revoked)
        await feed.catch_up()
    except BaseException:
        await registry.close()
        raise
    feed.start()
    return AuthServices(
        settings=settings,
        registry=registry,
        keys=keys,
        revoked=revoked,
        verifier=TokenVerifier(keys, revoked),
        login=PasswordLogin.from_settings(registry, settings),
        data_services=data_services(),
        feed=feed,
    )
