"""Handing over the regiebehandelaar role (seed 002: "het regiebehandelaarschap (tijdelijk)
overdragen"; seed 001: a handover is explicit, the client is involved, and the handing-over and
the receiving professional both record it), modelled as a Task an EHR can follow.

The Task::

    code       zorgleefplan-taak#regiebehandelaar-overdracht
    for        the client (Patient)
    requester  A (the regiebehandelaar handing over), the client, or their proxy (RelatedPerson)
    owner      B: the PractitionerRole asked to take over
    input      [{type: overdracht-partij#overdragend, valueReference: A}]
    restriction.period   optional: start (default: when B accepts) and, for a temporary
               handover, end

These are fixed once the Task exists; notes, statusReason and businessStatus may change.

State machine (Task.status; who may make each change)::

    draft     -> requested | cancelled       requester side
    requested -> received                    B
    requested | received -> accepted         B  (the handover is applied, see below)
    requested | received -> rejected         B  (nothing changes; the client is told)
    requested | received -> cancelled        requester side
    accepted  -> completed                   B or requester side (bookkeeping only)

"Requester side" is A, the requester, the client and their proxy. B — who may have no access to
the plan at all — reads and updates this one Task through the access engine's rule for
addressed Tasks, and sees the plan as regiebehandelaar once the handover takes effect.

On creation the server checks that A is the client's regiebehandelaar when the handover would
start, for the whole handover (a temporary handover may not outlast A's own designation, or the
client would be left without one when it ends), and that B is not A.

Applying (in the transaction of B's ``accepted``): the handover starts at the later of
``restriction.period.start`` and the moment of acceptance (never in the past). A's designation
ends at the last microsecond before that start and B's begins at it, in the CareTeam holding
A's designation. A temporary handover (with an end) also writes, at once, A's designation
resuming at the end: A returns without anyone having to act, and the access engine, reading
the periods at every request, moves the role back at that moment. There is never a moment with
zero or two regiebehandelaars (the CareTeam rule checks the result again). The server records
one Provenance naming both sides (agent roles ``overdragend`` A and ``ontvangend`` B, target the
CareTeam version, entity the Task version, occurredPeriod the handover) and tells the client,
their volmacht holder(s) and A in a Communication (``basedOn`` the Task). A refusal is also
told to the client. If, by the time B accepts, A is no longer the regiebehandelaar for the
whole period (the client changed the designation), the acceptance is refused (409) and
nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zorgleefplan.access.facts import Period
from zorgleefplan.errors import Conflict, Forbidden, InvalidResource, ZlpError
from zorgleefplan.plan import codes
from zorgleefplan.plan.context import PlanContext, Resource
from zorgleefplan.plan.elements import has_coding, items, reference
from zorgleefplan.plan.notice import display_name, notify_client
from zorgleefplan.plan.periods import as_period, contains, instant, period_at, shown
from zorgleefplan.plan.regie import Designation, designations, hand_over, holder_at
from zorgleefplan.plan.workflow import (
    acts_as,
    is_client_side,
    is_task,
    keep,
    move,
    require_reference,
    status,
)
from zorgleefplan.store.model import SearchQuery

FIXED = ("code", "for", "requester", "owner", "input", "restriction", "focus")
REQUESTING, RECEIVING = "requester", "receiver"
TRANSITIONS = {
    ("draft", "requested"): frozenset({REQUESTING}),
    ("draft", "cancelled"): frozenset({REQUESTING}),
    ("requested", "received"): frozenset({RECEIVING}),
    ("requested", "accepted"): frozenset({RECEIVING}),
    ("received", "accepted"): frozenset({RECEIVING}),
    ("requested", "rejected"): frozenset({RECEIVING}),
    ("received", "rejected"): frozenset({RECEIVING}),
    ("requested", "cancelled"): frozenset({REQUESTING}),
    ("received", "cancelled"): frozenset({REQUESTING}),
    ("accepted", "completed"): frozenset({RECEIVING, REQUESTING}),
}
PARTY_NAMES = {
    REQUESTING: "de overdragende regiebehandelaar of de cliënt",
    RECEIVING: "de ontvangende zorgverlener",
}
WHAT = "de overdracht van de regiebehandelaar"
CATEGORY: dict[str, Any] = {
    "coding": [
        {
            "system": codes.TASK_SYSTEM,
            "code": codes.REGIEBEHANDELAAR_OVERDRACHT,
            "display": "Overdracht regiebehandelaar",
        }
    ]
}
PROVENANCE_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


@dataclass(frozen=True, slots=True)
class Handover:
    client: str
    requester: str
    giver: str  # A
    giver_path: str
    receiver: str  # B
    period: Period  # restriction.period (always, when absent)


def read_handover(task: Resource) -> Handover:
    """The handover a Task asks for, or InvalidResource naming what is missing."""
    client = require_reference(task, "for", "Patient").split("/", 1)[1]
    receiver = require_reference(task, "owner", "PractitionerRole")
    requester = require_reference(task, "requester", "PractitionerRole", "Patient", "RelatedPerson")
    givers = [
        (f"Task.input[{i}].valueReference", reference(item.get("valueReference")))
        for i, item in enumerate(items(task.get("input")))
        if isinstance(item, dict)
        and has_coding(item.get("type"), codes.HANDOVER_PARTY_SYSTEM, codes.OVERDRAGEND)
    ]
    giver_path, giver = givers[0] if len(givers) == 1 else ("Task.input", None)
    if giver is None or not giver.startswith("PractitionerRole/"):
        raise InvalidResource(
            "de overdracht noemt precies één overdragende regiebehandelaar: een input van type "
            f"{codes.HANDOVER_PARTY_SYSTEM}#{codes.OVERDRAGEND} met een PractitionerRole",
            expression=[givers[-1][0] if givers else "Task.input"],
        )
    if receiver == giver:
        raise InvalidResource(
            "de regiebehandelaar draagt over aan een ander", expression=["Task.owner"]
        )
    restriction = task.get("restriction")
    period = period_at(
        restriction.get("period") if isinstance(restriction, dict) else None,
        "Task.restriction.period",
    )
    return Handover(client, requester, giver, giver_path, receiver, period)


async def check_handover(ctx: PlanContext, new: Resource | None, current: Resource | None) -> None:
    if new is None or not (
        is_task(new, codes.REGIEBEHANDELAAR_OVERDRACHT)
        or is_task(current, codes.REGIEBEHANDELAAR_OVERDRACHT)
    ):
        return
    if current is None:
        await _requested(ctx, new)
        return
    keep(current, new, FIXED, WHAT)
    handover = read_handover(new)
    before, after = status(current), status(new)
    move(TRANSITIONS, before, after, _parties(ctx, handover), PARTY_NAMES, WHAT)
    if before == after:
        return
    version = int(str((current.get("meta") or {}).get("versionId", "0"))) + 1
    task = f"Task/{new['id']}/_history/{version}"
    if after == "accepted":
        await _apply(ctx, handover, task)
    elif after == "rejected":
        reason = new.get("statusReason")
        await _tell_refusal(ctx, handover, f"Task/{new['id']}", reason)


def _parties(ctx: PlanContext, handover: Handover) -> frozenset[str]:
    if ctx.by_server:
        return frozenset({REQUESTING, RECEIVING})
    found = set()
    if ctx.principal.kind == "practitioner" and acts_as(ctx, handover.receiver):
        found.add(RECEIVING)
    if is_client_side(ctx) or acts_as(ctx, handover.giver, handover.requester):
        found.add(REQUESTING)
    return frozenset(found)


async def _requested(ctx: PlanContext, task: Resource) -> None:
    handover = read_handover(task)
    if status(task) not in ("draft", "requested"):
        raise InvalidResource(
            f"{WHAT} begint als 'requested' (of 'draft'); de ontvangende zorgverlener "
            "aanvaardt daarna",
            expression=["Task.status"],
        )
    if not ctx.by_server:
        kind = ctx.principal.kind
        own = (
            (kind == "patient" and handover.requester == f"Patient/{handover.client}")
            or (kind == "related-person" and acts_as(ctx, handover.requester))
            or (
                kind == "practitioner"
                and handover.requester == handover.giver
                and acts_as(ctx, handover.giver)
            )
        )
        if not own:
            raise Forbidden(
                "een overdracht vraagt de regiebehandelaar zelf aan, of de cliënt of diens "
                "vertegenwoordiger; requester is wie de overdracht vraagt",
                expression=["Task.requester"],
            )
    start, _ = _window(handover, ctx.now, InvalidResource)
    await _held(ctx, handover, start, InvalidResource)


def _window(
    handover: Handover, now: datetime, error: type[ZlpError]
) -> tuple[datetime, datetime | None]:
    """When the handover runs: from its start but never before now, to its end (exclusive;
    None: for good)."""
    start = max(handover.period.start or now, now)
    if handover.period.end is not None and handover.period.end <= start:
        raise error(
            "de periode van deze tijdelijke overdracht is al voorbij",
            expression=["Task.restriction.period.end"],
        )
    return start, handover.period.end


async def _held(
    ctx: PlanContext, handover: Handover, start: datetime, error: type[ZlpError]
) -> tuple[Resource, Designation]:
    """The CareTeam and designation through which A holds the role for the whole handover."""
    teams = {
        str(t.get("id")): t for t in await ctx.find(SearchQuery(("CareTeam",)), handover.client)
    }
    held = holder_at((d for t in teams.values() for d in designations(t)), start)
    if held is None or held.member != handover.giver:
        raise error(
            f"{handover.giver} is op {shown(start)} niet de regiebehandelaar van deze cliënt; "
            "alleen de regiebehandelaar draagt de rol over (anders zou de cliënt er geen, of "
            "twee, hebben)",
            expression=[handover.giver_path],
        )
    if not contains(held.period, Period(start, handover.period.end)):
        raise error(
            f"de aanwijzing van {handover.giver} als regiebehandelaar eindigt vóór het einde "
            "van de overdracht; daarna zou de cliënt geen regiebehandelaar hebben",
            expression=["Task.restriction.period"],
        )
    return teams[held.team], held


async def _apply(ctx: PlanContext, handover: Handover, task: str) -> None:
    start, end = _window(handover, ctx.now, Conflict)
    team, held = await _held(ctx, handover, start, Conflict)
    role = await ctx.read("PractitionerRole", handover.receiver.split("/", 1)[1])
    organization = reference(role.get("organization")) if role else None
    version = await ctx.save(hand_over(team, held, handover.receiver, start, end, organization))
    await ctx.record(
        {
            "resourceType": "Provenance",
            "target": [{"reference": f"CareTeam/{team['id']}/_history/{version}"}],
            "occurredPeriod": as_period(start, end),
            "recorded": instant(ctx.now),
            "activity": CATEGORY,
            "agent": [
                _agent(handover.giver, codes.OVERDRAGEND, "Overdragend regiebehandelaar"),
                _agent(handover.receiver, codes.ONTVANGEND, "Ontvangend regiebehandelaar"),
            ],
            "entity": [{"role": "source", "what": {"reference": task}}],
        },
        handover.client,
    )
    giver = await display_name(ctx, handover.giver)
    receiver = await display_name(ctx, handover.receiver)
    if end is None:
        text = (
            f"{receiver} is vanaf {shown(start)} uw regiebehandelaar; {giver} heeft de rol "
            "overgedragen."
        )
    else:
        text = (
            f"{receiver} is van {shown(start)} tot {shown(end)} uw regiebehandelaar in plaats "
            f"van {giver}. Daarna is {giver} weer uw regiebehandelaar."
        )
    await notify_client(
        ctx,
        handover.client,
        category=CATEGORY,
        sender=handover.receiver,
        also=(handover.giver,),
        text=text,
        based_on=task.split("/_history/", 1)[0],
        about=f"CareTeam/{team['id']}",
    )


async def _tell_refusal(ctx: PlanContext, handover: Handover, task: str, reason: object) -> None:
    why = reason.get("text") if isinstance(reason, dict) else None
    text = (
        f"{await display_name(ctx, handover.receiver)} heeft de rol van regiebehandelaar niet "
        f"aanvaard. {await display_name(ctx, handover.giver)} blijft uw regiebehandelaar."
    )
    if isinstance(why, str) and why:
        text += f" Reden: {why}"
    await notify_client(
        ctx,
        handover.client,
        category=CATEGORY,
        sender=handover.receiver,
        also=(handover.giver,),
        text=text,
        based_on=task,
    )


def _agent(who: str, side: str, display: str) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": PROVENANCE_TYPE, "code": "performer"}]},
        "role": [
            {"coding": [{"system": codes.HANDOVER_PARTY_SYSTEM, "code": side, "display": display}]}
        ],
        "who": {"reference": who},
    }
