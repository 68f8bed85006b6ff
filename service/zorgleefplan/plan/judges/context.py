"""What the judges read: the plan network with what several of them need, computed once, and
the small helpers they share (evidence, listings, the honest "missing" verdict)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cached_property

from zorgleefplan.plan import codes
from zorgleefplan.plan.findings import CANNOT_TELL, FAIL, Evidence, Finding
from zorgleefplan.plan.items import PlanItem, plan_items
from zorgleefplan.plan.network import PlanNetwork
from zorgleefplan.plan.people import Party, party
from zorgleefplan.plan.roles import Participant, participants
from zorgleefplan.plan.values import Json, has_code

# Dutch names of the kinds of resources something could be missing from.
NOUNS = {
    "CareTeam": "het zorgnetwerk (CareTeam)",
    "Communication": "de berichten (Communication)",
    "Consent": "de toestemmingen (Consent)",
    "Goal": "de doelen (Goal)",
    "Provenance": "de herkomstgegevens (Provenance)",
    "Task": "de taken (Task)",
}


class PlanView:
    """The network with what several judges read, computed once per request."""

    def __init__(self, network: PlanNetwork) -> None:
        self.network = network

    @cached_property
    def team(self) -> list[Participant]:
        return participants(self.network)

    @cached_property
    def items(self) -> list[PlanItem]:
        return [i for i in plan_items(self.network) if i.status != "cancelled"]

    @cached_property
    def handovers(self) -> list[Json]:
        return [
            t
            for t in self.network.of_type("Task")
            if has_code(t.get("code"), codes.TASK_SYSTEM, codes.REGIEBEHANDELAAR_OVERDRACHT)
            and t.get("status") not in ("entered-in-error", "cancelled", "draft")
        ]

    def holders(self, role: str) -> list[Participant]:
        return [p for p in self.team if role in p.roles]

    def member(self, p: Participant) -> Party:
        return party(self.network, p.member, display=p.display, on_behalf_of=p.on_behalf_of)

    def party(self, ref: str, display: str | None = None) -> Party:
        return party(self.network, ref, display=display)

    def client_side(self, ref: str | None) -> bool:
        """The client, or one of the client's naasten or representatives."""
        return ref is not None and (
            ref == self.network.client_reference or ref.startswith("RelatedPerson/")
        )

    def parts(self, kinds: Iterable[str]) -> tuple[list[PlanItem], list[PlanItem]]:
        """Plan items of these kinds: (those the caller sees in detail, those it does not)."""
        wanted = set(kinds)
        chosen = [i for i in self.items if i.kind in wanted]
        return [i for i in chosen if i.detailed], [i for i in chosen if not i.detailed]

    def missing(self, what: str, types: Sequence[str], evidence: Iterable[Evidence]) -> Finding:
        """Nothing found: ``fail`` when the caller sees everything where it could be."""
        hidden = [t for t in types if not self.network.sees_all(t)]
        if not hidden:
            return Finding(FAIL, f"{what}.", tuple(evidence))
        nouns = ", ".join(NOUNS.get(t, t) for t in hidden)
        return Finding(
            CANNOT_TELL,
            f"{what} in wat u mag inzien; u ziet niet alles van {nouns} van dit plan.",
            tuple(evidence),
        )

    @property
    def plan_evidence(self) -> Evidence:
        return Evidence(self.network.plan_reference, "CarePlan.activity")


Judge = Callable[[PlanView], Finding]


# --------------------------------------------------------------------------- small helpers


# Where each part of a plan item is, inline in a CarePlan activity or in a Task.
_IN_ACTIVITY = {
    "performer": "detail.performer",
    "responsible": f"extension('{codes.EXT_RESPONSIBLE}')",
    "status": "detail.status",
    "when": "detail.scheduled",
    "goal": "detail.goal",
    "notes": "progress",
}
_IN_TASK = {
    "performer": "owner",
    "responsible": "owner",
    "requester": "requester",
    "status": "status",
    "when": "restriction.period",
    "goal": "focus",
    "notes": "note",
}


def at(item: PlanItem, part: str) -> Evidence:
    """Evidence pointing at one part (a key of the tables above) of a plan item; the item
    itself when it has no such part."""
    if item.path == "Task":
        return Evidence(item.source, f"Task.{_IN_TASK[part]}")
    element = _IN_ACTIVITY.get(part)
    return Evidence(item.source, f"{item.path}.{element}" if element else item.path)


def role_at(p: Participant) -> Evidence:
    return Evidence(p.team, f"{p.path}.role")


def listing(texts: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(texts))


def what(item: PlanItem) -> str:
    return item.description or f"{item.source} ({item.path})"


def responsible_label(ctx: PlanView, item: PlanItem) -> str:
    ref = item.responsible
    return ctx.party(ref, item.displays.get(ref)).label if ref else "niemand"


def undetailed(items: list[PlanItem], evidence: list[Evidence]) -> Finding:
    return Finding(
        CANNOT_TELL,
        "Niet alle onderdelen van het plan zijn voor u in detail te zien.",
        tuple(evidence + [Evidence(i.source, f"{i.path}.reference") for i in items]),
    )
