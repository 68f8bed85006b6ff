"""Who may see and change what, for one request: the consent engine applied to the store.

``AccessPolicy.decide`` finds the clients whose plans can concern the principal, loads the
resources that govern access to those plans (Consent, CareTeam, RelatedPerson) in one query
(and, for a professional or backend, the handover and complaint Tasks they own), and asks the
pure engine (:mod:`zorgleefplan.access.engine`) per client. The union of the read grants
becomes the request's :class:`AccessConstraint`, which the store applies inside every query; the
loaded facts stay on the decision so that each write is decided without another query. Nothing
is cached across requests: a Consent change counts from the next request.

Which plans can concern a principal:
* a client: their own; a volmacht holder or representative: the client in the token's context;
* a professional or backend: the plans whose Consents name them (their PractitionerRole, the
  Practitioner behind it, their Organization; nested provisions included, through the project
  search parameter ``Consent.provision-actor``), the plans whose CareTeam they take part in, and
  the plans with a handover or complaint Task addressed to them (its owner);
* break-the-glass: a practitioner who names a client with a reason (``emergency_patient``), and
  the clients for whom they opened emergency access within the window (the server records each
  opening as a Communication to the client, see fhir/break_glass.py; that record is the window).
Everyone but the development principal also reads shared directory data (practitioners,
organisations, definitions), which belongs to no client; only the development principal writes it.
A professional's or backend's own Subscriptions live in a compartment of their own
(access/subscriber.py), granted to them alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from zorgleefplan.access import codes
from zorgleefplan.access.engine import (
    DEFAULT_CONFIG,
    Basis,
    EngineConfig,
    ReadDecision,
    WriteAction,
    WriteDecision,
    decide_read,
    decide_write,
)
from zorgleefplan.access.facts import ClientFacts, client_facts
from zorgleefplan.access.principal import Principal
from zorgleefplan.access.subscriber import is_client_compartment, subscriber_compartment
from zorgleefplan.store.model import (
    AccessConstraint,
    DateCriterion,
    Grant,
    Page,
    RangeMatch,
    ReferenceCriterion,
    ReferenceMatch,
    SearchQuery,
    StoredVersion,
    TokenCriterion,
    TokenMatch,
)
from zorgleefplan.store.port import Reader

_UNRESTRICTED = AccessConstraint.unrestricted()
# Resources that belong to no client: visible to every authenticated principal, read-only.
DIRECTORY = Grant(compartments=frozenset(), include_shared=True)
GOVERNING_TYPES = ("Consent", "CareTeam", "RelatedPerson")
_BATCH = 1000  # rows per query page while loading facts
_OTHER_PLAN = "this resource would belong to a plan you may not change"
# The Communication category that records a break-the-glass opening (and notifies the client).
BREAK_GLASS_SYSTEM = "https://zorgleefplan.nl/fhir/CodeSystem/melding"
BREAK_GLASS_CODE = "break-the-glass"


@dataclass(frozen=True)
class AccessDecision:
    """What one principal may do in this request, and why."""

    principal: Principal
    constraint: AccessConstraint
    reads: Mapping[str, ReadDecision] = field(default_factory=dict)  # per client compartment
    facts: Mapping[str, ClientFacts] = field(default_factory=dict)
    acting_as: tuple[str, ...] = ()
    purpose_of_use: tuple[str, ...] = ()
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    config: EngineConfig = DEFAULT_CONFIG
    open_emergencies: frozenset[str] = frozenset()  # clients with a break-the-glass window

    @classmethod
    def unrestricted(cls, principal: Principal) -> AccessDecision:
        return cls(principal, _UNRESTRICTED)

    @property
    def emergency(self) -> bool:
        return any(read.emergency for read in self.reads.values())

    def on_behalf_of(self, compartment: str | None) -> str | None:
        """``Patient/<client>`` when the principal acts as that client's proxy."""
        read = self.reads.get(compartment or "")
        return read.on_behalf_of if read else None

    def basis(self, compartment: str | None) -> tuple[Basis, ...]:
        read = self.reads.get(compartment or "")
        return read.basis if read else ()

    def check_write(
        self,
        action: WriteAction,
        resource: Mapping[str, Any],
        current: Mapping[str, Any] | None,
        compartment: str | None,
    ) -> WriteDecision:
        """May the principal ``action`` this resource of ``compartment``?"""
        if self.constraint.is_unrestricted:
            return WriteDecision(True, (), "")
        if compartment is None:
            return WriteDecision(
                False, (), "shared directory resources cannot be changed with this access"
            )
        if not is_client_compartment(compartment):
            # A subscriber's own compartment: their Subscriptions, nothing else.
            own = compartment == subscriber_compartment(self.principal)
            if own and resource.get("resourceType") == "Subscription":
                return WriteDecision(True, (), "own subscription")
            return WriteDecision(False, (), "this subscription belongs to someone else")
        facts = self.facts.get(compartment)
        if facts is None:
            return WriteDecision(
                False, (), "this resource would belong to a plan you may not change"
            )
        return decide_write(
            self.principal,
            facts,
            self.now,
            action=action,
            resource=resource,
            current=current,
            purpose_of_use=self.purpose_of_use,
            acting_as=self.acting_as,
            config=self.config,
        )


class AccessPolicy:
    """Decides per request over the store's current data (no decision outlives a request)."""

    def __init__(
        self,
        store: Reader,
        config: EngineConfig = DEFAULT_CONFIG,
        *,
        emergency_window: timedelta = timedelta(minutes=60),
    ) -> None:
        self._store = store
        self._config = config
        self._window = emergency_window

    async def decide(
        self,
        principal: Principal,
        *,
        purpose_of_use: Sequence[str] = (),
        emergency_patient: str | None = None,
        now: datetime | None = None,
    ) -> AccessDecision:
        now = now or datetime.now(UTC)
        if principal.kind == "development":
            return AccessDecision.unrestricted(principal)
        if principal.kind == "anonymous":
            return AccessDecision(principal, AccessConstraint(grants=()), now=now)
        acting_as = await self._acting_as(principal)
        matches = _principal_matches(principal, acting_as)
        clients = await self._clients(principal, matches)
        addressed = await self._addressed_tasks(matches)
        clients |= {row.compartment for row in addressed if row.compartment}
        open_emergencies = await self._open_emergencies(principal, now)
        emergencies = open_emergencies | ({emergency_patient} if emergency_patient else set())
        clients |= emergencies
        if principal.kind == "patient":  # their own plan needs no Consent to decide
            facts = {principal.patient: ClientFacts(principal.patient)} if principal.patient else {}
        else:
            facts = await self._facts(clients, addressed)
        reads = {
            client: decide_read(
                principal,
                client_facts_for,
                now,
                emergency_purpose=client in emergencies,
                purpose_of_use=purpose_of_use,
                acting_as=acting_as,
                config=self._config,
            )
            for client, client_facts_for in facts.items()
        }
        grants = [grant for read in reads.values() for grant in read.grants]
        own = subscriber_compartment(principal)
        if not is_client_compartment(own):  # the principal's own Subscriptions
            grants.append(Grant(compartments=frozenset({own}), include_shared=False))
        return AccessDecision(
            principal,
            AccessConstraint(grants=(*grants, DIRECTORY)),
            reads,
            facts,
            acting_as,
            tuple(purpose_of_use),
            now,
            self._config,
            open_emergencies,
        )

    async def _open_emergencies(self, principal: Principal, now: datetime) -> frozenset[str]:
        """Clients for whom this practitioner opened break-the-glass within the window."""
        if principal.kind != "practitioner" or not principal.fhir_user:
            return frozenset()
        since = int((now - self._window).timestamp() * 1_000_000)
        query = SearchQuery(
            ("Communication",),
            (
                TokenCriterion("category", (TokenMatch(BREAK_GLASS_SYSTEM, BREAK_GLASS_CODE),)),
                ReferenceCriterion("sender", (_reference_match(principal.fhir_user),)),
                DateCriterion("sent", (RangeMatch("ge", since, since),)),
            ),
        )
        rows = await self._all(query, _UNRESTRICTED)
        return frozenset(row.compartment for row in rows if row.compartment)

    async def _acting_as(self, principal: Principal) -> tuple[str, ...]:
        """The Practitioner behind a PractitionerRole: Consents may name either."""
        user = principal.fhir_user or ""
        if principal.kind != "practitioner" or not user.startswith("PractitionerRole/"):
            return ()
        role = await self._store.read("PractitionerRole", user.split("/", 1)[1], _UNRESTRICTED)
        if role is None or role.deleted or role.body is None:
            return ()
        practitioner = orjson.loads(role.body).get("practitioner", {})
        reference = practitioner.get("reference") if isinstance(practitioner, dict) else None
        return (reference,) if isinstance(reference, str) else ()

    async def _clients(self, principal: Principal, matches: tuple[ReferenceMatch, ...]) -> set[str]:
        if principal.kind in ("patient", "related-person"):
            return {principal.patient} if principal.patient else set()
        clients: set[str] = set()
        if not matches:
            return clients
        for type_, param in (("Consent", "provision-actor"), ("CareTeam", "participant")):
            query = SearchQuery((type_,), (ReferenceCriterion(param, matches),))
            clients |= {row.compartment for row in await self._all(query, _UNRESTRICTED)}
        clients.discard(None)  # type: ignore[arg-type]
        return clients

    async def _addressed_tasks(self, matches: tuple[ReferenceMatch, ...]) -> list[StoredVersion]:
        """The handover and complaint Tasks the principal owns, in every plan."""
        if not matches:
            return []
        workflow = tuple(
            TokenMatch(codes.WORKFLOW_TASK_SYSTEM, code) for code in codes.ADDRESSED_TASK_CODES
        )
        query = SearchQuery(
            ("Task",),
            (ReferenceCriterion("owner", matches), TokenCriterion("code", workflow)),
        )
        return await self._all(query, _UNRESTRICTED)

    async def _facts(
        self, clients: Iterable[str], tasks: Iterable[StoredVersion] = ()
    ) -> dict[str, ClientFacts]:
        """The governing resources of each client's compartment, in one query; ``tasks`` are
        the workflow Tasks addressed to the principal."""
        wanted = frozenset(clients)
        if not wanted:
            return {}
        access = AccessConstraint(grants=(Grant(compartments=wanted, include_shared=False),))
        found: dict[str, dict[str, list[Any]]] = {
            c: {t: [] for t in (*GOVERNING_TYPES, "Task")} for c in wanted
        }
        for row in (*await self._all(SearchQuery(GOVERNING_TYPES), access), *tasks):
            if row.compartment in found and row.body is not None:
                found[row.compartment][row.type].append(orjson.loads(row.body))
        return {
            client: client_facts(
                client, by["Consent"], by["CareTeam"], by["RelatedPerson"], by["Task"]
            )
            for client, by in found.items()
        }

    async def _all(self, query: SearchQuery, access: AccessConstraint) -> list[StoredVersion]:
        rows: list[StoredVersion] = []
        after = None
        while True:
            page = await self._store.search(query, Page(count=_BATCH, after=after), access)
            rows.extend(page.rows)
            if page.next_after is None:
                return rows
            after = page.next_after


def _principal_matches(
    principal: Principal, acting_as: Sequence[str]
) -> tuple[ReferenceMatch, ...]:
    """Whom a plan can name to concern a professional or backend (a client or proxy is
    concerned by the plan in their token's context only)."""
    if principal.kind not in ("practitioner", "system"):
        return ()
    refs = [r for r in (principal.fhir_user, principal.organization, *acting_as) if r]
    return tuple(_reference_match(r) for r in refs)


def _reference_match(reference: str) -> ReferenceMatch:
    type_, _, id_ = reference.partition("/")
    return ReferenceMatch(type_, id_)
