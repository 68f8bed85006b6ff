"""The MongoDB access filter decides every resource as ``AccessConstraint.allows`` does.

The filter is evaluated by :func:`matches`, which implements only the operators
``compile_access`` emits, on the scalar fields it names (``type``, ``id``, ``compartment``),
with MongoDB's documented semantics for them: equality and ``$in`` treat a ``null`` in the
query as matching a null or missing field, ``$ne: null`` requires a value, ``$or`` / ``$and``
/ ``$nor`` combine. No arrays, no type bracketing: nothing here stands in for a database; the
contract suite checks the same agreement against a real MongoDB (ZLP_TEST_MONGODB_URL).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zorgleefplan.store.model import AccessConstraint, Grant
from zorgleefplan.store.mongo_query import compile_access


def _field(doc: dict[str, Any], name: str, condition: Any) -> bool:
    value = doc.get(name)
    if isinstance(condition, dict):
        for op, operand in condition.items():
            if op == "$in" and value not in operand:
                return False
            if op == "$ne" and value == operand:
                return False
            if op not in ("$in", "$ne"):
                raise ValueError(f"not an operator compile_access emits: {op}")
        return True
    return value == condition


def matches(doc: dict[str, Any], filter_: dict[str, Any]) -> bool:
    for key, condition in filter_.items():
        if key == "$or":
            ok = any(matches(doc, f) for f in condition)
        elif key == "$and":
            ok = all(matches(doc, f) for f in condition)
        elif key == "$nor":
            ok = not any(matches(doc, f) for f in condition)
        elif key in ("type", "id", "compartment", "_id"):
            ok = _field(doc, key, condition)
        else:
            raise ValueError(f"not a field compile_access filters on: {key}")
        if not ok:
            return False
    return True


def test_the_matcher_follows_mongodb_null_semantics() -> None:
    shared = {"type": "Practitioner", "id": "d"}  # compartment missing
    assert matches(shared, {"compartment": {"$in": ["p1", None]}})
    assert matches({**shared, "compartment": None}, {"compartment": {"$in": [None]}})
    assert not matches(shared, {"compartment": {"$ne": None}})
    assert matches({**shared, "compartment": "p1"}, {"compartment": {"$ne": None}})
    assert not matches(shared, {"_id": {"$in": []}})
    assert matches(shared, {"$nor": [{"type": "Goal"}]})
    assert not matches(shared, {"$or": [{"type": "Goal"}, {"id": "x"}]})
    with pytest.raises(ValueError):
        matches(shared, {"type": {"$gt": "A"}})


TYPES = ["CarePlan", "Goal", "Patient"]
IDS = ["a", "b", "c"]
CLIENTS = ["p1", "p2"]
KEYS = st.tuples(st.sampled_from(TYPES), st.sampled_from(IDS))
GRANTS = st.builds(
    Grant,
    compartments=st.none() | st.frozensets(st.sampled_from(CLIENTS)),
    types=st.none() | st.frozensets(st.sampled_from(TYPES)),
    resources=st.none() | st.frozensets(KEYS, max_size=3),
    exclude=st.frozensets(KEYS, max_size=3),
    include_shared=st.booleans(),
)
RESOURCES = [
    {"type": t, "id": i, "compartment": c} for t in TYPES for i in IDS for c in [*CLIENTS, None]
]


@given(st.lists(GRANTS, max_size=3))
def test_the_filter_agrees_with_allows(grants: list[Grant]) -> None:
    access = AccessConstraint(tuple(grants))
    filter_ = compile_access(access)
    for doc in RESOURCES:
        expected = access.allows(doc["type"], doc["id"], doc["compartment"])
        assert matches(doc, filter_) == expected, (grants, doc, filter_)
