"""The consent policy engine: what one principal may read and write in one client's plan, and why.

Pure: a :class:`~zorgleefplan.access.principal.Principal`, the client's governing resources
(:class:`~zorgleefplan.access.facts.ClientFacts`) and the current time go in; a frozen decision
comes out. No store, no HTTP, no clock. Read decisions are :class:`Grant` s for the client's
compartment (``include_shared`` is always False: directory data is the caller's business), so the
store can put them into its query; write decisions are yes/no for one resource.

Who gets what (issue 4; choices where it is silent are marked *choice*):

* **The client** (``patient`` principal whose ``patient`` — and ``fhirUser``, when set — is the
  client): the whole compartment, read and write, AuditEvent (their access log) included.
* **Volmacht holder** (``related-person`` principal, ``fhirUser`` ``RelatedPerson/x``): an
  active Consent with scope ``adr``, code VOL (in ``provision.code``; *choice*: also accepted in
  ``category``, where nl-core puts the living-will type), a root ``permit`` provision whose period
  covers now, and an actor with role RESPRSN referencing ``RelatedPerson/x``; the RelatedPerson
  must be the client's, not ``active: false`` and within its period. Then like the client, with
  ``on_behalf_of`` the client.
* **Legal representative**: the client's RelatedPerson ``x`` with ``active: true`` (*choice*:
  explicitly true — the registration alone is the authority), period covering now and a
  relationship code 03 curator, 15 mentor or 24 wettelijke vertegenwoordiger: like the client
  for the care plan. 14 bewindvoerder is financial only: nothing.
* Proxies may not write (*choice*, against self-escalation): any Consent with scope ``adr``
  (a wilsverklaring, among them the volmacht, is the client's own declaration; giving a volmacht
  on someone's behalf is not theirs to do), their own RelatedPerson, any RelatedPerson carrying a
  legal role code, nor delete the Patient (ending the plan is the client's decision; a legal
  representative does it through the erasure, below). One exception:
  a holder may **renounce their own volmacht** (art. 3:72 sub c BW, *opzegging door de
  gevolmachtigde*): an update that only sets its ``status`` to ``inactive``.
* **Professionals** (``practitioner`` principal: ``fhirUser`` Practitioner or PractitionerRole,
  ``organization``) and **backends** (``system`` principal acting for ``organization``): nothing
  unless the client's active ``patient-privacy`` Consents permit. Provisions match on actor
  (Practitioner, PractitionerRole, Organization — every practitioner and backend of it — or
  CareTeam: an active participant of the client's active CareTeam, ``onBehalfOf`` agreeing with the
  principal's organisation when both are known), action, class, data, period and purpose. Nested
  provisions are exceptions to their parent for what they match (they inherit the parent's
  conditions; a missing nested type is the opposite of the parent's). Across all provisions of all
  Consents, **deny wins** over permit.
  Actions (*choice*): ``access`` = read, vread, search, history; ``correct`` = update and create;
  a create or update still touches only the professional's own records (below). Professionals
  never delete (they mark a record ``entered-in-error``).
  A provision without class covers the compartment types except AuditEvent and Provenance
  (Provenance only when named as class); AuditEvent is never visible to a professional.
* **Regiebehandelaar**: a Practitioner/PractitionerRole participant of the client's active
  CareTeam with role ``zorgleefplan-rol#regiebehandelaar`` whose period covers now. Standing read
  of :data:`REGIEBEHANDELAAR_READ_TYPES` (the plan and its care network) plus the client's active
  advance directives (the volmacht among them: the plan says who holds it) but not the access
  Consents; standing write of CarePlan (create, update) and Task (create, update, assign). Bounded
  only by deny provisions that **name** the actor (directly, through their organisation or a care
  team they are in), not by a general opt-out: the designation is itself the client's decision.
  Who designates (the client or their proxy, or an accepted handover) follows from the CareTeam
  rule below and is stated again, with the handover, in ``plan/care_team.py``.
* **Addressee of a workflow Task**: the owner (Practitioner, PractitionerRole, or Organization:
  its practitioners and backends) of a regiebehandelaar handover or complaint Task
  (``zorgleefplan-taak``) of this client reads and updates that one Task — the professional
  asked to take over as regiebehandelaar, the provider a complaint is forwarded to — and nothing
  else of the plan; what they may change in it is the plan's rule (``plan/handover.py``,
  ``plan/complaint.py``). Bounded, like the regiebehandelaar, by deny provisions naming them.
* **Writes by a professional** also need ownership: a CarePlan only as regiebehandelaar, as its
  author, or when the change touches only activities they perform
  (:func:`careplan_change_within_own_activities`); a Task only as regiebehandelaar or when they
  (or their organisation) are owner or requester before and after; any other resource only when
  its author/recorder/asserter/sender/expressedBy is them (or their organisation: the
  organisation keeps the record) before and after. Consent, CareTeam, RelatedPerson and Patient
  (the resources that decide access) only by the client or their proxy; AuditEvent and Provenance
  only by the server.
* **Erasure of the whole plan** (vernietiging, WGBO art. 7:455; :func:`decide_erasure`): the
  client, or their legal representative (curator, mentor, wettelijk vertegenwoordiger: for a
  client who cannot weigh their interests they exercise the client's WGBO rights, art. 7:465
  lid 3), never a volmacht holder (*choice*: the plan's volmacht is a general one, and a general
  volmacht covers only daden van beheer, art. 3:62 BW; destroying the plan, the volmacht and
  the record of the holder's own acts with it, is irreversible and no act of management), nor
  a professional or backend.
* **Break-the-glass**: a ``practitioner`` principal (not a backend: a system cannot weigh a vital
  interest) asking with ``emergency_purpose`` gets read access to ``emergency_types`` plus the
  client's active advance directives, minus deny provisions naming the actor (for purpose ETREAT or
  without purpose). The decision is flagged ``emergency`` for audit and notification.

What cannot be read precisely is read safely: a permit provision is narrowed (data with meaning
``related``/``dependents``/``authoredby`` counts as the instance only; an unknown class or action,
or an actor without a literal reference, matches nothing), a deny provision is widened (such data,
class or actor covers everything the provision otherwise matches). A deny with a purpose applies
also to requests that declare no purpose. An unreadable active Consent that says ``deny``
somewhere withholds every consent and regiebehandelaar permit of that client (break-the-glass
remains). Scopes of the token are not checked here: the caller intersects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from zorgleefplan.access import codes
from zorgleefplan.access.facts import (
    CareTeam,
    ClientFacts,
    Consent,
    Provision,
    normalize_reference,
    parse_consent,
)
from zorgleefplan.access.principal import Principal
from zorgleefplan.store.model import AccessConstraint, Grant

BasisKind = Literal[
    "own-plan",
    "volmacht",
    "representative",
    "consent",
    "regiebehandelaar",
    "addressed-task",
    "break-the-glass",
]
WriteAction = Literal["create", "update", "delete"]
Pair = tuple[str, str]

COMPARTMENT_TYPES = frozenset(
    {
        "AuditEvent",
        "CarePlan",
        "CareTeam",
        "Communication",
        "Condition",
        "Consent",
        "Goal",
        "Patient",
        "Provenance",
        "RelatedPerson",
        "Task",
    }
)
REGIEBEHANDELAAR_READ_TYPES = frozenset(
    {"CarePlan", "CareTeam", "Goal", "Task", "Condition", "Communication", "RelatedPerson"}
    | {"Patient"}
)
REGIEBEHANDELAAR_WRITE_TYPES = frozenset({"CarePlan", "Task"})
EMERGENCY_TYPES = frozenset(
    {"Patient", "Condition", "CarePlan", "CareTeam", "Goal", "RelatedPerson"}
)
GOVERNING_TYPES = frozenset({"Consent", "CareTeam", "RelatedPerson", "Patient"})
SERVER_ONLY_TYPES = frozenset({"AuditEvent", "Provenance"})
OWN_RECORD_FIELDS = ("author", "recorder", "asserter", "sender", "expressedBy")

_ACTION_SYSTEMS = (None, codes.CONSENT_ACTION_SYSTEM)
_REASON_SYSTEMS = (None, codes.ACT_REASON_SYSTEM)
_TYPE_SYSTEMS = (None, codes.RESOURCE_TYPES_SYSTEM)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    compartment_types: frozenset[str] = COMPARTMENT_TYPES
    emergency_types: frozenset[str] = EMERGENCY_TYPES
    regiebehandelaar_read_types: frozenset[str] = REGIEBEHANDELAAR_READ_TYPES
    regiebehandelaar_write_types: frozenset[str] = REGIEBEHANDELAAR_WRITE_TYPES

    @property
    def professional_types(self) -> frozenset[str]:
        """What a provision without class covers for a professional."""
        return self.compartment_types - SERVER_ONLY_TYPES


DEFAULT_CONFIG = EngineConfig()


@dataclass(frozen=True, slots=True)
class Basis:
    """One reason in a decision: its kind, the resource that carries it (``Consent/1``,
    ``CareTeam/2``, ``RelatedPerson/3``, ``Patient/4``) and, for a Consent, the provision path
    (``provision``, ``provision.provision[0]``)."""

    kind: BasisKind
    reference: str | None
    path: str | None = None
    effect: Literal["permit", "deny"] = "permit"


@dataclass(frozen=True, slots=True)
class ReadDecision:
    grants: tuple[Grant, ...]
    basis: tuple[Basis, ...] = ()
    on_behalf_of: str | None = None  # "Patient/<client>" when a proxy acts
    emergency: bool = False  # break-the-glass contributed: audit and notify

    @property
    def allowed(self) -> bool:
        return bool(self.grants)

    def allows(self, type_: str, id_: str) -> bool:
        """Whether one resource of this client is readable: the store's own in-memory check
        of the grants (each grant names the client's compartment)."""
        access = AccessConstraint(self.grants)
        clients = {c for g in self.grants for c in (g.compartments or ())}
        return any(access.allows(type_, id_, client) for client in clients)


@dataclass(frozen=True, slots=True)
class WriteDecision:
    allowed: bool
    basis: tuple[Basis, ...]
    reason: str  # plain, reveals nothing about data the principal cannot see
    on_behalf_of: str | None = None


NOTHING = ReadDecision(grants=())


# --------------------------------------------------------------------------- regions
# A set of resources of one compartment: whole types minus some ids, plus single resources.


@dataclass(slots=True)
class _Region:
    types: dict[str, set[str]] = field(default_factory=dict)  # type -> excluded ids
    instances: set[Pair] = field(default_factory=set)

    @classmethod
    def of(cls, types: frozenset[str], instances: frozenset[Pair] | None) -> _Region:
        if instances is None:
            return cls({t: set() for t in types})
        return cls({}, {r for r in instances if r[0] in types})

    def empty(self) -> bool:
        return not self.types and not self.instances

    def contains(self, type_: str, id_: str | None) -> bool:
        excluded = self.types.get(type_)
        if excluded is not None and (id_ is None or id_ not in excluded):
            return True
        return id_ is not None and (type_, id_) in self.instances

    def remove_scope(self, types: frozenset[str], instances: frozenset[Pair] | None) -> None:
        if instances is None:
            for t in types:
                self.types.pop(t, None)
            self.instances = {r for r in self.instances if r[0] not in types}
            return
        for r in instances:
            if r[0] in types:
                if r[0] in self.types:
                    self.types[r[0]].add(r[1])
                self.instances.discard(r)

    def add(self, other: _Region) -> None:
        for t, excluded in other.types.items():
            mine = self.types.get(t)
            self.types[t] = set(excluded) if mine is None else mine & excluded
        self.instances |= other.instances
        for r in [r for r in self.instances if r[0] in self.types]:
            self.types[r[0]].discard(r[1])
            self.instances.discard(r)

    def subtract(self, other: _Region) -> None:
        if other.empty():
            return
        for t in list(self.types):
            if t in other.types:
                kept = other.types[t] - self.types.pop(t)
                self.instances |= {(t, i) for i in kept if (t, i) not in other.instances}
            else:
                self.types[t] |= {i for tt, i in other.instances if tt == t}
        self.instances = {
            r
            for r in self.instances
            if r not in other.instances
            and not (r[0] in other.types and r[1] not in other.types[r[0]])
        }

    def restricted_to(self, types: frozenset[str]) -> _Region:
        return _Region(
            {t: set(e) for t, e in self.types.items() if t in types},
            {r for r in self.instances if r[0] in types},
        )

    def grants(self, client: str) -> tuple[Grant, ...]:
        compartments = frozenset({client})
        out: list[Grant] = []
        if self.types:
            out.append(
                Grant(
                    compartments=compartments,
                    types=frozenset(self.types),
                    exclude=frozenset((t, i) for t, ids in self.types.items() for i in ids),
                    include_shared=False,
                )
            )
        if self.instances:
            out.append(
                Grant(
                    compartments=compartments,
                    resources=frozenset(self.instances),
                    include_shared=False,
                )
            )
        return tuple(out)


# --------------------------------------------------------------------------- who is asking


@dataclass(frozen=True, slots=True)
class _Actor:
    refs: frozenset[str]  # Practitioner/…, PractitionerRole/…, Organization/…
    organization: str | None
    teams: frozenset[str]  # the client's CareTeams the actor is an active member of


def team_active(team: CareTeam, facts: ClientFacts, now: datetime) -> bool:
    return (
        team.status in (None, "active")
        and team.subject == facts.patient_reference
        and team.period.covers(now)
    )


def _actor(
    principal: Principal, facts: ClientFacts, now: datetime, acting_as: Iterable[str]
) -> _Actor:
    refs = {r for r in (normalize_reference(principal.fhir_user),) if r}
    if principal.kind == "system":
        refs.clear()  # a backend acts for its organisation only
    refs |= {r for r in map(normalize_reference, acting_as) if r}
    organization = normalize_reference(principal.organization)
    if organization:
        refs.add(organization)
    teams = set()
    for team in facts.care_teams:
        if not team_active(team, facts, now):
            continue
        for p in team.participants:
            if (
                p.member in refs
                and p.period.covers(now)
                and (
                    p.on_behalf_of is None or organization is None or p.on_behalf_of == organization
                )
            ):
                teams.add(team.reference)
                break
    return _Actor(frozenset(refs), organization, frozenset(teams))


def _regie_designations(actor: _Actor, facts: ClientFacts, now: datetime) -> tuple[str, ...]:
    found = []
    for team in facts.care_teams:
        if not team_active(team, facts, now):
            continue
        for p in team.participants:
            if (
                p.member is not None
                and p.member.split("/", 1)[0] in ("Practitioner", "PractitionerRole")
                and p.member in actor.refs
                and p.period.covers(now)
                and (
                    p.on_behalf_of is None
                    or actor.organization is None
                    or p.on_behalf_of == actor.organization
                )
                and _is_regie_role(p.roles)
            ):
                found.append(team.reference)
                break
    return tuple(found)


def _addressed(actor: _Actor, facts: ClientFacts) -> frozenset[Pair]:
    """The client's handover and complaint Tasks owned by the actor."""
    return frozenset(
        ("Task", t.id)
        for t in facts.tasks
        if t.owner in actor.refs and t.subject == facts.patient_reference
    )


def _is_client(principal: Principal, facts: ClientFacts) -> bool:
    if principal.kind != "patient":
        return False
    user = normalize_reference(principal.fhir_user) if principal.fhir_user else None
    if principal.fhir_user is not None and user != facts.patient_reference:
        return False
    patient = principal.patient if principal.patient is not None else None
    if patient is None and user is not None:
        patient = user.split("/", 1)[1]
    return patient == facts.patient


def is_volmacht(consent: Consent, facts: ClientFacts, holder: str | None, now: datetime) -> bool:
    """An active volmacht Consent of this client (naming ``holder`` when given)."""
    p = consent.provision
    if (
        not consent.valid
        or consent.status != "active"
        or p is None
        or p.type != "permit"
        or not consent.has_scope(codes.SCOPE_ADR)
        or consent.patient not in (None, facts.patient_reference)
        or not p.period.covers(now)
    ):
        return False
    if not any(
        c.code == codes.VOLMACHT and c.system in (None, codes.LIVING_WILL_SYSTEM)
        for c in (*p.codes, *consent.categories)
    ):
        return False
    return any(
        (holder is None or a.reference == holder)
        and any(r.code == codes.RESPRSN and r.system == codes.ROLE_CODE_SYSTEM for r in a.roles)
        for a in p.actors
    )


def _is_regie_role(participant_roles: Iterable[Any]) -> bool:
    return any(
        c.system == codes.ZLP_ROLE_SYSTEM and c.code == codes.REGIEBEHANDELAAR
        for c in participant_roles
    )


def people_to_notify(facts: ClientFacts, now: datetime) -> tuple[str, ...]:
    """Who is told of a break-the-glass access (seed 001: recorded in the client's file and
    made known): the client, their active regiebehandelaar(s) and volmacht holder(s)."""
    now = _now(now)
    found = [facts.patient_reference]
    for team in facts.care_teams:
        if not team_active(team, facts, now):
            continue
        found += [
            p.member
            for p in team.participants
            if p.member is not None and p.period.covers(now) and _is_regie_role(p.roles)
        ]
    for consent in facts.consents:
        if consent.provision is not None and is_volmacht(consent, facts, None, now):
            found += [
                a.reference
                for a in consent.provision.actors
                if a.reference is not None
                and any(
                    r.code == codes.RESPRSN and r.system == codes.ROLE_CODE_SYSTEM for r in a.roles
                )
            ]
    return tuple(dict.fromkeys(found))


def _active_directives(facts: ClientFacts, now: datetime) -> frozenset[Pair]:
    """The client's active advance directives (scope adr), the volmacht among them."""
    return frozenset(
        ("Consent", c.id)
        for c in facts.consents
        if c.valid
        and c.status == "active"
        and c.has_scope(codes.SCOPE_ADR)
        and c.patient in (None, facts.patient_reference)
        and (c.provision is None or c.provision.period.covers(now))
    )


def _proxy_basis(principal: Principal, facts: ClientFacts, now: datetime) -> tuple[Basis, ...]:
    if principal.kind != "related-person":
        return ()
    if principal.patient is not None and principal.patient != facts.patient:
        return ()
    me = normalize_reference(principal.fhir_user)
    if me is None or not me.startswith("RelatedPerson/"):
        return ()
    person = next((r for r in facts.related_persons if r.reference == me), None)
    if (
        person is None
        or person.patient != facts.patient_reference
        or person.active is False
        or not person.period.covers(now)
    ):
        return ()
    out = [
        Basis("volmacht", c.reference, "provision")
        for c in facts.consents
        if is_volmacht(c, facts, me, now)
    ]
    if person.active is True and any(
        c.system == codes.CONTACT_ROLE_SYSTEM and c.code in codes.LEGAL_CARE_ROLES
        for c in person.relationships
    ):
        out.append(Basis("representative", me))
    return tuple(out)


# --------------------------------------------------------------------------- consents


@dataclass(frozen=True, slots=True)
class _Outcome:
    effect: Literal["permit", "deny"]
    region: _Region
    named: bool  # the provision (or an ancestor) names the actor
    consent: str
    path: str


def _codes_hold(
    codings: Iterable[Any], wanted: frozenset[str], systems: tuple[str | None, ...], deny: bool
) -> bool:
    for c in codings:
        if c.system in systems:
            if c.code in wanted:
                return True
        elif deny:  # an unknown code system: a deny is widened
            return True
    return False


def _walk(
    node: Provision,
    *,
    actor: _Actor,
    action: str,
    purposes: frozenset[str],
    now: datetime,
    parent_types: frozenset[str],
    parent_instances: frozenset[Pair] | None,
    parent_named: bool,
    consent: str,
    path: str,
    out: list[_Outcome],
) -> tuple[frozenset[str], frozenset[Pair] | None] | None:
    """Evaluate one provision; append outcomes of it and its subtree; return its scope when it
    applies (for the parent to subtract), None when it does not."""
    deny = node.type == "deny"
    if not node.period.covers(now):
        return None
    named = parent_named
    if node.actors:
        matched = False
        for a in node.actors:
            if a.reference is None:  # named by identifier only: a deny is widened
                matched = matched or deny
                named = named or deny
            elif a.reference in actor.refs or a.reference in actor.teams:
                matched = True
                named = True
        if not matched:
            return None
    if node.actions and not _codes_hold(node.actions, frozenset({action}), _ACTION_SYSTEMS, deny):
        return None
    if node.purposes:
        if purposes:
            if not _codes_hold(node.purposes, purposes, _REASON_SYSTEMS, deny):
                return None
        elif not deny:
            return None
    types = parent_types
    if node.classes:
        known = frozenset(
            c.code for c in node.classes if c.system in _TYPE_SYSTEMS and c.code[:1].isupper()
        )
        unknown = len(known) < len(node.classes)
        if not (deny and unknown):
            types = types & known
    instances = parent_instances
    if node.data:
        refs = []
        widen = False
        for d in node.data:
            if d.reference is None or (d.meaning != "instance"):
                widen = widen or deny
            if d.reference is not None:
                t, _, i = d.reference.partition("/")
                refs.append((t, i))
        if not widen:
            mine = frozenset(refs)
            instances = mine if instances is None else instances & mine
    region = _Region.of(types, instances)
    for index, child in enumerate(node.provisions):
        scope = _walk(
            child,
            actor=actor,
            action=action,
            purposes=purposes,
            now=now,
            parent_types=types,
            parent_instances=instances,
            parent_named=named,
            consent=consent,
            path=f"{path}.provision[{index}]",
            out=out,
        )
        if scope is not None and child.type != node.type:
            region.remove_scope(*scope)
    if not region.empty():
        out.append(_Outcome("deny" if deny else "permit", region, named, consent, path))
    return types, instances


@dataclass(slots=True)
class _Evaluation:
    permits: _Region
    denies: _Region
    named_denies: _Region
    basis: list[Basis]
    poisoned: bool


def _evaluate(
    facts: ClientFacts,
    actor: _Actor,
    action: str,
    purposes: frozenset[str],
    now: datetime,
    config: EngineConfig,
) -> _Evaluation:
    ev = _Evaluation(_Region(), _Region(), _Region(), [], False)
    universe = config.professional_types
    for consent in facts.consents:
        if consent.status != "active":
            continue
        if not consent.valid:
            ev.poisoned = ev.poisoned or consent.has_deny
            continue
        if (
            consent.provision is None
            or not consent.has_scope(codes.SCOPE_PRIVACY)
            or consent.patient not in (None, facts.patient_reference)
        ):
            continue
        outcomes: list[_Outcome] = []
        _walk(
            consent.provision,
            actor=actor,
            action=action,
            purposes=purposes,
            now=now,
            parent_types=universe if not consent.provision.classes else config.compartment_types,
            parent_instances=None,
            parent_named=False,
            consent=consent.reference,
            path="provision",
            out=outcomes,
        )
        for o in outcomes:
            if o.effect == "permit":
                ev.permits.add(o.region)
            else:
                ev.denies.add(o.region)
                if o.named:
                    ev.named_denies.add(o.region)
            ev.basis.append(Basis("consent", o.consent, o.path, o.effect))
    return ev


# --------------------------------------------------------------------------- reading


def _now(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _purposes(purpose_of_use: Iterable[str], emergency: bool) -> frozenset[str]:
    found = frozenset(purpose_of_use)
    return found | {codes.ETREAT} if emergency else found


def decide_read(
    principal: Principal,
    facts: ClientFacts,
    now: datetime,
    *,
    emergency_purpose: bool = False,
    purpose_of_use: Iterable[str] = (),
    acting_as: Iterable[str] = (),
    config: EngineConfig = DEFAULT_CONFIG,
) -> ReadDecision:
    """What ``principal`` may read in the compartment of ``facts.patient``.

    ``purpose_of_use``: v3-ActReason codes the request declares (ETREAT is added by
    ``emergency_purpose``). ``acting_as``: further references the caller resolved for the
    principal (the Practitioner behind a PractitionerRole ``fhirUser``).
    """
    now = _now(now)
    everything = (Grant(compartments=frozenset({facts.patient}), include_shared=False),)
    if _is_client(principal, facts):
        return ReadDecision(everything, (Basis("own-plan", facts.patient_reference),))
    if principal.kind == "related-person":
        basis = _proxy_basis(principal, facts, now)
        if basis:
            return ReadDecision(everything, basis, on_behalf_of=facts.patient_reference)
        return NOTHING
    if principal.kind not in ("practitioner", "system"):
        return NOTHING
    actor = _actor(principal, facts, now, acting_as)
    emergency = emergency_purpose and principal.kind == "practitioner"
    purposes = _purposes(purpose_of_use, emergency)
    regie = _regie_designations(actor, facts, now)
    addressed = _addressed(actor, facts)
    if (
        not regie
        and not emergency
        and not addressed
        and not any(
            c.status == "active" and (not c.valid or c.has_scope(codes.SCOPE_PRIVACY))
            for c in facts.consents
        )
    ):
        return NOTHING  # the common case: a client who shares nothing through access Consents
    ev = _evaluate(facts, actor, codes.ACTION_ACCESS, purposes, now, config)
    result = _Region()
    basis: list[Basis] = []
    if not ev.poisoned:
        permitted = ev.permits
        permitted.subtract(ev.denies)
        result.add(permitted)
        basis.extend(ev.basis)
        if regie:
            standing = _Region.of(config.regiebehandelaar_read_types, None)
            standing.add(_Region.of(frozenset({"Consent"}), _active_directives(facts, now)))
            standing.subtract(ev.named_denies)
            if not standing.empty():
                result.add(standing)
                basis.extend(Basis("regiebehandelaar", ref) for ref in regie)
        if addressed:
            mine = _Region.of(frozenset({"Task"}), addressed)
            mine.subtract(ev.named_denies)
            if not mine.empty():
                result.add(mine)
                basis.extend(Basis("addressed-task", f"{t}/{i}") for t, i in sorted(mine.instances))
    flagged = False
    if emergency:
        glass = _Region.of(config.emergency_types, None)
        glass.add(_Region.of(frozenset({"Consent"}), _active_directives(facts, now)))
        glass.subtract(ev.named_denies)
        if not glass.empty():
            result.add(glass)
            flagged = True
            basis.append(Basis("break-the-glass", facts.patient_reference))
    result = result.restricted_to(config.compartment_types - {"AuditEvent"})
    if result.empty():
        return ReadDecision((), tuple(b for b in basis if b.effect == "deny"))
    return ReadDecision(result.grants(facts.patient), tuple(basis), emergency=flagged)


# --------------------------------------------------------------------------- writing


def _refs_in(value: object) -> set[str]:
    items = value if isinstance(value, list) else [value]
    out = set()
    for item in items:
        if isinstance(item, Mapping):
            ref = normalize_reference(item.get("reference"))
            if ref:
                out.add(ref)
    return out


def _names_any(
    resource: Mapping[str, Any] | None, fields: Iterable[str], ids: frozenset[str]
) -> bool:
    if not isinstance(resource, Mapping):
        return False
    return any(not _refs_in(resource.get(f)).isdisjoint(ids) for f in fields)


def _performs(activity: object, ids: frozenset[str]) -> bool:
    if not isinstance(activity, Mapping):
        return False
    detail = activity.get("detail")
    return isinstance(detail, Mapping) and not _refs_in(detail.get("performer")).isdisjoint(ids)


def careplan_change_within_own_activities(
    old: Mapping[str, Any], new: Mapping[str, Any], ids: Iterable[str]
) -> bool:
    """Whether turning CarePlan ``old`` into ``new`` changes only activities performed by one of
    ``ids`` (``Type/id`` references): everything outside ``activity`` (but ``meta`` and ``text``)
    is equal, and the activities someone else performs are the same, in the same order, before
    and after. Own activities may be changed, added or removed; an activity cannot be taken over
    from or handed to another performer this way."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return False
    ignored = ("activity", "meta", "text")
    if {k: v for k, v in old.items() if k not in ignored} != {
        k: v for k, v in new.items() if k not in ignored
    }:
        return False
    mine = frozenset(ids)
    old_acts = old.get("activity") or []
    new_acts = new.get("activity") or []
    if not isinstance(old_acts, list) or not isinstance(new_acts, list):
        return False
    return [a for a in old_acts if not _performs(a, mine)] == [
        a for a in new_acts if not _performs(a, mine)
    ]


def _is_adr(resource: Mapping[str, Any] | None) -> bool:
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "Consent":
        return False
    scope = resource.get("scope")
    codings = scope.get("coding") if isinstance(scope, Mapping) else None
    if not isinstance(codings, list):
        return True  # unreadable scope: treat as the most protected kind
    return any(isinstance(c, Mapping) and c.get("code") == codes.SCOPE_ADR for c in codings)


def _legal_role(resource: Mapping[str, Any] | None) -> bool:
    if not isinstance(resource, Mapping):
        return False
    for rel in resource.get("relationship") or []:
        if not isinstance(rel, Mapping):
            return True
        for c in rel.get("coding") or []:
            if (
                isinstance(c, Mapping)
                and c.get("system") == codes.CONTACT_ROLE_SYSTEM
                and c.get("code") in (*codes.LEGAL_CARE_ROLES, codes.BEWINDVOERDER)
            ):
                return True
    return False


def _renounces(
    current: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    facts: ClientFacts,
    me: str,
    now: datetime,
) -> bool:
    if current is None:
        return False
    parsed = parse_consent(current)
    if parsed is None or not is_volmacht(parsed, facts, me, now):
        return False
    ignored = ("status", "meta", "text")
    same = {k: v for k, v in current.items() if k not in ignored} == {
        k: v for k, v in new.items() if k not in ignored
    }
    return same and new.get("status") == "inactive"


def _deny(
    reason: str, basis: Iterable[Basis] = (), on_behalf_of: str | None = None
) -> WriteDecision:
    return WriteDecision(False, tuple(basis), reason, on_behalf_of)


_NOT_PERMITTED = "the client has not permitted you to make this change"


def decide_write(
    principal: Principal,
    facts: ClientFacts,
    now: datetime,
    *,
    action: WriteAction,
    resource: Mapping[str, Any],
    current: Mapping[str, Any] | None = None,
    purpose_of_use: Iterable[str] = (),
    acting_as: Iterable[str] = (),
    config: EngineConfig = DEFAULT_CONFIG,
) -> WriteDecision:
    """Whether ``principal`` may ``action`` ``resource`` in the compartment of ``facts.patient``.

    ``resource`` is the new version (for a delete: the resource deleted); ``current`` the stored
    version for an update or delete. The caller has established that the resource belongs to
    this client's compartment and that a hidden ``current`` behaves as absent.
    """
    now = _now(now)
    type_ = resource.get("resourceType") if isinstance(resource, Mapping) else None
    if not isinstance(type_, str) or (current is not None and current.get("resourceType") != type_):
        return _deny("the resource type is missing or does not match")
    id_ = resource.get("id") if action == "create" else (current or resource).get("id")
    id_ = id_ if isinstance(id_, str) else None
    if type_ in SERVER_ONLY_TYPES:
        return _deny(f"{type_} is written by the server only")
    if _is_client(principal, facts):
        return WriteDecision(True, (Basis("own-plan", facts.patient_reference),), "own plan")
    if principal.kind == "related-person":
        return _proxy_write(principal, facts, now, action, type_, resource, current)
    if principal.kind not in ("practitioner", "system"):
        return _deny(_NOT_PERMITTED)
    if action == "delete":
        return _deny("professionals do not delete records; mark them entered-in-error")
    if type_ in GOVERNING_TYPES:
        return _deny(f"only the client or their representative changes {type_}")
    actor = _actor(principal, facts, now, acting_as)
    regie = _regie_designations(actor, facts, now)
    purposes = frozenset(purpose_of_use)
    ev = _evaluate(facts, actor, codes.ACTION_CORRECT, purposes, now, config)
    if ev.poisoned:
        return _deny(_NOT_PERMITTED)
    permitted = ev.permits
    permitted.subtract(ev.denies)
    by_consent = permitted.contains(type_, id_)
    by_regie = False
    if regie and type_ in config.regiebehandelaar_write_types:
        standing = _Region.of(config.regiebehandelaar_write_types, None)
        standing.subtract(ev.named_denies)
        by_regie = standing.contains(type_, id_)
    if by_regie:
        return WriteDecision(
            True, tuple(Basis("regiebehandelaar", ref) for ref in regie), "regiebehandelaar"
        )
    if (
        type_ == "Task"
        and action == "update"
        and id_ is not None
        and ("Task", id_) in _addressed(actor, facts)
        and _names_any(resource, ("owner",), actor.refs)
    ):
        mine = _Region.of(frozenset({"Task"}), frozenset({("Task", id_)}))
        mine.subtract(ev.named_denies)
        if mine.contains("Task", id_):
            return WriteDecision(
                True, (Basis("addressed-task", f"Task/{id_}"),), "a task addressed to you"
            )
    if not by_consent:
        return _deny(_NOT_PERMITTED, (b for b in ev.basis if b.effect == "deny"))
    basis = tuple(b for b in ev.basis)
    ids = actor.refs
    if type_ == "CarePlan":
        authored = _names_any(resource, ("author",), ids)
        if action == "create":
            ok = authored
        else:
            ok = (authored and _names_any(current, ("author",), ids)) or (
                current is not None
                and careplan_change_within_own_activities(current, resource, ids)
            )
        reason = "you may change only your own activities in this plan"
    elif type_ == "Task":
        fields = ("owner", "requester")
        ok = _names_any(resource, fields, ids) and (
            action == "create" or _names_any(current, fields, ids)
        )
        reason = "you may change only tasks you own or requested"
    else:
        ok = _names_any(resource, OWN_RECORD_FIELDS, ids) and (
            action == "create" or _names_any(current, OWN_RECORD_FIELDS, ids)
        )
        reason = "you may change only records you made"
    if not ok:
        return _deny(reason, basis)
    return WriteDecision(True, basis, "permitted by the client's consent")


def decide_erasure(principal: Principal, facts: ClientFacts, now: datetime) -> WriteDecision:
    """Whether ``principal`` may erase the whole plan of ``facts.patient`` (see the module
    docstring: the client or their legal representative only)."""
    if _is_client(principal, facts):
        return WriteDecision(True, (Basis("own-plan", facts.patient_reference),), "own plan")
    representative = tuple(
        b for b in _proxy_basis(principal, facts, _now(now)) if b.kind == "representative"
    )
    if representative:
        return WriteDecision(True, representative, "legal representative", facts.patient_reference)
    return _deny("only the client or their legal representative erases the plan")


def _proxy_write(
    principal: Principal,
    facts: ClientFacts,
    now: datetime,
    action: WriteAction,
    type_: str,
    resource: Mapping[str, Any],
    current: Mapping[str, Any] | None,
) -> WriteDecision:
    basis = _proxy_basis(principal, facts, now)
    if not basis:
        return _deny(_NOT_PERMITTED)
    client = facts.patient_reference
    me = normalize_reference(principal.fhir_user) or ""
    if type_ == "Consent" and (_is_adr(resource) or _is_adr(current)):
        if action == "update" and _renounces(current, resource, facts, me, now):
            return WriteDecision(True, basis, "volmacht renounced by its holder", client)
        return _deny("a wilsverklaring or volmacht is changed by the client only", basis, client)
    if type_ == "RelatedPerson":
        ids = {f"RelatedPerson/{r.get('id')}" for r in (resource, current) if r is not None}
        if me in ids or _legal_role(resource) or _legal_role(current):
            return _deny(
                "a representative's registration is changed by the client only", basis, client
            )
    if type_ == "Patient" and action == "delete":
        return _deny("only the client erases their record", basis, client)
    return WriteDecision(True, basis, "acting on behalf of the client", client)
