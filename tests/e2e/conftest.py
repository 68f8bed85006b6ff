"""End-to-end fixtures: a real ``zorgleefplan serve`` process on a free local port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Server, start_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()
