"""The committed OpenAPI document must match the code (run `zorgleefplan openapi` to update)."""

from __future__ import annotations

from pathlib import Path

from zorgleefplan.cli import openapi_text

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_code() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openapi_text(), (
        "openapi/openapi.json is stale: run `zorgleefplan openapi`"
    )
