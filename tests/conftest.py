"""Shared fixtures: settings on a fresh data dir, an in-process ASGI client, FHIR helpers."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

with warnings.catch_warnings(record=True):
    # authlib 1.9 warns once, at import, that it fell back from httpx2 to httpx, and installs
    # an "always" filter for its warnings that would override pytest's; take both here,
    # before anything imports the service.
    import authlib.integrations.httpx_client  # noqa: F401

from zorgleefplan.access.principal import DEVELOPMENT, Principal
from zorgleefplan.app import create_app
from zorgleefplan.config import Settings

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


async def as_development(request: Request) -> Principal:
    return DEVELOPMENT


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application as served: every FHIR request needs a bearer token."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def dev_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application with every FHIR request coming from the unrestricted development
    principal: for tests of FHIR behaviour, independent of who asks."""
    application = create_app(settings, resolve_principal=as_development)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(dev_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=dev_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Content-Type": FHIR_JSON}
    ) as c:
        yield c


@pytest.fixture
async def secured_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the application as served (no token unless the test adds one)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Content-Type": FHIR_JSON}
    ) as c:
        yield c
