"""Subscription delivery state in MongoDB (see model.Delivery): its documents, the filters of a
claim, and the writes of a claim, a release, a transaction's puts and removes and an erasure,
each with the writes that take it back (the undo of a failed group member). Pure: no I/O.

Every write of delivery state runs in a writing transaction, which holds the ``clock``
(mongo.py): claims, releases, and the puts and removes written with a Subscription take turns
cluster-wide, as on SQLite. A claim therefore reads the claimable deliveries and leases them in
one state of the store; the lease conditions in the update's filter are its guard all the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DeleteMany, DeleteOne, ReplaceOne, UpdateMany, UpdateOne

from zorgleefplan.store.model import Delivery
from zorgleefplan.store.mongo_connection import Document
from zorgleefplan.store.mongo_schema import DELIVERIES, SEEN, Step, keys_filter

CLAIM_ORDER = [("due", ASCENDING), ("_id", ASCENDING)]  # the longest due first
_LEASE_ENDED = {"lease_owner": None, "lease_until": 0}


# --------------------------------------------------------------------------- documents


def delivery_document(delivery: Delivery) -> Document:
    """A delivery as stored, not leased to anyone."""
    return {
        "_id": delivery.subscription,
        "type": delivery.type,
        "cursor": delivery.cursor,
        "failures": delivery.failures,
        "due": delivery.due,
        "active": delivery.active,
        **_LEASE_ENDED,
    }


def delivery_of(doc: Mapping[str, Any]) -> Delivery:
    return Delivery(
        subscription=doc["_id"],
        type=doc["type"],
        cursor=doc["cursor"],
        failures=doc["failures"],
        due=doc["due"],
        active=doc["active"],
    )


def seen_document(subscription: str, key: tuple[str, str]) -> Document:
    """One entry of a seen set. It holds its full shard key, so it is its own upsert filter."""
    type_, id_ = key
    return {"_id": f"{subscription}/{type_}/{id_}", "sub": subscription, "type": type_, "id": id_}


def seen_filter(subscription: str, keys: Sequence[tuple[str, str]]) -> Document:
    """The entries of ``subscription``'s seen set for any of ``keys`` (none: nothing)."""
    return {"sub": subscription, **keys_filter(keys)}


def _put_seen(doc: Mapping[str, Any]) -> ReplaceOne[Document]:
    return ReplaceOne(dict(doc), dict(doc), upsert=True)


def _put_delivery(doc: Mapping[str, Any]) -> ReplaceOne[Document]:
    return ReplaceOne({"_id": doc["_id"]}, dict(doc), upsert=True)


# --------------------------------------------------------------------------- claims


def claimable_filter(now: int) -> Document:
    """Deliveries that may be claimed at ``now``: active, due, and not leased to anyone."""
    return {"active": True, "due": {"$lte": now}, "lease_until": {"$lte": now}}


def claimable_types_pipeline(now: int) -> list[Document]:
    """The resource types the claimable deliveries follow (a ``$group``: ``distinct`` is not
    allowed in a transaction on a sharded cluster)."""
    return [{"$match": claimable_filter(now)}, {"$group": {"_id": "$type"}}]


def waiting_filter(now: int, latest: Mapping[str, int]) -> Document | None:
    """Claimable deliveries with a change of their type after their cursor, given the
    ``latest`` change sequence number of each type that has changes; None when none has."""
    if not latest:
        return None
    waiting = [{"type": type_, "cursor": {"$lt": seq}} for type_, seq in sorted(latest.items())]
    return {**claimable_filter(now), "$or": waiting}


@dataclass(frozen=True)
class DeliveryPlan:
    """The writes of one change of delivery state, and the writes that take it back."""

    operations: Step
    inverse: Step


def claim_plan(
    claimed: Sequence[Mapping[str, Any]], owner: str, now: int, lease_until: int
) -> DeliveryPlan:
    """Lease the ``claimed`` delivery documents (as read) to ``owner`` until ``lease_until``:
    one update of them all, on the condition that each is still claimable at ``now``."""
    ids = [doc["_id"] for doc in claimed]
    lease = UpdateMany(
        {"_id": {"$in": ids}, **claimable_filter(now)},
        {"$set": {"lease_owner": owner, "lease_until": lease_until}},
    )
    restore = [
        UpdateOne(
            {"_id": doc["_id"]},
            {"$set": {"lease_owner": doc["lease_owner"], "lease_until": doc["lease_until"]}},
        )
        for doc in claimed
    ]
    return DeliveryPlan([(DELIVERIES, [lease])], [(DELIVERIES, restore)])


def lease_filter(subscription: str, owner: str) -> Document:
    """The delivery of ``subscription`` while ``owner`` holds its lease."""
    return {"_id": subscription, "lease_owner": owner}


def release_plan(
    delivery: Delivery,
    owner: str,
    before: Mapping[str, Any],
    seen: Sequence[tuple[str, str]],
    unseen: Sequence[tuple[str, str]],
    stored: set[tuple[str, str]],
) -> DeliveryPlan:
    """Store a claimed delivery's new state and end the lease (still on the condition that
    ``owner`` holds it), add ``seen`` to its seen set and then drop ``unseen``. ``before`` is
    the delivery document as read, ``stored`` which of ``seen`` and ``unseen`` its set held."""
    sub = delivery.subscription
    state = delivery_document(delivery)
    del state["_id"], state["type"]
    added = [key for key in dict.fromkeys(seen) if key not in stored]
    dropped = [key for key in dict.fromkeys(unseen) if key in stored]
    seen_writes: list[Any] = [_put_seen(seen_document(sub, key)) for key in added]
    if unseen:
        seen_writes.append(DeleteMany(seen_filter(sub, unseen)))
    seen_restore: list[Any] = [DeleteMany(seen_filter(sub, added))] if added else []
    seen_restore += [_put_seen(seen_document(sub, key)) for key in dropped]
    return DeliveryPlan(
        [(DELIVERIES, [UpdateOne(lease_filter(sub, owner), {"$set": state})]), (SEEN, seen_writes)],
        [(SEEN, seen_restore), (DELIVERIES, [_put_delivery(before)])],
    )


# --------------------------------------------------------------------------- transactions


@dataclass(frozen=True)
class Removal:
    """``Transaction.remove_delivery``: forget a subscription's delivery and seen set."""

    subscription: str


DeliveryChange = Delivery | Removal  # a put (create or replace, lease ended) or a removal


def changes_plan(
    changes: Sequence[DeliveryChange],
    stored: Mapping[str, Mapping[str, Any]],
    stored_seen: Sequence[Mapping[str, Any]],
) -> DeliveryPlan:
    """The puts and removes of one flush, in order, over the ``stored`` delivery documents of
    the subscriptions they touch (by id) and the ``stored_seen`` entries of those removed. A
    put keeps the seen set; a removal drops it."""
    writes: list[Any] = []
    removed: list[str] = []
    for change in changes:
        if isinstance(change, Removal):
            writes.append(DeleteOne({"_id": change.subscription}))
            removed.append(change.subscription)
        else:
            writes.append(_put_delivery(delivery_document(change)))
    touched = dict.fromkeys(change.subscription for change in changes)
    restore = [
        _put_delivery(stored[sub]) if sub in stored else DeleteOne({"_id": sub}) for sub in touched
    ]
    forget = [DeleteMany({"sub": {"$in": list(dict.fromkeys(removed))}})] if removed else []
    return DeliveryPlan(
        [(DELIVERIES, writes), (SEEN, forget)],
        [(SEEN, [_put_seen(doc) for doc in stored_seen]), (DELIVERIES, restore)],
    )


# --------------------------------------------------------------------------- erasure


def erased_filters(resources: Sequence[Mapping[str, Any]]) -> tuple[Document, Document]:
    """What erasing a compartment whose current documents are ``resources`` removes of the
    delivery state: the seen entries of those resources, in every seen set, and of its
    Subscriptions; and the deliveries of its Subscriptions."""
    keys = [(doc["type"], doc["id"]) for doc in resources]
    subs = [doc["id"] for doc in resources if doc["type"] == "Subscription"]
    seen = keys_filter(keys)
    if subs:
        seen = {"$or": [seen, {"sub": {"$in": subs}}]}
    return seen, {"_id": {"$in": subs}}


def erasure_plan(
    seen: Sequence[Mapping[str, Any]], deliveries: Sequence[Mapping[str, Any]]
) -> DeliveryPlan:
    """Delete the ``seen`` entries and ``deliveries`` an erasure found (erased_filters)."""
    seen_ids = [doc["_id"] for doc in seen]
    delivery_ids = [doc["_id"] for doc in deliveries]
    return DeliveryPlan(
        [
            (SEEN, [DeleteMany({"_id": {"$in": seen_ids}})] if seen_ids else []),
            (DELIVERIES, [DeleteMany({"_id": {"$in": delivery_ids}})] if delivery_ids else []),
        ],
        [
            (SEEN, [_put_seen(doc) for doc in seen]),
            (DELIVERIES, [_put_delivery(doc) for doc in deliveries]),
        ],
    )
