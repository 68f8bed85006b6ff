"""The storage contract: every adapter must pass this suite unchanged.

The ``store`` fixture yields each adapter in ``ADAPTERS``: SQLite always; MongoDB when
``ZLP_TEST_MONGODB_URL`` names a real MongoDB replica set (each test gets a fresh database,
dropped afterwards), and skipped otherwise. Tests speak only the port
(zorgleefplan.store.port) and the model.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from zorgleefplan.errors import MissingReferences, VersionConflict
from zorgleefplan.store.model import (
    AccessConstraint,
    AnyOf,
    ChainCriterion,
    DateCriterion,
    DateIndex,
    Grant,
    HasCriterion,
    IdCriterion,
    IdentifierCriterion,
    IndexValues,
    LastUpdatedCriterion,
    MissingCriterion,
    NewVersion,
    NumberCriterion,
    NumberIndex,
    Page,
    QuantityCriterion,
    QuantityIndex,
    QuantityMatch,
    RangeMatch,
    ReferenceCriterion,
    ReferenceIndex,
    ReferenceMatch,
    SearchQuery,
    SortKey,
    StringCriterion,
    StringIndex,
    TokenCriterion,
    TokenIndex,
    TokenMatch,
    TokenTextCriterion,
    UriCriterion,
    UriIndex,
)
from zorgleefplan.store.port import HistoryQuery, Store
from zorgleefplan.store.sqlite import SqliteStore

ALL = AccessConstraint.unrestricted()
DAY = 86_400_000_000  # µs


MONGODB_URL = os.environ.get("ZLP_TEST_MONGODB_URL")


@asynccontextmanager
async def _sqlite(tmp: Path) -> AsyncIterator[Store]:
    store = await SqliteStore.open(tmp / "contract.sqlite3")
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def _mongodb(tmp: Path) -> AsyncIterator[Store]:
    if MONGODB_URL is None:
        pytest.skip("ZLP_TEST_MONGODB_URL is not set: no MongoDB replica set to run against")
    from pymongo import AsyncMongoClient

    from zorgleefplan.store.mongo import MongoStore

    database = f"zlp_contract_{uuid.uuid4().hex[:12]}"
    store = await MongoStore.open(MONGODB_URL, database=database)
    try:
        yield store
    finally:
        await store.close()
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(MONGODB_URL)
        await client.drop_database(database)
        await client.close()


ADAPTERS: dict[str, Callable[[Path], AbstractAsyncContextManager[Store]]] = {
    "sqlite": _sqlite,
    "mongodb": _mongodb,
}


@pytest.fixture(params=sorted(ADAPTERS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with ADAPTERS[request.param](tmp_path) as opened:
        yield opened


def body(type_: str, id_: str, version: int = 1) -> bytes:
    return f'{{"resourceType":"{type_}","id":"{id_}","meta":{{"versionId":"{version}"}}}}'.encode()


async def put(
    store: Store,
    type_: str,
    id_: str,
    *,
    compartment: str | None = None,
    index: IndexValues | None = None,
    version: int | None = None,
    delete: bool = False,
) -> None:
    async with store.transaction() as tx:
        current = await tx.read(type_, id_, ALL)
        v = version or (current.version + 1 if current else 1)
        await tx.write(
            NewVersion(
                type_,
                id_,
                v,
                "DELETE" if delete else ("POST" if v == 1 else "PUT"),
                None if delete else body(type_, id_, v),
                compartment,
                index or IndexValues(),
            )
        )


async def ids(store: Store, query: SearchQuery, access: AccessConstraint = ALL) -> list[str]:
    page = await store.search(query, Page(count=100), access)
    return [r.id for r in page.rows]


# --------------------------------------------------------------------------- versions


async def test_write_then_read_current_and_each_version(store: Store) -> None:
    await put(store, "Patient", "p1", compartment="p1")
    await put(store, "Patient", "p1", compartment="p1")
    current = await store.read("Patient", "p1", ALL)
    assert current is not None
    assert (current.version, current.deleted, current.compartment) == (2, False, "p1")
    assert current.body == body("Patient", "p1", 2)
    first = await store.read_version("Patient", "p1", 1, ALL)
    assert first is not None and first.body == body("Patient", "p1", 1)
    assert await store.read_version("Patient", "p1", 3, ALL) is None
    assert await store.read("Patient", "nope", ALL) is None


async def test_a_version_cannot_be_written_twice_or_skipped(store: Store) -> None:
    await put(store, "Goal", "g1")
    with pytest.raises(VersionConflict):
        await put(store, "Goal", "g1", version=1)
    with pytest.raises(VersionConflict):
        await put(store, "Goal", "g1", version=5)
    with pytest.raises(VersionConflict):
        await put(store, "Goal", "new", version=2)


async def test_delete_leaves_a_tombstone_and_keeps_history(store: Store) -> None:
    await put(store, "Goal", "g1", index=IndexValues(tokens=(TokenIndex("status", None, "x"),)))
    await put(store, "Goal", "g1", delete=True)
    tomb = await store.read("Goal", "g1", ALL)
    assert tomb is not None and tomb.deleted and tomb.body is None and tomb.version == 2
    q = SearchQuery(("Goal",), (TokenCriterion("status", (TokenMatch(None, "x"),)),))
    assert await ids(store, q) == []
    assert await store.existing([("Goal", "g1")], ALL) == set()
    hist = await store.history(HistoryQuery(type="Goal", id="g1"), 10, ALL)
    assert [(v.version, v.deleted, v.method) for v in hist.rows] == [
        (2, True, "DELETE"),
        (1, False, "POST"),
    ]


async def test_transaction_rolls_back_everything_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.write(NewVersion("Goal", "a", 1, "POST", body("Goal", "a"), None))
            assert await tx.read("Goal", "a", ALL) is not None  # visible inside
            raise RuntimeError("boom")
    assert await store.read("Goal", "a", ALL) is None
    hist = await store.history(HistoryQuery(), 10, ALL)
    assert hist.rows == ()


async def test_timestamps_and_sequence_increase_across_transactions(store: Store) -> None:
    stamps = []
    for i in range(5):
        async with store.transaction() as tx:
            stamps.append(tx.timestamp)
            await tx.write(NewVersion("Goal", f"g{i}", 1, "POST", body("Goal", f"g{i}"), None))
    assert stamps == sorted(set(stamps))
    hist = await store.history(HistoryQuery(), 10, ALL)
    seqs = [v.seq for v in hist.rows]
    assert seqs == sorted(seqs, reverse=True)


async def test_concurrent_writers_lose_nothing(store: Store) -> None:
    async def writer(n: int) -> None:
        for i in range(20):
            await put(store, "Task", f"w{n}-{i}")

    await asyncio.gather(*(writer(n) for n in range(5)))
    page = await store.search(SearchQuery(("Task",)), Page(count=1000), ALL, total=True)
    assert page.total == 100


async def test_required_references_are_checked_at_commit(store: Store) -> None:
    # A transaction may require a resource it writes later (bundle entries in any order).
    async with store.transaction() as tx:
        tx.require([("Patient", "p1")], ALL)
        await tx.write(NewVersion("Goal", "g1", 1, "POST", body("Goal", "g1"), "p1"))
        await tx.write(NewVersion("Patient", "p1", 1, "POST", body("Patient", "p1"), "p1"))
    assert await store.existing([("Goal", "g1"), ("Patient", "p1")], ALL) == {
        ("Goal", "g1"),
        ("Patient", "p1"),
    }


async def test_an_unresolved_requirement_fails_the_commit_and_stores_nothing(
    store: Store,
) -> None:
    await put(store, "Patient", "p1", compartment="p1")
    with pytest.raises(MissingReferences) as failure:
        async with store.transaction() as tx:
            tx.require([("Patient", "p1"), ("Patient", "ghost")], ALL)
            await tx.write(NewVersion("Goal", "g1", 1, "POST", body("Goal", "g1"), "p1"))
    assert failure.value.keys == [("Patient", "ghost")]
    assert await store.read("Goal", "g1", ALL) is None
    # Hidden counts as missing: the requirement is checked under the given access.
    only_goals = AccessConstraint(grants=(Grant(types=frozenset({"Goal"})),))
    with pytest.raises(MissingReferences):
        async with store.transaction() as tx:
            tx.require([("Patient", "p1")], only_goals)
            await tx.write(NewVersion("Goal", "g2", 1, "POST", body("Goal", "g2"), "p1"))
    assert await store.read("Goal", "g2", ALL) is None


async def test_a_failing_transaction_among_concurrent_ones_takes_nobody_with_it(
    store: Store,
) -> None:
    async def create(i: int) -> None:
        async with store.transaction() as tx:
            if i % 7 == 3:
                tx.require([("Patient", "missing")], ALL)
            await tx.write(NewVersion("Task", f"t{i}", 1, "POST", body("Task", f"t{i}"), None))

    results = await asyncio.gather(*(create(i) for i in range(40)), return_exceptions=True)
    failed = {i for i, r in enumerate(results) if isinstance(r, MissingReferences)}
    assert failed == {i for i in range(40) if i % 7 == 3}
    assert all(r is None for i, r in enumerate(results) if i not in failed)
    stored = await store.existing([("Task", f"t{i}") for i in range(40)], ALL)
    assert stored == {("Task", f"t{i}") for i in range(40) if i not in failed}


async def test_a_cancelled_transaction_leaves_the_store_writable(store: Store) -> None:
    entered = asyncio.Event()

    async def slow() -> None:
        async with store.transaction() as tx:
            await tx.write(NewVersion("Task", "slow", 1, "POST", body("Task", "slow"), None))
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await entered.wait()
    waiters = [asyncio.create_task(put(store, "Task", f"w{i}")) for i in range(3)]
    await asyncio.sleep(0)
    waiters[1].cancel()
    task.cancel()
    await asyncio.gather(task, *waiters, return_exceptions=True)
    await asyncio.wait_for(put(store, "Task", "after"), timeout=5)
    assert await store.read("Task", "slow", ALL) is None
    assert await store.existing([("Task", "w0"), ("Task", "w2"), ("Task", "after")], ALL) == {
        ("Task", "w0"),
        ("Task", "w2"),
        ("Task", "after"),
    }


# --------------------------------------------------------------------------- history


async def test_history_pages_newest_first_without_gaps(store: Store) -> None:
    for i in range(7):
        await put(store, "Goal", f"g{i}")
    seen: list[str] = []
    before = None
    while True:
        page = await store.history(HistoryQuery(type="Goal", before_seq=before), 3, ALL)
        seen.extend(v.id for v in page.rows)
        if page.next_before_seq is None:
            break
        before = page.next_before_seq
    assert seen == [f"g{i}" for i in reversed(range(7))]


async def test_history_since_and_at(store: Store) -> None:
    await put(store, "Goal", "g1")
    first = await store.read("Goal", "g1", ALL)
    assert first is not None
    await asyncio.sleep(0.002)
    await put(store, "Goal", "g1")
    second = await store.read("Goal", "g1", ALL)
    assert second is not None
    t1 = int(first.last_updated.timestamp() * 1e6)
    t2 = int(second.last_updated.timestamp() * 1e6)
    since = await store.history(HistoryQuery(type="Goal", since=t2), 10, ALL)
    assert [v.version for v in since.rows] == [2]
    at_first = await store.history(HistoryQuery(type="Goal", at=(t1, t1)), 10, ALL)
    assert [v.version for v in at_first.rows] == [1]
    at_both = await store.history(HistoryQuery(type="Goal", at=(t1, t2)), 10, ALL)
    assert [v.version for v in at_both.rows] == [2, 1]


# --------------------------------------------------------------------------- search


@pytest.fixture
async def indexed(store: Store) -> Store:
    """A few CarePlans over two clients with one value of every index kind."""
    await put(
        store,
        "Patient",
        "p1",
        compartment="p1",
        index=IndexValues(strings=(StringIndex("name", "jansen", "Jansen"),)),
    )
    await put(
        store,
        "Patient",
        "p2",
        compartment="p2",
        index=IndexValues(strings=(StringIndex("name", "de vries", "de Vries"),)),
    )
    for i in range(6):
        patient = "p1" if i % 2 == 0 else "p2"
        await put(
            store,
            "CarePlan",
            f"c{i}",
            compartment=patient,
            index=IndexValues(
                tokens=(
                    TokenIndex(
                        "status",
                        "http://hl7.org/fhir/request-status",
                        "active" if i < 3 else "draft",
                        "actief",
                    ),
                ),
                strings=(StringIndex("title", f"plan {i}", f"Plan {i}"),),
                references=(
                    ReferenceIndex("patient", "Patient", patient),
                    ReferenceIndex("based-on", None, None, url=f"http://other/CarePlan/{i}"),
                    ReferenceIndex(
                        "performer",
                        None,
                        None,
                        identifier_system="urn:agb",
                        identifier_value=f"0{i}",
                    ),
                ),
                dates=(DateIndex("date", i * DAY, (i + 1) * DAY - 1),),
                quantities=(
                    QuantityIndex(
                        "dose", float(i), i - 0.5, i + 0.5, "http://unitsofmeasure.org", "mg", "mg"
                    ),
                ),
                numbers=(NumberIndex("rank", float(i), i - 0.5, i + 0.5),),
                uris=(UriIndex("instantiates-uri", f"http://x.org/def/{i}"),),
            ),
        )
    return store


def carePlans(*criteria: object, sort: tuple[SortKey, ...] = ()) -> SearchQuery:
    return SearchQuery(("CarePlan",), tuple(criteria), sort)  # type: ignore[arg-type]


async def test_token_search(indexed: Store) -> None:
    sys = "http://hl7.org/fhir/request-status"
    assert await ids(
        indexed, carePlans(TokenCriterion("status", (TokenMatch(None, "active"),)))
    ) == ["c0", "c1", "c2"]
    assert await ids(indexed, carePlans(TokenCriterion("status", (TokenMatch(sys, "draft"),)))) == [
        "c3",
        "c4",
        "c5",
    ]
    assert await ids(indexed, carePlans(TokenCriterion("status", (TokenMatch("", "draft"),)))) == []
    assert (
        len(await ids(indexed, carePlans(TokenCriterion("status", (TokenMatch(sys, None),))))) == 6
    )
    negated = TokenCriterion("status", (TokenMatch(None, "active"),), negate=True)
    assert await ids(indexed, carePlans(negated)) == ["c3", "c4", "c5"]
    assert len(await ids(indexed, carePlans(TokenTextCriterion("status", ("actie",))))) == 6


async def test_string_search_modes(indexed: Store) -> None:
    assert await ids(indexed, carePlans(StringCriterion("title", ("plan 1",)))) == ["c1"]
    assert await ids(indexed, carePlans(StringCriterion("title", ("Plan 2",), "exact"))) == ["c2"]
    assert await ids(indexed, carePlans(StringCriterion("title", ("plan 2",), "exact"))) == []
    assert await ids(indexed, carePlans(StringCriterion("title", ("n 4",), "contains"))) == ["c4"]
    assert await ids(indexed, carePlans(StringCriterion("title", ("n 4",)))) == []


async def test_reference_and_identifier_search(indexed: Store) -> None:
    by_patient = ReferenceCriterion("patient", (ReferenceMatch("Patient", "p1"),))
    assert await ids(indexed, carePlans(by_patient)) == ["c0", "c2", "c4"]
    any_type = ReferenceCriterion("patient", (ReferenceMatch(None, "p2"),))
    assert await ids(indexed, carePlans(any_type)) == ["c1", "c3", "c5"]
    by_url = ReferenceCriterion(
        "based-on", (ReferenceMatch(None, None, "http://other/CarePlan/3"),)
    )
    assert await ids(indexed, carePlans(by_url)) == ["c3"]
    ident = IdentifierCriterion("performer", (TokenMatch("urn:agb", "05"),))
    assert await ids(indexed, carePlans(ident)) == ["c5"]


async def test_date_prefixes(indexed: Store) -> None:
    def date(prefix: str, day: int) -> DateCriterion:
        return DateCriterion("date", (RangeMatch(prefix, day * DAY, (day + 1) * DAY - 1),))  # type: ignore[arg-type]

    assert await ids(indexed, carePlans(date("eq", 2))) == ["c2"]
    assert await ids(indexed, carePlans(date("ne", 2))) == ["c0", "c1", "c3", "c4", "c5"]
    assert await ids(indexed, carePlans(date("lt", 2))) == ["c0", "c1"]
    assert await ids(indexed, carePlans(date("le", 2))) == ["c0", "c1", "c2"]
    assert await ids(indexed, carePlans(date("gt", 3))) == ["c4", "c5"]
    assert await ids(indexed, carePlans(date("ge", 3))) == ["c3", "c4", "c5"]
    assert await ids(indexed, carePlans(date("sa", 3))) == ["c4", "c5"]
    assert await ids(indexed, carePlans(date("eb", 1))) == ["c0"]


async def test_number_quantity_uri(indexed: Store) -> None:
    gt = NumberCriterion("rank", (RangeMatch("gt", 3.5, 4.5),))
    assert await ids(indexed, carePlans(gt)) == ["c5"]
    eq = QuantityCriterion(
        "dose", (QuantityMatch(RangeMatch("eq", 1.5, 2.5), "http://unitsofmeasure.org", "mg"),)
    )
    assert await ids(indexed, carePlans(eq)) == ["c2"]
    wrong_unit = QuantityCriterion("dose", (QuantityMatch(RangeMatch("eq", 1.5, 2.5), None, "kg"),))
    assert await ids(indexed, carePlans(wrong_unit)) == []
    assert await ids(
        indexed, carePlans(UriCriterion("instantiates-uri", ("http://x.org/def/1",)))
    ) == ["c1"]
    below = UriCriterion("instantiates-uri", ("http://x.org/def",), "below")
    assert len(await ids(indexed, carePlans(below))) == 6
    above = UriCriterion("instantiates-uri", ("http://x.org/def/3/sub",), "above")
    assert await ids(indexed, carePlans(above)) == ["c3"]


async def test_missing_id_and_last_updated(indexed: Store) -> None:
    await put(indexed, "CarePlan", "bare", compartment="p1")
    assert await ids(indexed, carePlans(MissingCriterion("status", "token", True))) == ["bare"]
    assert len(await ids(indexed, carePlans(MissingCriterion("status", "token", False)))) == 6
    assert await ids(indexed, carePlans(IdCriterion(("c1", "c4")))) == ["c1", "c4"]
    everything = LastUpdatedCriterion((RangeMatch("gt", 0, 0),))
    assert len(await ids(indexed, carePlans(everything))) == 7


async def test_chain_has_and_any_of(indexed: Store) -> None:
    chain = ChainCriterion("patient", "Patient", StringCriterion("name", ("jan",)))
    assert await ids(indexed, carePlans(chain)) == ["c0", "c2", "c4"]
    has = HasCriterion(
        "CarePlan", "patient", TokenCriterion("status", (TokenMatch(None, "draft"),))
    )
    assert await ids(indexed, SearchQuery(("Patient",), (has,))) == ["p1", "p2"]
    has_c0 = HasCriterion("CarePlan", "patient", IdCriterion(("c1",)))
    assert await ids(indexed, SearchQuery(("Patient",), (has_c0,))) == ["p2"]
    either = AnyOf((IdCriterion(("c0",)), IdCriterion(("c5",))))
    assert await ids(indexed, carePlans(either)) == ["c0", "c5"]


async def test_sort_and_keyset_paging_visit_each_row_once(indexed: Store) -> None:
    for sort in [
        (SortKey("title", True, "string"),),
        (SortKey("status", False, "token"), SortKey("date", True, "date")),
        (SortKey("_id", True),),
        (SortKey("missing-param", False, "string"),),
    ]:
        full = await indexed.search(carePlans(sort=sort), Page(count=100), ALL)
        order = [r.id for r in full.rows]
        paged: list[str] = []
        after = None
        while True:
            page = await indexed.search(carePlans(sort=sort), Page(count=4, after=after), ALL)
            paged.extend(r.id for r in page.rows)
            if page.next_after is None:
                break
            after = page.next_after
        assert paged == order, sort
    desc = await indexed.search(
        carePlans(sort=(SortKey("title", True, "string"),)), Page(count=3), ALL
    )
    assert [r.id for r in desc.rows] == ["c5", "c4", "c3"]


async def test_keyset_paging_is_stable_while_rows_are_added(indexed: Store) -> None:
    first = await indexed.search(carePlans(), Page(count=3), ALL)
    await put(indexed, "CarePlan", "late", compartment="p1")
    await put(indexed, "CarePlan", "c0", compartment="p1")  # an update keeps its place
    rest = await indexed.search(carePlans(), Page(count=100, after=first.next_after), ALL)
    seen = [r.id for r in first.rows] + [r.id for r in rest.rows]
    assert seen == ["c0", "c1", "c2", "c3", "c4", "c5", "late"]


async def test_total_counts_all_matches_not_the_page(indexed: Store) -> None:
    page = await indexed.search(carePlans(), Page(count=2), ALL, total=True)
    assert page.total == 6 and len(page.rows) == 2
    assert await indexed.count(carePlans(), ALL) == 6


async def test_include_and_revinclude(indexed: Store) -> None:
    included = await indexed.include([("CarePlan", "c0"), ("CarePlan", "c1")], "patient", None, ALL)
    assert sorted(v.id for v in included) == ["p1", "p2"]
    typed = await indexed.include([("CarePlan", "c0")], "patient", "Practitioner", ALL)
    assert typed == []
    rev = await indexed.revinclude([("Patient", "p1")], "CarePlan", "patient", ALL)
    assert sorted(v.id for v in rev) == ["c0", "c2", "c4"]


# --------------------------------------------------------------------------- access constraints

CONSTRAINTS = {
    "nothing": AccessConstraint(grants=()),
    "everything": ALL,
    "client p1": AccessConstraint((Grant(compartments=frozenset({"p1"}), include_shared=False),)),
    "p1 care plans": AccessConstraint(
        (
            Grant(
                compartments=frozenset({"p1"}), types=frozenset({"CarePlan"}), include_shared=False
            ),
        )
    ),
    "p1 but c2": AccessConstraint(
        (
            Grant(
                compartments=frozenset({"p1"}),
                exclude=frozenset({("CarePlan", "c2")}),
                include_shared=False,
            ),
        )
    ),
    "one resource": AccessConstraint((Grant(resources=frozenset({("CarePlan", "c3")})),)),
    "shared only": AccessConstraint((Grant(compartments=frozenset(), include_shared=True),)),
    "p2 or shared": AccessConstraint((Grant(compartments=frozenset({"p2"})),)),
}


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
async def test_query_filter_agrees_with_in_memory_check(indexed: Store, name: str) -> None:
    """The adapter's query and AccessConstraint.allows must decide every row the same way."""
    await put(indexed, "Organization", "org", compartment=None)
    access = CONSTRAINTS[name]
    everything = await indexed.search(
        SearchQuery(("CarePlan", "Patient", "Organization")), Page(count=100), ALL
    )
    expected = sorted(r.id for r in everything.rows if access.allows(r.type, r.id, r.compartment))
    visible = await indexed.search(
        SearchQuery(("CarePlan", "Patient", "Organization")), Page(count=100), access, total=True
    )
    assert sorted(r.id for r in visible.rows) == expected
    assert visible.total == len(expected)
    for r in everything.rows:
        shown = await indexed.read(r.type, r.id, access)
        assert (shown is not None) == (r.id in expected), (name, r.id)
        assert (await indexed.read_version(r.type, r.id, 1, access) is not None) == (
            r.id in expected
        )
    hist = await indexed.history(HistoryQuery(), 100, access, total=True)
    assert sorted({v.id for v in hist.rows}) == expected
    assert hist.total == len(expected)


async def test_hidden_targets_and_sources_do_not_leak_through_chain_has_include(
    indexed: Store,
) -> None:
    only_care_plans = CONSTRAINTS["p1 care plans"]
    chain = ChainCriterion("patient", "Patient", StringCriterion("name", ("jan",)))
    # The Patient is not visible, so the chain cannot be used to test its name.
    assert await ids(indexed, carePlans(chain), only_care_plans) == []
    has = HasCriterion("CarePlan", "patient", IdCriterion(("c1",)))
    assert await ids(indexed, SearchQuery(("Patient",), (has,)), CONSTRAINTS["client p1"]) == []
    assert await indexed.include([("CarePlan", "c0")], "patient", None, only_care_plans) == []
    rev = await indexed.revinclude(
        [("Patient", "p1")], "CarePlan", "patient", CONSTRAINTS["p1 but c2"]
    )
    assert sorted(v.id for v in rev) == ["c0", "c4"]
    assert await indexed.existing([("CarePlan", "c1"), ("CarePlan", "c0")], only_care_plans) == {
        ("CarePlan", "c0")
    }


async def test_many_keys_in_one_call(store: Store) -> None:
    async with store.transaction() as tx:
        for i in range(900):
            await tx.write(NewVersion("Goal", f"g{i}", 1, "POST", body("Goal", f"g{i}"), None))
    keys = [("Goal", f"g{i}") for i in range(1000)]
    assert len(await store.existing(keys, ALL)) == 900
    assert list(itertools.islice(sorted(await store.existing(keys[:3], ALL)), 3)) == sorted(
        keys[:3]
    )


# --------------------------------------------------------------------------- audit log

from zorgleefplan.store.model import AuditRow  # noqa: E402  (the audit section came later)


def _audit(id_: str, patient: str | None, recorded: int) -> AuditRow:
    body = f'{{"resourceType":"AuditEvent","id":"{id_}"}}'.encode()
    return AuditRow(id=id_, recorded=recorded, patient=patient, body=body)


async def test_audit_rows_append_and_read_back_by_id(store: Store) -> None:
    async with store.transaction() as tx:
        tx.append_audit([_audit("a1", "p1", 10), _audit("a2", None, 11)])
    first = await store.audit_read("a1")
    assert first is not None
    assert (first.id, first.patient, first.recorded) == ("a1", "p1", 10)
    assert first.body == _audit("a1", "p1", 10).body and first.seq > 0
    other = await store.audit_read("a2")
    assert other is not None and other.patient is None and other.seq > first.seq
    assert await store.audit_read("missing") is None


async def test_audit_rows_join_a_transaction_with_writes_and_roll_back_with_it(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        tx.append_audit([_audit("with-goal", "p1", 1)])
        await tx.write(NewVersion("Goal", "g1", 1, "POST", body("Goal", "g1"), "p1"))
    assert await store.audit_read("with-goal") is not None
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            tx.append_audit([_audit("rolled-back", "p1", 2)])
            await tx.read("Goal", "g1", ALL)  # flushes the buffered row into the savepoint
            raise RuntimeError("abort")
    assert await store.audit_read("rolled-back") is None


async def test_audit_pages_newest_first_without_gaps_and_only_one_patient(store: Store) -> None:
    for i in range(7):
        async with store.transaction() as tx:
            tx.append_audit([_audit(f"mine{i}", "p1", 100 + i), _audit(f"theirs{i}", "p2", 100)])
    async with store.transaction() as tx:
        tx.append_audit([_audit("nobody", None, 1)])
    seen: list[str] = []
    before = None
    pages = 0
    while True:
        rows, before = await store.audit_page("p1", before, 3)
        pages += 1
        assert all(r.patient == "p1" for r in rows)
        seen.extend(r.id for r in rows)
        if before is None:
            break
    assert seen == [f"mine{i}" for i in reversed(range(7))]
    assert pages == 3
    rows, cursor = await store.audit_page("p2", None, 100)
    assert [r.id for r in rows] == [f"theirs{i}" for i in reversed(range(7))] and cursor is None
    assert await store.audit_page("p3", None, 10) == ((), None)


async def test_audit_purge_honours_the_cutoff(store: Store) -> None:
    async with store.transaction() as tx:
        tx.append_audit([_audit(f"r{i}", "p1", i * 10) for i in range(5)])
    assert await store.purge_audit(20) == 2  # recorded 0 and 10; 20 itself stays
    rows, _ = await store.audit_page("p1", None, 10)
    assert [r.id for r in rows] == ["r4", "r3", "r2"]
    assert await store.audit_read("r1") is None and await store.audit_read("r2") is not None
    assert await store.purge_audit(0) == 0


# --------------------------------------------------------------------------- erasure

from zorgleefplan.errors import Conflict  # noqa: E402  (the erasure section came later)


def _goal_index(text: str, patient: str) -> IndexValues:
    return IndexValues(
        tokens=(TokenIndex("lifecycle-status", None, "active"),),
        strings=(StringIndex("description", text, text),),
        references=(ReferenceIndex("patient", "Patient", patient),),
        dates=(DateIndex("start-date", DAY, 2 * DAY),),
        quantities=(QuantityIndex("target-quantity", 1.0, 0.5, 1.5, None, "kg", "kg"),),
        numbers=(NumberIndex("rank", 1.0, 0.5, 1.5),),
        uris=(UriIndex("instantiates", f"http://x.org/{text}"),),
    )


@pytest.fixture
async def two_plans(store: Store) -> Store:
    """p1's plan (several versions, a deletion, Provenance) beside p2's and shared data that
    refer into it; p2's Goal "mover" was p1's in its first version."""
    for patient in ("p1", "p2"):
        await put(store, "Patient", patient, compartment=patient)
    await put(store, "Goal", "g1", compartment="p1", index=_goal_index("wandelen", "p1"))
    await put(store, "Goal", "g1", compartment="p1", index=_goal_index("fietsen", "p1"))
    await put(store, "Goal", "gone", compartment="p1", index=_goal_index("zwemmen", "p1"))
    await put(store, "Goal", "gone", compartment="p1", delete=True)
    await put(store, "Provenance", "prov1", compartment="p1")
    await put(store, "Goal", "mover", compartment="p1", index=_goal_index("lopen", "p1"))
    await put(store, "Goal", "mover", compartment="p2", index=_goal_index("lopen", "p2"))
    await put(store, "Goal", "g2", compartment="p2", index=_goal_index("tuinieren", "p2"))
    await put(
        store,
        "Communication",
        "c2",
        compartment="p2",
        index=IndexValues(references=(ReferenceIndex("about", "Goal", "g1"),)),
    )
    await put(
        store,
        "Organization",
        "org",
        index=IndexValues(references=(ReferenceIndex("endpoint", "Patient", "p1"),)),
    )
    async with store.transaction() as tx:
        tx.append_audit([_audit("seen-p1", "p1", 5)])
    return store


P1_KEYS = [("Patient", "p1"), ("Goal", "g1"), ("Goal", "gone"), ("Provenance", "prov1")]


async def test_erasure_removes_every_version_of_the_compartment_and_counts_it(
    two_plans: Store,
) -> None:
    store = two_plans
    async with store.transaction() as tx:
        erased = await tx.erase_compartment("p1")
    # "mover" is not gone: only its first version, which was p1's.
    assert erased.resources == (("Goal", 2), ("Patient", 1), ("Provenance", 1))
    assert erased.versions == 7 and erased.total == 4
    for type_, id_ in P1_KEYS:
        assert await store.read(type_, id_, ALL) is None, id_
        assert await store.read_version(type_, id_, 1, ALL) is None, id_
    assert await store.existing(P1_KEYS, ALL) == set()
    everything = SearchQuery(("Patient", "Goal", "Provenance", "Communication", "Organization"))
    assert sorted(await ids(store, everything)) == ["c2", "g2", "mover", "org", "p2"]
    assert await store.count(SearchQuery(("Goal",)), ALL) == 2
    history = await store.history(HistoryQuery(), 100, ALL, total=True)
    assert {(v.type, v.id, v.version) for v in history.rows} == {
        ("Patient", "p2", 1),
        ("Goal", "mover", 2),  # its first version was p1's: gone with the plan
        ("Goal", "g2", 1),
        ("Communication", "c2", 1),
        ("Organization", "org", 1),
    }
    assert history.total == 5
    assert (await store.history(HistoryQuery(type="Goal", id="g1"), 10, ALL)).rows == ()


async def test_erasure_leaves_other_plans_shared_data_and_the_audit_log(two_plans: Store) -> None:
    store = two_plans
    async with store.transaction() as tx:
        await tx.erase_compartment("p1")
    mover = await store.read("Goal", "mover", ALL)
    assert mover is not None and (mover.version, mover.compartment) == (2, "p2")
    # References into the erased plan dangle; they no longer lead anywhere.
    assert await store.include([("Communication", "c2")], "about", None, ALL) == []
    assert await store.include([("Organization", "org")], "endpoint", None, ALL) == []
    assert await store.revinclude([("Patient", "p1")], "Goal", "patient", ALL) == []
    assert [v.id for v in await store.revinclude([("Goal", "g1")], "Communication", "about", ALL)]
    rows, _ = await store.audit_page("p1", None, 10)
    assert [r.id for r in rows] == ["seen-p1"]


async def test_erased_index_values_match_nothing_not_even_a_later_resource(
    two_plans: Store,
) -> None:
    store = two_plans
    await put(store, "Goal", "last", compartment="p1", index=_goal_index("klimmen", "p1"))
    async with store.transaction() as tx:
        await tx.erase_compartment("p1")
    # Written after the erasure, possibly into the place the erased rows held.
    for i in range(3):
        await put(store, "Goal", f"later{i}", compartment="p2")
    criteria: list[object] = [
        StringCriterion("description", ("fietsen",)),
        StringCriterion("description", ("zwemmen",)),
        StringCriterion("description", ("klimmen",)),
        ReferenceCriterion("patient", (ReferenceMatch("Patient", "p1"),)),
        DateCriterion("start-date", (RangeMatch("eq", DAY, 2 * DAY),)),
        QuantityCriterion(
            "target-quantity", (QuantityMatch(RangeMatch("eq", 0.5, 1.5), None, "kg"),)
        ),
        NumberCriterion("rank", (RangeMatch("eq", 0.5, 1.5),)),
        UriCriterion("instantiates", ("http://x.org/klimmen",)),
    ]
    for criterion in criteria:
        found = await ids(store, SearchQuery(("Goal",), (criterion,)))  # type: ignore[arg-type]
        assert set(found) <= {"mover", "g2"}, criterion
        assert not set(found) & {"g1", "gone", "last", "later0", "later1", "later2"}, criterion
    status = TokenCriterion("lifecycle-status", (TokenMatch(None, "active"),))
    assert sorted(await ids(store, SearchQuery(("Goal",), (status,)))) == ["g2", "mover"]
    has = HasCriterion("Goal", "patient", StringCriterion("description", ("fiets",)))
    assert await ids(store, SearchQuery(("Patient",), (has,))) == []


async def test_erased_ids_are_never_used_again(two_plans: Store) -> None:
    store = two_plans
    async with store.transaction() as tx:
        await tx.erase_compartment("p1")
    for type_, id_ in P1_KEYS:
        with pytest.raises(Conflict):
            await put(store, type_, id_, compartment="p1", version=1)
        assert await store.read(type_, id_, ALL) is None
    # Other ids, in the same compartment too, are free; a moved resource's id is still in use.
    await put(store, "Patient", "p1-new", compartment="p1-new")
    await put(store, "Goal", "fresh", compartment="p1")
    await put(store, "Goal", "mover", compartment="p2")
    assert (await store.read("Goal", "mover", ALL)).version == 3  # type: ignore[union-attr]


async def test_an_erasure_rolls_back_with_its_transaction(two_plans: Store) -> None:
    store = two_plans
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            assert (await tx.erase_compartment("p1")).total == 4
            assert await tx.read("Goal", "g1", ALL) is None  # gone inside
            raise RuntimeError("abort")
    assert await store.existing(P1_KEYS, ALL) == {
        ("Patient", "p1"),
        ("Goal", "g1"),
        ("Provenance", "prov1"),
    }
    g1 = await store.read("Goal", "g1", ALL)
    assert g1 is not None and g1.version == 2
    await put(store, "Goal", "g1", compartment="p1")  # the id was not retired


async def test_erasing_an_unknown_compartment_removes_nothing(two_plans: Store) -> None:
    store = two_plans
    async with store.transaction() as tx:
        erased = await tx.erase_compartment("nobody")
    assert (erased.resources, erased.versions, erased.total) == ((), 0, 0)
    assert len(await store.existing(P1_KEYS, ALL)) == 3


async def test_the_erasure_and_its_audit_record_commit_together(two_plans: Store) -> None:
    store = two_plans
    async with store.transaction() as tx:
        erased = await tx.erase_compartment("p1")
        tx.append_audit([_audit("erased-p1", "p1", 6)])
    assert erased.total == 4
    rows, _ = await store.audit_page("p1", None, 10)
    assert [r.id for r in rows] == ["erased-p1", "seen-p1"]
