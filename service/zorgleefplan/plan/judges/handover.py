"""Overdracht en doorverwijzing (seed 001, hoofdstuk 5), judged on the regiebehandelaar
handover Tasks of plan/handover.py: ``requester`` and the ``input`` of type
``overdracht-partij#overdragend`` name the one handing over (A), ``owner`` the one taking over
(B), ``restriction.period`` the moment; the server records the handover applied in a Provenance
(agent roles ``overdragend``/``ontvangend``, the Task as entity) and tells the client in a
Communication ``basedOn`` the Task."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from zorgleefplan.plan import codes
from zorgleefplan.plan.findings import CANNOT_TELL, FAIL, PASS, Evidence, Finding
from zorgleefplan.plan.judges.context import (
    NOUNS,
    PlanView,
    listing,
)
from zorgleefplan.plan.people import same_party
from zorgleefplan.plan.values import Json, has_code, reference, references, string, walk


def _giver(task: Json) -> str | None:
    for entry in walk(task, ("input",)):
        if has_code(entry.get("type"), codes.HANDOVER_PARTY_SYSTEM, codes.OVERDRAGEND):
            return reference(entry.get("valueReference"))
    return None


def _linked(ctx: PlanView, type_: str, task: Json) -> list[Json]:
    """The Provenance or Communication resources that refer to a handover Task."""
    target = f"Task/{task['id']}"
    paths = {
        "Provenance": (("target",), ("entity", "what")),
        "Communication": (("basedOn",), ("partOf",)),
    }[type_]
    return [
        r
        for r in ctx.network.of_type(type_)
        if any(target in references(r, path) for path in paths)
    ]


def _each_handover(
    ctx: PlanView,
    test: Callable[[Json], bool],
    *,
    looked: str,
    elsewhere: Sequence[str],
    good: str,
    bad: str,
) -> Finding:
    """Judge every handover with ``test``; a failing one fails the item when the caller sees
    all of ``elsewhere`` (the types the test looks for; () when it reads the Task only)."""
    if not ctx.handovers:
        seen = ctx.network.sees_all("Task")
        return Finding(
            CANNOT_TELL,
            "Er is geen overdracht van de regiebehandelaar vastgelegd"
            + ("" if seen else " in wat u mag inzien")
            + "; de vraag is dan niet van toepassing.",
            (Evidence(None, "Task.code"),),
        )
    evidence = tuple(Evidence(f"Task/{t['id']}", looked) for t in ctx.handovers)
    failing = [t for t in ctx.handovers if not test(t)]
    if not failing:
        return Finding(PASS, good, evidence)
    which = listing(f"Task/{t['id']}" for t in failing)
    if all(ctx.network.sees_all(t) for t in elsewhere):
        return Finding(FAIL, f"{bad} ({which}).", evidence)
    nouns = ", ".join(NOUNS[t] for t in elsewhere)
    return Finding(
        CANNOT_TELL,
        f"{bad} in wat u mag inzien ({which}); u ziet niet alles van {nouns}.",
        evidence,
    )


def handover_agreed(ctx: PlanView) -> Finding:
    def agreed(task: Json) -> bool:
        parties = reference(task.get("owner")) and (
            _giver(task) or reference(task.get("requester"))
        )
        moment = walk(task, ("restriction", "period", "start")) or task.get("status") in (
            "accepted",
            "completed",
        )
        manner = string(task, "description") or any(
            string(n, "text") for n in walk(task, ("note",))
        )
        return bool(parties and moment and manner)

    return _each_handover(
        ctx,
        agreed,
        looked="Task.owner, Task.input, Task.restriction.period, Task.description, Task.note",
        elsewhere=(),
        good="Iedere overdracht noemt overdrager, overnemer, moment en wijze.",
        bad="Een overdracht mist overdrager, overnemer, moment (restriction.period) of wijze "
        "(description of note)",
    )


def handover_client_involved(ctx: PlanView) -> Finding:
    def involved(task: Json) -> bool:
        if ctx.client_side(reference(task.get("requester"))):
            return True
        if any(ctx.client_side(r) for r in references(task, ("restriction", "recipient"))):
            return True
        return any(
            ctx.client_side(r)
            for c in _linked(ctx, "Communication", task)
            for r in references(c, ("recipient",)) + references(c, ("sender",))
        )

    return _each_handover(
        ctx,
        involved,
        looked="Task.requester, Task.restriction.recipient, Communication.recipient",
        elsewhere=("Communication",),
        good="De cliënt (of diens naaste) vroeg iedere overdracht aan of is erover bericht.",
        bad="Bij een overdracht is de cliënt niet betrokken of bericht",
    )


def handover_medium(ctx: PlanView) -> Finding:
    def stated(task: Json) -> bool:
        return any(walk(c, ("medium",)) for c in _linked(ctx, "Communication", task))

    return _each_handover(
        ctx,
        stated,
        looked="Communication.medium",
        elsewhere=("Communication",),
        good="Bij iedere overdracht is vastgelegd langs welke weg de informatie ging.",
        bad="Bij een overdracht staat niet hoe de informatie wordt overgedragen "
        "(Communication.medium)",
    )


def handover_content(ctx: PlanView) -> Finding:
    def stated(task: Json) -> bool:
        return any(
            not has_code(e.get("type"), codes.HANDOVER_PARTY_SYSTEM) for e in walk(task, ("input",))
        ) or bool(walk(task, ("focus",)))

    return _each_handover(
        ctx,
        stated,
        looked="Task.input, Task.focus",
        elsewhere=(),
        good="Bij iedere overdracht staat welke informatie wordt overgedragen.",
        bad="Bij een overdracht staat niet welke informatie wordt overgedragen "
        "(Task.input of Task.focus)",
    )


def _recorded(ctx: PlanView, who: Callable[[Json], str | None], side: str) -> Finding:
    def recorded(task: Json) -> bool:
        party_ref = who(task)
        return any(
            same_party(ctx.network, reference(agent.get("who")), party_ref)
            for p in _linked(ctx, "Provenance", task)
            for agent in walk(p, ("agent",))
        )

    return _each_handover(
        ctx,
        recorded,
        looked="Provenance.agent.who",
        elsewhere=("Provenance",),
        good=f"De {side} heeft iedere overdracht vastgelegd.",
        bad=f"De {side} heeft een overdracht niet vastgelegd (geen Provenance met die agent)",
    )


def handover_recorded_by_receiver(ctx: PlanView) -> Finding:
    return _recorded(ctx, lambda t: reference(t.get("owner")), "overnemende professional")


def handover_recorded_by_giver(ctx: PlanView) -> Finding:
    return _recorded(
        ctx,
        lambda t: _giver(t) or reference(t.get("requester")),
        "overdragende professional",
    )
