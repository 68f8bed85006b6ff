"""The authorization endpoint's protocol half: validate a request, issue a code, refuse.

This is the seam between the OAuth protocol and the server-rendered login and consent pages
(``/oauth/authorize``). The pages call :func:`validate_authorization_request` with the query
parameters, show login and consent, and then redirect to :func:`issue_code` (approved) or
:func:`denial_url` (denied). Nothing here renders HTML or reads cookies.

Rules (RFC 6749 section 4.1, RFC 7636, SMART App Launch 2.x): ``response_type=code`` only;
PKCE with ``S256`` required (``plain`` refused); ``state`` required; ``redirect_uri`` must equal
a registered one exactly; the client must be an active public or confidential app (a backend
service has no authorization endpoint); every requested scope must be known (data-service
scopes ``<service_id>~<id>`` are expanded first) and covered by the app's allowed scopes.
Errors found before the client and redirect URI are trusted carry no redirect (show an error
page: redirecting would be an open redirect); later ones redirect back with ``error`` and
``state`` (RFC 6749 section 4.1.2.1). Redirects carry ``iss`` (RFC 9207) when the issuer is
known: pass ``issuer=auth.issuer(request)`` or configure ``Settings.base_url``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from zorgleefplan.auth.data_services import UnknownDataService
from zorgleefplan.auth.registry import (
    App,
    AuthorizationCode,
    new_secret,
    utc_now,
)
from zorgleefplan.auth.scopes import NON_RESOURCE_SCOPES, ScopeSet, parse_resource_scope
from zorgleefplan.auth.services import AuthServices

CODE_CHALLENGE_METHOD = "S256"
# An S256 challenge is the base64url SHA-256 digest without padding: exactly 43 characters.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_MAX_PARAM_LENGTH = 2048


class AuthorizationRequestError(Exception):
    """A refused authorization request.

    ``redirect_url`` is where to send the browser (the client's redirect URI with ``error``,
    ``error_description``, ``state`` and ``iss``), or None: show an error page and never
    redirect (unknown or inactive client, redirect URI not registered exactly).
    """

    def __init__(self, error: str, description: str, redirect_url: str | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirect_url = redirect_url


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated ``/oauth/authorize`` request."""

    client_id: str
    client_name: str
    organization_name: str | None
    redirect_uri: str
    state: str
    scope: tuple[str, ...]  # SMART scopes after data-service expansion, within the app's scopes
    requested_scope: str  # as the app asked (to show data-service names)
    code_challenge: str
    code_challenge_method: str  # "S256" only
    nonce: str | None
    launch_patient: bool  # launch/patient asked
    issuer: str | None = None  # for "iss" on the redirect (RFC 9207); None: not added

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode("utf-8")

    @classmethod
    def from_json(cls, text: str) -> AuthorizationRequest:
        data = orjson.loads(text)
        data["scope"] = tuple(data["scope"])
        return cls(**data)


@dataclass(frozen=True)
class EndUserGrant:
    """What the person approved on the consent screen."""

    username: str
    fhir_user: str  # who acts: the client, a volmacht holder or representative, a practitioner
    patient: str | None  # the client whose plan is in context ("Patient/x")
    scope: tuple[str, ...]  # approved scopes: a subset of AuthorizationRequest.scope
    remember: bool  # long-term access opted into (offline_access is honoured only then)
    auth_time: datetime


def add_query(url: str, params: Mapping[str, str | None]) -> str:
    """``url`` with ``params`` appended to its query (None values left out)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((k, v) for k, v in params.items() if v is not None)
    return urlunsplit(parts._replace(query=urlencode(query)))


def scope_within(scope: str, allowed: tuple[str, ...]) -> bool:
    """Whether one scope is covered by an app's allowed scopes: non-resource scopes by name,
    resource scopes by context, type (``*`` covers every type) and letters (v1 forms count as
    their v2 letters)."""
    if scope in allowed:
        return True
    if scope in NON_RESOURCE_SCOPES:
        return False
    wanted = parse_resource_scope(scope)
    if wanted is None:
        return False
    for item in allowed:
        have = parse_resource_scope(item)
        if (
            have is not None
            and have.context == wanted.context
            and have.resource_type in ("*", wanted.resource_type)
            and set(wanted.letters) <= set(have.letters)
        ):
            return True
    return False


def check_scope(auth: AuthServices, app: App, requested: str) -> tuple[str, ...]:
    """The SMART scopes ``requested`` stands for (data services expanded), or ValueError
    naming why it is refused (``invalid_scope``)."""
    if not requested.strip():
        raise ValueError("scope is required")
    try:
        expanded = auth.data_services.expand(requested, auth.settings.service_id)
    except UnknownDataService as exc:
        raise ValueError(str(exc)) from None
    parsed = ScopeSet.parse(expanded)
    if parsed.invalid:
        raise ValueError(f"unknown or unsupported scope: {' '.join(sorted(parsed.invalid))}")
    scopes = tuple(expanded.split())
    outside = [s for s in scopes if not scope_within(s, app.scopes)]
    if outside:
        raise ValueError(f"scope not allowed for this app: {' '.join(outside)}")
    return scopes


async def validate_authorization_request(
    auth: AuthServices, params: Mapping[str, str], *, issuer: str | None = None
) -> AuthorizationRequest:
    """Check an authorization request; :class:`AuthorizationRequestError` when refused."""
    issuer = issuer or (auth.settings.base_url.rstrip("/") if auth.settings.base_url else None)
    for name, value in params.items():
        if len(value) > _MAX_PARAM_LENGTH:
            raise AuthorizationRequestError("invalid_request", f"{name} is too long")

    client_id = params.get("client_id")
    if not client_id:
        raise AuthorizationRequestError("invalid_request", "client_id is required")
    app = await auth.registry.get_app(client_id)
    if app is None or not app.active:
        raise AuthorizationRequestError("invalid_client", "unknown or inactive client")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise AuthorizationRequestError("invalid_request", "redirect_uri is required")
    if redirect_uri not in app.redirect_uris:
        raise AuthorizationRequestError(
            "invalid_request", "redirect_uri is not registered for this client"
        )

    # From here on the redirect URI is trusted: errors go back to the client.
    state = params.get("state")

    def refuse(error: str, description: str) -> AuthorizationRequestError:
        url = add_query(
            redirect_uri,
            {"error": error, "error_description": description, "state": state, "iss": issuer},
        )
        return AuthorizationRequestError(error, description, url)

    if app.kind == "backend":  # unreachable today (no redirect URIs), kept explicit
        raise refuse("unauthorized_client", "a backend service cannot use this endpoint")
    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "response_type must be code")
    if not state:
        raise refuse("invalid_request", "state is required")
    challenge = params.get("code_challenge")
    if not challenge:
        raise refuse("invalid_request", "code_challenge is required (PKCE)")
    if params.get("code_challenge_method") != CODE_CHALLENGE_METHOD:
        raise refuse("invalid_request", "code_challenge_method must be S256")
    if not _S256_CHALLENGE.fullmatch(challenge):
        raise refuse("invalid_request", "code_challenge is not an S256 challenge")
    requested = params.get("scope", "")
    try:
        scope = check_scope(auth, app, requested)
    except ValueError as exc:
        raise refuse("invalid_scope", str(exc)) from None
    # SMART's aud names the FHIR server the app means; a token meant for another is refused.
    if issuer and params.get("aud") not in (None, issuer + "/fhir"):
        raise refuse("invalid_request", "aud is not this server's FHIR base URL")

    return AuthorizationRequest(
        client_id=app.client_id,
        client_name=app.name,
        organization_name=app.organization_name,
        redirect_uri=redirect_uri,
        state=state,
        scope=scope,
        requested_scope=requested,
        code_challenge=challenge,
        code_challenge_method=CODE_CHALLENGE_METHOD,
        nonce=params.get("nonce") or None,
        launch_patient="launch/patient" in scope,
        issuer=issuer,
    )


async def issue_code(auth: AuthServices, request: AuthorizationRequest, grant: EndUserGrant) -> str:
    """Store a single-use code for an approved request; returns the redirect URL carrying
    ``code``, ``state`` and ``iss``. The granted scope is what the person approved within the
    request; ``offline_access`` only with ``grant.remember``."""
    app = await auth.registry.get_app(request.client_id)
    if app is None or not app.active:
        raise AuthorizationRequestError("invalid_client", "unknown or inactive client")
    approved = set(grant.scope)
    if not approved <= set(request.scope):
        raise ValueError("the grant approves scopes the request did not ask for")
    scope = [
        s for s in request.scope if s in approved and (s != "offline_access" or grant.remember)
    ]
    code = new_secret(32)
    lifetime = timedelta(seconds=auth.settings.authorization_code_lifetime)
    await auth.registry.save_code(
        code,
        AuthorizationCode(
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            scope=" ".join(scope),
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            username=grant.username,
            fhir_user=grant.fhir_user,
            patient=grant.patient,
            nonce=request.nonce,
            remember=grant.remember and "offline_access" in scope,
            family_id=new_secret(18),
            expires_at=utc_now() + lifetime,
        ),
    )
    return add_query(
        request.redirect_uri, {"code": code, "state": request.state, "iss": request.issuer}
    )


def denial_url(request: AuthorizationRequest) -> str:
    """The redirect URL telling the client the person refused (``access_denied``)."""
    return add_query(
        request.redirect_uri,
        {
            "error": "access_denied",
            "error_description": "the user denied the request",
            "state": request.state,
            "iss": request.issuer,
        },
    )
