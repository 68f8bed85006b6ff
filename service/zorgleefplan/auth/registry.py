"""The authorization server's registries: records, validation, and the port adapters implement.

What lives here: registered apps (the OAuth clients, like MedMij's client list), person accounts,
authorization codes, refresh-token families, access-token revocations, consent-screen decisions
and client-assertion ``jti`` replay. Everything secret is stored as a SHA-256 digest only
(:func:`token_digest`); a leaked database yields no usable code or token.

Records are frozen dataclasses; the only way to make an :class:`App` or :class:`Account` is
:func:`new_app` / :func:`new_account`, which validate every field once, above the port, so every
adapter stores the same checked values. Adapters (``sqlite_registry.py``; MongoDB later) implement
:class:`AuthRegistry` and raise only :mod:`zorgleefplan.errors` exceptions. The contract suite in
``tests/unit/auth/test_registry_contract.py`` runs unchanged against each adapter.

Time: adapters take a clock (``() -> aware datetime``) when opened and use it for every
time-dependent decision (expiry, lockout, idle lapse), so tests move time instead of sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from zorgleefplan.errors import ZlpError

Clock = Callable[[], datetime]

AppKind = Literal["public", "confidential", "backend"]
APP_KINDS: tuple[AppKind, ...] = ("public", "confidential", "backend")

# Allowed scopes when none are given at registration. Scopes are an upper bound: the consent
# layer decides what the principal sees; a requested scope must be covered by one of these.
DEFAULT_SCOPES: Mapping[AppKind, tuple[str, ...]] = {
    "public": (
        "openid",
        "fhirUser",
        "launch/patient",
        "offline_access",
        "patient/*.cruds",
        "user/*.cruds",
    ),
    "confidential": (
        "openid",
        "fhirUser",
        "launch/patient",
        "offline_access",
        "patient/*.cruds",
        "user/*.cruds",
    ),
    "backend": ("system/*.cruds",),
}

FHIR_USER_TYPES = ("Patient", "RelatedPerson", "PractitionerRole")

# Used codes are kept this long past their expiry so that a late replay is still recognised
# (and revokes what the code produced); revoked-family markers as long.
CODE_RETENTION = timedelta(days=1)

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 1024

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # RFC 6749 section 3.3
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# JWK members that only a private or symmetric key has (RFC 7518 section 6).
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_ASYMMETRIC_KTY = frozenset({"RSA", "EC", "OKP"})
_MIN_RSA_BITS = 2048


# --------------------------------------------------------------------------- errors


class RegistryError(ZlpError):
    """Base of the registries' refusals."""


class InvalidRegistration(RegistryError):
    """An app or account field is malformed (the message names the field)."""


class AlreadyRegistered(RegistryError):
    status_hint = 409
    issue_code = "duplicate"


class NotRegistered(RegistryError):
    status_hint = 404
    issue_code = "not-found"


class FamilyRevoked(RegistryError):
    """Tokens were about to be issued from a grant that has been revoked meanwhile."""

    issue_code = "security"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class App:
    """A registered OAuth client: a patient app (PGO), a provider app or an EHR backend."""

    client_id: str
    name: str
    kind: AppKind
    redirect_uris: tuple[str, ...]  # exact strings; empty for backend services
    jwks: Mapping[str, Any] | None  # public keys only; None for public apps
    jwks_uri: str | None
    scopes: tuple[str, ...]  # allowed scopes (upper bound of what the app may request)
    organization: str | None  # "Organization/ID": the organisation a backend acts for
    organization_name: str | None  # display name of the app's organisation
    active: bool
    created: datetime


@dataclass(frozen=True, slots=True)
class Account:
    """A person who logs in: with a password (built-in store) or an external OIDC subject."""

    username: str  # as registered; lookups are case-insensitive (username_key)
    display_name: str
    fhir_users: tuple[str, ...]  # "Patient/x", "RelatedPerson/y", "PractitionerRole/z"
    password_hash: str | None
    external_issuer: str | None
    external_subject: str | None
    active: bool
    failed_logins: int
    locked_until: datetime | None
    created: datetime

    @property
    def key(self) -> str:
        return username_key(self.username)

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """What an authorization code stands for; the code itself is stored as a digest only."""

    client_id: str
    redirect_uri: str
    scope: str  # space-separated, as granted
    code_challenge: str
    code_challenge_method: str  # "S256"
    username: str  # the account that logged in
    fhir_user: str | None  # who acts: Patient, RelatedPerson or PractitionerRole
    patient: str | None  # the client whose plan is in context ("Patient/x")
    nonce: str | None
    remember: bool  # long-term access opted into on the consent screen
    family_id: str  # every token issued from this code belongs to this family
    expires_at: datetime


CodeOutcome = Literal["granted", "replayed", "expired", "unknown"]


@dataclass(frozen=True, slots=True)
class CodeRedemption:
    """The result of :meth:`CodeRegistry.consume_code`.

    ``granted``: first use, ``code`` is the record. ``replayed``: the code was used before;
    ``code`` carries the family whose tokens the caller must revoke. ``expired`` / ``unknown``:
    refused, ``code`` is None.
    """

    outcome: CodeOutcome
    code: AuthorizationCode | None = None


@dataclass(frozen=True, slots=True)
class RefreshFamily:
    """A long-term grant: the chain of refresh tokens rotated from one authorization."""

    family_id: str
    client_id: str
    scope: str
    username: str  # the account (subject) the grant belongs to
    fhir_user: str | None
    patient: str | None
    created: datetime
    last_used: datetime


RotationOutcome = Literal["rotated", "reused", "lapsed", "unknown"]


@dataclass(frozen=True, slots=True)
class RefreshRotation:
    """The result of :meth:`TokenRegistry.rotate_refresh_token`.

    ``rotated``: the new token replaced the old one, ``family`` is the grant (last_used now).
    ``reused``: the token had been rotated already; the whole family has been revoked (its
    refresh tokens and every recorded access token), ``family`` says which. ``lapsed``: unused
    longer than the idle lifetime; removed. ``unknown``: no such token (or revoked earlier).
    """

    outcome: RotationOutcome
    family: RefreshFamily | None = None


@dataclass(frozen=True, slots=True)
class RevokedToken:
    jti: str
    exp: datetime


@dataclass(frozen=True, slots=True)
class RevocationBatch:
    """Access tokens revoked since a cursor; pass ``cursor`` to the next poll."""

    tokens: tuple[RevokedToken, ...]
    cursor: str


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    """What a person decided on the consent screen."""

    username: str
    fhir_user: str | None  # who acted (the client, or a volmacht holder / representative)
    patient: str | None  # the client the decision is about
    client_id: str
    scopes: tuple[str, ...]
    approved: bool
    remember: bool
    decided_at: datetime


# --------------------------------------------------------------------------- helpers


def utc_now() -> datetime:
    return datetime.now(UTC)


def token_digest(token: str) -> str:
    """The stored form of a code or token: SHA-256, hex (tokens carry >= 128 random bits)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    """An unguessable URL-safe string (codes, refresh tokens, family ids)."""
    return secrets.token_urlsafe(nbytes)


def new_client_id() -> str:
    """160 random bits as 32 lowercase base32 characters: unguessable, and safe to paste into
    a URL or a command line (never starts with '-', unlike base64url)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").lower()


def username_key(username: str) -> str:
    """The case-insensitive identity of a username (NFKC, case-folded)."""
    return unicodedata.normalize("NFKC", username).casefold()


def _text(value: str, field: str, *, max_length: int = 200) -> str:
    value = value.strip()
    if not value:
        raise InvalidRegistration(f"{field} must not be empty")
    if len(value) > max_length:
        raise InvalidRegistration(f"{field} is longer than {max_length} characters")
    if _CONTROL.search(value):
        raise InvalidRegistration(f"{field} contains control characters")
    return value


def _web_url(value: str, field: str, *, loopback_http: bool = True) -> str:
    """An absolute https URL (http only on a loopback host); no fragment, no user info."""
    if len(value) > 2000 or any(ch.isspace() for ch in value) or _CONTROL.search(value):
        raise InvalidRegistration(f"{field} {value!r} is not a valid URL")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError as exc:
        raise InvalidRegistration(f"{field} {value!r} is not a valid URL") from exc
    if not host:
        raise InvalidRegistration(f"{field} {value!r} must be an absolute URL with a host")
    if parts.scheme == "http":
        if not (loopback_http and host in _LOOPBACK_HOSTS):
            raise InvalidRegistration(
                f"{field} {value!r} must use https (http only for localhost / 127.0.0.1)"
            )
    elif parts.scheme != "https":
        raise InvalidRegistration(f"{field} {value!r} must use https")
    if parts.fragment or "#" in value:
        raise InvalidRegistration(f"{field} {value!r} must not contain a fragment")
    if "@" in parts.netloc:
        raise InvalidRegistration(f"{field} {value!r} must not contain user information")
    return value


def validate_redirect_uri(uri: str) -> str:
    return _web_url(uri, "redirect URI")


def validate_scope_token(scope: str) -> str:
    if not _SCOPE_TOKEN.fullmatch(scope):
        raise InvalidRegistration(f"scope {scope!r} is not a valid OAuth scope token")
    return scope


def validate_reference(reference: str, types: Iterable[str], field: str) -> str:
    allowed = tuple(types)
    type_, _, id_ = reference.partition("/")
    if type_ not in allowed or not _FHIR_ID.fullmatch(id_):
        raise InvalidRegistration(
            f"{field} {reference!r} must look like {' or '.join(t + '/ID' for t in allowed)}"
            " (ID: letters, digits, '-' and '.', at most 64)"
        )
    return reference


def validate_jwks(jwks: object) -> dict[str, Any]:
    """A JWK Set of public signing keys (RSA >= 2048 bits, EC, OKP); refuses private material."""
    from joserfc.errors import SecurityWarning
    from joserfc.jwk import KeySet

    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise InvalidRegistration('JWKS must be a JSON object with a non-empty "keys" list')
    kids: set[str] = set()
    for number, key in enumerate(jwks["keys"], 1):
        if not isinstance(key, dict):
            raise InvalidRegistration(f"JWKS key {number} is not a JSON object")
        private = sorted(_PRIVATE_JWK_MEMBERS & key.keys())
        if private:
            raise InvalidRegistration(
                f"JWKS key {number} contains private or secret key material "
                f"({', '.join(private)}): register the public key only"
            )
        if key.get("kty") not in _ASYMMETRIC_KTY:
            raise InvalidRegistration(
                f"JWKS key {number} has kty {key.get('kty')!r}; expected RSA, EC or OKP"
            )
        if key.get("use", "sig") != "sig":
            raise InvalidRegistration(f'JWKS key {number} has use {key["use"]!r}; expected "sig"')
        kid = key.get("kid")
        if kid is not None:
            if not isinstance(kid, str) or kid in kids:
                raise InvalidRegistration(f"JWKS key {number} has a missing or duplicate kid")
            kids.add(kid)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SecurityWarning)
            key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except Exception as exc:  # joserfc raises JoseError, ValueError, binascii.Error, warnings
        raise InvalidRegistration(
            f"JWKS does not hold valid public keys: {exc or type(exc)}"
        ) from exc
    for key in key_set.keys:
        if key.key_type == "RSA" and key.raw_value.key_size < _MIN_RSA_BITS:  # type: ignore[union-attr]
            raise InvalidRegistration(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
    return jwks


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def new_app(
    *,
    name: str,
    kind: AppKind,
    created: datetime,
    redirect_uris: Iterable[str] = (),
    jwks: object = None,
    jwks_uri: str | None = None,
    scopes: Iterable[str] = (),
    organization: str | None = None,
    organization_name: str | None = None,
    client_id: str | None = None,
) -> App:
    """A validated :class:`App` with a fresh unguessable client_id (unless given)."""
    if kind not in APP_KINDS:
        raise InvalidRegistration(f"app kind {kind!r} is not one of {', '.join(APP_KINDS)}")
    uris = _unique(validate_redirect_uri(u) for u in redirect_uris)
    if kind == "backend":
        if uris:
            raise InvalidRegistration("a backend service has no redirect URIs")
    elif not uris:
        raise InvalidRegistration(f"a {kind} app needs at least one redirect URI")
    if kind == "public":
        if jwks is not None or jwks_uri is not None:
            raise InvalidRegistration("a public app has no keys (it uses PKCE without a secret)")
        checked_jwks = None
    else:
        if jwks is None:
            raise InvalidRegistration(
                f"a {kind} client authenticates with private_key_jwt: register its public JWKS"
            )
        checked_jwks = validate_jwks(jwks)
    if jwks_uri is not None:
        jwks_uri = _web_url(jwks_uri, "JWKS URI")
    if organization is not None:
        organization = validate_reference(organization, ("Organization",), "organization")
    elif kind == "backend":
        raise InvalidRegistration("a backend service must be bound to an Organization/ID")
    allowed = _unique(validate_scope_token(s) for s in scopes) or DEFAULT_SCOPES[kind]
    return App(
        client_id=client_id or new_client_id(),
        name=_text(name, "name"),
        kind=kind,
        redirect_uris=uris,
        jwks=checked_jwks,
        jwks_uri=jwks_uri,
        scopes=allowed,
        organization=organization,
        organization_name=(
            _text(organization_name, "organization name") if organization_name else None
        ),
        active=True,
        created=created,
    )


def validate_username(username: str) -> str:
    if not username or len(username) > 128:
        raise InvalidRegistration("username must have 1 to 128 characters")
    if any(ch.isspace() for ch in username) or _CONTROL.search(username):
        raise InvalidRegistration("username must not contain spaces or control characters")
    if username.startswith("-"):
        raise InvalidRegistration("username must not start with '-'")
    return username


def new_account(
    *,
    username: str,
    fhir_users: Iterable[str],
    created: datetime,
    password_hash: str | None = None,
    external: tuple[str, str] | None = None,
    display_name: str | None = None,
) -> Account:
    """A validated :class:`Account`: exactly one of ``password_hash`` or ``external``
    (issuer URL, subject)."""
    validate_username(username)
    if (password_hash is None) == (external is None):
        raise InvalidRegistration(
            "an account has either a password or an external subject (issuer and sub)"
        )
    if password_hash is not None and not password_hash.startswith("$argon2id$"):
        raise InvalidRegistration("password hash must be an argon2id hash")
    issuer = subject = None
    if external is not None:
        issuer = _web_url(external[0], "external issuer")
        subject = _text(external[1], "external subject", max_length=255)
    links = _unique(validate_reference(f, FHIR_USER_TYPES, "fhirUser") for f in fhir_users)
    if not links:
        raise InvalidRegistration("an account needs at least one fhirUser link")
    return Account(
        username=username,
        display_name=_text(display_name, "display name") if display_name else username,
        fhir_users=links,
        password_hash=password_hash,
        external_issuer=issuer,
        external_subject=subject,
        active=True,
        failed_logins=0,
        locked_until=None,
        created=created,
    )


# --------------------------------------------------------------------------- the port


class AppRegistry(Protocol):
    async def add_app(self, app: App) -> None:
        """Store a new app (from :func:`new_app`). AlreadyRegistered when the id is taken."""
        ...

    async def get_app(self, client_id: str) -> App | None:
        """The app, active or not (callers check ``active``)."""
        ...

    async def list_apps(self) -> list[App]:
        """Every app, oldest first."""
        ...

    async def set_app_active(self, client_id: str, active: bool) -> App:
        """Enable or disable an app. Disabling also revokes everything issued to it: its
        refresh-token families and its unexpired access tokens. NotRegistered when unknown."""
        ...


class AccountRegistry(Protocol):
    async def add_account(self, account: Account) -> None:
        """Store a new account. AlreadyRegistered when the username (case-insensitively) or
        the external (issuer, subject) is taken."""
        ...

    async def get_account(self, username: str) -> Account | None:
        """Case-insensitive lookup."""
        ...

    async def get_account_by_subject(self, issuer: str, subject: str) -> Account | None: ...

    async def list_accounts(self) -> list[Account]:
        """Every account, oldest first."""
        ...

    async def set_account_active(self, username: str, active: bool) -> Account:
        """Enable (also clearing failures and lockout) or disable an account. Disabling revokes
        the account's refresh-token families and unexpired access tokens."""
        ...

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        """Replace the hash (rehash on new parameters, password change)."""
        ...

    async def record_login_failure(
        self, username: str, *, max_failures: int, lockout: timedelta
    ) -> Account | None:
        """Count one failed login, atomically. On the ``max_failures``-th consecutive failure
        the account is locked until now + ``lockout`` and the counter starts again at 0.
        Returns the updated account (None when unknown)."""
        ...

    async def record_login_success(self, username: str) -> None:
        """Reset the failure counter and any lockout."""
        ...


class CodeRegistry(Protocol):
    async def save_code(self, code: str, record: AuthorizationCode) -> None:
        """Store ``record`` under the digest of ``code``."""
        ...

    async def consume_code(self, code: str) -> CodeRedemption:
        """Redeem a code, atomically and once (see :class:`CodeRedemption`)."""
        ...


class TokenRegistry(Protocol):
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
        """Begin a long-term grant with its first refresh token. FamilyRevoked when the
        family was revoked meanwhile (a replayed code raced the token request)."""
        ...

    async def rotate_refresh_token(self, old_token: str, new_token: str) -> RefreshRotation:
        """Replace the current token of a family by ``new_token``, atomically (see
        :class:`RefreshRotation`)."""
        ...

    async def find_refresh_token(self, token: str) -> RefreshFamily | None:
        """The family of a current (not rotated, not lapsed) refresh token, for introspection
        and revocation (RFC 7662, RFC 7009)."""
        ...

    async def record_access_token(
        self,
        jti: str,
        exp: datetime,
        *,
        client_id: str,
        username: str | None = None,
        family_id: str | None = None,
    ) -> None:
        """Record an issued access token (before handing it out), so that revoking its
        family, app or account can revoke it. FamilyRevoked (and the jti is revoked) when its
        family was revoked meanwhile."""
        ...

    async def revoke_family(self, family_id: str) -> None:
        """Revoke a grant: its refresh tokens, its unused codes, the access tokens recorded
        for it, and any token later recorded for it."""
        ...

    async def revoke_access_token(self, jti: str, exp: datetime) -> None: ...

    async def is_access_token_revoked(self, jti: str) -> bool: ...

    async def revoked_access_tokens(self, cursor: str | None = None) -> RevocationBatch:
        """Unexpired access tokens revoked after ``cursor`` (None: all), in revocation order,
        and the cursor for the next call. Cheap enough to poll every few seconds."""
        ...

    async def purge_expired(self) -> int:
        """Delete expired codes (after CODE_RETENTION), access-token records, revocations,
        assertion jtis and lapsed families. Returns the number of rows removed."""
        ...


class ConsentLog(Protocol):
    async def record_consent_decision(self, decision: ConsentDecision) -> None: ...

    async def consent_decisions(
        self, *, username: str | None = None, client_id: str | None = None
    ) -> list[ConsentDecision]:
        """Decisions, oldest first, optionally for one account and/or app."""
        ...


class AssertionRegistry(Protocol):
    async def remember_assertion(self, client_id: str, jti: str, exp: datetime) -> bool:
        """Record a client assertion's jti (RFC 7523). False when the same client used the
        same jti before and that assertion has not expired yet (a replay)."""
        ...


class AuthRegistry(
    AppRegistry,
    AccountRegistry,
    CodeRegistry,
    TokenRegistry,
    ConsentLog,
    AssertionRegistry,
    Protocol,
):
    """Everything the authorization server keeps."""

    async def close(self) -> None: ...
