"""SMART Backend Services: client_credentials with private_key_jwt assertions (RFC 7523)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.api.auth.conftest import (
    ASSERTION_TYPE,
    FORM,
    REDIRECT,
    ROOT,
    TOKEN_URL,
    KeyPair,
    ec_pair,
    rsa_pair,
)
from zorgleefplan.auth.registry import App, new_app
from zorgleefplan.auth.services import AuthServices

SCOPE = "system/Task.rs system/CarePlan.read"


def form(client_id: str, assertion: str, scope: str | None = SCOPE) -> dict[str, str]:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    if scope is not None:
        data["scope"] = scope
    return data


async def request(http: httpx.AsyncClient, data: dict[str, str]) -> httpx.Response:
    return await http.post("/oauth/token", data=data, headers=FORM)


async def test_backend_gets_an_organization_token(
    http: httpx.AsyncClient, auth: AuthServices, backend_app: App, backend_key: KeyPair
) -> None:
    r = await request(
        http, form(backend_app.client_id, backend_key.assertion(backend_app.client_id))
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == SCOPE
    assert "refresh_token" not in body and "patient" not in body and "id_token" not in body
    claims = auth.verifier.verify(body["access_token"], issuer=ROOT, audience=ROOT + "/fhir")
    assert claims.organization == "Organization/thuiszorg-1"
    assert claims.subject == backend_app.client_id and claims.patient is None


@pytest.mark.parametrize("make_key", [rsa_pair, lambda: ec_pair("P-384", "ES384")])
async def test_rs384_and_es384_accepted(
    http: httpx.AsyncClient, auth: AuthServices, make_key: Any
) -> None:
    key: KeyPair = make_key()
    app = new_app(
        name="ECD",
        kind="backend",
        created=datetime.now(UTC),
        jwks=key.public_jwks(),
        organization="Organization/o2",
    )
    await auth.registry.add_app(app)
    r = await request(http, form(app.client_id, key.assertion(app.client_id), "system/*.rs"))
    assert r.status_code == 200, r.text


def _refused(r: httpx.Response, error: str = "invalid_client") -> None:
    assert r.status_code == (401 if error == "invalid_client" else 400), r.text
    assert r.json()["error"] == error
    if error == "invalid_client":
        assert "WWW-Authenticate" in r.headers
    assert r.headers["cache-control"] == "no-store"


async def test_replayed_jti_is_refused(
    http: httpx.AsyncClient, backend_app: App, backend_key: KeyPair
) -> None:
    assertion = backend_key.assertion(backend_app.client_id)
    assert (await request(http, form(backend_app.client_id, assertion))).status_code == 200
    _refused(await request(http, form(backend_app.client_id, assertion)))
    same_jti = backend_key.assertion(backend_app.client_id, jti="fixed")
    again = backend_key.assertion(backend_app.client_id, jti="fixed", iat=int(time.time()) - 1)
    assert (await request(http, form(backend_app.client_id, same_jti))).status_code == 200
    _refused(await request(http, form(backend_app.client_id, again)))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 120},  # expired
        {"exp": int(time.time()) + 3600},  # lives longer than 5 minutes
        {"exp": None},
        {"jti": None},
        {"aud": ROOT + "/oauth/other"},
        {"aud": ROOT},
        {"iss": "someone-else"},
        {"sub": "someone-else"},
    ],
)
async def test_bad_assertion_claims_are_refused(
    http: httpx.AsyncClient, backend_app: App, backend_key: KeyPair, claims: dict[str, Any]
) -> None:
    _refused(
        await request(
            http,
            form(backend_app.client_id, backend_key.assertion(backend_app.client_id, **claims)),
        )
    )


async def test_unknown_client_wrong_key_and_inactive_client(
    http: httpx.AsyncClient, auth: AuthServices, backend_app: App, backend_key: KeyPair
) -> None:
    _refused(await request(http, form("nobody", backend_key.assertion("nobody"))))
    _refused(
        await request(http, form(backend_app.client_id, ec_pair().assertion(backend_app.client_id)))
    )
    _refused(await request(http, form(backend_app.client_id, "not.a.jwt")))
    _refused(await request(http, {"grant_type": "client_credentials", "scope": SCOPE}))
    await auth.registry.set_app_active(backend_app.client_id, False)
    _refused(
        await request(
            http, form(backend_app.client_id, backend_key.assertion(backend_app.client_id))
        )
    )


async def test_hs256_assertion_is_refused(
    http: httpx.AsyncClient, backend_app: App, backend_key: KeyPair
) -> None:
    from joserfc import jwt
    from joserfc.jwk import OctKey

    now = int(time.time())
    claims = {
        "iss": backend_app.client_id,
        "sub": backend_app.client_id,
        "aud": TOKEN_URL,
        "exp": now + 60,
        "jti": "h1",
    }
    forged = jwt.encode({"alg": "HS256"}, claims, OctKey.generate_key(256))
    _refused(await request(http, form(backend_app.client_id, forged)))


async def test_scope_refusals(
    http: httpx.AsyncClient, backend_app: App, backend_key: KeyPair
) -> None:
    for scope in ["system/*.cruds", "patient/*.rs", "openid", "banana", None]:
        r = await request(
            http, form(backend_app.client_id, backend_key.assertion(backend_app.client_id), scope)
        )
        _refused(r, "invalid_scope")


async def test_non_backend_clients_cannot_use_client_credentials(
    http: httpx.AsyncClient,
    auth: AuthServices,
    confidential_app: App,
    app_key: KeyPair,
    public_app: App,
) -> None:
    r = await request(
        http, form(confidential_app.client_id, app_key.assertion(confidential_app.client_id))
    )
    _refused(r, "unauthorized_client")
    r = await request(
        http,
        {"grant_type": "client_credentials", "client_id": public_app.client_id, "scope": SCOPE},
    )
    _refused(r)
    assert REDIRECT  # public apps are registered with a redirect URI only


async def test_client_credentials_latency(
    http: httpx.AsyncClient, backend_app: App, backend_key: KeyPair
) -> None:
    """Not a benchmark: a guard that the thread bridge adds no large fixed cost."""
    rounds = 30
    assertions = [backend_key.assertion(backend_app.client_id) for _ in range(rounds)]
    started = time.perf_counter()
    for assertion in assertions:
        r = await request(http, form(backend_app.client_id, assertion))
        assert r.status_code == 200
    per_request = (time.perf_counter() - started) / rounds
    print(f"client_credentials: {per_request * 1000:.2f} ms per token")
    assert per_request < 0.25
