"""The token endpoint for patient apps: authorization code with PKCE, refresh rotation."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from tests.api.auth.conftest import (
    FORM,
    REDIRECT,
    ROOT,
    KeyPair,
    code_form,
    ec_pair,
    make_code,
    s256,
)
from zorgleefplan.auth.authorization import (
    AuthorizationRequestError,
    validate_authorization_request,
)
from zorgleefplan.auth.oauth_server import S256Challenge
from zorgleefplan.auth.registry import App
from zorgleefplan.auth.services import AuthServices

pytestmark = pytest.mark.usefixtures("account")


async def token(http: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
    return await http.post("/oauth/token", data=form, headers=FORM)


async def fhir_read(http: httpx.AsyncClient, access_token: str) -> int:
    r = await http.get("/fhir/Patient/p1", headers={"Authorization": f"Bearer {access_token}"})
    return r.status_code


def test_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B
    assert s256(verifier) == challenge
    check = S256Challenge.CODE_CHALLENGE_METHODS["S256"]
    assert check(verifier, challenge)
    assert not check(verifier[:-1] + "l", challenge)
    assert not check(verifier, challenge[:-1] + "N")
    assert S256Challenge.SUPPORTED_CODE_CHALLENGE_METHOD == ["S256"]


async def test_code_flow_issues_tokens(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    code = await make_code(auth, public_app)
    assert code.redirect_url.startswith(REDIRECT + "?code=")
    assert "state=st-123" in code.redirect_url and "iss=http%3A%2F%2Ftest" in code.redirect_url
    r = await token(http, code_form(public_app, code))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == auth.settings.access_token_lifetime
    assert body["patient"] == "p1"
    assert body["fhirUser"] == "Patient/p1"
    assert set(body["scope"].split()) == {
        "openid",
        "fhirUser",
        "launch/patient",
        "offline_access",
        "patient/*.rs",
    }
    assert body["refresh_token"]
    claims = auth.verifier.verify(body["access_token"], issuer=ROOT, audience=ROOT + "/fhir")
    assert claims.patient == "p1" and claims.client_id == public_app.client_id
    assert claims.subject == "anna"
    keys = KeySet.import_key_set((await http.get("/.well-known/jwks.json")).json())
    id_token = jwt.decode(body["id_token"], keys, algorithms=["ES256"])
    assert id_token.claims["aud"] == public_app.client_id
    assert id_token.claims["nonce"] == "n-0S6"
    assert id_token.claims["fhirUser"] == ROOT + "/fhir/Patient/p1"
    assert id_token.claims["iss"] == ROOT


async def test_no_refresh_token_without_remember(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    code = await make_code(auth, public_app, remember=False)
    body = (await token(http, code_form(public_app, code))).json()
    assert "refresh_token" not in body
    assert "offline_access" not in body["scope"].split()


async def test_no_refresh_token_without_offline_access(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    code = await make_code(auth, public_app, scope="launch/patient patient/*.rs")
    body = (await token(http, code_form(public_app, code))).json()
    assert "refresh_token" not in body and "id_token" not in body


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"code_verifier": "x" * 43}, "invalid_grant"),
        ({"code_verifier": None}, "invalid_request"),
        ({"code_verifier": "short"}, "invalid_request"),
        ({"redirect_uri": REDIRECT + "/other"}, "invalid_grant"),
        ({"redirect_uri": None}, "invalid_grant"),
        ({"code": "not-a-code"}, "invalid_grant"),
        ({"code": None}, "invalid_request"),
    ],
)
async def test_code_refusals(
    http: httpx.AsyncClient,
    auth: AuthServices,
    public_app: App,
    override: dict[str, Any],
    error: str,
) -> None:
    code = await make_code(auth, public_app)
    r = await token(http, code_form(public_app, code, **override))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error
    assert r.headers["cache-control"] == "no-store"


async def test_code_of_another_client_is_refused(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App, confidential_app: App
) -> None:
    other = await make_code(auth, public_app)
    form = code_form(public_app, other, client_id=None)
    form["client_id"] = public_app.client_id + "x"
    r = await token(http, form)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in r.headers


async def test_replayed_code_is_refused_and_revokes_its_tokens(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    code = await make_code(auth, public_app)
    first = (await token(http, code_form(public_app, code))).json()
    access = first["access_token"]
    assert auth.verifier.verify(access, issuer=ROOT, audience=ROOT + "/fhir")
    replay = await token(http, code_form(public_app, code))
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The access token is refused at once in this process, and the refresh token is dead.
    assert auth.revoked.is_revoked(_jti(auth, access))
    refresh = await token(
        http,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": public_app.client_id,
        },
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"


def _jti(auth: AuthServices, access_token: str) -> str:
    return orjson.loads(jws.extract_compact(access_token.encode()).payload)["jti"]


async def test_public_client_must_not_use_a_secret_or_another_method(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    code = await make_code(auth, public_app)
    r = await token(http, code_form(public_app, code, client_secret="s3cret"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_confidential_app_authenticates_with_private_key_jwt(
    http: httpx.AsyncClient, auth: AuthServices, confidential_app: App, app_key: KeyPair
) -> None:
    code = await make_code(auth, confidential_app)
    without = await token(http, code_form(confidential_app, code))
    assert without.status_code == 401 and without.json()["error"] == "invalid_client"
    code = await make_code(auth, confidential_app)
    form = code_form(
        confidential_app,
        code,
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=app_key.assertion(confidential_app.client_id),
    )
    r = await token(http, form)
    assert r.status_code == 200, r.text
    code = await make_code(auth, confidential_app)
    form["code"] = code.code
    form["code_verifier"] = code.verifier
    form["client_assertion"] = ec_pair().assertion(confidential_app.client_id)
    wrong_key = await token(http, form)
    assert wrong_key.status_code == 401 and wrong_key.json()["error"] == "invalid_client"


async def test_repeated_parameter_and_wrong_content_type(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    code = await make_code(auth, public_app)
    form = [*code_form(public_app, code).items(), ("code", "other")]
    r = await http.post("/oauth/token", content=str(httpx.QueryParams(form)).encode(), headers=FORM)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await http.post("/oauth/token", json=code_form(public_app, code))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await token(http, {"grant_type": "password", "username": "anna", "password": "x"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


async def test_inactive_account_gets_no_tokens(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    code = await make_code(auth, public_app)
    await auth.registry.set_account_active("anna", False)
    r = await token(http, code_form(public_app, code))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


# --------------------------------------------------------------------------- refresh


async def _tokens(http: httpx.AsyncClient, auth: AuthServices, app: App) -> dict[str, Any]:
    code = await make_code(auth, app)
    r = await token(http, code_form(app, code))
    assert r.status_code == 200, r.text
    return r.json()


def refresh_form(app: App, refresh_token: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": app.client_id,
        **extra,
    }


async def test_refresh_rotates(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    first = await _tokens(http, auth, public_app)
    r = await token(http, refresh_form(public_app, first["refresh_token"]))
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"] and second["patient"] == "p1"
    r = await token(http, refresh_form(public_app, second["refresh_token"]))
    assert r.status_code == 200


async def test_refresh_reuse_revokes_the_family(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    first = await _tokens(http, auth, public_app)
    second = (await token(http, refresh_form(public_app, first["refresh_token"]))).json()
    reused = await token(http, refresh_form(public_app, first["refresh_token"]))
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # The current token of the family is dead too, and so are its access tokens.
    current = await token(http, refresh_form(public_app, second["refresh_token"]))
    assert current.status_code == 400
    assert auth.revoked.is_revoked(_jti(auth, second["access_token"]))
    assert auth.revoked.is_revoked(_jti(auth, first["access_token"]))


async def test_refresh_scope_may_narrow_never_widen(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    first = await _tokens(http, auth, public_app)
    wide = await token(
        http, refresh_form(public_app, first["refresh_token"], scope="patient/*.cruds")
    )
    assert wide.status_code == 400 and wide.json()["error"] == "invalid_scope"
    # The refused request did not rotate: the same refresh token still works.
    narrow = await token(
        http, refresh_form(public_app, first["refresh_token"], scope="patient/*.rs")
    )
    assert narrow.status_code == 200, narrow.text
    assert narrow.json()["scope"] == "patient/*.rs"


async def test_refresh_by_another_client_is_refused(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    from datetime import UTC, datetime

    from zorgleefplan.auth.registry import new_app

    other = new_app(
        name="Andere app", kind="public", created=datetime.now(UTC), redirect_uris=[REDIRECT]
    )
    await auth.registry.add_app(other)
    first = await _tokens(http, auth, public_app)
    r = await token(http, refresh_form(other, first["refresh_token"]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    ok = await token(http, refresh_form(public_app, first["refresh_token"]))
    assert ok.status_code == 200


async def test_unknown_refresh_token_and_disabled_app(
    http: httpx.AsyncClient, auth: AuthServices, public_app: App
) -> None:
    r = await token(http, refresh_form(public_app, "nonsense"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    first = await _tokens(http, auth, public_app)
    await auth.registry.set_app_active(public_app.client_id, False)
    r = await token(http, refresh_form(public_app, first["refresh_token"]))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


# --------------------------------------------------------------------------- authorize seam


async def test_authorization_request_refusals(auth: AuthServices, public_app: App) -> None:
    base = {
        "response_type": "code",
        "client_id": public_app.client_id,
        "redirect_uri": REDIRECT,
        "scope": "launch/patient zorgleefplan~1",
        "state": "abc",
        "code_challenge": s256("v" * 43),
        "code_challenge_method": "S256",
    }
    ok = await validate_authorization_request(auth, base)
    assert "patient/CarePlan.rs" in ok.scope and ok.launch_patient
    assert ok.requested_scope == "launch/patient zorgleefplan~1"
    no_redirect = [
        {"client_id": "unknown"},
        {"client_id": None},
        {"redirect_uri": REDIRECT + "/"},
        {"redirect_uri": None},
    ]
    for change in no_redirect:
        params = {k: v for k, v in {**base, **change}.items() if v is not None}
        with pytest.raises(AuthorizationRequestError) as caught:
            await validate_authorization_request(auth, params)
        assert caught.value.redirect_url is None, change
    redirected = [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"state": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"scope": "patient/*.rs banana"}, "invalid_scope"),
        ({"scope": "zorgleefplan~999"}, "invalid_scope"),
        ({"scope": "elders~1"}, "invalid_scope"),
        ({"scope": "system/*.rs"}, "invalid_scope"),
        ({"scope": None}, "invalid_scope"),
    ]
    for change, error in redirected:
        params = {k: v for k, v in {**base, **change}.items() if v is not None}
        with pytest.raises(AuthorizationRequestError) as caught:
            await validate_authorization_request(auth, params)
        assert caught.value.error == error, change
        assert caught.value.redirect_url is not None
        assert caught.value.redirect_url.startswith(REDIRECT + "?error=" + error)
    await auth.registry.set_app_active(public_app.client_id, False)
    with pytest.raises(AuthorizationRequestError) as caught:
        await validate_authorization_request(auth, base)
    assert caught.value.redirect_url is None
