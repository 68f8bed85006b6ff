"""HTTP routes of the authorization server's machine-facing side: token, revocation,
introspection, and discovery (SMART configuration, OpenID configuration, JWKS).

Handlers only read the request, hand it to :mod:`zorgleefplan.auth.oauth_server` and write
the response; the protocol lives there.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from zorgleefplan.auth import audit_events
from zorgleefplan.auth.audit_events import audit_log
from zorgleefplan.auth.oauth_server import (
    ASSERTION_ALGORITHMS,
    AUDIT_UNAVAILABLE,
    NO_STORE,
    PRIVATE_KEY_JWT,
    Endpoints,
    OAuthServer,
    run_endpoint,
)
from zorgleefplan.auth.services import AuthServices
from zorgleefplan.errors import StoreUnavailable

router = APIRouter(tags=["OAuth 2.0 / SMART"])

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
REVOKE_PATH = "/oauth/revoke"
INTROSPECT_PATH = "/oauth/introspect"
JWKS_PATH = "/.well-known/jwks.json"

GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
BASE_SCOPES = [
    "openid",
    "fhirUser",
    "launch/patient",
    "offline_access",
    "patient/*.cruds",
    "patient/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "system/*.cruds",
    "system/*.rs",
]
CAPABILITIES = [
    "launch-standalone",
    "client-public",
    "client-confidential-asymmetric",
    "context-standalone-patient",
    "sso-openid-connect",
    "permission-offline",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
]
_DISCOVERY_CACHE = {"Cache-Control": "public, max-age=300"}


def _auth(request: Request) -> AuthServices:
    auth: AuthServices = request.app.state.auth
    return auth


def _server(request: Request) -> OAuthServer:
    state = request.app.state
    server: OAuthServer | None = getattr(state, "oauth_server", None)
    if server is None or server.auth is not _auth(request):
        server = OAuthServer(_auth(request))
        state.oauth_server = server
    return server


def _endpoints(request: Request) -> Endpoints:
    auth = _auth(request)
    issuer = auth.issuer(request)
    return Endpoints(issuer=issuer, audience=auth.audience(request), token_url=issuer + TOKEN_PATH)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers=dict(NO_STORE),
    )


async def _refuse(
    request: Request, name: str, status: int, error: str, description: str
) -> Response:
    """A request refused before authlib sees it; a token request is audited first."""
    if name == "token":
        body = {"error": error, "error_description": description}
        try:
            await audit_log(request).record(audit_events.token_request({}, status, body, None))
        except StoreUnavailable:
            return JSONResponse(AUDIT_UNAVAILABLE, status_code=503, headers=dict(NO_STORE))
    return _oauth_error(status, error, description)


async def _handle(request: Request, name: str) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return await _refuse(
            request,
            name,
            400,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
    form = await request.form()
    items: list[tuple[str, str]] = []
    for key, value in form.multi_items():
        if not isinstance(value, str):
            return await _refuse(request, name, 400, "invalid_request", "form fields must be text")
        items.append((key, value))
    status, body, headers = await run_endpoint(
        _server(request),
        name,
        method=request.method,
        uri=str(request.url),
        headers=request.headers,
        form=items,
        endpoints=_endpoints(request),
        audit=audit_log(request),
    )
    return JSONResponse(body, status_code=status, headers=dict(headers))


@router.post(TOKEN_PATH, summary="OAuth 2.0 token endpoint (RFC 6749, SMART)")
async def token(request: Request) -> Response:
    return await _handle(request, "token")


@router.post(REVOKE_PATH, summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> Response:
    return await _handle(request, "revocation")


@router.post(INTROSPECT_PATH, summary="Token introspection (RFC 7662)")
async def introspect(request: Request) -> Response:
    return await _handle(request, "introspection")


def scopes_supported(auth: AuthServices) -> list[str]:
    service_id = auth.settings.service_id
    return [*BASE_SCOPES, *(f"{service_id}~{sid}" for sid in auth.data_services.services)]


def smart_configuration(auth: AuthServices, issuer: str) -> dict[str, Any]:
    """SMART App Launch 2.x discovery document (``/.well-known/smart-configuration``)."""
    return {
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        "authorization_endpoint": issuer + AUTHORIZE_PATH,
        "token_endpoint": issuer + TOKEN_PATH,
        "revocation_endpoint": issuer + REVOKE_PATH,
        "introspection_endpoint": issuer + INTROSPECT_PATH,
        "grant_types_supported": GRANT_TYPES,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [PRIVATE_KEY_JWT, "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "scopes_supported": scopes_supported(auth),
        "capabilities": CAPABILITIES,
    }


@router.get("/.well-known/smart-configuration", summary="SMART App Launch configuration")
async def smart_config(request: Request) -> Response:
    auth = _auth(request)
    return JSONResponse(smart_configuration(auth, auth.issuer(request)), headers=_DISCOVERY_CACHE)


@router.get("/.well-known/openid-configuration", summary="OpenID Connect discovery")
async def openid_config(request: Request) -> Response:
    auth = _auth(request)
    issuer = auth.issuer(request)
    return JSONResponse(
        {
            "issuer": issuer,
            "authorization_endpoint": issuer + AUTHORIZE_PATH,
            "token_endpoint": issuer + TOKEN_PATH,
            "revocation_endpoint": issuer + REVOKE_PATH,
            "introspection_endpoint": issuer + INTROSPECT_PATH,
            "jwks_uri": issuer + JWKS_PATH,
            "response_types_supported": ["code"],
            "grant_types_supported": GRANT_TYPES,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": [PRIVATE_KEY_JWT, "none"],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": scopes_supported(auth),
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
            "authorization_response_iss_parameter_supported": True,
        },
        headers=_DISCOVERY_CACHE,
    )


@router.get(JWKS_PATH, summary="Public keys that sign access and ID tokens")
async def jwks(request: Request) -> Response:
    return JSONResponse(_auth(request).keys.public_jwks(), headers=_DISCOVERY_CACHE)
