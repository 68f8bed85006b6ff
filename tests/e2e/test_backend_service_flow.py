"""SMART Backend Services end to end against a real ``zorgleefplan serve`` with two worker
processes: an EHR system registered with the CLI authenticates with a signed client assertion
(its own generated key pair), uses the token, has it introspected and revoked, and every
worker refuses the revoked token (the revocation feed carries it across processes)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.support import start_server

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "zorgleefplan", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def assertion(key: ECKey, kid: str, client_id: str, token_url: str) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now + 120,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "ES256", "kid": kid, "typ": "JWT"}, claims, key)


def test_backend_service_token_use_introspection_and_revocation(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    key = ECKey.generate_key("P-256")
    jwks = tmp_path / "ehr-jwks.json"
    jwks.write_text(json.dumps({"keys": [{**key.as_dict(private=False), "kid": "ehr-1"}]}))
    client_id = cli(
        data,
        "clients",
        "add",
        "--name",
        "EPD Ziekenhuis",
        "--backend",
        "--jwks",
        str(jwks),
        "--organization",
        "Organization/zh-1",
        "--scope",
        "system/*.rs",
    )
    server = start_server(data, None, "--workers", "2")
    root = server.base.removesuffix("/fhir")
    token_url = f"{root}/oauth/token"
    try:
        with httpx.Client(timeout=10) as http:

            def authenticated(**extra: str) -> dict[str, str]:
                return {
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": assertion(key, "ehr-1", client_id, token_url),
                    **extra,
                }

            r = http.post(
                token_url,
                data=authenticated(grant_type="client_credentials", scope="system/CarePlan.rs"),
            )
            assert r.status_code == 200, r.text
            issued = r.json()
            assert issued["token_type"].lower() == "bearer" and "patient" not in issued
            bearer = {"Authorization": f"Bearer {issued['access_token']}"}

            # A valid token, but no client has consented to this organisation: nothing shows.
            for _ in range(4):  # a new connection each: the workers take turns accepting
                r = httpx.get(f"{server.base}/CarePlan", headers=bearer)
                assert r.status_code == 200 and r.json()["total"] == 0
            r = http.get(f"{server.base}/Goal", headers=bearer)
            assert r.status_code == 403  # outside the token's scope

            r = http.post(
                f"{root}/oauth/introspect", data=authenticated(token=issued["access_token"])
            )
            assert r.json()["active"] is True and r.json()["client_id"] == client_id

            r = http.post(f"{root}/oauth/revoke", data=authenticated(token=issued["access_token"]))
            assert r.status_code == 200
            r = http.post(
                f"{root}/oauth/introspect", data=authenticated(token=issued["access_token"])
            )
            assert r.json() == {"active": False}

            # Every worker refuses it within the revocation feed's poll interval.
            deadline = time.monotonic() + 5
            refused = 0
            while refused < 10 and time.monotonic() < deadline:
                r = httpx.get(f"{server.base}/CarePlan", headers=bearer)
                refused = refused + 1 if r.status_code == 401 else 0
                time.sleep(0.1)
            assert refused == 10, "a worker still accepted the revoked token"
    finally:
        server.stop()
