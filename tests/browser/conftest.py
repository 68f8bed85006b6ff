"""Browser-test fixtures: a seeded ``zorgleefplan serve`` process, a local app redirect target,
and Debian's chromium (the tests skip with a reason when it is not installed)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support import PatientAppWorld, seed_patient_app, start_server

CHROMIUM = Path("/usr/bin/chromium")


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


@dataclass
class Running:
    root: str  # http://127.0.0.1:PORT
    client_id: str
    world: PatientAppWorld

    @property
    def app_name(self) -> str:
        return self.world.app_name

    @property
    def username(self) -> str:
        return self.world.username

    @property
    def password(self) -> str:
        return self.world.password


@pytest.fixture
def seeded_server(tmp_path: Path, app_callback: AppCallback) -> Iterator[Running]:
    world = PatientAppWorld(
        redirect_uri=app_callback.redirect_uri,
        organization_name="PGO Leverancier B.V.",
        display_name="Anna de Vries",
        patients=(
            {
                "resourceType": "Patient",
                "id": "p1",
                "name": [{"use": "official", "given": ["Anna"], "family": "de Vries"}],
            },
        ),
    )
    data_dir = tmp_path / "data"
    client_id = asyncio.run(seed_patient_app(data_dir, world))
    server = start_server(data_dir)
    try:
        yield Running(server.root, client_id, world)
    finally:
        server.stop()
