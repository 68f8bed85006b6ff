"""Complaints through the regiebehandelaar (seed 002, "Regiebehandelaar: aanspreekpunt én
klachtadres"): the client complains at one address, the regiebehandelaar, who forwards the
complaint to the provider it concerns and sees to it that it is handled ("de klacht naar het
juiste adres door te geleiden en te bewaken dat de klacht adequaat wordt afgehandeld").

Two kinds of Task with code ``zorgleefplan-taak#klacht``:

* **The complaint** (no ``partOf``): ``for`` the client, ``requester`` the client (Patient) or
  their proxy (RelatedPerson) — only they file it —, ``owner`` the client's regiebehandelaar at
  the time (a complaint cannot be filed when there is none), ``description`` the complaint.
* **A forwarded part** (``partOf`` the complaint): made by the complaint's owner, ``requester``
  that regiebehandelaar, ``owner`` the provider that handles it (Organization or
  PractitionerRole), ``description`` what the provider is asked to handle. The provider — who
  may see nothing else of the plan — reads and updates this one Task (the access engine's rule
  for addressed Tasks).

``code``, ``for``, ``requester``, ``partOf`` and ``description`` are fixed once a Task exists; a
forwarded part's ``owner`` too. A complaint's ``owner`` may only become the client's current
regiebehandelaar (after a handover the new one takes the complaint over).

State machines (Task.status; who may make each change)::

    complaint   requested -> received | in-progress | completed        regiebehandelaar
                received  -> in-progress | completed                   regiebehandelaar
                in-progress <-> on-hold; in-progress|on-hold -> completed   regiebehandelaar
                any open  -> cancelled (withdrawn)                     client or proxy
    forwarded   requested -> received | accepted | in-progress | rejected   provider
                received  -> accepted | in-progress | rejected         provider
                accepted  -> in-progress                               provider
                in-progress <-> on-hold                                provider
                in-progress | on-hold -> completed | failed            provider
                any open  -> cancelled                                 regiebehandelaar

A complaint is closed (``completed``) only when none of its forwarded parts is still open: the
regiebehandelaar watches the handling to its end. The client reads all of it (their own plan).
"""

from __future__ import annotations

from zorgleefplan.errors import Forbidden, InvalidResource
from zorgleefplan.plan import codes
from zorgleefplan.plan.context import PlanContext, Resource
from zorgleefplan.plan.elements import items, reference
from zorgleefplan.plan.regie import designations, holder_at
from zorgleefplan.plan.workflow import (
    OPEN,
    acts_as,
    is_client_side,
    is_task,
    keep,
    move,
    require_reference,
    status,
)
from zorgleefplan.store.model import ReferenceCriterion, ReferenceMatch, SearchQuery

REGIE, CLIENT, PROVIDER = "regiebehandelaar", "client", "provider"
NAMES = {
    REGIE: "de regiebehandelaar",
    CLIENT: "de cliënt of diens vertegenwoordiger",
    PROVIDER: "de zorgaanbieder aan wie de klacht is doorgestuurd",
}
_OPEN_COMPLAINT = ("requested", "received", "in-progress", "on-hold")
COMPLAINT_TRANSITIONS = {
    **{(s, "cancelled"): frozenset({CLIENT}) for s in _OPEN_COMPLAINT},
    **{(s, "completed"): frozenset({REGIE}) for s in _OPEN_COMPLAINT},
    ("requested", "received"): frozenset({REGIE}),
    ("requested", "in-progress"): frozenset({REGIE}),
    ("received", "in-progress"): frozenset({REGIE}),
    ("in-progress", "on-hold"): frozenset({REGIE}),
    ("on-hold", "in-progress"): frozenset({REGIE}),
}
_OPEN_PART = ("requested", "received", "accepted", "in-progress", "on-hold")
PART_TRANSITIONS = {
    **{(s, "cancelled"): frozenset({REGIE}) for s in _OPEN_PART},
    ("requested", "received"): frozenset({PROVIDER}),
    ("requested", "accepted"): frozenset({PROVIDER}),
    ("requested", "in-progress"): frozenset({PROVIDER}),
    ("requested", "rejected"): frozenset({PROVIDER}),
    ("received", "accepted"): frozenset({PROVIDER}),
    ("received", "in-progress"): frozenset({PROVIDER}),
    ("received", "rejected"): frozenset({PROVIDER}),
    ("accepted", "in-progress"): frozenset({PROVIDER}),
    ("in-progress", "on-hold"): frozenset({PROVIDER}),
    ("on-hold", "in-progress"): frozenset({PROVIDER}),
    ("in-progress", "completed"): frozenset({PROVIDER}),
    ("on-hold", "completed"): frozenset({PROVIDER}),
    ("in-progress", "failed"): frozenset({PROVIDER}),
    ("on-hold", "failed"): frozenset({PROVIDER}),
}
FIXED = ("code", "for", "requester", "partOf", "description")
COMPLAINT = "de klacht"
PART = "de doorgestuurde klacht"


async def check_complaint(ctx: PlanContext, new: Resource | None, current: Resource | None) -> None:
    if new is None or not (is_task(new, codes.KLACHT) or is_task(current, codes.KLACHT)):
        return
    client = require_reference(new, "for", "Patient").split("/", 1)[1]
    parent = _part_of(new)
    if current is None:
        if parent is None:
            await _filed(ctx, new, client)
        else:
            await _forwarded(ctx, new, client, parent)
        return
    keep(current, new, FIXED, PART if parent else COMPLAINT)
    if parent is not None:
        keep(current, new, ("owner",), PART)
        owner = reference(new.get("owner"))
        parties = _who(ctx, regie=(reference(new.get("requester")),), provider=owner)
        move(PART_TRANSITIONS, status(current), status(new), parties, NAMES, PART)
        return
    regie = await _regiebehandelaar(ctx, client)
    owner = reference(new.get("owner"))
    if owner != reference(current.get("owner")) and owner != regie:
        raise InvalidResource(
            "een klacht gaat alleen over naar de huidige regiebehandelaar van de cliënt",
            expression=["Task.owner"],
        )
    parties = _who(ctx, regie=(reference(current.get("owner")), owner, regie))
    move(COMPLAINT_TRANSITIONS, status(current), status(new), parties, NAMES, COMPLAINT)
    if status(new) == "completed" and status(current) != "completed":
        await _all_parts_closed(ctx, client, str(new.get("id")))


def _part_of(task: Resource) -> str | None:
    parents = items(task.get("partOf"))
    if not parents:
        return None
    target = reference(parents[0]) if len(parents) == 1 else None
    if target is None or not target.startswith("Task/"):
        raise InvalidResource(
            "een doorgestuurde klacht is deel van één klacht: partOf verwijst naar die Task",
            expression=["Task.partOf"],
        )
    return target


def _who(
    ctx: PlanContext, *, regie: tuple[str | None, ...] = (), provider: str | None = None
) -> frozenset[str]:
    if ctx.by_server:
        return frozenset({REGIE, CLIENT, PROVIDER})
    found = set()
    if is_client_side(ctx):
        found.add(CLIENT)
    if ctx.principal.kind == "practitioner" and acts_as(ctx, *regie):
        found.add(REGIE)
    if acts_as(ctx, provider):
        found.add(PROVIDER)
    return frozenset(found)


async def _regiebehandelaar(ctx: PlanContext, client: str) -> str | None:
    teams = await ctx.find(SearchQuery(("CareTeam",)), client)
    held = holder_at((d for t in teams for d in designations(t)), ctx.now)
    return held.member if held else None


def _described(task: Resource, what: str) -> None:
    text = task.get("description")
    if not isinstance(text, str) or not text.strip():
        raise InvalidResource(
            f"beschrijf {what} in Task.description", expression=["Task.description"]
        )


async def _filed(ctx: PlanContext, task: Resource, client: str) -> None:
    requester = require_reference(task, "requester", "Patient", "RelatedPerson")
    if not ctx.by_server:
        kind = ctx.principal.kind
        if not (
            (kind == "patient" and requester == f"Patient/{client}")
            or (kind == "related-person" and acts_as(ctx, requester))
        ):
            raise Forbidden(
                "een klacht dient de cliënt in, of diens gevolmachtigde of vertegenwoordiger; "
                "requester is wie de klacht indient",
                expression=["Task.requester"],
            )
    if status(task) != "requested":
        raise InvalidResource("een klacht begint als 'requested'", expression=["Task.status"])
    _described(task, "de klacht")
    regie = await _regiebehandelaar(ctx, client)
    if regie is None:
        raise InvalidResource(
            "de cliënt heeft (nu) geen regiebehandelaar, het klachtadres; wijs eerst een "
            "regiebehandelaar aan",
            expression=["Task.owner"],
        )
    if reference(task.get("owner")) != regie:
        raise InvalidResource(
            f"een klacht gaat naar de regiebehandelaar van de cliënt: owner is {regie}",
            expression=["Task.owner"],
        )


async def _forwarded(ctx: PlanContext, task: Resource, client: str, parent_ref: str) -> None:
    parent = await ctx.read("Task", parent_ref.split("/", 1)[1], visible=True)
    if (
        parent is None
        or not is_task(parent, codes.KLACHT)
        or _part_of(parent) is not None
        or reference(parent.get("for")) != f"Patient/{client}"
    ):
        raise InvalidResource(
            f"{parent_ref} is geen klacht van deze cliënt", expression=["Task.partOf"]
        )
    if status(parent) not in OPEN:
        raise InvalidResource(
            f"{parent_ref} is al afgesloten ('{status(parent)}')", expression=["Task.partOf"]
        )
    handler = reference(parent.get("owner"))
    requester = require_reference(task, "requester", "PractitionerRole")
    if requester != handler:
        raise InvalidResource(
            f"de regiebehandelaar die de klacht ontving ({handler}) stuurt haar door: "
            "requester is die regiebehandelaar",
            expression=["Task.requester"],
        )
    if not ctx.by_server and not (ctx.principal.kind == "practitioner" and acts_as(ctx, handler)):
        raise Forbidden(
            "alleen de regiebehandelaar die de klacht ontving stuurt haar door",
            expression=["Task.requester"],
        )
    require_reference(task, "owner", "Organization", "PractitionerRole")
    if status(task) != "requested":
        raise InvalidResource(
            "een doorgestuurde klacht begint als 'requested'", expression=["Task.status"]
        )
    _described(task, "wat de zorgaanbieder moet afhandelen")


async def _all_parts_closed(ctx: PlanContext, client: str, complaint: str) -> None:
    part_of = ReferenceCriterion("part-of", (ReferenceMatch("Task", complaint),))
    for part in await ctx.find(SearchQuery(("Task",), (part_of,)), client):
        if status(part) in OPEN:
            raise InvalidResource(
                f"de klacht wordt pas afgesloten als elke doorgestuurde klacht is afgehandeld; "
                f"Task/{part.get('id')} is nog '{status(part)}'",
                expression=["Task.status"],
            )
