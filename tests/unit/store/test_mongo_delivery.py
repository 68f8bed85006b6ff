"""Subscription delivery state in MongoDB, as pure functions (no server): the documents, the
lease conditions of a claim and a release, the writes of puts, removes and an erasure, and the
undo of each. (Their behaviour on a server is the delivery contract suite's, run against a real
MongoDB when ZLP_TEST_MONGODB_URL is set.)"""

from __future__ import annotations

from pymongo import DeleteMany, DeleteOne, ReplaceOne, UpdateMany, UpdateOne

from zorgleefplan.store.model import Delivery
from zorgleefplan.store.mongo_delivery import (
    CLAIM_ORDER,
    Removal,
    changes_plan,
    claim_plan,
    claimable_filter,
    claimable_types_pipeline,
    delivery_document,
    delivery_of,
    erased_filters,
    erasure_plan,
    lease_filter,
    release_plan,
    seen_document,
    seen_filter,
    waiting_filter,
)
from zorgleefplan.store.mongo_schema import DELIVERIES, SEEN, Undo

S = 1_000_000  # µs
NOW = 10 * S


def stored(subscription: str, **fields: object) -> dict[str, object]:
    """A delivery document as read back, with ``fields`` changed (a lease, a cursor)."""
    return {**delivery_document(Delivery(subscription, "Goal", cursor=3)), **fields}


def put_seen(subscription: str, type_: str, id_: str) -> ReplaceOne[dict[str, object]]:
    doc = {"_id": f"{subscription}/{type_}/{id_}", "sub": subscription, "type": type_, "id": id_}
    return ReplaceOne(doc, doc, upsert=True)


# --------------------------------------------------------------------------- documents


def test_a_delivery_is_stored_unleased_and_reads_back() -> None:
    delivery = Delivery("s1", "Goal", cursor=7, failures=2, due=5 * S, active=False)
    doc = delivery_document(delivery)
    assert doc == {
        "_id": "s1",
        "type": "Goal",
        "cursor": 7,
        "failures": 2,
        "due": 5 * S,
        "active": False,
        "lease_owner": None,
        "lease_until": 0,
    }
    assert delivery_of({**doc, "lease_owner": "w1", "lease_until": NOW}) == delivery


def test_a_seen_entry_holds_its_shard_key_and_its_filter_stays_in_one_subscription() -> None:
    assert seen_document("s1", ("Goal", "g1")) == {
        "_id": "s1/Goal/g1",
        "sub": "s1",
        "type": "Goal",
        "id": "g1",
    }
    assert seen_filter("s1", [("Goal", "g1"), ("Task", "t1"), ("Goal", "g2")]) == {
        "sub": "s1",
        "$or": [
            {"type": "Goal", "id": {"$in": ["g1", "g2"]}},
            {"type": "Task", "id": {"$in": ["t1"]}},
        ],
    }
    assert seen_filter("s1", []) == {"sub": "s1", "_id": {"$in": []}}  # matches nothing


# --------------------------------------------------------------------------- claims


def test_claimable_means_active_due_and_not_leased_at_now() -> None:
    assert claimable_filter(NOW) == {
        "active": True,
        "due": {"$lte": NOW},
        "lease_until": {"$lte": NOW},
    }
    assert claimable_types_pipeline(NOW) == [
        {"$match": claimable_filter(NOW)},
        {"$group": {"_id": "$type"}},
    ]
    assert CLAIM_ORDER == [("due", 1), ("_id", 1)]


def test_waiting_needs_a_change_of_the_delivery_s_own_type_after_its_cursor() -> None:
    assert waiting_filter(NOW, {"Task": 4, "Goal": 9}) == {
        "active": True,
        "due": {"$lte": NOW},
        "lease_until": {"$lte": NOW},
        "$or": [
            {"type": "Goal", "cursor": {"$lt": 9}},
            {"type": "Task", "cursor": {"$lt": 4}},
        ],
    }
    assert waiting_filter(NOW, {}) is None  # no type has any change: nothing to claim


def test_a_claim_leases_what_it_read_only_while_still_claimable_and_undoes_to_the_old_lease() -> (
    None
):
    expired = stored("s1", lease_owner="w0", lease_until=NOW - S)
    fresh = stored("s2")
    plan = claim_plan([expired, fresh], "w1", NOW, NOW + 300 * S)
    assert plan.operations == [
        (
            DELIVERIES,
            [
                UpdateMany(
                    {
                        "_id": {"$in": ["s1", "s2"]},
                        "active": True,
                        "due": {"$lte": NOW},
                        "lease_until": {"$lte": NOW},
                    },
                    {"$set": {"lease_owner": "w1", "lease_until": NOW + 300 * S}},
                )
            ],
        )
    ]
    assert plan.inverse == [
        (
            DELIVERIES,
            [
                UpdateOne({"_id": "s1"}, {"$set": {"lease_owner": "w0", "lease_until": NOW - S}}),
                UpdateOne({"_id": "s2"}, {"$set": {"lease_owner": None, "lease_until": 0}}),
            ],
        )
    ]


# --------------------------------------------------------------------------- releases


def test_a_release_stores_the_state_only_under_the_owner_s_lease_and_ends_it() -> None:
    before = stored("s1", lease_owner="w1", lease_until=NOW)
    advanced = Delivery("s1", "Goal", cursor=9, failures=1, due=NOW + S)
    plan = release_plan(advanced, "w1", before, [], [], set())
    assert lease_filter("s1", "w1") == {"_id": "s1", "lease_owner": "w1"}
    assert plan.operations == [
        (
            DELIVERIES,
            [
                UpdateOne(
                    {"_id": "s1", "lease_owner": "w1"},
                    {
                        "$set": {
                            "cursor": 9,
                            "failures": 1,
                            "due": NOW + S,
                            "active": True,
                            "lease_owner": None,
                            "lease_until": 0,
                        }
                    },
                )
            ],
        ),
        (SEEN, []),
    ]
    restore = ReplaceOne({"_id": "s1"}, before, upsert=True)
    assert plan.inverse == [(SEEN, []), (DELIVERIES, [restore])]


def test_a_release_adds_seen_then_drops_unseen_and_its_undo_touches_only_what_changed() -> None:
    before = stored("s1", lease_owner="w1", lease_until=NOW)
    g1, g2, g3, g4 = (("Goal", f"g{i}") for i in range(1, 5))
    # g1 already seen (kept), g2 new, g3 seen and now dropped, g4 never seen and dropped;
    # g2 is also in unseen: added, then dropped, as SQLite's insert-then-delete does.
    plan = release_plan(
        Delivery("s1", "Goal", cursor=9), "w1", before, [g1, g2, g2], [g3, g4, g2], {g1, g3}
    )
    seen_writes = dict(plan.operations)[SEEN]
    assert seen_writes == [
        put_seen("s1", "Goal", "g2"),
        DeleteMany({"sub": "s1", "type": "Goal", "id": {"$in": ["g3", "g4", "g2"]}}),
    ]
    assert plan.inverse == [
        (
            SEEN,
            [
                DeleteMany({"sub": "s1", "type": "Goal", "id": {"$in": ["g2"]}}),
                put_seen("s1", "Goal", "g3"),
            ],
        ),
        (DELIVERIES, [ReplaceOne({"_id": "s1"}, before, upsert=True)]),
    ]


# --------------------------------------------------------------------------- puts and removes


def test_puts_and_removes_are_written_in_order_and_a_removal_forgets_the_seen_set() -> None:
    paused = Delivery("s1", "Goal", cursor=3, active=False)
    again = Delivery("s1", "Goal", cursor=5)
    new = Delivery("s2", "Task", cursor=0)
    plan = changes_plan([paused, Removal("s1"), again, new], {}, [])
    assert plan.operations == [
        (
            DELIVERIES,
            [
                ReplaceOne({"_id": "s1"}, delivery_document(paused), upsert=True),
                DeleteOne({"_id": "s1"}),
                ReplaceOne({"_id": "s1"}, delivery_document(again), upsert=True),
                ReplaceOne({"_id": "s2"}, delivery_document(new), upsert=True),
            ],
        ),
        (SEEN, [DeleteMany({"sub": {"$in": ["s1"]}})]),
    ]


def test_a_put_keeps_the_seen_set() -> None:
    plan = changes_plan([Delivery("s1", "Goal", cursor=0)], {}, [])
    assert dict(plan.operations)[SEEN] == []


def test_undoing_puts_and_removes_restores_what_was_stored_and_deletes_what_was_new() -> None:
    leased = stored("s1", lease_owner="w1", lease_until=NOW)
    s1_seen = [seen_document("s1", ("Goal", "g1")), seen_document("s1", ("Goal", "g2"))]
    plan = changes_plan([Removal("s1"), Delivery("s2", "Goal", cursor=0)], {"s1": leased}, s1_seen)
    assert plan.inverse == [
        (SEEN, [put_seen("s1", "Goal", "g1"), put_seen("s1", "Goal", "g2")]),
        (
            DELIVERIES,
            [ReplaceOne({"_id": "s1"}, leased, upsert=True), DeleteOne({"_id": "s2"})],
        ),
    ]


def test_a_group_member_s_undo_takes_back_its_delivery_writes_last_first() -> None:
    undo = Undo()
    first = changes_plan([Delivery("s1", "Goal", cursor=0)], {}, [])
    undo.record(first.inverse)
    claimed = claim_plan([stored("s1")], "w1", NOW, NOW + S)
    undo.record(claimed.inverse)
    assert undo.operations() == [
        (DELIVERIES, [UpdateOne({"_id": "s1"}, {"$set": {"lease_owner": None, "lease_until": 0}})]),
        (DELIVERIES, [DeleteOne({"_id": "s1"})]),
    ]  # the empty seen steps are left out


# --------------------------------------------------------------------------- erasure


def test_an_erasure_finds_its_resources_in_every_seen_set_and_its_own_subscriptions() -> None:
    resources = [
        {"type": "Goal", "id": "g1"},
        {"type": "Subscription", "id": "own"},
        {"type": "Goal", "id": "g2"},
    ]
    seen, deliveries = erased_filters(resources)
    assert seen == {
        "$or": [
            {
                "$or": [
                    {"type": "Goal", "id": {"$in": ["g1", "g2"]}},
                    {"type": "Subscription", "id": {"$in": ["own"]}},
                ]
            },
            {"sub": {"$in": ["own"]}},
        ]
    }
    assert deliveries == {"_id": {"$in": ["own"]}}
    seen, deliveries = erased_filters([{"type": "Goal", "id": "g1"}])
    assert seen == {"type": "Goal", "id": {"$in": ["g1"]}}
    assert deliveries == {"_id": {"$in": []}}  # no subscription of the client's: nothing


def test_an_erasure_deletes_what_it_found_and_its_undo_puts_it_back() -> None:
    seen = [seen_document("other", ("Goal", "g1")), seen_document("own", ("Goal", "g9"))]
    own = stored("own")
    plan = erasure_plan(seen, [own])
    assert plan.operations == [
        (SEEN, [DeleteMany({"_id": {"$in": ["other/Goal/g1", "own/Goal/g9"]}})]),
        (DELIVERIES, [DeleteMany({"_id": {"$in": ["own"]}})]),
    ]
    assert plan.inverse == [
        (SEEN, [put_seen("other", "Goal", "g1"), put_seen("own", "Goal", "g9")]),
        (DELIVERIES, [ReplaceOne({"_id": "own"}, own, upsert=True)]),
    ]
    empty = erasure_plan([], [])
    assert empty.operations == [(SEEN, []), (DELIVERIES, [])]
    assert empty.inverse == [(SEEN, []), (DELIVERIES, [])]
