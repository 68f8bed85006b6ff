"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.app import open_services
from zorgleefplan.auth import tokens
from zorgleefplan.auth.keys import SigningKeys
from zorgleefplan.auth.passwords import Passwords
from zorgleefplan.auth.registry import new_account, new_app, utc_now
from zorgleefplan.auth.services import open_auth_services
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.store.model import AccessConstraint

PATIENT_SCOPES = "launch/patient patient/*.cruds"


def mint_access_token(
    data_dir: Path,
    root: str,
    *,
    patient: str | None = None,
    scope: str = PATIENT_SCOPES,
    fhir_user: str | None = None,
    lifetime: int = 900,
    now: float | None = None,
    client_id: str = "test-app",
    organization: str | None = None,
    subject: str | None = None,
) -> str:
    """A real access token signed with the server's own key in ``data_dir``, as the token
    endpoint would issue it (tests of the resource server, not of the OAuth flows). With
    neither ``patient`` nor ``fhir_user`` it is a backend's token for ``organization``.
    ``subject`` (the account's username) defaults to the user reference or the client id."""
    user = fhir_user or (f"Patient/{patient}" if patient else None)
    return tokens.issue(
        SigningKeys.open(data_dir),
        issuer=root,
        audience=root + "/fhir",
        subject=subject or user or client_id,
        client_id=client_id,
        scope=scope,
        lifetime=lifetime,
        now=now,
        patient=patient,
        fhir_user=user,
        organization=organization,
    ).token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A real ``zorgleefplan serve`` process."""

    process: subprocess.Popen[bytes]
    base: str  # FHIR base URL
    data_dir: Path
    port: int
    log: Path  # the server's stderr

    @property
    def root(self) -> str:
        return self.base.removesuffix("/fhir")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)


def start_server(data_dir: Path, port: int | None = None, *extra: str) -> Server:
    """Start ``zorgleefplan serve`` on ``data_dir`` and wait until it answers."""
    port = port or free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"server-{port}.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zorgleefplan",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--log-level",
                "warning",
                *extra,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    base = f"http://127.0.0.1:{port}/fhir"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early: {log.read_text()}")
        try:
            if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                return Server(process, base, data_dir, port, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not become ready in 30 s")


@dataclass(frozen=True)
class PatientAppWorld:
    """What ``seed_patient_app`` stores: clients, one public app, one account for Patient/p1."""

    redirect_uri: str
    app_name: str = "Mijn Dossier App"
    organization_name: str | None = None
    username: str = "anna"
    display_name: str | None = None
    password: str = "correct horse battery"
    patients: tuple[dict[str, object], ...] = (
        {"resourceType": "Patient", "id": "p1", "name": [{"given": ["Anna"]}]},
    )


async def seed_patient_app(data_dir: Path, world: PatientAppWorld) -> str:
    """Store the world's clients, app and account (as an operator would); returns client_id."""
    settings = Settings(data_dir=data_dir)
    services = await open_services(settings)
    try:
        auth = await open_auth_services(settings)
        try:
            repo = Repository(services, DEVELOPMENT, AccessConstraint.unrestricted())
            for patient in world.patients:
                await repo.update("Patient", str(patient["id"]), dict(patient))
            app = new_app(
                name=world.app_name,
                kind="public",
                redirect_uris=[world.redirect_uri],
                organization_name=world.organization_name,
                created=utc_now(),
            )
            await auth.registry.add_app(app)
            await auth.registry.add_account(
                new_account(
                    username=world.username,
                    display_name=world.display_name,
                    fhir_users=["Patient/p1"],
                    password_hash=await Passwords().hash(world.password),
                    created=utc_now(),
                )
            )
            return app.client_id
        finally:
            await auth.close()
    finally:
        await services.store.close()


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of ``verifier`` (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_of(html: str) -> str:
    """The CSRF token of a login or consent page."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)
