"""Fixtures for the OAuth endpoints: registered apps and accounts, keys, codes, assertions."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.support import s256
from zorgleefplan.auth.authorization import (
    EndUserGrant,
    issue_code,
    validate_authorization_request,
)
from zorgleefplan.auth.registry import App, new_account, new_app
from zorgleefplan.auth.services import AuthServices

ROOT = "http://test"
TOKEN_URL = ROOT + "/oauth/token"
REDIRECT = "https://app.example.org/callback"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class KeyPair:
    key: ECKey | RSAKey
    alg: str
    kid: str

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [{**self.key.as_dict(private=False), "kid": self.kid, "use": "sig"}]}

    def assertion(self, client_id: str, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": client_id,
            "sub": client_id,
            "aud": TOKEN_URL,
            "exp": now + 240,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(
            {"alg": self.alg, "kid": self.kid, "typ": "JWT"},
            claims,
            self.key,
            algorithms=[self.alg],
        )


def ec_pair(curve: str = "P-256", alg: str = "ES256") -> KeyPair:
    return KeyPair(ECKey.generate_key(curve), alg, secrets.token_hex(8))


def rsa_pair() -> KeyPair:
    return KeyPair(RSAKey.generate_key(2048), "RS384", secrets.token_hex(8))


@pytest.fixture
def auth(app: FastAPI) -> AuthServices:
    services: AuthServices = app.state.auth
    return services


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as c:
        yield c


@pytest.fixture
async def public_app(auth: AuthServices) -> App:
    app = new_app(
        name="Mijn Zorgapp",
        kind="public",
        created=datetime.now(UTC),
        redirect_uris=[REDIRECT],
        organization_name="Zorgapp BV",
    )
    await auth.registry.add_app(app)
    return app


@pytest.fixture
def app_key() -> KeyPair:
    return ec_pair()


@pytest.fixture
async def confidential_app(auth: AuthServices, app_key: KeyPair) -> App:
    app = new_app(
        name="Praktijkapp",
        kind="confidential",
        created=datetime.now(UTC),
        redirect_uris=[REDIRECT],
        jwks=app_key.public_jwks(),
    )
    await auth.registry.add_app(app)
    return app


@pytest.fixture
def backend_key() -> KeyPair:
    return ec_pair()


@pytest.fixture
async def backend_app(auth: AuthServices, backend_key: KeyPair) -> App:
    app = new_app(
        name="ECD Thuiszorg",
        kind="backend",
        created=datetime.now(UTC),
        jwks=backend_key.public_jwks(),
        organization="Organization/thuiszorg-1",
        scopes=["system/*.rs", "system/Task.cruds"],
    )
    await auth.registry.add_app(app)
    return app


@pytest.fixture
async def account(auth: AuthServices) -> str:
    await auth.registry.add_account(
        new_account(
            username="anna",
            fhir_users=["Patient/p1"],
            created=datetime.now(UTC),
            password_hash=_HASHER.hash("correct horse battery"),
        )
    )
    return "anna"


@dataclass
class Code:
    code: str
    verifier: str
    redirect_url: str


async def make_code(
    auth: AuthServices,
    app: App,
    *,
    scope: str = "openid fhirUser launch/patient offline_access patient/*.rs",
    remember: bool = True,
    username: str = "anna",
    nonce: str | None = "n-0S6",
) -> Code:
    """An authorization code as the login and consent pages would obtain it."""
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-123",
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        "aud": ROOT + "/fhir",
    }
    if nonce:
        params["nonce"] = nonce
    request = await validate_authorization_request(auth, params, issuer=ROOT)
    url = await issue_code(
        auth,
        request,
        EndUserGrant(
            username=username,
            fhir_user="Patient/p1",
            patient="Patient/p1",
            scope=request.scope,
            remember=remember,
            auth_time=datetime.now(UTC),
        ),
    )
    query = dict(httpx.URL(url).params)
    return Code(query["code"], verifier, url)


def code_form(app: App, code: Code, /, **overrides: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code.code,
        "redirect_uri": REDIRECT,
        "code_verifier": code.verifier,
        "client_id": app.client_id,
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}
