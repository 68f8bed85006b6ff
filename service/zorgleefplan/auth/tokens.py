"""JWT access tokens (RFC 9068): issued by the authorization server, verified on each request.

Only ES256 with this service's own keys is accepted, and only tokens typed ``at+jwt``: an ID
token or a client assertion signed elsewhere can never pass as an access token, and the
``alg`` header cannot talk the verifier into ``none`` or an HMAC keyed with the public key.
Verifying costs an ECDSA check; a bounded cache of verified tokens makes a repeat request a
dict lookup, while expiry, revocation and the signing key's presence are still checked on
every hit.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from joserfc import jws, jwt
from joserfc.errors import JoseError

from zorgleefplan.auth.keys import ALGORITHM, SigningKeys
from zorgleefplan.auth.scopes import ScopeSet
from zorgleefplan.errors import Unauthorized

TOKEN_TYPE = "at+jwt"
_TOKEN_TYPES = frozenset({TOKEN_TYPE, "application/at+jwt"})  # RFC 7515 4.1.9: prefix optional
LEEWAY = 30  # seconds another server's clock may run ahead when it stamps iat/nbf
_MAX_TOKEN_LENGTH = 8192


class InvalidToken(Unauthorized):
    """A bearer token that does not verify. Each subclass names one reason, in words that tell
    a client what went wrong without helping anyone forge a token."""

    description = "the access token is invalid"

    def __init__(self) -> None:
        super().__init__(self.description)


class MalformedToken(InvalidToken):
    description = "the access token is not a well-formed JWT access token"


class UnsupportedAlgorithm(InvalidToken):
    description = "the access token is not signed with ES256"


class WrongTokenType(InvalidToken):
    description = "the token is not an access token (typ must be at+jwt)"


class UnknownKey(InvalidToken):
    description = "the access token was signed with a key this server does not hold"


class BadSignature(InvalidToken):
    description = "the access token signature does not verify"


class TokenExpired(InvalidToken):
    description = "the access token has expired"
    issue_code = "expired"


class TokenNotYetValid(InvalidToken):
    description = "the access token is not valid yet"


class WrongIssuer(InvalidToken):
    description = "the access token was issued by another server"


class WrongAudience(InvalidToken):
    description = "the access token is meant for another server"


class TokenRevoked(InvalidToken):
    description = "the access token has been revoked"


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    issuer: str  # iss
    subject: str  # sub: account id, or the client id of a backend service
    audience: tuple[str, ...]  # aud
    client_id: str
    scope: str  # space-separated, as granted
    token_id: str  # jti
    issued_at: int  # iat
    expires_at: int  # exp
    kid: str  # the key that signed it: a cache hit checks it was not retired since
    not_before: int | None = None  # nbf
    patient: str | None = None  # SMART context: the client's Patient id (as in the token response)
    fhir_user: str | None = None  # fhirUser: "Patient/1", "RelatedPerson/2", "PractitionerRole/3"
    organization: str | None = None  # "Organization/5": a backend's or practitioner's org

    @property
    def scopes(self) -> ScopeSet:
        return ScopeSet.parse(self.scope)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: AccessTokenClaims


def issue(
    keys: SigningKeys,
    *,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scope: str,
    lifetime: int,
    now: float | None = None,
    patient: str | None = None,
    fhir_user: str | None = None,
    organization: str | None = None,
) -> IssuedToken:
    """Sign an access token with the active key; ``lifetime`` is in seconds
    (``Settings.access_token_lifetime``)."""
    signing = keys.signing_key()
    issued_at = int(time.time() if now is None else now)
    claims = AccessTokenClaims(
        issuer=issuer,
        subject=subject,
        audience=(audience,),
        client_id=client_id,
        scope=scope,
        token_id=secrets.token_urlsafe(18),
        issued_at=issued_at,
        expires_at=issued_at + lifetime,
        kid=signing.kid,
        patient=patient,
        fhir_user=fhir_user,
        organization=organization,
    )
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": claims.expires_at,
        "iat": issued_at,
        "jti": claims.token_id,
        "client_id": client_id,
        "scope": scope,
    }
    context = {"patient": patient, "fhirUser": fhir_user, "organization": organization}
    payload.update({name: value for name, value in context.items() if value is not None})
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": signing.kid}
    return IssuedToken(jwt.encode(header, payload, signing.key, algorithms=[ALGORITHM]), claims)


class RevokedTokens(Protocol):
    """Asked on every request, cached token or not: keep it an in-memory lookup."""

    def is_revoked(self, jti: str) -> bool: ...


class MemoryRevokedTokens:
    """Revoked token ids held until the token would have expired anyway."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._expires: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._expires)

    def add(self, jti: str, expires_at: int) -> None:
        now = self._clock()
        # Revocations are rare: sweeping on each one keeps the set to live tokens.
        self._expires = {j: e for j, e in self._expires.items() if e > now}
        if expires_at > now:
            self._expires[jti] = expires_at

    def is_revoked(self, jti: str) -> bool:
        # Past its exp a token is refused as expired; no need to remember it.
        expires_at = self._expires.get(jti)
        return expires_at is not None and expires_at > self._clock()


class TokenVerifier:
    """Verifies access tokens against a key set and a revocation list, caching the result."""

    def __init__(
        self, keys: SigningKeys, revoked: RevokedTokens, *, cache_size: int = 10_000
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self._keys = keys
        self._revoked = revoked
        self._cache_size = cache_size
        self._cache: dict[str, AccessTokenClaims] = {}
        self._cache_lock = threading.Lock()

    def verify(
        self, token: str, *, issuer: str, audience: str, now: float | None = None
    ) -> AccessTokenClaims:
        """The token's claims, or an :class:`InvalidToken` subclass saying why not."""
        now = time.time() if now is None else now
        claims = self._cache.get(token)
        if claims is not None and self._keys.find(claims.kid) is None:
            self._forget(token)  # its key was retired: verify afresh, which refuses it
            claims = None
        cached = claims is not None
        if claims is None:
            claims = self._verify_signature(token)
        try:
            self._check(claims, issuer, audience, now)
        except InvalidToken:
            self._forget(token)
            raise
        if not cached:
            self._remember(token, claims)
        return claims

    def _verify_signature(self, token: str) -> AccessTokenClaims:
        if len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise MalformedToken()
        try:
            signed = jws.extract_compact(token.encode("ascii"))
        except (JoseError, ValueError, TypeError, AttributeError) as error:
            # joserfc assumes the header decodes to an object; UnicodeError is a ValueError.
            raise MalformedToken() from error
        header = signed.headers()
        if not isinstance(header, dict):
            raise MalformedToken()
        if header.get("alg") != ALGORITHM:
            raise UnsupportedAlgorithm()
        if header.get("typ") not in _TOKEN_TYPES:
            raise WrongTokenType()
        kid = header.get("kid")
        key = self._keys.find(kid) if isinstance(kid, str) else None
        if key is None:
            raise UnknownKey()
        try:
            valid = jws.validate_compact(signed, key.key, algorithms=[ALGORITHM])
        except JoseError as error:  # e.g. a "crit" header this server does not understand
            raise MalformedToken() from error
        if not valid:
            raise BadSignature()
        return _claims(signed.payload, key.kid)

    def _check(self, claims: AccessTokenClaims, issuer: str, audience: str, now: float) -> None:
        if claims.issuer != issuer:
            raise WrongIssuer()
        if audience not in claims.audience:
            raise WrongAudience()
        if now >= claims.expires_at:
            raise TokenExpired()
        if claims.issued_at > now + LEEWAY or (
            claims.not_before is not None and claims.not_before > now + LEEWAY
        ):
            raise TokenNotYetValid()
        if self._revoked.is_revoked(claims.token_id):
            raise TokenRevoked()

    # Reads are lock-free; writers take the lock so eviction never iterates a changing dict.
    def _remember(self, token: str, claims: AccessTokenClaims) -> None:
        with self._cache_lock:
            # First in, first out: tokens share one lifetime, so the oldest expires first.
            while len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
            self._cache[token] = claims

    def _forget(self, token: str) -> None:
        with self._cache_lock:
            self._cache.pop(token, None)


def _claims(payload: bytes, kid: str) -> AccessTokenClaims:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise MalformedToken() from error
    if not isinstance(data, dict):
        raise MalformedToken()
    audience = data.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or not audiences:
        raise MalformedToken()
    if not all(isinstance(a, str) for a in audiences):
        raise MalformedToken()
    try:
        claims = AccessTokenClaims(
            issuer=_text(data, "iss"),
            subject=_text(data, "sub"),
            audience=tuple(audiences),
            client_id=_text(data, "client_id"),
            scope=_text(data, "scope"),
            token_id=_text(data, "jti"),
            issued_at=_number(data, "iat"),
            expires_at=_number(data, "exp"),
            kid=kid,
            not_before=_number(data, "nbf") if "nbf" in data else None,
            patient=_text(data, "patient") if "patient" in data else None,
            fhir_user=_text(data, "fhirUser") if "fhirUser" in data else None,
            organization=_text(data, "organization") if "organization" in data else None,
        )
    except (KeyError, TypeError) as error:
        raise MalformedToken() from error
    return claims


def _text(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise TypeError(name)
    return value


def _number(data: dict[str, Any], name: str) -> int:
    value = data[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(name)
    return value
