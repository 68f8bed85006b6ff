"""Graceful shutdown of a real server: on SIGTERM it stops accepting, lets the request in
flight finish (its audit record durable), then closes; past ZLP_SHUTDOWN_TIMEOUT it cancels."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.support import Server, mint_access_token, start_server

GOAL = {
    "resourceType": "Goal",
    "lifecycleStatus": "active",
    "description": {"text": "Elke dag naar buiten"},
    "subject": {"reference": "Patient/p1"},
}


def _bearer(server: Server) -> dict[str, str]:
    token = mint_access_token(server.data_dir, server.root, patient="p1")
    return {"Authorization": f"Bearer {token}"}


def _put_patient(server: Server) -> None:
    r = httpx.put(
        f"{server.base}/Patient/p1",
        json={"resourceType": "Patient", "id": "p1"},
        headers={**_bearer(server), "Content-Type": "application/fhir+json"},
    )
    assert r.status_code in (200, 201), r.text


def _start_slow_create(server: Server, body: bytes) -> socket.socket:
    """POST a Goal whose body is held back: returns once the server's handler is running and
    waiting for the body (it answered ``100 Continue``, which uvicorn sends on the app's
    first read of the body)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    head = (
        f"POST /fhir/Goal HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Authorization: {_bearer(server)['Authorization']}\r\n"
        "Content-Type: application/fhir+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    sock.sendall(head.encode())
    interim = b""
    while not interim.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        assert chunk, "the server closed the connection"
        interim += chunk
    assert interim.startswith(b"HTTP/1.1 100"), interim
    return sock


def _response(sock: socket.socket) -> tuple[int, bytes]:
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, raw
        raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return int(lines[0].split()[1]), rest[:length]


def _refuses_connections(port: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_sigterm_lets_the_request_in_flight_finish_and_its_audit_record_is_durable(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    first = start_server(data, None, "--log-level", "info")
    try:
        _put_patient(first)
        body = json.dumps(GOAL).encode()
        sock = _start_slow_create(first, body)
        with sock:
            first.process.send_signal(signal.SIGTERM)
            # It stops accepting at once, and stays up for the request it is serving.
            assert _refuses_connections(first.port)
            assert first.process.poll() is None
            sock.sendall(body)
            status, content = _response(sock)
        assert status == 201, content
        goal_id = json.loads(content)["id"]
        # uvicorn ends by re-raising the signal it handled, once the shutdown is complete.
        assert first.process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        first.stop(signal.SIGKILL)
    log = first.log.read_text()
    assert "Application shutdown complete" in log and "Traceback" not in log

    second = start_server(data)
    try:
        with httpx.Client(headers=_bearer(second), timeout=10) as http:
            assert http.get(f"{second.base}/Goal/{goal_id}").status_code == 200
            trail = http.get(f"{second.base}/AuditEvent", params={"patient": "p1"}).json()
        created = [
            e["resource"]
            for e in trail.get("entry", [])
            if e["resource"]["subtype"][0]["code"] == "create"
            and any(
                x.get("what", {}).get("reference", "").startswith(f"Goal/{goal_id}")
                for x in e["resource"].get("entity", [])
            )
        ]
        assert len(created) == 1, json.dumps(trail)[:2000]
        assert created[0]["outcome"] == "0"
    finally:
        second.stop()


def test_a_request_past_the_shutdown_timeout_is_cancelled_and_nothing_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZLP_SHUTDOWN_TIMEOUT", "1")
    data = tmp_path / "data"
    server = start_server(data)
    try:
        _put_patient(server)
        with _start_slow_create(server, json.dumps(GOAL).encode()):
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            # The body never comes: the server waits ZLP_SHUTDOWN_TIMEOUT, cancels, and exits.
            assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
            assert time.monotonic() - started < 15
    finally:
        server.stop(signal.SIGKILL)
    assert "timeout graceful shutdown exceeded" in server.log.read_text()

    again = start_server(data)
    try:
        goals = httpx.get(f"{again.base}/Goal", headers=_bearer(again))
        assert goals.status_code == 200, goals.text
        assert goals.json().get("entry", []) == []
    finally:
        again.stop()
