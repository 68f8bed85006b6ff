"""The who-is-who of a plan (seed 002 §5.1; seed 001: "is voor de cliënt duidelijk wie…"):
who to ask, who directs, who coordinates and indicates, who holds the volmacht and who
represents the client, every agreement with who is responsible for it and who does it, the
goals, the next evaluation moments, the crisis agreements and waarneming, and the tasks the
client's informal carers took on.

Built from a :class:`PlanNetwork` only, so it says exactly what the caller may see.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from zorgleefplan.plan import codes
from zorgleefplan.plan.items import PlanItem, plan_items
from zorgleefplan.plan.labels import DOMAINS, ROLES
from zorgleefplan.plan.network import PlanNetwork
from zorgleefplan.plan.people import Party, party
from zorgleefplan.plan.roles import (
    Participant,
    participants,
    representative_roles,
    representatives,
    volmacht,
)
from zorgleefplan.plan.values import Json, codes_in, reference, references, string, text, walk

# Seed 002 §5.1, "Regiebehandelaar: aanspreekpunt én klachtadres".
CENTRAL_CONTACT = (
    "de regiebehandelaar is het centrale aanspreekpunt "
    "(RVS, aanbeveling 4: 'Regiebehandelaar: aanspreekpunt én klachtadres')"
)


@dataclass(frozen=True)
class RoleEntry:
    role: str  # a project role code (codes.ROLE_SYSTEM), or "" for another participant
    party: Party
    period: Json | None
    source: str  # CareTeam/id
    path: str  # element path of the participant
    other_roles: tuple[str, ...] = ()
    note: str | None = None  # why someone is listed in a role they were not given by name


@dataclass(frozen=True)
class Representative:
    party: Party
    roles: tuple[str, ...]  # mentor, curator, ...
    period: Json | None


@dataclass(frozen=True)
class VolmachtEntry:
    consent: str  # Consent/id
    holders: tuple[Party, ...]
    period: Json | None


@dataclass(frozen=True)
class VolmachtView:
    stated: bool | None  # what the plan states; None: the plan is silent
    path: str | None
    entries: tuple[VolmachtEntry, ...]


@dataclass(frozen=True)
class GoalView:
    reference: str
    description: str | None
    status: str | None
    achievement: str | None
    due: str | None
    life_areas: tuple[str, ...]


@dataclass(frozen=True)
class ItemView:
    item: PlanItem
    responsible: Party | None
    performers: tuple[Party, ...]
    overdue: bool  # open and its moment has passed


@dataclass(frozen=True)
class Summary:
    plan: str  # CarePlan/id
    title: str | None
    status: str | None
    domains: tuple[str, ...]  # Zvw, Wlz, ...
    client: Party | None
    roles: tuple[RoleEntry, ...]  # the care network, regiebehandelaar first
    volmacht: VolmachtView
    representatives: tuple[Representative, ...]
    goals: tuple[GoalView, ...]
    items: tuple[ItemView, ...]  # every visible part of the plan, in plan order
    next_evaluations: tuple[ItemView, ...]  # open evaluation moments, soonest first
    cited: tuple[str, ...]  # the visible resources the summary was made of

    def role(self, code: str) -> list[RoleEntry]:
        return [r for r in self.roles if r.role == code]

    def of_kind(self, kind: str) -> list[ItemView]:
        return [v for v in self.items if v.item.kind == kind]


def summarize(network: PlanNetwork) -> Summary:
    plan = network.plan
    roles = _roles(network, participants(network))
    stated = volmacht(network)
    views = [_item_view(network, item) for item in plan_items(network) if item.detailed]
    evaluations = sorted(
        (v for v in views if v.item.kind == codes.EVALUATIEMOMENT and v.item.open),
        key=lambda v: (v.item.when is None, v.item.when or network.now),
    )
    client = (
        party(network, network.client_reference) if network.get(network.client_reference) else None
    )
    summary = Summary(
        plan=network.plan_reference,
        title=string(plan, "title"),
        status=string(plan, "status"),
        domains=tuple(
            DOMAINS.get(c, c)
            for concept in walk(plan, ("category",))
            for c in codes_in(concept, codes.DOMAIN_SYSTEM)
        ),
        client=client,
        roles=tuple(roles),
        volmacht=VolmachtView(
            stated.stated,
            stated.path,
            tuple(
                VolmachtEntry(c.consent, tuple(party(network, h) for h in c.holders), c.period)
                for c in stated.consents
            ),
        ),
        representatives=tuple(
            Representative(
                party(network, f"RelatedPerson/{p['id']}"),
                tuple(representative_roles(p)),
                p.get("period"),
            )
            for p in representatives(network)
        ),
        goals=tuple(_goal(network, ref) for ref in _goal_refs(plan) if network.get(ref)),
        items=tuple(views),
        next_evaluations=tuple(evaluations),
        cited=(),
    )
    return _with_citations(network, summary)


def _roles(network: PlanNetwork, found: list[Participant]) -> list[RoleEntry]:
    entries: list[RoleEntry] = []
    for code in ROLES:
        for p in found:
            if code in p.roles:
                entries.append(_entry(network, code, p))
    if not any(e.role == codes.AANSPREEKPUNT for e in entries):
        after_regie = sum(1 for e in entries if e.role == codes.REGIEBEHANDELAAR)
        entries[after_regie:after_regie] = [
            _entry(network, codes.AANSPREEKPUNT, p, CENTRAL_CONTACT)
            for p in found
            if codes.REGIEBEHANDELAAR in p.roles
        ]
    entries.extend(_entry(network, "", p) for p in found if not p.roles)
    return entries


def _entry(network: PlanNetwork, role: str, p: Participant, note: str | None = None) -> RoleEntry:
    return RoleEntry(
        role=role,
        party=party(network, p.member, display=p.display, on_behalf_of=p.on_behalf_of),
        period=p.period,
        source=p.team,
        path=p.path,
        other_roles=p.other_roles,
        note=note,
    )


def _goal_refs(plan: Json) -> list[str]:
    return list(dict.fromkeys(references(plan, ("goal",))))


def _goal(network: PlanNetwork, ref: str) -> GoalView:
    goal = network.get(ref) or {}
    due = [d for d in walk(goal, ("target", "dueDate")) if isinstance(d, str)]
    return GoalView(
        reference=ref,
        description=text(goal.get("description")),
        status=string(goal, "lifecycleStatus"),
        achievement=text(goal.get("achievementStatus")),
        due=min(due) if due else None,
        life_areas=tuple(
            t
            for concept in walk(goal, ("category",))
            if codes_in(concept, codes.LIFE_AREA_SYSTEM) and (t := text(concept))
        ),
    )


def _item_view(network: PlanNetwork, item: PlanItem) -> ItemView:
    def resolve(ref: str) -> Party:
        return party(network, ref, display=item.displays.get(ref))

    return ItemView(
        item=item,
        responsible=resolve(item.responsible) if item.responsible else None,
        performers=tuple(resolve(r) for r in item.performers),
        overdue=item.open and item.when is not None and item.when < network.now,
    )


def _with_citations(network: PlanNetwork, summary: Summary) -> Summary:
    """The summary with the visible resources it names, in the order it names them."""
    refs: list[str | None] = [summary.plan]
    if summary.client:
        refs.append(summary.client.reference)
    for entry in summary.roles:
        refs += [entry.source, entry.party.reference, entry.party.organization]
        refs += _behind(network, entry.party.reference)
    for v in summary.volmacht.entries:
        refs += [v.consent, *(h.reference for h in v.holders)]
    refs += [r.party.reference for r in summary.representatives]
    refs += [g.reference for g in summary.goals]
    shown = [v for v in summary.items if v.item.kind != codes.EVALUATIEMOMENT]
    for view in shown + list(summary.next_evaluations):
        refs.append(view.item.source)
        for p in (view.responsible, *view.performers):
            if p is not None:
                refs += [p.reference, p.organization, *_behind(network, p.reference)]
    cited = tuple(dict.fromkeys(r for r in refs if r and network.get(r) is not None))
    return replace(summary, cited=cited)


def _behind(network: PlanNetwork, ref: str) -> list[str]:
    """The Practitioner behind a PractitionerRole (whose name the summary shows)."""
    resource = network.get(ref)
    if resource is None or resource.get("resourceType") != "PractitionerRole":
        return []
    found = reference(resource.get("practitioner"))
    return [found] if found else []
