"""Several processes on one SQLite file (two store instances here: each its own connection,
writer thread and clock) keep the change log a gap-free feed: commit order, sequence order and
timestamp order agree, so a reader continuing after the last version it saw misses nothing."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from zorgleefplan.store.model import AccessConstraint, NewVersion
from zorgleefplan.store.port import HistoryQuery
from zorgleefplan.store.sqlite import SqliteStore

ALL = AccessConstraint.unrestricted()


async def write(store: SqliteStore, name: str, rounds: int) -> None:
    for i in range(rounds):
        async with store.transaction() as tx:  # two versions per transaction
            for part in ("a", "b"):
                id_ = f"{name}-{i}-{part}"
                await tx.write(NewVersion("Goal", id_, 1, "POST", b"{}", "p1"))
        await asyncio.sleep(0.002)  # let the other store take the file's write lock


async def read_since(store: SqliteStore, since: int | None) -> list[tuple[int, str, int]]:
    """Every version since ``since`` (µs), all pages: (seq, id, last_updated µs)."""
    out: list[tuple[int, str, int]] = []
    before = None
    while True:
        page = await store.history(
            HistoryQuery(type="Goal", since=since, before_seq=before), 5, ALL
        )
        out.extend((r.seq, r.id, int(r.last_updated.timestamp() * 1_000_000)) for r in page.rows)
        if page.next_before_seq is None:
            return out
        before = page.next_before_seq


async def test_two_writers_on_one_file_keep_the_feed_gap_free(tmp_path: Path) -> None:
    path = tmp_path / "feed.sqlite3"
    one, two, reader = [await SqliteStore.open(path) for _ in range(3)]
    try:
        writers = asyncio.gather(write(one, "one", 25), write(two, "two", 25))
        seen: list[tuple[int, str, int]] = []
        since: int | None = None
        while True:
            finished = writers.done()
            found = await read_since(reader, since)
            seen.extend(found)
            if found:
                since = max(t for _, _, t in found) + 1
            if finished:
                break
            await asyncio.sleep(0.001)
        await writers
        everything = await read_since(reader, None)
    finally:
        for store in (one, two, reader):
            await store.close()
    assert len(everything) == 100
    writers_in_order = [id_.split("-")[0] for _, id_, _ in sorted(everything)]
    switches = sum(a != b for a, b in itertools.pairwise(writers_in_order))
    assert switches >= 1, "the two writers should have overlapped"
    assert sorted(seen) == sorted(everything) and len(set(seen)) == len(seen)
    in_seq_order = [t for _, _, t in sorted(everything)]
    assert in_seq_order == sorted(in_seq_order), "a later commit got an earlier timestamp"
    by_time: dict[int, set[str]] = {}
    for _, id_, t in everything:
        by_time.setdefault(t, set()).add(id_.rsplit("-", 1)[0])
    assert all(len(groups) == 1 for groups in by_time.values()), "transactions share a time"
