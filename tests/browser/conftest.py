"""Browser-test fixtures: a seeded ``zorgleefplan serve`` process, a local app redirect target,
and Debian's chromium (the tests skip with a reason when it is not installed)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.app import open_services
from zorgleefplan.auth.passwords import Passwords
from zorgleefplan.auth.registry import new_account, new_app, utc_now
from zorgleefplan.auth.services import open_auth_services
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.store.model import AccessConstraint

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"
APP_NAME = "Mijn Dossier App"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
        )
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    return CHROMIUM


@dataclass
class AppCallback:
    """A tiny HTTP server standing in for the patient app's redirect URI."""

    port: int
    received: list[str] = field(default_factory=list)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"


@pytest.fixture
def app_callback() -> Iterator[AppCallback]:
    callback = AppCallback(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            callback.received.append(self.path)
            body = b"<!doctype html><title>App</title><p>Terug in de app</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    callback.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield callback
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


async def seed(data_dir: Path, redirect_uri: str) -> str:
    """One patient app, one client (Patient/p1) with an account ``anna``; returns client_id."""
    settings = Settings(data_dir=data_dir)
    services = await open_services(settings)
    try:
        auth = await open_auth_services(settings)
        try:
            repo = Repository(services, DEVELOPMENT, AccessConstraint.unrestricted())
            patient = {
                "resourceType": "Patient",
                "id": "p1",
                "name": [{"use": "official", "given": ["Anna"], "family": "de Vries"}],
            }
            await repo.update("Patient", "p1", patient)
            app = new_app(
                name=APP_NAME,
                kind="public",
                redirect_uris=[redirect_uri],
                organization_name="PGO Leverancier B.V.",
                created=utc_now(),
            )
            await auth.registry.add_app(app)
            await auth.registry.add_account(
                new_account(
                    username="anna",
                    display_name="Anna de Vries",
                    fhir_users=["Patient/p1"],
                    password_hash=await Passwords().hash(PASSWORD),
                    created=utc_now(),
                )
            )
            return app.client_id
        finally:
            await auth.close()
    finally:
        await services.store.close()


@dataclass
class Running:
    root: str  # http://127.0.0.1:PORT
    client_id: str
    data_dir: Path
    app_name: str = APP_NAME
    username: str = "anna"
    password: str = PASSWORD


@pytest.fixture
def seeded_server(tmp_path: Path, app_callback: AppCallback) -> Iterator[Running]:
    data_dir = tmp_path / "data"
    client_id = asyncio.run(seed(data_dir, app_callback.redirect_uri))
    port = free_port()
    log = tmp_path / "server.log"
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
            ],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early: {log.read_text()}")
            try:
                if httpx.get(f"{root}/fhir/metadata", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready in 30 s")
            time.sleep(0.1)
        yield Running(root, client_id, data_dir)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)
