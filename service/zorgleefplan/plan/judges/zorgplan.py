"""What a zorgplan contains (seed 003 §2.2.2 a, b, d): goals for a period, how they are worked
towards, crisis agreements and waarneming."""

from __future__ import annotations

from zorgleefplan.plan import codes
from zorgleefplan.plan.findings import CANNOT_TELL, FAIL, PASS, Evidence, Finding
from zorgleefplan.plan.items import KINDS
from zorgleefplan.plan.judges.context import (
    PlanView,
    at,
    listing,
    role_at,
    undetailed,
    what,
)
from zorgleefplan.plan.values import Json, references, string, walk


def _goals(ctx: PlanView) -> tuple[list[Json], list[str]]:
    """(the plan's goals the caller sees, the goal references it does not see)."""
    refs = list(dict.fromkeys(references(ctx.network.plan, ("goal",))))
    seen = [g for r in refs if (g := ctx.network.get(r)) is not None]
    return seen, [r for r in refs if ctx.network.get(r) is None]


def goals_for_a_period(ctx: PlanView) -> Finding:
    goals, hidden = _goals(ctx)
    plan_period = bool(
        walk(ctx.network.plan, ("period", "start")) or walk(ctx.network.plan, ("period", "end"))
    )
    evidence = [Evidence(f"Goal/{g['id']}", "Goal.target.due") for g in goals] + [
        Evidence(ctx.network.plan_reference, "CarePlan.period")
    ]
    if not goals and not hidden:
        return Finding(FAIL, "Het plan noemt geen doelen (CarePlan.goal).", tuple(evidence))
    undated = [
        g
        for g in goals
        if not walk(g, ("target", "dueDate")) and not walk(g, ("target", "dueDuration"))
    ]
    if undated and not plan_period:
        return Finding(
            FAIL,
            "Deze doelen hebben geen termijn en het plan geen periode: "
            + listing(_goal_text(g) for g in undated)
            + ".",
            tuple(evidence),
        )
    if hidden:
        return Finding(
            CANNOT_TELL,
            "Niet alle doelen van het plan zijn voor u te zien.",
            tuple(evidence),
        )
    return Finding(
        PASS,
        "Doelen met een termijn: " + listing(_goal_text(g) for g in goals) + ".",
        tuple(evidence),
    )


def _goal_text(goal: Json) -> str:
    description = goal.get("description")
    return string(description, "text") or f"Goal/{goal['id']}"


def goals_have_means(ctx: PlanView) -> Finding:
    """Each goal is worked towards by at least one part of the plan."""
    goals, hidden = _goals(ctx)
    if not goals and not hidden:
        return Finding(FAIL, "Het plan noemt geen doelen (CarePlan.goal).", (ctx.plan_evidence,))
    items, unseen = ctx.parts(KINDS)
    evidence = [at(i, "goal") for i in items if i.goals]
    worked = {g for i in items for g in i.goals}
    orphans = [g for g in goals if f"Goal/{g['id']}" not in worked]
    if orphans and not unseen:
        return Finding(
            FAIL,
            "Geen afspraak werkt aan deze doelen: " + listing(_goal_text(g) for g in orphans) + ".",
            tuple(evidence + [Evidence(f"Goal/{g['id']}", "Goal") for g in orphans]),
        )
    if orphans or hidden or unseen:
        return undetailed(unseen, evidence)
    return Finding(
        PASS, "Voor ieder doel staat in het plan hoe eraan gewerkt wordt.", tuple(evidence)
    )


def crisis_and_waarneming(ctx: PlanView) -> Finding:
    crisis, crisis_unseen = ctx.parts([codes.CRISISAFSPRAAK])
    stand_in, stand_in_unseen = ctx.parts([codes.WAARNEMING])
    evidence = [at(i, "status") for i in crisis + stand_in]
    if crisis and stand_in:
        return Finding(
            PASS,
            "Crisisafspraken: "
            + listing(what(i) for i in crisis)
            + "; waarneming: "
            + listing(what(i) for i in stand_in)
            + ".",
            tuple(evidence),
        )
    if crisis_unseen or stand_in_unseen:
        return undetailed(crisis_unseen + stand_in_unseen, evidence)
    absent = " en ".join(
        what for what, found in (("crisisafspraak", crisis), ("waarneming", stand_in)) if not found
    )
    return ctx.missing(f"Het plan bevat geen {absent}", ["Task"], evidence or [ctx.plan_evidence])


def coordinator_named(ctx: PlanView) -> Finding:
    found = ctx.holders(codes.COORDINEREND_ZORGVERLENER)
    if not found:
        return ctx.missing(
            "Er is geen coördinerend zorgverlener aangewezen",
            ["CareTeam"],
            [Evidence(None, "CareTeam.participant.role")],
        )
    return Finding(
        PASS,
        "Coördinerend zorgverlener: " + listing(ctx.member(p).label for p in found) + ".",
        tuple(role_at(p) for p in found),
    )
