"""Several worker processes on one SQLite file: concurrent creates and If-Match updates from
many clients lose nothing, versions stay consecutive, conflicts are 412s, history is whole."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from tests.support import Server, mint_access_token, start_server
from zorgleefplan.config import Settings

CLIENTS = 8  # concurrent client tasks
CREATES = 12  # per client
UPDATES = 12  # If-Match update attempts per client, on two contended Goals
HOT = ("hot-1", "hot-2")
FHIR = "application/fhir+json"


def _goal(id_: str | None, text: str) -> dict[str, object]:
    goal: dict[str, object] = {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": text},
        "subject": {"reference": "Patient/p1"},
    }
    if id_ is not None:
        goal["id"] = id_
    return goal


@dataclass
class Acknowledged:
    creates: list[str] = field(default_factory=list)
    # Goal id -> (version the server acknowledged, the text that version was written with)
    updates: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    conflicts: int = 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _workers(parent: int) -> list[int]:
    """The uvicorn worker processes (multiprocessing spawn children) of the server."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [
        int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    server = start_server(tmp_path / "data", None, "--workers", "2")
    try:
        yield server
    finally:
        server.stop()


async def _client_task(http: httpx.AsyncClient, n: int, acked: Acknowledged) -> None:
    for i in range(CREATES):
        r = await http.post("/Goal", json=_goal(None, f"client {n} goal {i}"))
        assert r.status_code == 201, r.text
        acked.creates.append(r.json()["id"])
    for i in range(UPDATES):
        hot = HOT[(n + i) % len(HOT)]
        current = await http.get(f"/Goal/{hot}")
        assert current.status_code == 200, current.text
        text = f"client {n} update {i}"
        r = await http.put(
            f"/Goal/{hot}", json=_goal(hot, text), headers={"If-Match": current.headers["ETag"]}
        )
        if r.status_code == 412:
            assert r.json()["resourceType"] == "OperationOutcome"
            acked.conflicts += 1
            continue
        assert r.status_code == 200, r.text
        acked.updates[hot].append((int(r.headers["ETag"][3:-1]), text))


async def _history(http: httpx.AsyncClient, path: str) -> list[dict[str, object]]:
    r = await http.get(f"{path}/_history", params={"_count": "1000"})
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert not [link for link in bundle.get("link", []) if link["relation"] == "next"]
    return [e["resource"] for e in bundle.get("entry", [])]


def _instant(resource: dict[str, object]) -> datetime:
    meta = resource["meta"]
    assert isinstance(meta, dict)
    return datetime.fromisoformat(str(meta["lastUpdated"]).replace("Z", "+00:00"))


def _version(resource: dict[str, object]) -> int:
    meta = resource["meta"]
    assert isinstance(meta, dict)
    return int(meta["versionId"])


async def test_two_workers_lose_no_write_and_keep_versions_consecutive(
    two_workers: Server,
) -> None:
    server = two_workers
    token = mint_access_token(server.data_dir, server.root, patient="p1")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": FHIR}
    workers = _workers(server.process.pid)
    assert len(workers) == 2
    cpu_before = {pid: _cpu_seconds(pid) for pid in workers}

    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as setup:
        r = await setup.put("/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
        assert r.status_code == 201, r.text
        for hot in HOT:
            r = await setup.put(f"/Goal/{hot}", json=_goal(hot, "begin"))
            assert r.status_code == 201, r.text

    acked = Acknowledged()
    # A new connection per request: a worker accepts every connection that is waiting when it
    # looks, so a few long-lived connections may all land on one; fresh ones go to whichever
    # worker is free, as a proxy's would.
    clients = [
        httpx.AsyncClient(
            base_url=server.base,
            headers=headers,
            timeout=60,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=0),
        )
        for _ in range(CLIENTS)
    ]
    try:
        await asyncio.gather(*(_client_task(c, n, acked) for n, c in enumerate(clients)))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))

    # Both processes did a real share of the work.
    used = {pid: _cpu_seconds(pid) - cpu_before[pid] for pid in workers}
    assert all(seconds >= 0.1 * sum(used.values()) for seconds in used.values()), used
    # Clients raced on the same versions: some updates were refused, none were lost.
    assert acked.conflicts > 0

    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:
        expected: set[tuple[str, int]] = {(id_, 1) for id_ in acked.creates}
        for id_ in acked.creates:
            assert (await http.get(f"/Goal/{id_}")).status_code == 200
        for hot in HOT:
            versions = list(reversed(await _history(http, f"/Goal/{hot}")))
            numbers = [_version(v) for v in versions]
            # Version 1 and one version per acknowledged update: consecutive, no gaps, no
            # duplicates, each with the text of the update that was acknowledged for it.
            assert numbers == list(range(1, len(acked.updates[hot]) + 2))
            texts = {_version(v): v["description"]["text"] for v in versions}  # type: ignore[index]
            for version, text in acked.updates[hot]:
                assert texts[version] == text
            times = [_instant(v) for v in versions]
            assert times == sorted(times) and len(set(times)) == len(times)
            expected |= {(hot, n) for n in numbers}

        # The type history is complete and in commit order: every acknowledged version once,
        # and lastUpdated strictly falling along it (newest first), whichever process wrote.
        feed = await _history(http, "/Goal")
        pairs = [(str(v["id"]), _version(v)) for v in feed]
        assert len(pairs) == len(set(pairs))
        assert set(pairs) == expected
        times = [_instant(v) for v in feed]
        assert all(a > b for a, b in pairwise(times))

    server.stop(signal.SIGTERM)
    database = Settings(data_dir=server.data_dir).database_path
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = conn.execute("SELECT COUNT(*) FROM resource_version WHERE type = 'Goal'")
        assert stored.fetchone() == (len(expected),)
    finally:
        conn.close()
