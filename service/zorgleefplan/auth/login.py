"""Person login for the authorization pages, pluggable.

Two kinds of :class:`LoginMethod`:

- :class:`BuiltinLogin` (a form): the built-in account store, through
  :class:`~zorgleefplan.auth.passwords.PasswordLogin` (argon2id, one uniform refusal, lockout).
- :class:`OidcLogin` (a redirect): an external OpenID Connect provider (a DigiD or UZI broker in
  production). Authorization code with PKCE S256, ``state`` and ``nonce`` through authlib's
  client; the ID token is verified with joserfc against the provider's JWKS (signature, ``iss``,
  ``aud``, ``exp``, ``nonce``); the account is the one registered for (issuer, ``sub``).

The pages ask ``method.kind`` which one they have: ``"form"`` methods implement
``authenticate``; ``"redirect"`` methods implement ``begin`` and ``complete``.
"""

from __future__ import annotations

import logging
import secrets
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from zorgleefplan.auth.passwords import PasswordLogin
from zorgleefplan.auth.registry import Account, AccountRegistry
from zorgleefplan.config import Settings

log = logging.getLogger("zorgleefplan.auth.login")

with warnings.catch_warnings(record=True):
    # authlib 1.9 prefers httpx2 and warns once, at import, when it falls back to httpx; it
    # also installs an "always" filter for its warnings, which this block takes back.
    from authlib.integrations.httpx_client import AsyncOAuth2Client

ID_TOKEN_ALGORITHMS = ("RS256", "ES256", "PS256")


class LoginMethod(Protocol):
    kind: Literal["form", "redirect"]
    name: str  # shown on the login page ("Inloggen met ...")


class FormLogin(LoginMethod, Protocol):
    async def authenticate(self, username: str, password: str) -> Account | None:
        """The account, or None for every kind of refusal (never say which)."""
        ...


class RedirectLogin(LoginMethod, Protocol):
    async def begin(self, callback_url: str) -> tuple[str, dict[str, str]]:
        """Where to send the browser, and what to keep in the session until it comes back."""
        ...

    async def complete(
        self, pending: Mapping[str, str], params: Mapping[str, str], callback_url: str
    ) -> Account | None:
        """The account for the provider's answer (the callback's query), or None."""
        ...


@dataclass
class BuiltinLogin:
    passwords: PasswordLogin
    kind: Literal["form"] = "form"
    name: str = "uw gebruikersnaam en wachtwoord"

    async def authenticate(self, username: str, password: str) -> Account | None:
        return await self.passwords.authenticate(username, password)


class OidcLoginError(Exception):
    """The provider refused, or answered something that does not verify."""


class OidcLogin:
    """An external OpenID Connect provider, reached with authlib's OAuth 2.0 client."""

    kind: Literal["redirect"] = "redirect"

    def __init__(
        self,
        accounts: AccountRegistry,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        scope: str = "openid",
        name: str = "DigiD",
        transport: httpx.AsyncBaseTransport | None = None,
        metadata_ttl: float = 3600.0,
    ) -> None:
        self._accounts = accounts
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._scope = scope if "openid" in scope.split() else f"openid {scope}"
        self.name = name
        self._transport = transport  # tests put a fake provider here
        self._metadata_ttl = metadata_ttl
        self._metadata: tuple[float, dict[str, Any]] | None = None

    @classmethod
    def from_settings(cls, accounts: AccountRegistry, settings: Settings) -> OidcLogin:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            raise ValueError("login_method oidc needs ZLP_OIDC_ISSUER and ZLP_OIDC_CLIENT_ID")
        return cls(
            accounts,
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            scope=settings.oidc_scope,
        )

    def _client(self, callback_url: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            token_endpoint_auth_method=("client_secret_basic" if self._client_secret else "none"),
            scope=self._scope,
            redirect_uri=callback_url,
            code_challenge_method="S256",
            transport=self._transport,
            timeout=10.0,
        )

    async def _provider(self) -> dict[str, Any]:
        if self._metadata is not None and time.monotonic() < self._metadata[0]:
            return self._metadata[1]
        async with httpx.AsyncClient(transport=self._transport, timeout=10.0) as http:
            response = await http.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            metadata = response.json()
            keys = await http.get(metadata["jwks_uri"])
            keys.raise_for_status()
            metadata["_jwks"] = keys.json()
        if metadata.get("issuer", "").rstrip("/") != self.issuer:
            raise OidcLoginError("the provider's metadata names another issuer")
        self._metadata = (time.monotonic() + self._metadata_ttl, metadata)
        return metadata

    async def begin(self, callback_url: str) -> tuple[str, dict[str, str]]:
        metadata = await self._provider()
        state = secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        async with self._client(callback_url) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                nonce=nonce,
                code_verifier=verifier,
            )
        return url, {"state": state, "nonce": nonce, "verifier": verifier}

    async def complete(
        self, pending: Mapping[str, str], params: Mapping[str, str], callback_url: str
    ) -> Account | None:
        if not secrets.compare_digest(params.get("state", ""), pending.get("state", "-")):
            log.info("external login refused: state does not match")
            return None
        if "error" in params or not params.get("code"):
            log.info("external login refused by the provider: %s", params.get("error"))
            return None
        try:
            metadata = await self._provider()
            async with self._client(callback_url) as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=params["code"],
                    code_verifier=pending["verifier"],
                )
            claims = self._verify_id_token(token.get("id_token"), metadata, pending["nonce"])
        except (OidcLoginError, httpx.HTTPError, JoseError, KeyError, ValueError) as exc:
            log.warning("external login failed: %s", exc)
            return None
        account = await self._accounts.get_account_by_subject(self.issuer, claims["sub"])
        if account is None or not account.active:
            log.info("external login refused: no active account for sub %r", claims["sub"])
            return None
        return account

    def _verify_id_token(
        self, id_token: object, metadata: Mapping[str, Any], nonce: str
    ) -> dict[str, Any]:
        if not isinstance(id_token, str):
            raise OidcLoginError("the token response has no id_token")
        keys = KeySet.import_key_set(metadata["_jwks"])
        token = jwt.decode(id_token, keys, algorithms=list(ID_TOKEN_ALGORITHMS))
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
        azp = token.claims.get("azp")
        if azp is not None and azp != self.client_id:
            raise OidcLoginError("the ID token was issued to another party (azp)")
        return dict(token.claims)


def login_method(
    accounts: AccountRegistry, passwords: PasswordLogin, settings: Settings
) -> FormLogin | RedirectLogin:
    """The configured :class:`LoginMethod` (``Settings.login_method``)."""
    if settings.login_method == "oidc":
        return OidcLogin.from_settings(accounts, settings)
    return BuiltinLogin(passwords)
