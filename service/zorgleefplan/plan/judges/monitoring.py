"""Monitoring en nazorg (seed 001, hoofdstuk 5) and reflection (seed 003 §2.2.2 f): the
evaluation moments of the plan and the tasks of naasten."""

from __future__ import annotations

from zorgleefplan.plan import codes
from zorgleefplan.plan.findings import CANNOT_TELL, FAIL, PASS, Finding
from zorgleefplan.plan.items import PlanItem
from zorgleefplan.plan.judges.context import (
    PlanView,
    at,
    listing,
    responsible_label,
    undetailed,
    what,
)
from zorgleefplan.plan.labels import date


def _evaluations(ctx: PlanView) -> tuple[list[PlanItem], list[PlanItem]]:
    return ctx.parts([codes.EVALUATIEMOMENT])


def evaluation_agreed(ctx: PlanView) -> Finding:
    items, unseen = _evaluations(ctx)
    if items:
        return Finding(
            PASS,
            "Evaluatiemomenten vastgelegd: "
            + listing(f"{what(i)} ({date(i.when_text)})" for i in items)
            + ".",
            tuple(at(i, "status") for i in items),
        )
    if unseen:
        return undetailed(unseen, [])
    return ctx.missing("Er zijn geen evaluatiemomenten afgesproken", ["Task"], [ctx.plan_evidence])


def client_experience(ctx: PlanView) -> Finding:
    """Each evaluation held has a note written by the client or a naaste."""
    items, _ = _evaluations(ctx)
    held = [i for i in items if i.status == "completed"]
    if not held:
        return Finding(
            CANNOT_TELL,
            "Er is nog geen evaluatie afgerond; de vraag is nog niet te beantwoorden.",
            tuple(at(i, "status") for i in items) or (ctx.plan_evidence,),
        )
    evidence = [at(i, "notes") for i in held]
    without = [i for i in held if not any(ctx.client_side(n.author) for n in i.notes)]
    if without:
        return Finding(
            FAIL,
            "Bij deze afgeronde evaluaties is niets van de cliënt of diens naasten vastgelegd: "
            + listing(what(i) for i in without)
            + ".",
            tuple(evidence),
        )
    return Finding(
        PASS,
        "Bij iedere afgeronde evaluatie is de inbreng van de cliënt of diens naasten vastgelegd.",
        tuple(evidence),
    )


def finger_on_pulse(ctx: PlanView) -> Finding:
    """A next evaluation moment is planned and someone is responsible for it (what the
    aftercare holds is free text: not judged)."""
    items, unseen = _evaluations(ctx)
    upcoming = [i for i in items if i.open]
    evidence = [at(i, "responsible") for i in upcoming]
    lacking = [i for i in upcoming if i.responsible is None]
    if lacking:
        return Finding(
            FAIL,
            "Niemand is verantwoordelijk voor: " + listing(what(i) for i in lacking) + ".",
            tuple(evidence),
        )
    if upcoming:
        keepers = listing(f"{what(i)}: {responsible_label(ctx, i)}" for i in upcoming)
        return Finding(
            PASS,
            f"De vinger aan de pols: {keepers}. Hoe de nazorg eruitziet is vrije tekst en niet "
            "beoordeeld.",
            tuple(evidence),
        )
    if unseen:
        return undetailed(unseen, evidence)
    return ctx.missing("Er is geen volgend evaluatiemoment gepland", ["Task"], [ctx.plan_evidence])


def naaste_reports_to(ctx: PlanView) -> Finding:
    """Each informal carer's task names a professional to report to (its responsible party
    or its requester)."""
    items, unseen = ctx.parts([codes.MANTELZORGTAAK])
    if not items and not unseen:
        return Finding(
            CANNOT_TELL,
            "Er zijn geen taken van naasten vastgelegd"
            + ("" if ctx.network.sees_all("Task") else " in wat u mag inzien")
            + "; de vraag is dan niet van toepassing.",
            (ctx.plan_evidence,),
        )
    evidence = [e for i in items for e in (at(i, "responsible"), at(i, "requester"))]

    def professional(ref: str | None) -> bool:
        return ref is not None and ctx.party(ref).is_professional

    lacking = [i for i in items if not (professional(i.responsible) or professional(i.requester))]
    if lacking:
        return Finding(
            FAIL,
            "Bij deze taken van naasten staat geen professional bij wie zij signalen melden: "
            + listing(what(i) for i in lacking)
            + ".",
            tuple(evidence),
        )
    if unseen:
        return undetailed(unseen, evidence)
    return Finding(
        PASS,
        "Bij iedere taak van een naaste staat bij welke professional signalen gemeld worden.",
        tuple(evidence),
    )


def reflection_planned(ctx: PlanView) -> Finding:
    """An open evaluation moment with a date: when the care is next reflected on."""
    items, unseen = _evaluations(ctx)
    dated = [i for i in items if i.open and (i.when is not None or i.when_text)]
    if dated:
        return Finding(
            PASS,
            "Volgende reflectie: "
            + listing(f"{what(i)} ({date(i.when_text)})" for i in dated)
            + ".",
            tuple(at(i, "when") for i in dated),
        )
    undated = [i for i in items if i.open]
    if undated:
        return Finding(
            FAIL,
            "De geplande evaluaties hebben geen datum: " + listing(what(i) for i in undated) + ".",
            tuple(at(i, "when") for i in undated),
        )
    if unseen:
        return undetailed(unseen, [])
    return ctx.missing("Er is geen volgend evaluatiemoment gepland", ["Task"], [ctx.plan_evidence])
