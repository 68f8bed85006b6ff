"""The care network every plan API test starts from (see world.py)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.api.plan.world import PlanWorld
from zorgleefplan.config import Settings


@pytest.fixture
async def world(app: FastAPI, settings: Settings, secured_client: httpx.AsyncClient) -> PlanWorld:
    built = PlanWorld(app, settings, secured_client)
    await built.build()
    return built
