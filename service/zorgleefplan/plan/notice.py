"""Telling the client what happened in their plan: a Communication in the client's compartment,
sent to the client, their volmacht holder(s) and whoever else the event concerns (seed 001:
the client is involved in a handover; the break-the-glass notice is its sibling in
``fhir/break_glass.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zorgleefplan.access.engine import people_to_notify
from zorgleefplan.access.facts import client_facts
from zorgleefplan.plan.context import PlanContext
from zorgleefplan.plan.elements import items, ref
from zorgleefplan.plan.periods import instant
from zorgleefplan.store.model import SearchQuery


async def notify_client(
    ctx: PlanContext,
    client: str,
    *,
    category: Mapping[str, Any],
    sender: str,
    also: Iterable[str],
    text: str,
    based_on: str,
    about: str | None = None,
) -> str:
    """Create the Communication and return its id."""
    consents = await ctx.find(SearchQuery(("Consent",)), client)
    teams = await ctx.find(SearchQuery(("CareTeam",)), client)
    facts = client_facts(client, consents, teams)
    recipients = dict.fromkeys([*people_to_notify(facts, ctx.now), *also])
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [dict(category)],
        "subject": ref(f"Patient/{client}"),
        "basedOn": [ref(based_on)],
        "sent": instant(ctx.now),
        "sender": ref(sender),
        "recipient": [ref(r) for r in recipients if r != sender],
        "payload": [{"contentString": text}],
    }
    if about is not None:
        communication["about"] = [ref(about)]
    return await ctx.create(communication)


async def display_name(ctx: PlanContext, reference: str) -> str:
    """How the client knows a professional: the Practitioner's name behind a PractitionerRole
    (directory data), or the organisation's name; the reference when there is none."""
    type_, _, id_ = reference.partition("/")
    found = await ctx.read(type_, id_)
    if found is None:
        return reference
    if type_ == "PractitionerRole":
        person = found.get("practitioner")
        target = person.get("reference") if isinstance(person, Mapping) else None
        if isinstance(target, str) and target.startswith("Practitioner/"):
            return await display_name(ctx, target)
        return reference
    if type_ == "Practitioner":
        for name in items(found.get("name")):
            if isinstance(name, Mapping):
                if isinstance(name.get("text"), str):
                    return str(name["text"])
                parts = [*items(name.get("given")), name.get("family")]
                shown = " ".join(p for p in parts if isinstance(p, str))
                if shown:
                    return shown
    if type_ == "Organization" and isinstance(found.get("name"), str):
        return str(found["name"])
    return reference
