"""Discovery: SMART configuration, OpenID configuration, JWKS, and the CapabilityStatement's
SMART security extension all point at endpoints that answer."""

from __future__ import annotations

import httpx
from joserfc.jwk import KeySet

from tests.api.auth.conftest import FORM, ROOT
from zorgleefplan.auth.services import AuthServices


async def test_smart_configuration(http: httpx.AsyncClient) -> None:
    r = await http.get("/.well-known/smart-configuration")
    assert r.status_code == 200
    config = r.json()
    assert config["issuer"] == ROOT
    assert config["authorization_endpoint"] == ROOT + "/oauth/authorize"
    assert config["token_endpoint"] == ROOT + "/oauth/token"
    assert config["revocation_endpoint"] == ROOT + "/oauth/revoke"
    assert config["introspection_endpoint"] == ROOT + "/oauth/introspect"
    assert config["jwks_uri"] == ROOT + "/.well-known/jwks.json"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert set(config["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
    }
    assert set(config["token_endpoint_auth_methods_supported"]) == {"private_key_jwt", "none"}
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {
        "RS384",
        "ES384",
        "ES256",
    }
    assert config["response_types_supported"] == ["code"]
    assert {"openid", "fhirUser", "launch/patient", "offline_access"} <= set(
        config["scopes_supported"]
    )
    assert "zorgleefplan~1" in config["scopes_supported"]
    assert {"launch-standalone", "client-public", "client-confidential-asymmetric"} <= set(
        config["capabilities"]
    )
    assert "permission-offline" in config["capabilities"]


async def test_every_advertised_endpoint_answers(http: httpx.AsyncClient) -> None:
    config = (await http.get("/.well-known/smart-configuration")).json()
    for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        r = await http.post(config[name], data={}, headers=FORM)
        assert r.status_code in (400, 401), (name, r.status_code)
        assert "error" in r.json()
    assert (await http.get(config["jwks_uri"])).status_code == 200


async def test_openid_configuration(http: httpx.AsyncClient) -> None:
    config = (await http.get("/.well-known/openid-configuration")).json()
    assert config["issuer"] == ROOT
    assert config["id_token_signing_alg_values_supported"] == ["ES256"]
    assert config["jwks_uri"] == ROOT + "/.well-known/jwks.json"
    assert config["subject_types_supported"] == ["public"]
    assert config["authorization_response_iss_parameter_supported"] is True


async def test_jwks_has_public_keys_only(http: httpx.AsyncClient, auth: AuthServices) -> None:
    jwks = (await http.get("/.well-known/jwks.json")).json()
    assert jwks == auth.keys.public_jwks()
    assert all("d" not in key for key in jwks["keys"])
    assert KeySet.import_key_set(jwks).get_by_kid(auth.keys.signing_key().kid)


async def test_capability_statement_carries_smart_security(http: httpx.AsyncClient) -> None:
    r = await http.get("/fhir/metadata")
    assert r.status_code == 200
    security = r.json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    (extension,) = security["extension"]
    assert (
        extension["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    )
    uris = {e["url"]: e["valueUri"] for e in extension["extension"]}
    assert uris == {
        "authorize": ROOT + "/oauth/authorize",
        "token": ROOT + "/oauth/token",
        "revoke": ROOT + "/oauth/revoke",
        "introspect": ROOT + "/oauth/introspect",
    }
