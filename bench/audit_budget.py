"""The cost of one audit record: the event-loop CPU of ``AuditLog.record`` and of a batch.

Every authorised read records an AuditEvent, so its event-loop CPU counts against the read
budget (about 20-30 µs per record). Measures, on this machine: building an AuditRecord, rendering
it (AuditEvent dict + orjson), and ``record`` end to end against the SQLite store at several
concurrencies — event-loop thread CPU per record (``time.thread_time`` on the loop thread, so
the SQLite writer thread is not counted), wall time per batch and records per batch. The cost of
``asyncio.gather`` over empty coroutines is shown beside it, since it is the harness's, not the
recorder's.

    taskset -c 0 python bench/audit_budget.py
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from zorgleefplan.access.audit import AuditLog, AuditRecord, new_audit_id, to_row
from zorgleefplan.store.sqlite import SqliteStore


def sample() -> AuditRecord:
    return AuditRecord(
        action="R",
        subtype="read",
        who="RelatedPerson/r1",
        who_display="Bram de Vries",
        role="HPOWATT",
        client_id="mijn-app",
        patient="p1",
        on_behalf_of="Patient/p1",
        entities=("CarePlan/c1/_history/3",),
        purpose_of_use=("TREAT",),
        basis=("volmacht Consent/v1",),
    )


def per_call(label: str, fn: object, n: int) -> None:
    assert callable(fn)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    print(f"{label:<34} {(time.perf_counter() - start) / n * 1e6:7.2f} µs")


async def noop() -> None:
    return None


async def recorder(total: int, concurrencies: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteStore.open(Path(tmp) / "audit.sqlite3")
        audit = AuditLog(store)
        record = sample()
        try:
            for conc in concurrencies:
                rounds = max(1, total // conc)
                n = rounds * conc
                base = time.thread_time()
                for _ in range(rounds):
                    await asyncio.gather(*(noop() for _ in range(conc)))
                harness = (time.thread_time() - base) / n * 1e6
                batches = audit.batches
                cpu, wall = time.thread_time(), time.perf_counter()
                for _ in range(rounds):
                    await asyncio.gather(*(audit.record(record) for _ in range(conc)))
                cpu = (time.thread_time() - cpu) / n * 1e6
                wall = time.perf_counter() - wall
                written = audit.batches - batches
                print(
                    f"concurrency {conc:>4}: loop CPU {cpu:6.1f} µs/record "
                    f"(harness {harness:4.1f}), {n / wall:7.0f} records/s, "
                    f"{n / written:6.1f} records/batch, {wall / written * 1e3:6.2f} ms/batch"
                )
        finally:
            await audit.close()
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    record = sample()
    per_call("AuditRecord(...)", sample, args.count)
    per_call("new_audit_id()", new_audit_id, args.count)
    per_call("to_row (dict + orjson)", lambda: to_row(record, "x"), args.count)
    asyncio.run(recorder(args.count // 2, [1, 8, 32, 128, 512]))


if __name__ == "__main__":
    main()
