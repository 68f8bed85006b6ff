"""Where the time of one create goes, without HTTP: the CPU budget behind the create target.

Measures, per resource type, on this machine: the fhir.resources (pydantic) model alone, the
whole validator (model + required bindings + references), index extraction, and the write path
in-process (Repository.create: validate, index, store with group commit) one at a time and 32
at a time. Run it pinned to one core to see the one-worker budget:

    taskset -c 0 python bench/create_budget.py
    taskset -c 0 python bench/create_budget.py --count 3000 --clients 200

The target of 1,500 creates/s on one worker leaves 0.67 ms per create for everything,
HTTP included.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import seed
from fhir.resources.R4B import get_fhir_model_class

from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.fhir.repository import FhirServices, Repository
from zorgleefplan.store.model import AccessConstraint


def per_call_ms(fn: Callable[[], object], count: int) -> float:
    for _ in range(min(200, count)):
        fn()
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - started) / count * 1000


def clients_tsv(data_dir: Path) -> list[str]:
    return (data_dir / seed.CLIENTS_TSV).read_text().splitlines()


def seeded_client(index: int, line: str) -> seed.ClientIds:
    """The ids a new resource for this seeded client refers to (references must resolve)."""
    patient, careteam, careplan, condition, goal, practitioner = line.split("\t")[:6]
    return seed.ClientIds(
        index=index,
        patient=patient,
        condition=condition,
        careteam=careteam,
        careplan=careplan,
        consent="unused",
        goals=(goal,),
        tasks=(),
        practitioners=(practitioner, practitioner),
        organization="unused",
    )


def bodies(kind: str, ids: list[seed.ClientIds], rng: random.Random) -> list[dict[str, Any]]:
    if kind == "Goal":
        return [seed.goal(rng, c, "Elke dag een wandeling maken") for c in ids]
    return [seed.careplan(rng, c) for c in ids]


async def creates_per_second(
    services: FhirServices, resources: list[dict[str, Any]], count: int, concurrency: int
) -> float:
    repo = Repository(services, DEVELOPMENT, AccessConstraint.unrestricted())

    async def worker(k: int) -> None:
        for i in range(k, count, concurrency):
            resource = dict(resources[i % len(resources)])
            resource.pop("id", None)
            await repo.create(resource)

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return count / (time.perf_counter() - started)


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        await seed.seed(data_dir, args.clients)
        services = await seed.open_services(data_dir)
        try:
            rng = random.Random(1)
            ids = [seeded_client(i, line) for i, line in enumerate(clients_tsv(data_dir))]
            print(
                f"{'type':<10} {'model':>8} {'validate':>9} {'extract':>8} "
                f"{'create c=1':>11} {'create c=32':>12}"
            )
            for kind in ("Goal", "CarePlan"):
                resources = bodies(kind, ids, rng)
                meta = {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00.000000Z"}
                stamped = {**resources[0], "id": "x", "meta": meta}
                model = get_fhir_model_class(kind)
                model_ms = per_call_ms(lambda m=model, s=stamped: m.model_validate(s), args.count)
                validate_ms = per_call_ms(
                    lambda s=stamped: services.validator.validate(s), args.count
                )
                extract_ms = per_call_ms(
                    lambda s=stamped: services.extractor.extract(s), args.count
                )
                one = await creates_per_second(services, resources, args.count // 3, 1)
                many = await creates_per_second(services, resources, args.count, 32)
                print(
                    f"{kind:<10} {model_ms:>6.3f}ms {validate_ms:>7.3f}ms {extract_ms:>6.3f}ms "
                    f"{one:>9,.0f}/s {many:>10,.0f}/s"
                )
        finally:
            await services.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--clients", type=int, default=100, help="clients seeded first")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
