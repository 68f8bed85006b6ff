"""The storage contract for subscription delivery: the change log read oldest first, delivery
state written with a transaction, leases claimed atomically, progress handed back only by the
lease holder, and the seen set. Runs on every adapter of test_contract.ADAPTERS."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.unit.store.test_contract import ALL, put, store
from zorgleefplan.store.model import Delivery
from zorgleefplan.store.port import HistoryQuery, Store

__all__ = ["store"]  # the adapter fixture, shared with the main contract suite

SECOND = 1_000_000


async def latest_seq(store: Store) -> int:
    page = await store.history(HistoryQuery(), 1, ALL)
    return page.rows[0].seq if page.rows else 0


async def test_history_after_seq_runs_oldest_first_from_the_cursor(store: Store) -> None:
    await put(store, "Goal", "g1", compartment="p1")
    start = await latest_seq(store)
    await put(store, "Goal", "g2", compartment="p1")
    await put(store, "Task", "t1", compartment="p1")
    await put(store, "Goal", "g1", compartment="p1")
    await put(store, "Goal", "g2", compartment="p1", delete=True)
    page = await store.history(HistoryQuery(type="Goal", after_seq=start), 10, ALL)
    assert [(r.id, r.version, r.deleted) for r in page.rows] == [
        ("g2", 1, False),
        ("g1", 2, False),
        ("g2", 2, True),
    ]
    seqs = [r.seq for r in page.rows]
    assert seqs == sorted(seqs) and seqs[0] > start
    first = await store.history(HistoryQuery(type="Goal", after_seq=start), 1, ALL)
    rest = await store.history(HistoryQuery(type="Goal", after_seq=first.rows[0].seq), 10, ALL)
    assert [r.seq for r in (*first.rows, *rest.rows)] == seqs
    assert first.next_before_seq is None  # continued from the last row's seq instead


async def test_claim_leases_only_active_due_deliveries_with_changes_waiting(store: Store) -> None:
    await put(store, "Goal", "g0", compartment="p1")
    now = await latest_seq(store)
    async with store.transaction() as tx:
        tx.put_delivery(Delivery("waiting", "Goal", cursor=now - 1))
        tx.put_delivery(Delivery("idle", "Goal", cursor=now))
        tx.put_delivery(Delivery("other-type", "Task", cursor=0))
        tx.put_delivery(Delivery("paused", "Goal", cursor=0, active=False))
        tx.put_delivery(Delivery("later", "Goal", cursor=0, due=50 * SECOND))
    claimed = await store.claim_deliveries("w1", 10 * SECOND, 20 * SECOND, 10)
    assert [d.subscription for d in claimed] == ["waiting"]
    assert claimed[0] == Delivery("waiting", "Goal", cursor=now - 1)
    # Leased: nobody else gets it while the lease runs, everyone may after it ran out.
    assert await store.claim_deliveries("w2", 15 * SECOND, 25 * SECOND, 10) == ()
    again = await store.claim_deliveries("w2", 20 * SECOND, 100 * SECOND, 10)
    assert [d.subscription for d in again] == ["waiting"]
    # A change of its type makes the idle one due; the later one once its time has come.
    await put(store, "Goal", "g1", compartment="p1")
    later = await store.claim_deliveries("w3", 60 * SECOND, 70 * SECOND, 10)
    assert sorted(d.subscription for d in later) == ["idle", "later"]


async def test_concurrent_claims_never_lease_one_delivery_twice(store: Store) -> None:
    await put(store, "Goal", "g0", compartment="p1")
    async with store.transaction() as tx:
        for i in range(20):
            tx.put_delivery(Delivery(f"s{i}", "Goal", cursor=0))
    batches = await asyncio.gather(
        *(store.claim_deliveries(f"w{i}", SECOND, 2 * SECOND, 3) for i in range(10))
    )
    claimed = [d.subscription for batch in batches for d in batch]
    assert len(claimed) == len(set(claimed)) == 20


async def test_release_stores_progress_only_for_the_lease_holder(store: Store) -> None:
    await put(store, "Goal", "g0", compartment="p1")
    await put(store, "Goal", "g1", compartment="p1")
    async with store.transaction() as tx:
        tx.put_delivery(Delivery("s1", "Goal", cursor=0))
    (mine,) = await store.claim_deliveries("w1", SECOND, 2 * SECOND, 5)
    (theirs,) = await store.claim_deliveries("w2", 3 * SECOND, 4 * SECOND, 5)  # lease ran out
    advanced = replace(mine, cursor=1, failures=2, due=9 * SECOND)
    assert not await store.release_delivery(advanced, "w1", seen=[("Goal", "g0")])
    assert await store.seen("s1", [("Goal", "g0")]) == set()
    assert await store.release_delivery(replace(theirs, cursor=1), "w2", seen=[("Goal", "g0")])
    assert await store.seen("s1", [("Goal", "g0"), ("Goal", "g1")]) == {("Goal", "g0")}
    # Released: claimable again at once (a change after cursor 1 is waiting).
    (next_,) = await store.claim_deliveries("w3", 3 * SECOND, 4 * SECOND, 5)
    assert (next_.cursor, next_.failures, next_.due) == (1, 0, 0)
    assert await store.release_delivery(
        replace(next_, failures=3, due=8 * SECOND),
        "w3",
        seen=[("Goal", "g1")],
        unseen=[("Goal", "g0")],
    )
    assert await store.seen("s1", [("Goal", "g0"), ("Goal", "g1")]) == {("Goal", "g1")}
    assert await store.claim_deliveries("w4", 7 * SECOND, 9 * SECOND, 5) == ()  # not due yet
    (due,) = await store.claim_deliveries("w4", 8 * SECOND, 9 * SECOND, 5)
    assert (due.failures, due.due) == (3, 8 * SECOND)


async def test_put_keeps_the_seen_set_and_remove_forgets_it(store: Store) -> None:
    await put(store, "Goal", "g0", compartment="p1")
    async with store.transaction() as tx:
        tx.put_delivery(Delivery("s1", "Goal", cursor=0))
    (claimed,) = await store.claim_deliveries("w1", SECOND, 2 * SECOND, 5)
    assert await store.release_delivery(claimed, "w1", seen=[("Goal", "g0")])
    async with store.transaction() as tx:  # e.g. paused with an error, then asked for again
        tx.put_delivery(Delivery("s1", "Goal", cursor=0, active=False))
    assert await store.claim_deliveries("w1", SECOND, 2 * SECOND, 5) == ()
    assert await store.seen("s1", [("Goal", "g0")]) == {("Goal", "g0")}
    async with store.transaction() as tx:
        tx.remove_delivery("s1")
    assert await store.seen("s1", [("Goal", "g0")]) == set()
    async with store.transaction() as tx:
        tx.put_delivery(Delivery("s1", "Goal", cursor=0))
    assert len(await store.claim_deliveries("w1", SECOND, 2 * SECOND, 5)) == 1


async def test_delivery_state_is_rolled_back_with_its_transaction(store: Store) -> None:
    await put(store, "Goal", "g0", compartment="p1")

    class Boom(Exception):
        pass

    try:
        async with store.transaction() as tx:
            tx.put_delivery(Delivery("s1", "Goal", cursor=0))
            await tx.read("Goal", "g0", ALL)  # adapters that buffer writes flush them here
            raise Boom
    except Boom:
        pass
    assert await store.claim_deliveries("w1", SECOND, 2 * SECOND, 5) == ()


async def test_an_erased_plan_leaves_no_trace_in_delivery_state(store: Store) -> None:
    await put(store, "Goal", "g-erased", compartment="p1")
    await put(store, "Goal", "g-kept", compartment="p2")
    await put(store, "Subscription", "own-sub", compartment="p1")
    async with store.transaction() as tx:
        tx.put_delivery(Delivery("other-sub", "Goal", cursor=0))
        tx.put_delivery(Delivery("own-sub", "Goal", cursor=0))
    claimed = await store.claim_deliveries("w1", SECOND, 2 * SECOND, 5)
    assert sorted(d.subscription for d in claimed) == ["other-sub", "own-sub"]
    keys = [("Goal", "g-erased"), ("Goal", "g-kept")]
    for delivery in claimed:
        assert await store.release_delivery(delivery, "w1", seen=keys)
    async with store.transaction() as tx:
        await tx.erase_compartment("p1")
    assert await store.seen("other-sub", [("Goal", "g-erased"), ("Goal", "g-kept")]) == {
        ("Goal", "g-kept")
    }
    assert await store.seen("own-sub", [("Goal", "g-kept")]) == set()
    await put(store, "Goal", "g-new", compartment="p2")
    claimed = await store.claim_deliveries("w2", 3 * SECOND, 4 * SECOND, 5)
    assert [d.subscription for d in claimed] == ["other-sub"]
