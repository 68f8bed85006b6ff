"""The login and consent pages of the authorization code flow, in-process over ASGI."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from tests.support import csrf_of, s256
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.auth.registry import new_account, new_app, utc_now
from zorgleefplan.auth.services import AuthServices
from zorgleefplan.auth.session import SECRET_FILE, load_or_create_secret
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.store.model import AccessConstraint

REDIRECT = "http://localhost:8765/callback"
PASSWORD = "correct horse battery"
_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # cheap for tests


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


@dataclass
class World:
    app: FastAPI
    auth: AuthServices
    client_id: str


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", login_max_failures=3, service_name="Zorgleefplan")


async def _put(repo: Repository, resource: dict) -> None:
    await repo.update(resource["resourceType"], resource["id"], resource)


@pytest.fixture
async def world(app: FastAPI) -> World:
    auth: AuthServices = app.state.auth
    registered = new_app(
        name="Mijn Dossier App",
        kind="public",
        redirect_uris=[REDIRECT],
        organization_name="PGO Leverancier B.V.",
        created=utc_now(),
    )
    await auth.registry.add_app(registered)
    repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())
    for pid, given, family in (("p1", "Anna", "de Vries"), ("p2", "Bert", "Jansen")):
        await _put(
            repo,
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"use": "official", "given": [given], "family": family}],
            },
        )
    for rid, pid in (("rp1", "p1"), ("rp2", "p2")):
        await _put(
            repo,
            {
                "resourceType": "RelatedPerson",
                "id": rid,
                "patient": {"reference": f"Patient/{pid}"},
                "relationship": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                "code": "HPOWATT",
                                "display": "healthcare power of attorney",
                            }
                        ]
                    }
                ],
                "name": [{"given": ["Carla"], "family": "Bakker"}],
            },
        )
    accounts = {
        "anna": ("Anna de Vries", ["Patient/p1"]),
        "carla": ("Carla Bakker", ["RelatedPerson/rp1", "RelatedPerson/rp2"]),
        "dirk": ("Dirk Zorg", ["PractitionerRole/pr1"]),
    }
    for username, (display, links) in accounts.items():
        await auth.registry.add_account(
            new_account(
                username=username,
                display_name=display,
                fhir_users=links,
                password_hash=_HASHER.hash(PASSWORD),
                created=utc_now(),
            )
        )
    return World(app, auth, registered.client_id)


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client that does not follow redirects (we check each one)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        yield c


def authorize_params(world: World, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": world.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid fhirUser launch/patient offline_access zorgleefplan~1",
        "state": "st-" + secrets.token_hex(4),
        "code_challenge": s256("v" * 50),
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


async def start(browser: httpx.AsyncClient, world: World, **overrides: str | None) -> str:
    """GET /oauth/authorize and then the login page; returns the login page's CSRF token."""
    response = await browser.get("/oauth/authorize", params=authorize_params(world, **overrides))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/oauth/login"
    page = await browser.get("/oauth/login")
    assert page.status_code == 200
    return csrf_of(page.text)


async def login(browser: httpx.AsyncClient, csrf: str, username: str, password: str = PASSWORD):
    return await browser.post(
        "/oauth/login", data={"username": username, "password": password, "csrf": csrf}
    )


async def to_consent(browser: httpx.AsyncClient, world: World, username: str, **overrides):
    csrf = await start(browser, world, **overrides)
    response = await login(browser, csrf, username)
    assert response.status_code == 303, text_of(response.text)
    assert response.headers["location"] == "/oauth/consent"
    page = await browser.get("/oauth/consent")
    assert page.status_code == 200
    return page


# --------------------------------------------------------------------------- refusals


async def test_unknown_client_shows_error_page_and_never_redirects(
    world: World, browser: httpx.AsyncClient
) -> None:
    response = await browser.get(
        "/oauth/authorize", params=authorize_params(world, client_id="nobody")
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert 'lang="nl"' in response.text
    assert "Ongeldig verzoek" in response.text
    assert REDIRECT not in response.text


async def test_unregistered_redirect_uri_shows_error_page(
    world: World, browser: httpx.AsyncClient
) -> None:
    for uri in ("https://evil.example/cb", REDIRECT + "/x", None):
        response = await browser.get(
            "/oauth/authorize", params=authorize_params(world, redirect_uri=uri)
        )
        assert response.status_code == 400, uri
        assert "location" not in response.headers
        assert "set-cookie" not in response.headers


async def test_repeated_parameter_is_refused_without_redirect(
    world: World, browser: httpx.AsyncClient
) -> None:
    query = urlencode(authorize_params(world)) + "&redirect_uri=https%3A%2F%2Fevil.example%2F"
    response = await browser.get("/oauth/authorize?" + query)
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"state": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain", "code_challenge": "v" * 50}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "patient/Observation.rs zorgleefplan~nope"}, "invalid_scope"),
        ({"aud": "https://other-server.example/fhir"}, "invalid_request"),
    ],
)
async def test_refusals_after_a_trusted_redirect_uri_go_back_to_the_app(
    world: World, browser: httpx.AsyncClient, overrides: dict, error: str
) -> None:
    params = authorize_params(world, **overrides)
    response = await browser.get("/oauth/authorize", params=params)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == [error]
    assert query.get("state") == ([params["state"]] if "state" in params else None)
    assert "code" not in query
    assert "set-cookie" not in response.headers


async def test_pages_without_a_session_say_it_expired(
    world: World, browser: httpx.AsyncClient
) -> None:
    for path in ("/oauth/login", "/oauth/consent"):
        response = await browser.get(path)
        assert response.status_code == 400
        assert "Sessie verlopen" in response.text


async def test_tampered_session_cookie_is_no_session(
    world: World, browser: httpx.AsyncClient
) -> None:
    await start(browser, world)
    (name, value) = next(iter(browser.cookies.items()))
    payload, signature = value.split(".")
    browser.cookies.clear()
    browser.cookies.set(name, payload + "." + signature[::-1])
    response = await browser.get("/oauth/login")
    assert response.status_code == 400


# --------------------------------------------------------------------------- CSRF


@pytest.mark.parametrize("token", [None, "", "wrong"])
async def test_login_without_the_right_csrf_token_is_refused(
    world: World, browser: httpx.AsyncClient, token: str | None
) -> None:
    await start(browser, world)
    data = {"username": "anna", "password": PASSWORD}
    if token is not None:
        data["csrf"] = token
    response = await browser.post("/oauth/login", data=data)
    assert response.status_code == 403
    assert "Formulier geweigerd" in response.text
    assert "location" not in response.headers


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_consent_without_the_right_csrf_token_records_nothing(
    world: World, browser: httpx.AsyncClient, token: str | None
) -> None:
    await to_consent(browser, world, "anna")
    data = {"decision": "approve", "client": "Patient/p1"}
    if token is not None:
        data["csrf"] = token
    response = await browser.post("/oauth/consent", data=data)
    assert response.status_code == 403
    assert "location" not in response.headers
    assert await world.auth.registry.consent_decisions(username="anna") == []


async def test_csrf_token_of_another_session_is_refused(
    world: World, browser: httpx.AsyncClient, app: FastAPI
) -> None:
    other_page = await to_consent(browser, world, "anna")
    stolen = csrf_of(other_page.text)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as victim:
        await to_consent(victim, world, "anna")
        response = await victim.post("/oauth/consent", data={"decision": "approve", "csrf": stolen})
    assert response.status_code == 403
    assert await world.auth.registry.consent_decisions(username="anna") == []


# --------------------------------------------------------------------------- login


async def test_login_failure_message_is_the_same_for_unknown_user_and_wrong_password(
    world: World, browser: httpx.AsyncClient
) -> None:
    csrf = await start(browser, world)
    unknown = await login(browser, csrf, "nobody-here", PASSWORD)
    wrong = await login(browser, csrf, "anna", "not the password")
    assert unknown.status_code == wrong.status_code == 200
    message = re.compile(r'<p class="error" role="alert" id="login-error">(.*?)</p>', re.S)
    assert message.search(unknown.text) and message.search(wrong.text)
    assert message.search(unknown.text).group(1) == message.search(wrong.text).group(1)
    assert "Inloggen is niet gelukt" in unknown.text
    assert "set-cookie" not in unknown.headers and "set-cookie" not in wrong.headers


async def test_lockout_after_repeated_failures_even_with_the_right_password(
    world: World, browser: httpx.AsyncClient
) -> None:
    csrf = await start(browser, world)
    for _ in range(3):  # login_max_failures
        response = await login(browser, csrf, "anna", "not the password")
        assert response.status_code == 200
    locked = await login(browser, csrf, "anna", PASSWORD)
    assert locked.status_code == 200
    assert "Inloggen is niet gelukt" in locked.text
    account = await world.auth.registry.get_account("anna")
    assert account is not None and account.locked(utc_now())


async def test_login_starts_a_new_session(world: World, browser: httpx.AsyncClient) -> None:
    csrf = await start(browser, world)
    before = dict(browser.cookies)
    response = await login(browser, csrf, "anna")
    assert response.status_code == 303
    after = dict(browser.cookies)
    assert before != after
    page = await browser.get("/oauth/consent")
    assert csrf_of(page.text) != csrf


# --------------------------------------------------------------------------- consent page


async def test_consent_page_names_service_app_data_and_person(
    world: World, browser: httpx.AsyncClient
) -> None:
    page = await to_consent(browser, world, "anna")
    text = text_of(page.text)
    assert "Zorgleefplan" in text
    assert "Mijn Dossier App" in text
    assert "PGO Leverancier B.V." in text
    service = world.auth.data_services.services["1"]
    assert service.name in text
    assert service.description in text
    assert "Langdurige toegang" in text  # offline_access in plain words
    assert "Anna de Vries" in text
    assert "uw eigen gegevens" in text
    remember = re.search(r"<input[^>]*name=\"remember\"[^>]*>", page.text)
    assert remember is not None
    assert "checked" not in remember.group(0)
    assert 'lang="nl"' in page.text
    assert '<label for="remember">' in page.text
    assert "<script" not in page.text


async def test_pages_carry_protective_headers(world: World, browser: httpx.AsyncClient) -> None:
    page = await to_consent(browser, world, "anna")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # default-src 'none' forbids every script
    assert "form-action 'self' http://localhost:8765" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    cookie = browser.cookies.jar
    (only,) = list(cookie)
    assert only.has_nonstandard_attr("HttpOnly")
    assert (only.get_nonstandard_attr("SameSite") or "").lower() == "lax"
    assert not only.secure  # http://test: not secure unless configured
    css = await browser.get("/oauth/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_remember_is_not_offered_without_offline_access(
    world: World, browser: httpx.AsyncClient
) -> None:
    page = await to_consent(browser, world, "anna", scope="openid fhirUser patient/CarePlan.rs")
    assert 'name="remember"' not in page.text
    assert "Uw zorgleefplan inzien" in text_of(page.text)


# --------------------------------------------------------------------------- decisions


async def test_deny_redirects_with_access_denied_and_state(
    world: World, browser: httpx.AsyncClient
) -> None:
    page = await to_consent(browser, world, "anna", state="keep-me")
    response = await browser.post(
        "/oauth/consent", data={"decision": "deny", "csrf": csrf_of(page.text)}
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["keep-me"]
    assert "code" not in query
    (decision,) = await world.auth.registry.consent_decisions(username="anna")
    assert not decision.approved and not decision.remember
    assert decision.client_id == world.client_id


async def test_approve_redirects_with_code_and_state_once(
    world: World, browser: httpx.AsyncClient
) -> None:
    page = await to_consent(browser, world, "anna", state="s-123")
    form = {"decision": "approve", "csrf": csrf_of(page.text), "client": "Patient/p1"}
    response = await browser.post("/oauth/consent", data=form)
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["s-123"]
    assert query["iss"] == ["http://test"]
    (code,) = query["code"]
    redemption = await world.auth.registry.consume_code(code)
    assert redemption.outcome == "granted" and redemption.code is not None
    assert redemption.code.username == "anna"
    assert redemption.code.fhir_user == "Patient/p1"
    assert redemption.code.patient == "Patient/p1"
    assert not redemption.code.remember
    assert "offline_access" not in redemption.code.scope.split()
    assert "patient/CarePlan.rs" in redemption.code.scope.split()
    (decision,) = await world.auth.registry.consent_decisions(username="anna")
    assert decision.approved and decision.patient == "Patient/p1"
    # The request was answered: the same form again finds no session.
    again = await browser.post("/oauth/consent", data=form)
    assert again.status_code == 403
    assert len(await world.auth.registry.consent_decisions(username="anna")) == 1


async def test_remember_opts_into_long_term_access(
    world: World, browser: httpx.AsyncClient
) -> None:
    page = await to_consent(browser, world, "anna")
    response = await browser.post(
        "/oauth/consent",
        data={"decision": "approve", "csrf": csrf_of(page.text), "remember": "yes"},
    )
    (code,) = parse_qs(urlsplit(response.headers["location"]).query)["code"]
    redemption = await world.auth.registry.consume_code(code)
    assert redemption.code is not None and redemption.code.remember
    assert "offline_access" in redemption.code.scope.split()
    (decision,) = await world.auth.registry.consent_decisions(username="anna")
    assert decision.remember


async def test_volmacht_holder_with_two_clients_must_choose(
    world: World, browser: httpx.AsyncClient
) -> None:
    page = await to_consent(browser, world, "carla")
    radios = re.findall(r"<input[^>]*type=\"radio\"[^>]*>", page.text)
    assert len(radios) == 2
    assert not any("checked" in r for r in radios)
    text = text_of(page.text)
    assert "Anna de Vries (u bent gevolmachtigde)" in text
    assert "Bert Jansen (u bent gevolmachtigde)" in text
    csrf = csrf_of(page.text)

    missing = await browser.post("/oauth/consent", data={"decision": "approve", "csrf": csrf})
    assert missing.status_code == 400
    assert "Kies voor wie u toestemming geeft" in missing.text
    forged = await browser.post(
        "/oauth/consent",
        data={"decision": "approve", "csrf": csrf, "client": "RelatedPerson/someone-else"},
    )
    assert forged.status_code == 400
    assert await world.auth.registry.consent_decisions(username="carla") == []

    chosen = await browser.post(
        "/oauth/consent", data={"decision": "approve", "csrf": csrf, "client": "RelatedPerson/rp2"}
    )
    assert chosen.status_code == 303
    (code,) = parse_qs(urlsplit(chosen.headers["location"]).query)["code"]
    redemption = await world.auth.registry.consume_code(code)
    assert redemption.code is not None
    assert redemption.code.patient == "Patient/p2"
    assert redemption.code.fhir_user == "RelatedPerson/rp2"
    (decision,) = await world.auth.registry.consent_decisions(username="carla")
    assert decision.patient == "Patient/p2" and decision.fhir_user == "RelatedPerson/rp2"


async def test_practitioner_acts_in_their_role_without_choosing_a_client(
    world: World, browser: httpx.AsyncClient
) -> None:
    page = await to_consent(browser, world, "dirk", scope="openid fhirUser user/CarePlan.rs")
    assert 'type="radio"' not in page.text
    assert "U handelt als zorgverlener" in page.text
    response = await browser.post(
        "/oauth/consent", data={"decision": "approve", "csrf": csrf_of(page.text)}
    )
    (code,) = parse_qs(urlsplit(response.headers["location"]).query)["code"]
    redemption = await world.auth.registry.consume_code(code)
    assert redemption.code is not None
    assert redemption.code.fhir_user == "PractitionerRole/pr1"
    assert redemption.code.patient is None


async def test_account_without_a_fitting_link_can_only_deny(
    world: World, browser: httpx.AsyncClient
) -> None:
    page = await to_consent(browser, world, "dirk")  # patient scopes, practitioner account
    assert 'value="approve"' not in page.text
    response = await browser.post(
        "/oauth/consent", data={"decision": "approve", "csrf": csrf_of(page.text)}
    )
    assert response.status_code == 400
    assert await world.auth.registry.consent_decisions(username="dirk") == []


# --------------------------------------------------------------------------- session secret


def test_session_secret_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    assert load_or_create_secret(tmp_path) == first
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert len(first) == 32
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]


# --------------------------------------------------------------------------- external login


ISSUER = "https://broker.example.org"


class FakeProvider:
    """An OpenID Connect provider behind httpx.MockTransport: discovery, JWKS and a token
    endpoint that answers with an ID token whose claims the test chooses."""

    def __init__(self) -> None:
        from joserfc.jwk import ECKey

        self.key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
        self.claims: dict = {}
        self.token_requests: list[dict] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        import time

        from joserfc import jwt

        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": ISSUER + "/authorize",
                    "token_endpoint": ISSUER + "/token",
                    "jwks_uri": ISSUER + "/jwks",
                },
            )
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if path == "/token":
            form = dict(parse_qs(request.content.decode()))
            self.token_requests.append({k: v[0] for k, v in form.items()})
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": "zlp", "sub": "s-1", "iat": now, "exp": now + 300}
            claims.update(self.claims)
            id_token = jwt.encode({"alg": "ES256", "kid": "k1"}, claims, self.key)
            return httpx.Response(
                200, json={"access_token": "x", "token_type": "Bearer", "id_token": id_token}
            )
        return httpx.Response(404)


@pytest.fixture
async def external(world: World) -> tuple:
    from zorgleefplan.auth.login import OidcLogin

    await world.auth.registry.add_account(
        new_account(
            username="erik",
            fhir_users=["Patient/p2"],
            external=(ISSUER, "s-1"),
            created=utc_now(),
        )
    )
    provider = FakeProvider()
    login = OidcLogin(
        world.auth.registry,
        issuer=ISSUER,
        client_id="zlp",
        client_secret=None,
        transport=httpx.MockTransport(provider.handler),
    )
    return login, provider


async def test_external_login_finds_the_account_by_issuer_and_subject(external: tuple) -> None:
    login, provider = external
    callback = "http://test/oauth/login/oidc/callback"
    url, pending = await login.begin(callback)
    sent = parse_qs(urlsplit(url).query)
    assert url.startswith(ISSUER + "/authorize?")
    assert sent["state"] == [pending["state"]] and sent["nonce"] == [pending["nonce"]]
    assert sent["code_challenge_method"] == ["S256"]
    assert sent["code_challenge"] == [s256(pending["verifier"])]
    assert sent["redirect_uri"] == [callback]

    provider.claims = {"nonce": pending["nonce"]}
    account = await login.complete(pending, {"code": "c1", "state": pending["state"]}, callback)
    assert account is not None and account.username == "erik"
    assert provider.token_requests[-1]["code_verifier"] == pending["verifier"]


@pytest.mark.parametrize(
    ("claims", "params"),
    [
        ({"nonce": "other"}, {}),  # replayed or foreign ID token
        ({"aud": "someone-else"}, {}),
        ({"iss": "https://evil.example"}, {}),
        ({"sub": "unknown-subject"}, {}),
        ({}, {"state": "forged"}),
        ({}, {"error": "access_denied"}),
    ],
)
async def test_external_login_refusals(external: tuple, claims: dict, params: dict) -> None:
    login, provider = external
    callback = "http://test/oauth/login/oidc/callback"
    _, pending = await login.begin(callback)
    provider.claims = {"nonce": pending["nonce"], **claims}
    answer = {"code": "c1", "state": pending["state"], **params}
    assert await login.complete(pending, answer, callback) is None
