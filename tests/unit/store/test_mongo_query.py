"""The MongoDB query translation, as pure functions: search plans and access constraints in,
the exact filter documents and aggregation stages out. No server and no fake of one: these
pin the documents the adapter sends; the contract suite (with ZLP_TEST_MONGODB_URL) checks
what a real MongoDB answers to them."""

from __future__ import annotations

import re
from typing import Any

import bson
import pytest

from zorgleefplan.store.model import (
    AccessConstraint,
    AnyOf,
    ChainCriterion,
    DateCriterion,
    Grant,
    HasCriterion,
    IdCriterion,
    IdentifierCriterion,
    LastUpdatedCriterion,
    MissingCriterion,
    NumberCriterion,
    Page,
    QuantityCriterion,
    QuantityMatch,
    RangeMatch,
    ReferenceCriterion,
    ReferenceMatch,
    SearchQuery,
    SortKey,
    StringCriterion,
    TokenCriterion,
    TokenMatch,
    TokenTextCriterion,
    UriCriterion,
)
from zorgleefplan.store.mongo_query import (
    NOTHING,
    ChainTargets,
    HasSources,
    and_,
    compile_access,
    compile_criterion,
    compile_sort,
    history_filter,
    history_page,
    keyset_after,
    lookups,
    or_,
    range_condition,
    revinclude_filter,
    search_filter,
    search_pipeline,
    substitute,
    uri_ancestors,
)
from zorgleefplan.store.mongo_schema import STORED_FIELDS
from zorgleefplan.store.port import HistoryQuery

ALL = AccessConstraint.unrestricted()
SYS = "http://hl7.org/fhir/request-status"


def crit(criterion: Any) -> dict[str, Any]:
    return compile_criterion(criterion, ALL)


# --------------------------------------------------------------------------- combinators


def test_and_merges_disjoint_fields_flattens_and_drops_match_all() -> None:
    assert and_({"a": 1}, {}, {"b": 2}) == {"a": 1, "b": 2}
    assert and_({"a": 1}, {"a": 2}) == {"$and": [{"a": 1}, {"a": 2}]}
    assert and_({"$and": [{"a": 1}, {"a": 2}]}, {"b": 3}) == {
        "$and": [{"a": 1}, {"a": 2}, {"b": 3}]
    }
    assert and_() == {} and and_({}, {}) == {}


def test_or_of_nothing_matches_nothing_and_of_anything_matches_all() -> None:
    assert or_([]) == NOTHING
    assert or_([{"a": 1}]) == {"a": 1}
    assert or_([{"a": 1}, {}]) == {}
    assert or_([{"a": 1}, {"b": 2}]) == {"$or": [{"a": 1}, {"b": 2}]}


# --------------------------------------------------------------------------- access


def test_no_grant_matches_nothing_and_unrestricted_adds_no_condition() -> None:
    assert compile_access(AccessConstraint(grants=())) == NOTHING
    assert compile_access(ALL) == {}


def test_compartment_grants_with_and_without_shared_data() -> None:
    own = Grant(compartments=frozenset({"p2", "p1"}), include_shared=False)
    assert compile_access(AccessConstraint((own,))) == {"compartment": {"$in": ["p1", "p2"]}}
    with_shared = Grant(compartments=frozenset({"p1"}))
    assert compile_access(AccessConstraint((with_shared,))) == {
        "compartment": {"$in": ["p1", None]}
    }
    shared_only = Grant(compartments=frozenset())
    assert compile_access(AccessConstraint((shared_only,))) == {"compartment": {"$in": [None]}}
    any_client = Grant(include_shared=False)
    assert compile_access(AccessConstraint((any_client,))) == {"compartment": {"$ne": None}}


def test_type_resource_and_exclusion_grants() -> None:
    grant = Grant(
        compartments=frozenset({"p1"}),
        types=frozenset({"Goal", "CarePlan"}),
        exclude=frozenset({("CarePlan", "c2"), ("Goal", "g1"), ("CarePlan", "c1")}),
        include_shared=False,
    )
    assert compile_access(AccessConstraint((grant,))) == {
        "compartment": {"$in": ["p1"]},
        "type": {"$in": ["CarePlan", "Goal"]},
        "$nor": [
            {"type": "CarePlan", "id": {"$in": ["c1", "c2"]}},
            {"type": "Goal", "id": {"$in": ["g1"]}},
        ],
    }
    one = Grant(resources=frozenset({("CarePlan", "c3")}))
    assert compile_access(AccessConstraint((one,))) == {"type": "CarePlan", "id": {"$in": ["c3"]}}
    assert compile_access(AccessConstraint((Grant(resources=frozenset()),))) == NOTHING


def test_several_grants_are_alternatives() -> None:
    access = AccessConstraint(
        (
            Grant(compartments=frozenset({"p1"}), include_shared=False),
            Grant(types=frozenset({"Practitioner"})),
        )
    )
    assert compile_access(access) == {
        "$or": [{"compartment": {"$in": ["p1"]}}, {"type": {"$in": ["Practitioner"]}}]
    }


def test_access_goes_into_the_search_filter_itself() -> None:
    access = AccessConstraint((Grant(compartments=frozenset({"p1"}), include_shared=False),))
    query = SearchQuery(("CarePlan",), (IdCriterion(("c1",)),))
    assert search_filter(query, access) == {
        "type": "CarePlan",
        "deleted": False,
        "id": {"$in": ["c1"]},
        "compartment": {"$in": ["p1"]},
    }
    system = search_filter(SearchQuery(("CarePlan", "Goal")), AccessConstraint(grants=()))
    assert system == {"type": {"$in": ["CarePlan", "Goal"]}, "deleted": False, **NOTHING}


# --------------------------------------------------------------------------- criteria


def test_token_matches_system_code_combinations() -> None:
    token = TokenCriterion(
        "status",
        (
            TokenMatch(None, "active"),
            TokenMatch(SYS, "draft"),
            TokenMatch("", "x"),
            TokenMatch(SYS, None),
            TokenMatch("", None),
        ),
    )
    assert crit(token) == {
        "tok": {
            "$elemMatch": {
                "p": "status",
                "$or": [
                    {"c": "active"},
                    {"c": "draft", "s": SYS},
                    {"c": "x", "s": None},
                    {"s": SYS},
                    {"s": None},
                ],
            }
        }
    }


def test_token_not_excludes_resources_with_a_matching_entry_only() -> None:
    negated = TokenCriterion("status", (TokenMatch(None, "active"),), negate=True)
    assert crit(negated) == {"tok": {"$not": {"$elemMatch": {"p": "status", "c": "active"}}}}


def test_token_text_is_an_escaped_substring_match() -> None:
    assert crit(TokenTextCriterion("code", ("a.b", "c"))) == {
        "tok": {
            "$elemMatch": {"p": "code", "$or": [{"x": {"$regex": r"a\.b"}}, {"x": {"$regex": "c"}}]}
        }
    }


@pytest.mark.parametrize(
    ("mode", "entry"),
    [
        ("start", {"v": {"$gte": "jan", "$lt": "jan\U0010ffff"}}),
        ("exact", {"e": "jan"}),
        ("contains", {"v": {"$regex": "jan"}}),
    ],
)
def test_string_modes(mode: str, entry: dict[str, Any]) -> None:
    c = StringCriterion("name", ("jan",), mode)  # type: ignore[arg-type]
    assert crit(c) == {"str": {"$elemMatch": {"p": "name", **entry}}}


def test_contains_treats_regex_characters_literally() -> None:
    pattern = crit(StringCriterion("name", ("a+b (c)*",), "contains"))["str"]["$elemMatch"]["v"]
    assert re.search(pattern["$regex"], "x a+b (c)* y")
    assert not re.search(pattern["$regex"], "aab c")


def test_reference_by_type_and_id_by_id_and_by_url() -> None:
    c = ReferenceCriterion(
        "subject",
        (
            ReferenceMatch("Patient", "p1"),
            ReferenceMatch(None, "p2"),
            ReferenceMatch(None, None, "http://x/Patient/9"),
        ),
    )
    assert crit(c) == {
        "ref": {
            "$elemMatch": {
                "p": "subject",
                "$or": [{"i": "p1", "t": "Patient"}, {"i": "p2"}, {"u": "http://x/Patient/9"}],
            }
        }
    }


def test_reference_identifier_uses_the_identifier_fields() -> None:
    c = IdentifierCriterion("performer", (TokenMatch("urn:agb", "05"),))
    assert crit(c) == {"ref": {"$elemMatch": {"p": "performer", "iv": "05", "is": "urn:agb"}}}


PREFIXES = {
    "eq": {"lo": {"$gte": 10}, "hi": {"$lte": 19}},
    "ne": {"$nor": [{"lo": {"$gte": 10}, "hi": {"$lte": 19}}]},
    "gt": {"hi": {"$gt": 19}},
    "lt": {"lo": {"$lt": 10}},
    "ge": {"$or": [{"hi": {"$gt": 19}}, {"lo": {"$gte": 10}, "hi": {"$lte": 19}}]},
    "le": {"$or": [{"lo": {"$lt": 10}}, {"lo": {"$gte": 10}, "hi": {"$lte": 19}}]},
    "sa": {"lo": {"$gt": 19}},
    "eb": {"hi": {"$lt": 10}},
    "ap": {"lo": {"$lte": 23.5}, "hi": {"$gte": 5.5}},  # widened by half the precision
}


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_range_prefixes(prefix: str) -> None:
    m = RangeMatch(prefix, 10, 19)  # type: ignore[arg-type]
    assert range_condition(m, "lo", "hi") == PREFIXES[prefix]
    assert crit(DateCriterion("date", (m,))) == {
        "date": {"$elemMatch": {"p": "date", **PREFIXES[prefix]}}
    }
    assert crit(NumberCriterion("rank", (m,))) == {
        "num": {"$elemMatch": {"p": "rank", **PREFIXES[prefix]}}
    }


def test_range_on_one_field_merges_its_bounds() -> None:
    c = LastUpdatedCriterion((RangeMatch("eq", 5, 9), RangeMatch("gt", 0, 0)))
    assert crit(c) == {"$or": [{"lu": {"$gte": 5, "$lte": 9}}, {"lu": {"$gt": 0}}]}


def test_quantity_with_system_and_code_or_unit() -> None:
    c = QuantityCriterion(
        "dose",
        (
            QuantityMatch(RangeMatch("eq", 1.5, 2.5), "http://unitsofmeasure.org", "mg"),
            QuantityMatch(RangeMatch("ge", 1.5, 2.5), None, None),
        ),
    )
    assert crit(c) == {
        "qty": {
            "$elemMatch": {
                "p": "dose",
                "$or": [
                    {
                        "lo": {"$gte": 1.5},
                        "hi": {"$lte": 2.5},
                        "s": "http://unitsofmeasure.org",
                        "$or": [{"c": "mg"}, {"u": "mg"}],
                    },
                    {"$or": [{"hi": {"$gt": 2.5}}, {"lo": {"$gte": 1.5}, "hi": {"$lte": 2.5}}]},
                ],
            }
        }
    }


def test_uri_exact_below_and_above() -> None:
    assert crit(UriCriterion("url", ("http://x.org/def/1",))) == {
        "uri": {"$elemMatch": {"p": "url", "v": "http://x.org/def/1"}}
    }
    below = crit(UriCriterion("url", ("http://x.org/def/",), "below"))
    assert below == {
        "uri": {
            "$elemMatch": {
                "p": "url",
                "$or": [{"v": "http://x.org/def/"}, {"v": {"$regex": r"^http://x\.org/def/"}}],
            }
        }
    }
    above = crit(UriCriterion("url", ("http://x.org/def/3/sub",), "above"))
    assert above == {
        "uri": {
            "$elemMatch": {
                "p": "url",
                "v": {
                    "$in": [
                        "http://x.org/def/3/sub",
                        "http:",
                        "http://x.org",
                        "http://x.org/def",
                        "http://x.org/def/3",
                    ]
                },
            }
        }
    }


def test_uri_ancestors_are_the_prefixes_continued_by_a_slash() -> None:
    assert uri_ancestors("http://a/b/c") == ["http:", "http://a", "http://a/b"]
    assert uri_ancestors("/x") == [""]
    assert uri_ancestors("urn:x") == []


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("token", "tok"),
        ("string", "str"),
        ("reference", "ref"),
        ("date", "date"),
        ("quantity", "qty"),
        ("number", "num"),
        ("uri", "uri"),
    ],
)
def test_missing_for_every_index_kind(kind: str, field: str) -> None:
    assert crit(MissingCriterion("x", kind, True)) == {f"{field}.p": {"$ne": "x"}}  # type: ignore[arg-type]
    assert crit(MissingCriterion("x", kind, False)) == {f"{field}.p": "x"}  # type: ignore[arg-type]


def test_id_and_any_of() -> None:
    assert crit(IdCriterion(("a", "b"))) == {"id": {"$in": ["a", "b"]}}
    either = AnyOf((IdCriterion(("a",)), MissingCriterion("x", "uri", True)))
    assert crit(either) == {"$or": [{"id": {"$in": ["a"]}}, {"uri.p": {"$ne": "x"}}]}
    assert crit(AnyOf(())) == NOTHING


# --------------------------------------------------------------------------- chain, _has


def test_chain_is_a_lookup_of_visible_targets_substituted_into_the_reference() -> None:
    access = AccessConstraint((Grant(compartments=frozenset({"p1"})),))
    chain = ChainCriterion("patient", "Patient", StringCriterion("name", ("jan",)))
    compiled = compile_criterion(chain, access)
    [lookup] = list(lookups(compiled))
    assert isinstance(lookup, ChainTargets)
    assert lookup.filter == {
        "type": "Patient",
        "deleted": False,
        "str": {"$elemMatch": {"p": "name", "v": {"$gte": "jan", "$lt": "jan\U0010ffff"}}},
        "compartment": {"$in": ["p1", None]},
    }
    assert lookup.pipeline(lookup.filter) == [
        {"$match": lookup.filter},
        {"$project": {"_id": 0, "id": 1}},
    ]
    ids = lookup.values([{"id": "p1"}, {"id": "p7"}])
    assert substitute(compiled, {lookup: ids}) == {
        "ref": {"$elemMatch": {"p": "patient", "t": "Patient", "i": {"$in": ["p1", "p7"]}}}
    }


def test_has_is_a_lookup_of_visible_sources_yielding_the_keys_they_reference() -> None:
    access = AccessConstraint((Grant(types=frozenset({"CarePlan", "Patient"})),))
    has = HasCriterion("CarePlan", "patient", TokenCriterion("status", (TokenMatch(None, "x"),)))
    query = SearchQuery(("Patient",), (has,))
    compiled = search_filter(query, access)
    [lookup] = list(lookups(compiled))
    assert isinstance(lookup, HasSources) and lookup.param == "patient"
    assert lookup.filter == {  # two conditions on "type": kept apart in an $and
        "$and": [
            {"type": "CarePlan"},
            {"deleted": False},
            {"tok": {"$elemMatch": {"p": "status", "c": "x"}}},
            {"type": {"$in": ["CarePlan", "Patient"]}},
        ]
    }
    assert lookup.pipeline({"m": 1}) == [
        {"$match": {"m": 1}},
        {"$unwind": "$ref"},
        {"$match": {"ref.p": "patient", "ref.t": {"$ne": None}, "ref.i": {"$ne": None}}},
        {"$group": {"_id": {"$concat": ["$ref.t", "/", "$ref.i"]}}},
    ]
    keys = lookup.values([{"_id": "Patient/p1"}])
    resolved = substitute(compiled, {lookup: keys})
    assert resolved == {
        "$and": [
            {"type": "Patient"},
            {"deleted": False},
            {"_id": {"$in": ["Patient/p1"]}},
            {"type": {"$in": ["CarePlan", "Patient"]}},
        ]
    }


def test_nested_chains_resolve_innermost_first() -> None:
    inner = ChainCriterion("organization", "Organization", IdCriterion(("o1",)))
    outer = ChainCriterion("patient", "Patient", inner)
    compiled = crit(outer)
    [outer_lookup] = list(lookups(compiled))
    [inner_lookup] = list(lookups(outer_lookup.filter))
    resolved_inner = substitute(outer_lookup.filter, {inner_lookup: ["o1"]})
    assert resolved_inner == {
        "type": "Patient",
        "deleted": False,
        "ref": {"$elemMatch": {"p": "organization", "t": "Organization", "i": {"$in": ["o1"]}}},
    }
    assert list(lookups(resolved_inner)) == []


def test_equal_looking_lookups_stay_distinct() -> None:
    a, b = ChainTargets({"x": 1}), ChainTargets({"x": 1})
    assert a != b
    assert substitute([a, b], {a: ["1"], b: ["2"]}) == [["1"], ["2"]]


# --------------------------------------------------------------------------- sort, paging


def test_default_order_is_creation_order_and_needs_no_computed_key() -> None:
    fields = compile_sort(())
    assert [(f.name, f.descending, f.expression) for f in fields] == [("rid", False, None)]
    stages = search_pipeline({"type": "Goal"}, fields, Page(count=10))
    assert stages == [
        {"$match": {"type": "Goal"}},
        {"$sort": {"rid": 1}},
        {"$limit": 11},
        {"$project": {**STORED_FIELDS, "rid": 1}},
    ]


def test_id_and_last_updated_sort_on_stored_fields_with_the_cursor_in_the_first_match() -> None:
    fields = compile_sort((SortKey("_lastUpdated", True), SortKey("_id")))
    assert [(f.name, f.descending) for f in fields] == [("lu", True), ("id", False), ("rid", False)]
    stages = search_pipeline({"type": "Goal"}, fields, Page(count=2, after=(9, "g", 4), offset=3))
    assert stages[0] == {
        "$match": {
            "type": "Goal",
            "$or": [
                {"lu": {"$lt": 9}},
                {"lu": 9, "id": {"$gt": "g"}},
                {"lu": 9, "id": "g", "rid": {"$gt": 4}},
            ],
        }
    }
    assert stages[1:4] == [
        {"$sort": {"lu": -1, "id": 1, "rid": 1}},
        {"$skip": 3},
        {"$limit": 3},
    ]


def test_parameter_sort_computes_the_best_value_with_missing_last() -> None:
    fields = compile_sort((SortKey("title", False, "string"), SortKey("date", True, "date")))
    title, date, rid = fields
    assert title.name == "_sort0" and not title.descending
    assert title.expression == {
        "$ifNull": [
            {
                "$min": {
                    "$map": {
                        "input": {
                            "$filter": {
                                "input": {"$ifNull": ["$str", []]},
                                "as": "e",
                                "cond": {"$eq": ["$$e.p", {"$literal": "title"}]},
                            }
                        },
                        "as": "e",
                        "in": "$$e.v",
                    }
                }
            },
            "\U0010ffff",
        ]
    }
    assert date.descending and date.expression is not None
    best = date.expression["$ifNull"][0]["$max"]["$map"]
    assert best["in"] == "$$e.hi" and best["input"]["$filter"]["input"] == {
        "$ifNull": ["$date", []]
    }
    assert date.expression["$ifNull"][1] == -(2**62)
    assert rid.name == "rid"
    stages = search_pipeline({"type": "CarePlan"}, fields, Page(count=5, after=("a", 7, 3)))
    assert stages[:3] == [
        {"$match": {"type": "CarePlan"}},
        {"$addFields": {"_sort0": title.expression, "_sort1": date.expression}},
        {
            "$match": {
                "$or": [
                    {"_sort0": {"$gt": "a"}},
                    {"_sort0": "a", "_sort1": {"$lt": 7}},
                    {"_sort0": "a", "_sort1": 7, "rid": {"$gt": 3}},
                ]
            }
        },
    ]
    assert stages[3] == {"$sort": {"_sort0": 1, "_sort1": -1, "rid": 1}}
    assert stages[-1] == {"$project": {**STORED_FIELDS, "_sort0": 1, "_sort1": 1, "rid": 1}}


@pytest.mark.parametrize(
    ("kind", "array", "value", "missing_asc", "missing_desc"),
    [
        ("token", "$tok", "$$e.c", "\U0010ffff", ""),
        ("reference", "$ref", "$$e.i", "\U0010ffff", ""),
        ("uri", "$uri", "$$e.v", "\U0010ffff", ""),
        ("number", "$num", "$$e.v", 2**62, -(2**62)),
        ("quantity", "$qty", "$$e.v", 2**62, -(2**62)),
    ],
)
def test_sort_value_and_sentinel_per_kind(
    kind: str, array: str, value: str, missing_asc: object, missing_desc: object
) -> None:
    for descending, sentinel in ((False, missing_asc), (True, missing_desc)):
        [field, _] = compile_sort((SortKey("x", descending, kind),))  # type: ignore[arg-type]
        assert field.expression is not None
        best, fallback = field.expression["$ifNull"]
        mapped = best["$max" if descending else "$min"]["$map"]
        assert (mapped["input"]["$filter"]["input"]["$ifNull"][0], mapped["in"]) == (array, value)
        assert fallback == sentinel


def test_a_cursor_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="cursor"):
        keyset_after(compile_sort(()), (1, 2))


# --------------------------------------------------------------------------- other reads


def test_revinclude_filter_names_the_source_type_param_targets_and_access() -> None:
    access = AccessConstraint((Grant(compartments=frozenset({"p1"}), include_shared=False),))
    where = revinclude_filter(
        [("Patient", "p1"), ("Group", "g"), ("Patient", "p2")], "CarePlan", "subject", access
    )
    assert where == {
        "type": "CarePlan",
        "deleted": False,
        "ref": {
            "$elemMatch": {
                "p": "subject",
                "$or": [
                    {"t": "Group", "i": {"$in": ["g"]}},
                    {"t": "Patient", "i": {"$in": ["p1", "p2"]}},
                ],
            }
        },
        "compartment": {"$in": ["p1"]},
    }
    assert revinclude_filter([], "CarePlan", "subject", ALL) == NOTHING


def test_history_filter_for_instance_since_and_at() -> None:
    access = AccessConstraint((Grant(types=frozenset({"Goal"})),))
    assert history_filter(HistoryQuery(type="Goal", id="g1", since=100), access) == {
        "$and": [
            {"type": "Goal"},
            {"id": "g1"},
            {"lu": {"$gte": 100}},
            {"type": {"$in": ["Goal"]}},
        ]
    }
    assert history_filter(HistoryQuery(at=(5, 9)), ALL) == {
        "lu": {"$lte": 9},
        "$or": [{"superseded": None}, {"superseded": {"$gt": 5}}],
    }
    assert history_filter(HistoryQuery(), AccessConstraint(grants=())) == NOTHING


def test_history_pages_run_newest_first_before_the_cursor_or_oldest_first_after_it() -> None:
    where = {"type": "Goal"}
    assert history_page(HistoryQuery(type="Goal"), where) == (where, -1)
    assert history_page(HistoryQuery(type="Goal", before_seq=9), where) == (
        {"type": "Goal", "seq": {"$lt": 9}},
        -1,
    )
    assert history_page(HistoryQuery(type="Goal", after_seq=4), where) == (
        {"type": "Goal", "seq": {"$gt": 4}},
        1,
    )
    assert history_page(HistoryQuery(before_seq=9, after_seq=4), {}) == (
        {"$and": [{"seq": {"$lt": 9}}, {"seq": {"$gt": 4}}]},
        1,
    )


EVERY_KIND = [
    TokenCriterion("status", (TokenMatch(SYS, "active"),), negate=True),
    TokenTextCriterion("status", ("act",)),
    StringCriterion("title", ("plan",)),
    ReferenceCriterion("patient", (ReferenceMatch("Patient", "p1"),)),
    IdentifierCriterion("performer", (TokenMatch("urn:agb", "1"),)),
    DateCriterion("date", (RangeMatch("ap", 10, 19),)),
    QuantityCriterion("dose", (QuantityMatch(RangeMatch("le", 1.5, 2.5), None, "mg"),)),
    NumberCriterion("rank", (RangeMatch("ne", 1.5, 2.5),)),
    UriCriterion("url", ("http://x/a",), "above"),
    MissingCriterion("status", "token", True),
    LastUpdatedCriterion((RangeMatch("ge", 1, 2),)),
    ChainCriterion("patient", "Patient", HasCriterion("Goal", "subject", IdCriterion(("g",)))),
]


@pytest.mark.parametrize("criterion", EVERY_KIND, ids=lambda c: type(c).__name__)
def test_every_compiled_search_is_a_valid_bson_command_once_lookups_are_resolved(
    criterion: Any,
) -> None:
    access = AccessConstraint((Grant(compartments=frozenset({"p1"})),))
    sort = (SortKey("title", True, "string"), SortKey("_lastUpdated"))
    where = search_filter(SearchQuery(("CarePlan",), (criterion,), sort), access)

    def resolve(filter_: Any) -> Any:  # what the adapter does, with made-up matches
        return substitute(filter_, {lookup: ["x"] for lookup in lookups(filter_)})

    while list(lookups(where)):
        for lookup in lookups(where):
            assert bson.encode({"pipeline": lookup.pipeline(resolve(lookup.filter))})
        where = resolve(where)
    stages = search_pipeline(where, compile_sort(sort), Page(count=5, after=("t", 1, 2)))
    assert bson.decode(bson.encode({"pipeline": stages}))["pipeline"] == stages
