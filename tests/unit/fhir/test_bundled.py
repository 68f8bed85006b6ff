"""Installing the bundled definitions on start (fhir/bundled.py): once, also when several
workers open one store at the same moment, and never over what an administrator changed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.app import open_services
from zorgleefplan.config import Settings
from zorgleefplan.fhir.bundled import install_bundled
from zorgleefplan.fhir.repository import FhirServices, Repository
from zorgleefplan.plan import placement
from zorgleefplan.store.model import AccessConstraint
from zorgleefplan.store.port import HistoryQuery

PD = ("PlanDefinition", placement.PLAN_DEFINITION_ID)


def repo(services: FhirServices) -> Repository:
    return Repository(services, DEVELOPMENT, AccessConstraint.unrestricted())


async def versions(services: FhirServices) -> list[int]:
    page = await repo(services).history(HistoryQuery(*PD), 100, total=False)
    return [row.version for row in page.rows]


async def test_opening_the_store_installs_the_definition_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    services = await open_services(settings)
    try:
        stored = await repo(services).read(*PD)
        assert orjson.loads(stored.body or b"")["url"] == placement.PLAN_DEFINITION_URL
        assert await install_bundled(services) == []
    finally:
        await services.store.close()
    reopened = await open_services(settings)
    try:
        assert await versions(reopened) == [1]
    finally:
        await reopened.store.close()


async def test_workers_starting_together_install_one_version(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    opened = await asyncio.gather(*(open_services(settings) for _ in range(4)))
    try:
        assert await versions(opened[0]) == [1]
    finally:
        for services in opened:
            await services.store.close()


async def test_a_changed_or_deleted_definition_stays_as_the_administrator_left_it(
    tmp_path: Path,
) -> None:
    services = await open_services(Settings(data_dir=tmp_path))
    try:
        changed = {**placement.packaged_plan_definition(), "status": "retired"}
        await repo(services).update(*PD, changed)
        assert await install_bundled(services) == []
        assert orjson.loads((await repo(services).read(*PD)).body or b"")["status"] == "retired"
        await repo(services).delete(*PD)
        assert await install_bundled(services) == []
        assert await versions(services) == [3, 2, 1]
    finally:
        await services.store.close()
