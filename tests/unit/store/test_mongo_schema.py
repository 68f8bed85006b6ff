"""The MongoDB document layout and write logic, as pure functions (no server): documents from
versions and index values, the version checks and sequence numbers of a flush, the undo that
stands in for a savepoint, and the indexes the shard keys need."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany

from zorgleefplan.errors import Conflict, VersionConflict
from zorgleefplan.store.model import (
    MAX_TIME,
    MIN_TIME,
    AuditRow,
    DateIndex,
    IndexValues,
    NewVersion,
    NumberIndex,
    QuantityIndex,
    ReferenceIndex,
    StringIndex,
    TokenIndex,
    UriIndex,
)
from zorgleefplan.store.mongo_schema import (
    AUDIT,
    DELIVERIES,
    INDEXES,
    RESOURCES,
    RETIRED,
    SEEN,
    SHARD_KEYS,
    VERSIONS,
    Undo,
    audit_document,
    audit_row,
    erasure_inverse,
    index_arrays,
    keys_filter,
    plan_writes,
    referenced_keys,
    resource_document,
    retired_id,
    shard_filter,
    stored_version,
    version_document,
)

T = 1_700_000_000_000_000  # µs


def new(
    id_: str, version: int, *, delete: bool = False, compartment: str | None = "p1"
) -> NewVersion:
    return NewVersion(
        "Goal",
        id_,
        version,
        "DELETE" if delete else "PUT",
        None if delete else f'{{"id":"{id_}","v":{version}}}'.encode(),
        compartment,
        IndexValues(tokens=(TokenIndex("status", None, "active"),)),
    )


def test_index_arrays_hold_every_kind_without_none_values() -> None:
    index = IndexValues(
        tokens=(TokenIndex("status", None, "active", "actief"),),
        strings=(StringIndex("title", "plan", "Plan"),),
        references=(
            ReferenceIndex("patient", "Patient", "p1"),
            ReferenceIndex(
                "performer", None, None, identifier_system="urn:agb", identifier_value="1"
            ),
        ),
        dates=(DateIndex("date", None, 5), DateIndex("period", 1, None)),
        quantities=(QuantityIndex("dose", 2.0, 1.5, 2.5, "http://unitsofmeasure.org", "mg", None),),
        numbers=(NumberIndex("rank", 1.0, 0.5, 1.5),),
        uris=(UriIndex("url", "http://x"),),
    )
    assert index_arrays(index) == {
        "tok": [{"p": "status", "c": "active", "x": "actief"}],
        "str": [{"p": "title", "v": "plan", "e": "Plan"}],
        "ref": [
            {"p": "patient", "t": "Patient", "i": "p1"},
            {"p": "performer", "is": "urn:agb", "iv": "1"},
        ],
        "date": [{"p": "date", "lo": MIN_TIME, "hi": 5}, {"p": "period", "lo": 1, "hi": MAX_TIME}],
        "qty": [
            {
                "p": "dose",
                "v": 2.0,
                "lo": 1.5,
                "hi": 2.5,
                "s": "http://unitsofmeasure.org",
                "c": "mg",
            }
        ],
        "num": [{"p": "rank", "v": 1.0, "lo": 0.5, "hi": 1.5}],
        "uri": [{"p": "url", "v": "http://x"}],
    }
    assert index_arrays(IndexValues()) == {}


def test_a_tombstone_has_no_index_entries_and_reads_back_as_deleted() -> None:
    live = resource_document(new("g1", 1), T, 7, 7)
    assert live["tok"] == [{"p": "status", "c": "active"}] and live["deleted"] is False
    tomb = resource_document(new("g1", 2, delete=True), T + 1, 8, 7)
    assert "tok" not in tomb and tomb["body"] is None and tomb["rid"] == 7
    read = stored_version(tomb)
    assert (read.type, read.id, read.version, read.deleted, read.seq, read.method) == (
        "Goal",
        "g1",
        2,
        True,
        8,
        "DELETE",
    )
    assert read.last_updated == datetime.fromtimestamp((T + 1) / 1e6, tz=UTC)


def test_audit_documents_round_trip() -> None:
    row = AuditRow(id="a1", recorded=T, patient=None, body=b"{}")
    doc = audit_document(row, 42)
    assert doc == {"_id": "a1", "seq": 42, "recorded": T, "patient": None, "body": b"{}"}
    assert audit_row(doc) == AuditRow(id="a1", recorded=T, patient=None, body=b"{}", seq=42)


def test_keys_filter_groups_by_type_and_an_empty_one_matches_nothing() -> None:
    assert keys_filter([("Goal", "b"), ("CarePlan", "c"), ("Goal", "a"), ("Goal", "b")]) == {
        "$or": [
            {"type": "CarePlan", "id": {"$in": ["c"]}},
            {"type": "Goal", "id": {"$in": ["b", "a"]}},
        ]
    }
    assert keys_filter([("Goal", "a")]) == {"type": "Goal", "id": {"$in": ["a"]}}
    assert keys_filter([]) == {"_id": {"$in": []}}


def test_referenced_keys_follow_one_param_and_skip_urls() -> None:
    sources = [
        {
            "ref": [
                {"p": "patient", "t": "Patient", "i": "p1"},
                {"p": "author", "t": "Practitioner", "i": "d"},
            ]
        },
        {
            "ref": [
                {"p": "patient", "u": "http://elsewhere/Patient/9"},
                {"p": "patient", "t": "Group", "i": "g"},
            ]
        },
        {},
        {"ref": [{"p": "patient", "t": "Patient", "i": "p1"}]},
    ]
    assert referenced_keys(sources, "patient", None) == [("Patient", "p1"), ("Group", "g")]
    assert referenced_keys(sources, "patient", "Group") == [("Group", "g")]
    assert referenced_keys(sources, "subject", None) == []


# --------------------------------------------------------------------------- writes


def test_a_create_takes_the_next_sequence_number_as_its_place() -> None:
    plan = plan_writes([new("g1", 1)], {}, set(), T, 10)
    assert plan.seq == 11 and plan.superseded == []
    [version] = plan.versions
    assert (version["_id"], version["seq"], version["lu"], version["superseded"]) == (
        "Goal/g1/1",
        11,
        T,
        None,
    )
    [change] = plan.resources
    assert change.before is None and change.after["rid"] == 11 and change.after["seq"] == 11
    assert plan.operations(T) == [
        (VERSIONS, [InsertOne(version)]),
        (RESOURCES, [InsertOne(change.after)]),
    ]


def test_an_update_replaces_the_current_document_and_supersedes_the_stored_version() -> None:
    stored = resource_document(new("g1", 1), T - 5, 3, 3)
    plan = plan_writes([new("g1", 2)], {"Goal/g1": stored}, set(), T, 10)
    [change] = plan.resources
    assert change.before is stored
    assert (change.after["version"], change.after["seq"], change.after["rid"]) == (2, 11, 3)
    assert plan.superseded == ["Goal/g1/1"]
    ops = dict(plan.operations(T))
    assert ops[RESOURCES] == [ReplaceOne(shard_filter(stored), change.after)]
    assert ops[VERSIONS][-1] == UpdateMany(
        {"_id": {"$in": ["Goal/g1/1"]}}, {"$set": {"superseded": T}}
    )


def test_two_versions_in_one_flush_supersede_within_the_plan() -> None:
    plan = plan_writes([new("g1", 1), new("g1", 2), new("g2", 1)], {}, set(), T, 0)
    assert [(v["_id"], v["seq"], v["superseded"]) for v in plan.versions] == [
        ("Goal/g1/1", 1, T),
        ("Goal/g1/2", 2, None),
        ("Goal/g2/1", 3, None),
    ]
    assert plan.superseded == []
    assert [(c.after["_id"], c.after["version"], c.after["rid"]) for c in plan.resources] == [
        ("Goal/g1", 2, 1),
        ("Goal/g2", 1, 3),
    ]


@pytest.mark.parametrize(("stored_version", "version"), [(0, 2), (1, 1), (1, 3)])
def test_a_version_that_does_not_follow_plans_nothing(stored_version: int, version: int) -> None:
    stored = {"Goal/g1": resource_document(new("g1", 1), T, 1, 1)} if stored_version else {}
    with pytest.raises(VersionConflict, match=f"at version {stored_version}"):
        plan_writes([new("g0", 1), new("g1", version)], stored, set(), T, 5)


def test_moving_compartment_targets_the_old_shard_key() -> None:
    stored = resource_document(new("g1", 1, compartment="p1"), T - 5, 3, 3)
    plan = plan_writes([new("g1", 2, compartment="p2")], {"Goal/g1": stored}, set(), T, 3)
    [op] = dict(plan.operations(T))[RESOURCES]
    assert op == ReplaceOne(
        {"_id": "Goal/g1", "compartment": "p1", "type": "Goal", "id": "g1"}, plan.resources[0].after
    )


def test_a_retired_id_cannot_be_created_again_but_a_stored_one_updates() -> None:
    with pytest.raises(Conflict, match="Goal/g1 cannot be created"):
        plan_writes([new("g0", 1), new("g1", 1)], {}, {"Goal/g1"}, T, 5)
    stored = resource_document(new("g1", 1), T - 5, 3, 3)
    plan = plan_writes([new("g1", 2)], {"Goal/g1": stored}, {"Goal/g1"}, T, 5)
    assert plan.resources[0].after["version"] == 2
    assert retired_id("Goal/g1") == hashlib.sha256(b"Goal/g1").hexdigest()


def test_undo_takes_back_each_step_last_first() -> None:
    stored = resource_document(new("g1", 1), T - 5, 3, 3)
    undo = Undo()
    first = plan_writes([new("g1", 2), new("g2", 1)], {"Goal/g1": stored}, set(), T, 10)
    undo.record(first.inverse())
    g1_v2, g2_v1 = first.resources[0].after, first.resources[1].after
    second = plan_writes([new("g1", 3)], {"Goal/g1": g1_v2}, set(), T, first.seq)
    undo.record(second.inverse())
    undo.record_audit(["a1"])
    g1_v3 = second.resources[0].after
    assert not undo.empty
    assert undo.operations() == [
        (AUDIT, [DeleteMany({"_id": {"$in": ["a1"]}})]),
        (RESOURCES, [ReplaceOne(shard_filter(g1_v3), g1_v2)]),
        (
            VERSIONS,
            [
                DeleteMany({"_id": {"$in": ["Goal/g1/3"]}}),
                UpdateMany({"_id": {"$in": ["Goal/g1/2"]}}, {"$set": {"superseded": None}}),
            ],
        ),
        (RESOURCES, [ReplaceOne(shard_filter(g1_v2), stored), DeleteOne(shard_filter(g2_v1))]),
        (
            VERSIONS,
            [
                DeleteMany({"_id": {"$in": ["Goal/g1/2", "Goal/g2/1"]}}),
                UpdateMany({"_id": {"$in": ["Goal/g1/1"]}}, {"$set": {"superseded": None}}),
            ],
        ),
    ]
    assert Undo().empty and Undo().operations() == []


def test_an_erasure_is_undone_by_putting_back_what_it_removed() -> None:
    current = [resource_document(new("g1", 2), T, 4, 3)]
    versions = [version_document(new("g1", 1), T - 5, 3), version_document(new("g1", 2), T, 4)]
    assert erasure_inverse(current, versions) == [
        (RESOURCES, [InsertOne(current[0])]),
        (VERSIONS, [InsertOne(versions[0]), InsertOne(versions[1])]),
        (RETIRED, [DeleteMany({"_id": {"$in": [retired_id("Goal/g1")]}})]),
    ]
    assert erasure_inverse([], []) == [(RESOURCES, []), (VERSIONS, []), (RETIRED, [])]


# --------------------------------------------------------------------------- indexes, shard keys


@pytest.mark.parametrize("collection", sorted(SHARD_KEYS))
def test_every_shard_key_has_its_index(collection: str) -> None:
    key = list(SHARD_KEYS[collection].items())
    specs = [list(model.document["key"].items()) for model in INDEXES[collection]]
    assert key in specs


def test_index_names_are_unique_per_collection() -> None:
    for models in INDEXES.values():
        names = [model.document["name"] for model in models]
        assert len(names) == len(set(names))


def test_delivery_state_is_indexed_for_claims_and_erasures_and_sharded_per_subscription() -> None:
    def keys(collection: str) -> list[list[tuple[str, int]]]:
        return [list(model.document["key"].items()) for model in INDEXES[collection]]

    assert [("active", 1), ("due", 1)] in keys(DELIVERIES)  # what a claim looks for
    assert [("type", 1), ("id", 1)] in keys(SEEN)  # an erasure's resources in every seen set
    assert DELIVERIES not in SHARD_KEYS  # one small document per Subscription
    assert list(SHARD_KEYS[SEEN]) == ["sub", "type", "id"]  # a subscription's set: one range
