"""The OAuth 2.0 token, revocation and introspection endpoints, on authlib's server classes.

authlib's ``AuthorizationServer`` and grants are synchronous and framework-agnostic; this module
adds what they leave open: the client model over the :class:`~zorgleefplan.auth.registry.App`
registry, the grants' storage hooks, private_key_jwt client authentication (RFC 7523, SMART
Backend Services), RFC 9068 access tokens and ID tokens, and the Starlette glue.

The bridge: a route reads the form asynchronously, then runs the whole authlib call in a worker
thread (:func:`run_endpoint`); hooks reach the async registry with ``anyio.from_thread.run``,
which schedules the coroutine on the event loop and waits in the worker. The loop never blocks.

Per-request facts (issuer, audience, the token endpoint URL) travel on the request object
(:class:`Endpoints`), never on the shared server, so concurrent requests cannot see each other's.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import anyio.from_thread
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.concurrency import run_in_threadpool

from zorgleefplan.access.audit import AuditLog
from zorgleefplan.auth import audit_events, tokens
from zorgleefplan.auth.authorization import check_scope, scope_within
from zorgleefplan.auth.keys import ALGORITHM
from zorgleefplan.auth.registry import (
    App,
    AuthorizationCode,
    FamilyRevoked,
    RefreshFamily,
    new_secret,
)
from zorgleefplan.auth.services import AuthServices
from zorgleefplan.errors import StoreUnavailable

T = TypeVar("T")

ASSERTION_ALGORITHMS = ("RS384", "ES384", "ES256")
PRIVATE_KEY_JWT = "private_key_jwt"
ASSERTION_LEEWAY = 30  # seconds of clock skew allowed on a client assertion's exp/nbf/iat
NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
AUDIT_UNAVAILABLE = {
    "error": "temporarily_unavailable",
    "error_description": "The request could not be recorded in the audit log; try again later.",
}


# --------------------------------------------------------------------------- bridge


def safe_description(text: str) -> str:
    """An error_description within RFC 6749's allowed characters (authlib refuses others)."""
    text = text.replace('"', "'").replace("\\", "/")
    return "".join(c if 32 <= ord(c) <= 126 else "?" for c in text)[:300]


def on_loop(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run an async registry call on the event loop from the authlib worker thread."""
    return anyio.from_thread.run(fn, *args)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """What one request needs to know about this server's public addresses."""

    issuer: str
    audience: str  # the FHIR base URL (aud of access tokens)
    token_url: str  # aud of client assertions (RFC 7523 section 3)


class FormRequest(OAuth2Request):
    """An authlib request over an already-read form (the Starlette adapter's half).

    OAuth2Request's constructor refuses non-https URLs; TLS is the deployment's concern here
    (the service sits behind a TLS-terminating proxy), so the attributes are set directly.
    """

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], form: dict[str, str]
    ) -> None:
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self._form = form
        self.payload = BasicOAuth2Payload(form)
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None
        self.endpoints: Endpoints | None = None
        self.context: dict[str, Any] = {}

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


def endpoints_of(request: OAuth2Request) -> Endpoints:
    assert isinstance(request, FormRequest) and request.endpoints is not None
    return request.endpoints


# --------------------------------------------------------------------------- models


class Client(ClientMixin):
    """A registered app as authlib's client model."""

    def __init__(self, app: App) -> None:
        self.app = app

    def get_client_id(self) -> str:
        return self.app.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # redirect_uri is always required

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if scope_within(s, self.app.scopes))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.app.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # no shared secrets: private_key_jwt or a public client

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.app.kind == "public":
            return method == "none"
        return method == PRIVATE_KEY_JWT

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.app.kind != "backend"

    def check_grant_type(self, grant_type: str) -> bool:
        if self.app.kind == "backend":
            return grant_type == "client_credentials"
        return grant_type in ("authorization_code", "refresh_token")


@dataclass(frozen=True, slots=True)
class EndUser:
    username: str
    fhir_user: str | None
    patient: str | None  # "Patient/x"


@dataclass(frozen=True, slots=True)
class Grant:
    """Where tokens come from, for the token generator: a code, a refresh family, or none."""

    family_id: str | None = None
    refresh_token: str | None = None  # the new refresh token to hand out, when any
    nonce: str | None = None


@dataclass(frozen=True, slots=True)
class CodeModel:
    """A redeemed authorization code as authlib's grant and PKCE extension read it."""

    record: AuthorizationCode

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    @property
    def code_challenge(self) -> str:
        return self.record.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.record.code_challenge_method


@dataclass(frozen=True, slots=True)
class AccessTokenRecord:
    claims: tokens.AccessTokenClaims

    def check_client(self, client: Client) -> bool:
        return self.claims.client_id == client.get_client_id()


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    family: RefreshFamily

    def check_client(self, client: Client) -> bool:
        return self.family.client_id == client.get_client_id()


# --------------------------------------------------------------------------- client auth


class PrivateKeyJwt(JWTBearerClientAssertion):
    """RFC 7523 client assertions as SMART Backend Services profiles them: iss = sub =
    client_id, aud = the token endpoint, exp at most ``client_assertion_max_lifetime`` ahead,
    jti never reused, signed with RS384, ES384 or ES256 by a key in the client's JWKS.

    One instance per request: ``get_audiences`` needs the request's token endpoint URL."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self, auth: AuthServices, request: OAuth2Request) -> None:
        super().__init__(validate_jti=True, leeway=ASSERTION_LEEWAY)
        self._auth = auth
        self._endpoints = endpoints_of(request)

    def get_audiences(self) -> list[str]:
        return [self._endpoints.token_url]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        # Registration guarantees an inline JWKS of public keys; jwks_uri is not fetched.
        if not client.app.jwks:
            raise InvalidClientError(description="The client has no registered keys.")
        return KeySet.import_key_set(client.app.jwks)  # type: ignore[arg-type]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(ASSERTION_ALGORITHMS))
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="The client assertion does not verify.") from exc
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: Any) -> None:
        exp = claims.get("exp")
        if isinstance(exp, int) and not isinstance(exp, bool):
            limit = time.time() + self._auth.settings.client_assertion_max_lifetime
            if exp > limit + ASSERTION_LEEWAY:
                raise InvalidClientError(
                    description="The client assertion lives too long (exp too far ahead)."
                )
        super().verify_claims(claims)

    def validate_jti(self, claims: Any, jti: Any) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        exp = datetime.fromtimestamp(claims["exp"], UTC)
        return on_loop(self._auth.registry.remember_assertion, claims["sub"], jti, exp)


# --------------------------------------------------------------------------- grants


class S256Challenge(CodeChallenge):
    """PKCE with S256 only, and a verifier required on every code redemption (every code
    this server issues carries a challenge)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[Any] = ["S256"]
    CODE_CHALLENGE_METHODS: ClassVar[Any] = {"S256": compare_s256_code_challenge}

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[Any] = [PRIVATE_KEY_JWT, "none"]
    server: OAuthServer

    def query_authorization_code(self, code: str, client: Client) -> CodeModel | None:
        record = self.server.redeem_code(code, client)
        return CodeModel(record) if record is not None else None

    def delete_authorization_code(self, authorization_code: CodeModel) -> None:
        pass  # consume_code redeemed it, once

    def authenticate_user(self, authorization_code: AuthorizationCode) -> EndUser | None:
        account = on_loop(self.server.auth.registry.get_account, authorization_code.username)
        if account is None or not account.active:
            return None
        return EndUser(
            authorization_code.username, authorization_code.fhir_user, authorization_code.patient
        )

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        code: AuthorizationCode = self.request.authorization_code.record
        user = self.authenticate_user(code)
        if user is None:
            raise InvalidGrantError("The account that approved this code is not active.")
        offline = code.remember and "offline_access" in code.scope.split()
        token = self.server.issue_tokens(
            self.request,
            self.client,
            user=user,
            scope=code.scope,
            grant=Grant(
                family_id=code.family_id,
                refresh_token=new_secret(32) if offline else None,
                nonce=code.nonce,
            ),
            start_family=offline,
        )
        return 200, token, []


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[Any] = [PRIVATE_KEY_JWT, "none"]
    server: OAuthServer

    def validate_token_request(self) -> None:
        client = self._validate_request_client()
        self.request.client = client
        old = self.request.form.get("refresh_token")
        if not old:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        registry = self.server.auth.registry
        current = on_loop(registry.find_refresh_token, old)
        if current is not None:
            # Checked before rotating, so a refused request leaves the grant usable.
            if current.client_id != client.get_client_id():
                raise InvalidGrantError("The refresh token was issued to another client.")
            self._check_scope(current)
        new = new_secret(32)
        rotation = on_loop(registry.rotate_refresh_token, old, new)
        if rotation.outcome == "reused":
            assert rotation.family is not None
            self.server.after_family_revoked()
            raise InvalidGrantError("The refresh token was used before; the grant is revoked.")
        if rotation.outcome != "rotated" or rotation.family is None:
            raise InvalidGrantError("The refresh token is invalid, expired or revoked.")
        family = rotation.family
        if family.client_id != client.get_client_id():  # raced in after the check above
            on_loop(registry.revoke_family, family.family_id)
            self.server.after_family_revoked()
            raise InvalidGrantError("The refresh token was issued to another client.")
        self._check_scope(family)
        self.request.refresh_token = RefreshTokenRecord(family)
        self.request.context["new_refresh_token"] = new

    def _check_scope(self, family: RefreshFamily) -> None:
        asked = self.request.payload.scope
        if asked and not set(asked.split()) <= set(family.scope.split()):
            raise InvalidScopeError("The requested scope exceeds the original grant.")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        record: RefreshTokenRecord = self.request.refresh_token
        family = record.family
        account = on_loop(self.server.auth.registry.get_account, family.username)
        if account is None or not account.active:
            raise InvalidGrantError("The account of this grant is not active.")
        token = self.server.issue_tokens(
            self.request,
            self.client,
            user=EndUser(family.username, family.fhir_user, family.patient),
            scope=self.request.payload.scope or family.scope,
            grant=Grant(
                family_id=family.family_id,
                refresh_token=self.request.context["new_refresh_token"],
            ),
            start_family=False,
        )
        return 200, token, []


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[Any] = [PRIVATE_KEY_JWT]
    server: OAuthServer

    def validate_token_request(self) -> None:
        client: Client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("Only a backend service may use client_credentials.")
        self.request.client = client
        try:
            check_scope(self.server.auth, client.app, self.request.payload.scope or "")
        except ValueError as exc:
            raise InvalidScopeError(safe_description(str(exc))) from None

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        scope = " ".join(check_scope(self.server.auth, self.client.app, self.request.payload.scope))
        token = self.server.issue_tokens(
            self.request, self.client, user=None, scope=scope, grant=Grant(), start_family=False
        )
        return 200, token, []


# --------------------------------------------------------------------------- endpoints


class Revocation(RevocationEndpoint):
    """RFC 7009: a refresh token revokes its whole grant; an access token its jti. Unknown
    tokens answer 200 like revoked ones."""

    CLIENT_AUTH_METHODS: ClassVar[Any] = [PRIVATE_KEY_JWT, "none"]
    server: OAuthServer

    def authenticate_token(
        self, request: OAuth2Request, client: Client
    ) -> AccessTokenRecord | RefreshTokenRecord | None:
        self.check_params(request, client)
        token = self.server.find_token(
            request, request.form["token"], request.form.get("token_type_hint")
        )
        if token is not None and not token.check_client(client):
            raise InvalidGrantError("The token was issued to another client.")
        return token

    def revoke_token(self, token: AccessTokenRecord | RefreshTokenRecord, request: Any) -> None:
        registry = self.server.auth.registry
        if isinstance(token, RefreshTokenRecord):
            on_loop(registry.revoke_family, token.family.family_id)
            self.server.after_family_revoked()
        else:
            exp = datetime.fromtimestamp(token.claims.expires_at, UTC)
            on_loop(registry.revoke_access_token, token.claims.token_id, exp)
            self.server.auth.revoked.add(token.claims.token_id, token.claims.expires_at)


class Introspection(IntrospectionEndpoint):
    """RFC 7662 for authenticated (private_key_jwt) clients: an app may introspect its own
    tokens, a backend service (a resource server) any token."""

    CLIENT_AUTH_METHODS: ClassVar[Any] = [PRIVATE_KEY_JWT]
    server: OAuthServer

    def authenticate_token(
        self, request: OAuth2Request, client: Client
    ) -> AccessTokenRecord | RefreshTokenRecord | None:
        self.check_params(request, client)
        token = self.server.find_token(
            request, request.form["token"], request.form.get("token_type_hint")
        )
        if token is None:
            return None
        if not (token.check_client(client) or client.app.kind == "backend"):
            return None
        if isinstance(token, AccessTokenRecord) and on_loop(
            self.server.auth.registry.is_access_token_revoked, token.claims.token_id
        ):
            return None  # revoked by another process since this one last polled
        return token

    def create_introspection_payload(
        self, token: AccessTokenRecord | RefreshTokenRecord | None
    ) -> dict[str, Any]:
        if token is None:
            return {"active": False}
        if isinstance(token, AccessTokenRecord):
            c = token.claims
            payload: dict[str, Any] = {
                "active": True,
                "token_type": "Bearer",
                "scope": c.scope,
                "client_id": c.client_id,
                "sub": c.subject,
                "iss": c.issuer,
                "aud": list(c.audience),
                "exp": c.expires_at,
                "iat": c.issued_at,
                "jti": c.token_id,
                "patient": c.patient,
                "fhirUser": c.fhir_user,
                "organization": c.organization,
            }
        else:
            f = token.family
            idle = self.server.auth.settings.refresh_idle_lifetime
            payload = {
                "active": True,
                "token_type": "refresh_token",
                "scope": f.scope,
                "client_id": f.client_id,
                "sub": f.username,
                "iat": int(f.last_used.timestamp()),
                "exp": int(f.last_used.timestamp()) + idle,
                "patient": _patient_id(f.patient),
                "fhirUser": f.fhir_user,
            }
        return {k: v for k, v in payload.items() if v is not None}


# --------------------------------------------------------------------------- the server


class OAuthServer(AuthorizationServer):
    """authlib's authorization server over this service's registries and keys."""

    def __init__(self, auth: AuthServices) -> None:
        super().__init__(scopes_supported=None)
        self.auth = auth
        self.register_client_auth_method(
            PRIVATE_KEY_JWT, lambda query, request: PrivateKeyJwt(auth, request)(query, request)
        )
        self.register_grant(AuthorizationCodeGrant, [S256Challenge()])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    # authlib's hooks --------------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or not client_id or len(client_id) > 256:
            return None
        app = on_loop(self.auth.registry.get_app, client_id)
        return Client(app) if app is not None and app.active else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        pass  # issue_tokens records every token before it is handed out

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        assert isinstance(request, FormRequest)
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, [*headers, *NO_STORE]

    def handle_error_response(
        self, request: OAuth2Request, error: OAuth2Error
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        if isinstance(error, InvalidClientError):
            error.status_code = 401  # with authlib's WWW-Authenticate challenge
        return super().handle_error_response(request, error)

    # this service's logic ---------------------------------------------------------------

    def redeem_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """Consume a code once. A replay revokes every token issued from it."""
        registry = self.auth.registry
        redemption = on_loop(registry.consume_code, code)
        if redemption.outcome == "replayed" and redemption.code is not None:
            on_loop(registry.revoke_family, redemption.code.family_id)
            self.after_family_revoked()
            raise InvalidGrantError("The code was used before; tokens issued from it are revoked.")
        record = redemption.code
        if redemption.outcome != "granted" or record is None:
            return None
        if record.client_id != client.get_client_id():
            on_loop(registry.revoke_family, record.family_id)
            return None
        return record

    def after_family_revoked(self) -> None:
        """Bring this process's revocation list up to date at once."""
        on_loop(self.auth.feed.catch_up)

    def find_token(
        self, request: OAuth2Request, token: str, hint: str | None
    ) -> AccessTokenRecord | RefreshTokenRecord | None:
        def access() -> AccessTokenRecord | None:
            if token.count(".") != 2:
                return None
            ends = endpoints_of(request)
            try:
                claims = self.auth.verifier.verify(
                    token, issuer=ends.issuer, audience=ends.audience
                )
            except tokens.InvalidToken:
                return None
            return AccessTokenRecord(claims)

        def refresh() -> RefreshTokenRecord | None:
            if "." in token or len(token) > 512:
                return None
            family = on_loop(self.auth.registry.find_refresh_token, token)
            return RefreshTokenRecord(family) if family is not None else None

        order = (refresh, access) if hint == "refresh_token" else (access, refresh)
        for find in order:
            found = find()
            if found is not None:
                return found
        return None

    def issue_tokens(
        self,
        request: OAuth2Request,
        client: Client,
        *,
        user: EndUser | None,
        scope: str,
        grant: Grant,
        start_family: bool,
    ) -> dict[str, Any]:
        """Sign the access token (and ID token), record it, start or extend the refresh
        family; FamilyRevoked (a replayed code raced this) becomes invalid_grant."""
        auth, ends, app = self.auth, endpoints_of(request), client.app
        registry = auth.registry
        lifetime = auth.settings.access_token_lifetime
        patient = _patient_id(user.patient) if user else None
        issued = tokens.issue(
            auth.keys,
            issuer=ends.issuer,
            audience=ends.audience,
            subject=user.username if user else app.client_id,
            client_id=app.client_id,
            scope=scope,
            lifetime=lifetime,
            patient=patient,
            fhir_user=user.fhir_user if user else None,
            organization=None if user else app.organization,
        )
        try:
            if start_family and grant.refresh_token and user is not None:
                on_loop(
                    lambda: registry.start_refresh_family(
                        grant.refresh_token,  # type: ignore[arg-type]
                        family_id=grant.family_id,  # type: ignore[arg-type]
                        client_id=app.client_id,
                        scope=scope,
                        username=user.username,
                        fhir_user=user.fhir_user,
                        patient=user.patient,
                    )
                )
            on_loop(
                lambda: registry.record_access_token(
                    issued.claims.token_id,
                    datetime.fromtimestamp(issued.claims.expires_at, UTC),
                    client_id=app.client_id,
                    username=user.username if user else None,
                    family_id=grant.family_id,
                )
            )
        except FamilyRevoked:
            self.after_family_revoked()
            raise InvalidGrantError("The grant was revoked.") from None
        body: dict[str, Any] = {
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": scope,
        }
        if grant.refresh_token:
            body["refresh_token"] = grant.refresh_token
        if patient is not None:
            body["patient"] = patient
        if user is not None and user.fhir_user is not None:
            body["fhirUser"] = user.fhir_user
        if user is not None and "openid" in scope.split():
            body["id_token"] = self.id_token(ends, app, user, grant.nonce)
        # For the audit record of this request (written before the response is sent).
        request.context["issued"] = {
            "client_id": app.client_id,
            "scope": scope,
            "username": user.username if user else None,
            "fhir_user": user.fhir_user if user else None,
            "patient": patient,
            "organization": None if user else app.organization,
        }
        return body

    def id_token(self, ends: Endpoints, app: App, user: EndUser, nonce: str | None) -> str:
        signing = self.auth.keys.signing_key()
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ends.issuer,
            "sub": user.username,
            "aud": app.client_id,
            "iat": now,
            "exp": now + self.auth.settings.access_token_lifetime,
        }
        if nonce:
            claims["nonce"] = nonce
        if user.fhir_user:
            claims["fhirUser"] = f"{ends.audience}/{user.fhir_user}"
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": signing.kid}
        return jwt.encode(header, claims, signing.key, algorithms=[ALGORITHM])


def _patient_id(reference: str | None) -> str | None:
    """SMART's ``patient`` is the bare id: "Patient/x" -> "x"."""
    if reference is None:
        return None
    type_, _, id_ = reference.partition("/")
    return id_ if type_ == "Patient" and id_ else None


# --------------------------------------------------------------------------- adapter


async def run_endpoint(
    server: OAuthServer,
    name: str,
    *,
    method: str,
    uri: str,
    headers: Mapping[str, str],
    form: list[tuple[str, str]],
    endpoints: Endpoints,
    audit: AuditLog | None = None,
) -> tuple[int, Any, list[tuple[str, str]]]:
    """Run a token, revocation or introspection request through authlib in a worker thread.
    ``name`` is "token" or an endpoint name. Returns (status, JSON body, headers). With
    ``audit``, every token request (issued or refused) is recorded before it is answered."""
    values: dict[str, str] = {}
    repeated = None
    for key, value in form:
        if key in values:  # RFC 6749 section 3.2: parameters MUST NOT repeat
            repeated = InvalidRequestError(safe_description(f"Parameter {key} repeated."))
            break
        values[key] = value
    request = FormRequest(method, uri, headers, values)
    request.endpoints = endpoints
    if repeated is not None:
        status, body, response_headers = server.handle_response(*repeated())
    elif name != "token":
        return await run_in_threadpool(server.create_endpoint_response, name, request)
    else:
        status, body, response_headers = await run_in_threadpool(
            server.create_token_response, request
        )
    if name == "token" and audit is not None:
        record = audit_events.token_request(values, status, body, request.context.get("issued"))
        try:
            await audit.record(record)
        except StoreUnavailable:
            # The response may not be sent unaudited; the token it held is never handed out.
            return 503, AUDIT_UNAVAILABLE, list(NO_STORE)
    return status, body, response_headers
