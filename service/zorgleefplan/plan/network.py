"""The plan network: a CarePlan and everything its who-is-who and its checklist read.

Loaded only through the caller's reader (the request's Repository), so the access constraint
sits in every query: what the caller may not see is simply not in the network. Loading takes a
fixed number of searches, not a read per reference: the client's CareTeams, Consents,
RelatedPersons and workflow Tasks by client, then the referenced resources in rounds, one
``_id`` search per type and round, then what records the handovers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import orjson

from zorgleefplan.access.engine import COMPARTMENT_TYPES
from zorgleefplan.plan import codes
from zorgleefplan.plan.values import Json, has_code, references
from zorgleefplan.store.model import (
    AccessConstraint,
    AnyOf,
    Criterion,
    IdCriterion,
    Page,
    ReferenceCriterion,
    ReferenceMatch,
    SearchPage,
    SearchQuery,
    StoredVersion,
    TokenCriterion,
    TokenMatch,
)


class PlanReader(Protocol):
    """What loading needs of the caller's Repository (fhir/repository.py)."""

    access: AccessConstraint

    async def read(self, type_: str, id_: str) -> StoredVersion:
        """The current version; raises ResourceNotFound/ResourceGone as a read does."""
        ...

    async def search(
        self, query: SearchQuery, page: Page, *, total: bool = False
    ) -> SearchPage: ...


# The references followed from each type, as element paths ("extension:<url>" selects an
# extension). What is referenced and visible joins the network; the rest stays out.
FOLLOW: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "CarePlan": (
        ("subject",),
        ("careTeam",),
        ("goal",),
        ("author",),
        ("contributor",),
        ("activity", "reference"),
        ("activity", "detail", "performer"),
        ("activity", "detail", "goal"),
        ("activity", f"extension:{codes.EXT_RESPONSIBLE}", "valueReference"),
        (
            f"extension:{codes.EXT_VOLMACHT}",
            f"extension:{codes.VOLMACHT_CONSENT}",
            "valueReference",
        ),
    ),
    "CareTeam": (("participant", "member"), ("participant", "onBehalfOf")),
    "Task": (
        ("owner",),
        ("requester",),
        ("input", "valueReference"),
        (f"extension:{codes.EXT_RESPONSIBLE}", "valueReference"),
    ),
    "Consent": (("provision", "actor", "reference"),),
    "PractitionerRole": (("practitioner",), ("organization",)),
}
# Types whose references are resolved (the who-is-who is made of these).
RESOLVED_TYPES = frozenset(
    {
        "CareTeam",
        "Consent",
        "Goal",
        "Organization",
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "RelatedPerson",
        "Task",
    }
)
_ROUNDS = 4  # plan -> team -> role -> practitioner/organisation
_BATCH = 500  # rows per page and ids per _id search


@dataclass(frozen=True)
class PlanNetwork:
    """A plan and the visible resources around it, as JSON keyed by ``Type/id``."""

    plan: Json
    client: str | None  # the Patient id whose compartment holds the plan
    now: datetime
    resources: Mapping[str, Json]
    rows: tuple[StoredVersion, ...]  # what was read, for the audit trail
    access: AccessConstraint

    @property
    def plan_reference(self) -> str:
        return f"CarePlan/{self.plan['id']}"

    @property
    def client_reference(self) -> str | None:
        return f"Patient/{self.client}" if self.client else None

    def get(self, ref: str | None) -> Json | None:
        return self.resources.get(ref) if ref else None

    def of_type(self, type_: str) -> list[Json]:
        prefix = type_ + "/"
        return [r for key, r in self.resources.items() if key.startswith(prefix)]

    def sees_all(self, type_: str) -> bool:
        """Whether the caller sees every ``type_`` resource of this plan (so that one not
        found is truly absent), rather than some or none of them."""
        compartment = None if type_ not in COMPARTMENT_TYPES else self.client
        for grant in self.access.grants:
            if compartment is None:
                if not grant.include_shared:
                    continue
            elif grant.compartments is not None and compartment not in grant.compartments:
                continue
            if grant.types is not None and type_ not in grant.types:
                continue
            if grant.resources is not None or any(t == type_ for t, _ in grant.exclude):
                continue
            return True
        return False


async def load_network(reader: PlanReader, careplan_id: str, now: datetime) -> PlanNetwork:
    """The network of ``CarePlan/careplan_id`` as ``reader`` may see it (ResourceNotFound when
    it may not see the plan: the same answer a read gives)."""
    plan_row = await reader.read("CarePlan", careplan_id)
    loader = _Loader(reader)
    loader.add([plan_row])
    client = plan_row.compartment
    if client is not None:
        await loader.search_all(_by_client(client, careplan_id))
    await loader.follow()
    handovers = [
        ("Task", r["id"])
        for r in loader.loaded("Task")
        if has_code(r.get("code"), codes.TASK_SYSTEM, codes.REGIEBEHANDELAAR_OVERDRACHT)
    ]
    if handovers:
        await loader.search_all(_handover_records(handovers))
        await loader.follow()
    return PlanNetwork(
        plan=loader.json[f"CarePlan/{careplan_id}"],
        client=client,
        now=now,
        resources=dict(loader.json),
        rows=tuple(loader.rows),
        access=reader.access,
    )


def _by_client(client: str, careplan_id: str) -> list[SearchQuery]:
    patient = (ReferenceMatch("Patient", client),)
    of_client = ReferenceCriterion("patient", patient)
    tasks: Criterion = AnyOf(
        (
            ReferenceCriterion("based-on", (ReferenceMatch("CarePlan", careplan_id),)),
            TokenCriterion(
                "code", (TokenMatch(codes.TASK_SYSTEM, codes.REGIEBEHANDELAAR_OVERDRACHT),)
            ),
        )
    )
    return [
        SearchQuery(("CareTeam",), (ReferenceCriterion("subject", patient),)),
        SearchQuery(("Consent",), (of_client,)),
        SearchQuery(("RelatedPerson",), (of_client,)),
        SearchQuery(("Task",), (of_client, tasks)),
    ]


def _handover_records(tasks: Sequence[tuple[str, str]]) -> list[SearchQuery]:
    """Who recorded each handover (Provenance) and how the client was told (Communication)."""
    targets = tuple(ReferenceMatch(t, i) for t, i in tasks)
    return [
        # The change of the Task itself, and the handover applied (the Task as its entity).
        SearchQuery(
            ("Provenance",),
            (
                AnyOf(
                    (ReferenceCriterion("target", targets), ReferenceCriterion("entity", targets))
                ),
            ),
        ),
        SearchQuery(
            ("Communication",),
            (
                AnyOf(
                    (
                        ReferenceCriterion("based-on", targets),
                        ReferenceCriterion("part-of", targets),
                    )
                ),
            ),
        ),
    ]


class _Loader:
    """Gathers visible resources; each round resolves the references the last one added."""

    def __init__(self, reader: PlanReader) -> None:
        self._reader = reader
        self.json: dict[str, Json] = {}
        self.rows: list[StoredVersion] = []
        self._fresh: list[str] = []  # keys added since the last round
        self._tried: set[str] = set()  # references looked for (found or not)

    def add(self, rows: Iterable[StoredVersion]) -> None:
        for row in rows:
            key = f"{row.type}/{row.id}"
            if key in self.json or row.body is None:
                continue
            self.json[key] = orjson.loads(row.body)
            self.rows.append(row)
            self._fresh.append(key)
            self._tried.add(key)

    def loaded(self, type_: str) -> list[Json]:
        return [r for k, r in self.json.items() if k.startswith(type_ + "/")]

    async def search_all(self, queries: Sequence[SearchQuery]) -> None:
        # One after another: the reader may be bound to a store transaction (a transaction
        # Bundle entry), which serves one query at a time.
        for query in queries:
            self.add(await self._all(query))

    async def follow(self) -> None:
        for _ in range(_ROUNDS):
            wanted: dict[str, set[str]] = {}
            for key in self._fresh:
                resource = self.json[key]
                for path in FOLLOW.get(key.split("/", 1)[0], ()):
                    for ref in references(resource, path):
                        type_, id_ = ref.split("/", 1)
                        if type_ in RESOLVED_TYPES and ref not in self._tried:
                            self._tried.add(ref)
                            wanted.setdefault(type_, set()).add(id_)
            self._fresh = []
            if not wanted:
                return
            queries = [
                SearchQuery((type_,), (IdCriterion(tuple(chunk)),))
                for type_, ids in sorted(wanted.items())
                for chunk in _chunks(sorted(ids))
            ]
            await self.search_all(queries)

    async def _all(self, query: SearchQuery) -> list[StoredVersion]:
        rows: list[StoredVersion] = []
        after = None
        while True:
            page = await self._reader.search(query, Page(count=_BATCH, after=after))
            rows.extend(page.rows)
            if page.next_after is None:
                return rows
            after = page.next_after


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _BATCH):
        yield ids[start : start + _BATCH]
