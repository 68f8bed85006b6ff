"""Rolverdeling, mandaat and regie (seed 001, hoofdstuk 5), and the coördinerend zorgverlener
(seed 003 §2.2.2 e): who is in the care network in which role, and who answers for what."""

from __future__ import annotations

from collections.abc import Callable

from zorgleefplan.plan import codes
from zorgleefplan.plan.findings import CANNOT_TELL, FAIL, PASS, Evidence, Finding
from zorgleefplan.plan.items import KINDS, PlanItem
from zorgleefplan.plan.judges.context import (
    PlanView,
    at,
    listing,
    responsible_label,
    role_at,
    undetailed,
    what,
)
from zorgleefplan.plan.people import Party
from zorgleefplan.plan.roles import Participant
from zorgleefplan.plan.values import reference, references

_PROFESSIONALS = ("Practitioner", "PractitionerRole")


def expertise(ctx: PlanView) -> Finding:
    """Every professional in the care network has a recorded expertise."""
    professionals = [p for p in ctx.team if p.member.split("/", 1)[0] in _PROFESSIONALS]
    if not professionals:
        return ctx.missing(
            "Er staan geen professionals in het zorgnetwerk",
            ["CareTeam"],
            [Evidence(None, "CareTeam.participant.member")],
        )
    return _every_member(
        ctx,
        professionals,
        lambda m: not m.qualification,
        "Van deze professionals is geen deskundigheid vastgelegd (PractitionerRole.code of "
        ".specialty, Practitioner.qualification)",
        lambda m: f"{m.label} ({m.qualification})",
        "Deskundigheid vastgelegd",
        element="member",
    )


def _every_member(
    ctx: PlanView,
    found: list[Participant],
    lacks: Callable[[Party], bool],
    failing: str,
    shown: Callable[[Party], str],
    passing: str,
    *,
    element: str = "role",
) -> Finding:
    """Fail when a visible member ``lacks`` something; cannot-tell when a member is not visible
    to the caller; pass otherwise (``element``: the participant's element to point at)."""
    evidence = tuple(Evidence(p.team, f"{p.path}.{element}") for p in found)
    members = [ctx.member(p) for p in found]
    short = [m for m in members if m.visible and lacks(m)]
    if short:
        return Finding(FAIL, f"{failing}: {listing(m.label for m in short)}.", evidence)
    if any(not m.visible for m in members):
        return Finding(CANNOT_TELL, "Niet alle betrokkenen zijn voor u te zien.", evidence)
    return Finding(PASS, f"{passing}: {listing(shown(m) for m in members)}.", evidence)


def division_of_tasks(ctx: PlanView) -> Finding:
    """Every intervention (each item but the evaluation moments) names who performs it and who
    is responsible for it, and there is at least one agreement."""
    items, unseen = ctx.parts(k for k in KINDS if k != codes.EVALUATIEMOMENT)
    evidence = [e for i in items for e in (at(i, "performer"), at(i, "responsible"))]
    lacking = [i for i in items if not i.performers or not i.responsible]
    if lacking:
        return Finding(
            FAIL,
            "Niet vastgelegd wie uitvoert of wie verantwoordelijk is voor: "
            + listing(what(i) for i in lacking)
            + ".",
            tuple(evidence),
        )
    if unseen:
        return undetailed(unseen, evidence)
    if not any(i.kind == codes.AFSPRAAK for i in items):
        return ctx.missing("Het plan bevat geen afspraken", ["Task"], [ctx.plan_evidence])
    return Finding(
        PASS,
        f"Alle {len(items)} onderdelen noemen wie uitvoert en wie verantwoordelijk is.",
        tuple(evidence),
    )


# --------------------------------------------------------------------------- mandaat


def _responsibility(ctx: PlanView, *, named: bool) -> Finding:
    """Every part of the plan has a responsible party (``named``: one the caller can name)."""
    items, unseen = ctx.parts(KINDS)
    evidence = [at(i, "responsible") for i in items]
    lacking = [i for i in items if i.responsible is None]
    unknown: list[PlanItem] = []
    if named:
        for i in items:
            if i.responsible is not None and i not in lacking:
                who = ctx.party(i.responsible, i.displays.get(i.responsible))
                if who.name is None:
                    (lacking if who.visible else unknown).append(i)
    if lacking:
        return Finding(
            FAIL,
            "Geen (herkenbare) verantwoordelijke voor: " + listing(what(i) for i in lacking) + ".",
            tuple(evidence),
        )
    if unseen or unknown:
        return undetailed(unseen + unknown, evidence)
    if not items:
        return ctx.missing("Het plan bevat geen onderdelen", ["Task"], [ctx.plan_evidence])
    shown = listing(f"{what(i)}: {responsible_label(ctx, i)}" for i in items)
    return Finding(
        PASS, f"Per onderdeel is de verantwoordelijke vastgelegd ({shown}).", tuple(evidence)
    )


def responsibility_per_part(ctx: PlanView) -> Finding:
    return _responsibility(ctx, named=False)


def responsibility_named(ctx: PlanView) -> Finding:
    return _responsibility(ctx, named=True)


def roles_recorded(ctx: PlanView) -> Finding:
    """Every current participant of the care network has a role."""
    if not ctx.team:
        return ctx.missing(
            "Er is geen actief zorgnetwerk vastgelegd",
            ["CareTeam"],
            [Evidence(None, "CareTeam.participant.role")],
        )
    evidence = [role_at(p) for p in ctx.team]
    lacking = [p for p in ctx.team if not p.roles and not p.other_roles]
    if lacking:
        return Finding(
            FAIL,
            "Zonder vastgelegde rol in het zorgnetwerk: "
            + listing(ctx.member(p).label for p in lacking)
            + ".",
            tuple(evidence),
        )
    return Finding(
        PASS, "Iedere deelnemer van het zorgnetwerk heeft een vastgelegde rol.", tuple(evidence)
    )


def _one_regiebehandelaar(ctx: PlanView, purpose: str) -> Finding:
    found = ctx.holders(codes.REGIEBEHANDELAAR)
    evidence = [role_at(p) for p in found] or [Evidence(None, "CareTeam.participant.role")]
    if not found:
        return ctx.missing("Er is geen regiebehandelaar aangewezen", ["CareTeam"], evidence)
    people = {ctx.member(p).reference for p in found}
    if len(people) > 1:
        names = listing(ctx.member(p).label for p in found)
        return Finding(
            FAIL, f"Er zijn meerdere regiebehandelaars tegelijk: {names}.", tuple(evidence)
        )
    return Finding(
        PASS, f"{ctx.member(found[0]).label} is regiebehandelaar en {purpose}.", tuple(evidence)
    )


def mandate(ctx: PlanView) -> Finding:
    """Seed 002: the regiebehandelaar holds mandate and doorzettingsmacht."""
    return _one_regiebehandelaar(ctx, "heeft mandaat en doorzettingsmacht")


# --------------------------------------------------------------------------- regie


def client_involved(ctx: PlanView) -> Finding:
    """The client or their naasten shaped the plan (author/contributor of the plan, or said
    what a goal is) and take part in carrying it out (perform a part, or are in the network)."""
    plan = ctx.network.plan
    shaping = [
        Evidence(ctx.network.plan_reference, f"CarePlan.{element}")
        for element in ("author", "contributor")
        if any(ctx.client_side(r) for r in references(plan, (element,)))
    ] + [
        Evidence(f"Goal/{g['id']}", "Goal.expressedBy")
        for g in ctx.network.of_type("Goal")
        if ctx.client_side(reference(g.get("expressedBy")))
    ]
    doing = [
        at(i, "performer") for i in ctx.items if any(ctx.client_side(r) for r in i.performers)
    ] + [Evidence(p.team, f"{p.path}.member") for p in ctx.team if ctx.client_side(p.member)]
    looked = [
        Evidence(ctx.network.plan_reference, "CarePlan.author"),
        Evidence(ctx.network.plan_reference, "CarePlan.contributor"),
        Evidence(None, "Goal.expressedBy"),
        Evidence(ctx.network.plan_reference, "CarePlan.activity.detail.performer"),
        Evidence(None, "CareTeam.participant.member"),
    ]
    if shaping and doing:
        return Finding(
            PASS,
            "De cliënt of diens naasten hebben het plan mee opgesteld en voeren delen ervan uit.",
            tuple(shaping + doing),
        )
    if not shaping:
        return ctx.missing(
            "Niet vastgelegd dat de cliënt of diens naasten het plan mee opstelden "
            "(CarePlan.author/contributor, Goal.expressedBy)",
            ["Goal"],
            looked,
        )
    return ctx.missing(
        "Niet vastgelegd dat de cliënt of diens naasten een deel van het plan uitvoeren of in "
        "het zorgnetwerk zitten",
        ["Task", "CareTeam"],
        looked,
    )


def _contact(ctx: PlanView, role: str, label: str) -> Finding | None:
    """Pass when every holder of ``role`` has a name and a contact point; None: no holder."""
    found = ctx.holders(role)
    if not found:
        return None
    return _every_member(
        ctx,
        found,
        lambda m: m.name is None or not m.telecom,
        f"Van de {label} ontbreekt naam of contactgegeven",
        lambda m: f"{m.label} ({m.telecom[0].get('value')})",
        label[0].upper() + label[1:],
    )


def coordinator_position(ctx: PlanView) -> Finding:
    """The zorgcoördinator is designated by name, with the organisation they act for."""
    found = ctx.holders(codes.COORDINEREND_ZORGVERLENER)
    evidence = [role_at(p) for p in found] or [Evidence(None, "CareTeam.participant.role")]
    if not found:
        return ctx.missing(
            "Er is geen coördinerend zorgverlener aangewezen", ["CareTeam"], evidence
        )
    return _every_member(
        ctx,
        found,
        lambda m: m.name is None or m.organization is None,
        "Van de coördinerend zorgverlener ontbreekt naam of organisatie",
        lambda m: f"{m.label} ({m.organization_name or m.organization})",
        "Coördinerend zorgverlener (rol en bevoegdheden beschreven in zorgleefplan-rol)",
    )


def contact_point(ctx: PlanView) -> Finding:
    """An aanspreekpunt, or else the regiebehandelaar (seed 002: the central aanspreekpunt),
    reachable by name and contact point."""
    found = _contact(ctx, codes.AANSPREEKPUNT, "aanspreekpunt") or _contact(
        ctx, codes.REGIEBEHANDELAAR, "regiebehandelaar (centraal aanspreekpunt)"
    )
    if found is not None:
        return found
    return ctx.missing(
        "Er is geen aanspreekpunt en geen regiebehandelaar aangewezen",
        ["CareTeam"],
        [Evidence(None, "CareTeam.participant.role")],
    )


def overall_coordination(ctx: PlanView) -> Finding:
    """Someone coordinates the whole: the regiebehandelaar, else a coördinerend zorgverlener."""
    if ctx.holders(codes.REGIEBEHANDELAAR):
        return _one_regiebehandelaar(ctx, "coördineert het geheel")
    found = ctx.holders(codes.COORDINEREND_ZORGVERLENER)
    if found:
        return Finding(
            PASS,
            "De coördinatie ligt bij " + listing(ctx.member(p).label for p in found) + ".",
            tuple(role_at(p) for p in found),
        )
    return ctx.missing(
        "Er is geen regiebehandelaar of coördinerend zorgverlener aangewezen",
        ["CareTeam"],
        [Evidence(None, "CareTeam.participant.role")],
    )
