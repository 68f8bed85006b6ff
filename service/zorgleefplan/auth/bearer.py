"""From an ``Authorization: Bearer`` header to the principal a request acts as (RFC 6750)."""

from __future__ import annotations

import re
from functools import lru_cache

from zorgleefplan.access.principal import Principal, PrincipalKind
from zorgleefplan.auth.tokens import AccessTokenClaims
from zorgleefplan.errors import Unauthorized

# RFC 6750 section 2.1: credentials = "Bearer" 1*SP b64token (the scheme in any case).
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*", re.ASCII)
_FHIR_USER = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})", re.ASCII)
_KIND_BY_USER_TYPE: dict[str, PrincipalKind] = {
    "Patient": "patient",
    "RelatedPerson": "related-person",
    "Practitioner": "practitioner",
    "PractitionerRole": "practitioner",
}


def token_from_header(value: str | None) -> str:
    """The bearer token in an Authorization header value.

    No header at all gets a bare challenge without an error code (RFC 6750 section 3.1: the
    client did not try to authenticate); any other header that is not one bearer token is an
    ``invalid_request``.
    """
    if not value:
        raise Unauthorized("this request needs a bearer access token", error=None)
    # Split by hand: a case-insensitive regex over a 600-character token costs ~8 us a request.
    scheme, _, token = value.strip().partition(" ")
    token = token.lstrip(" ")
    if scheme.lower() != "bearer" or _B64TOKEN.fullmatch(token) is None:
        raise Unauthorized(
            "the Authorization header must be 'Bearer <access token>'", error="invalid_request"
        )
    return token


@lru_cache(maxsize=4096)  # a token is used for many requests; claims are immutable
def principal_from_claims(claims: AccessTokenClaims) -> Principal:
    """Who the verified token speaks for: the person its ``fhirUser`` names, or, without one,
    the organization a backend service (client_credentials, ``system/`` scopes) acts for."""
    if claims.fhir_user is not None:
        match = _FHIR_USER.fullmatch(claims.fhir_user)
        kind = _KIND_BY_USER_TYPE.get(match[1]) if match else None
        if kind is None:
            raise Unauthorized("the access token names a user this server does not serve")
    elif "system" in claims.scopes.contexts and claims.organization is not None:
        kind = "system"
    else:
        raise Unauthorized("the access token names neither a user nor an organization")
    return Principal(
        kind=kind,
        subject=claims.subject,
        fhir_user=claims.fhir_user,
        patient=claims.patient,
        client_id=claims.client_id,
        scopes=claims.scopes.scopes,
        organization=claims.organization,
        token_id=claims.token_id,
    )
