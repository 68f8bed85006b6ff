"""End-to-end fixtures: a real ``zorgleefplan serve`` process on a free local port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str  # FHIR base URL
    data_dir: Path
    port: int
    log: Path  # the server's stderr

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)


def start_server(data_dir: Path, port: int | None = None, *extra: str) -> Server:
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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()
