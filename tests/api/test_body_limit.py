"""The configured body size limit answers 413 before the body is read."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from zorgleefplan.config import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", max_body_bytes=2048)


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    big = {"resourceType": "Patient", "name": [{"family": "x" * 5000}]}
    r = await client.post("/fhir/Patient", json=big)
    assert r.status_code == 413
    assert r.json()["resourceType"] == "OperationOutcome"
    count = await client.get("/fhir/Patient/_history", params={"_total": "accurate", "_count": "0"})
    assert count.json()["total"] == 0
