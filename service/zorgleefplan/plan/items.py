"""The parts of a plan, one shape for each: agreements, evaluation moments, crisis agreements,
waarneming and informal carers' tasks, whether written inline as a CarePlan activity or kept as
a Task (referenced from an activity, or ``basedOn`` the plan).

Kind: the activity's ``plan-item-soort`` extension, else the Task's code in that system, else
an agreement (DOMAIN.md: one activity per agreement). Responsible party: the
``verantwoordelijke`` extension, else a Task's owner (FHIR: "responsible individual").
Performers: an activity's ``detail.performer``, a Task's owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from zorgleefplan.plan import codes
from zorgleefplan.plan.network import PlanNetwork
from zorgleefplan.plan.values import (
    Json,
    codes_in,
    extensions,
    moment,
    reference,
    references,
    string,
    text,
    walk,
)

# Statuses (CarePlan.activity.detail.status and Task.status) after which nothing is due.
CLOSED = frozenset({"completed", "cancelled", "stopped", "rejected", "failed", "entered-in-error"})
KINDS = (
    codes.AFSPRAAK,
    codes.EVALUATIEMOMENT,
    codes.CRISISAFSPRAAK,
    codes.WAARNEMING,
    codes.MANTELZORGTAAK,
)


@dataclass(frozen=True)
class Note:
    text: str
    time: str | None
    author: str | None  # Type/id of authorReference


@dataclass(frozen=True)
class PlanItem:
    kind: str  # one of KINDS
    source: str  # the resource holding the details: CarePlan/x or Task/y
    path: str  # element path of the item in the plan (CarePlan.activity[2]) or in its Task
    description: str | None = None
    status: str | None = None
    responsible: str | None = None  # Type/id
    performers: tuple[str, ...] = ()
    requester: str | None = None
    when: datetime | None = None  # when it is due or planned
    when_text: str | None = None  # the same as written
    notes: tuple[Note, ...] = ()  # progress, oldest first
    goals: tuple[str, ...] = ()  # Goal/id the item works towards
    detailed: bool = True  # False: the plan refers to details the caller cannot see
    displays: Mapping[str, str] = field(default_factory=dict)  # reference -> its display

    @property
    def open(self) -> bool:
        return self.status not in CLOSED


def plan_items(network: PlanNetwork) -> list[PlanItem]:
    """Every part of the plan the caller may see, in plan order, then the plan's other Tasks."""
    plan = network.plan
    items: list[PlanItem] = []
    covered: set[str] = set()
    for i, activity in enumerate(plan.get("activity") or ()):
        if not isinstance(activity, Mapping):
            continue
        path = f"CarePlan.activity[{i}]"
        target_ref = reference(activity.get("reference"))
        if target_ref is not None:
            covered.add(target_ref)
            target = network.get(target_ref)
            if target is not None and target.get("resourceType") == "Task":
                items.append(_from_task(target, activity))
            else:
                items.append(
                    PlanItem(
                        kind=_activity_kind(activity) or codes.AFSPRAAK,
                        source=network.plan_reference,
                        path=path,
                        description=string(activity.get("reference"), "display"),
                        detailed=False,
                    )
                )
            continue
        items.append(_from_detail(network.plan_reference, path, activity))
    for task in network.of_type("Task"):
        ref = f"Task/{task['id']}"
        if ref in covered or network.plan_reference not in references(task, ("basedOn",)):
            continue
        if codes_in(task.get("code"), codes.TASK_SYSTEM):
            continue  # a workflow task (handover, complaint), not a part of the plan
        items.append(_from_task(task, None))
    return [item for item in items if item.status != "entered-in-error"]


def _activity_kind(element: object) -> str | None:
    for ext in extensions(element, codes.EXT_PLAN_ITEM_KIND):
        kinds = codes_in(ext.get("valueCodeableConcept"), codes.PLAN_ITEM_SYSTEM)
        found = [c for c in kinds if c in KINDS]
        if found:
            return found[0]
    return None


def _responsible(*elements: object) -> str | None:
    for element in elements:
        for ext in extensions(element, codes.EXT_RESPONSIBLE):
            ref = reference(ext.get("valueReference"))
            if ref:
                return ref
    return None


def _notes(annotations: list[object]) -> tuple[Note, ...]:
    return tuple(
        Note(str(a["text"]), string(a, "time"), reference(a.get("authorReference")))
        for a in annotations
        if isinstance(a, Mapping) and string(a, "text")
    )


def _displays(*elements: list[object]) -> dict[str, str]:
    found = {}
    for listed in elements:
        for element in listed:
            ref, shown = reference(element), string(element, "display")
            if ref and shown:
                found[ref] = shown
    return found


def _first_moment(*values: object) -> tuple[datetime | None, str | None]:
    for value in values:
        if isinstance(value, str) and value:
            return moment(value), value
    return None, None


def _from_detail(source: str, path: str, activity: Json) -> PlanItem:
    detail = activity.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    when, when_text = _first_moment(
        *walk(detail, ("scheduledPeriod", "start")),
        *walk(detail, ("scheduledTiming", "event")),
        *walk(detail, ("scheduledTiming", "repeat", "boundsPeriod", "start")),
    )
    if when_text is None:
        when_text = string(detail, "scheduledString")
    responsible = _responsible(activity)
    return PlanItem(
        kind=_activity_kind(activity) or codes.AFSPRAAK,
        source=source,
        path=path,
        description=string(detail, "description") or text(detail.get("code")),
        status=string(detail, "status"),
        responsible=responsible,
        performers=tuple(references(detail, ("performer",))),
        when=when,
        when_text=when_text,
        notes=_notes(walk(activity, ("progress",))),
        goals=tuple(references(detail, ("goal",))),
        displays=_displays(
            walk(detail, ("performer",)),
            walk(activity, (f"extension:{codes.EXT_RESPONSIBLE}", "valueReference")),
        ),
    )


def _from_task(task: Json, activity: Json | None) -> PlanItem:
    """A Task as a plan item (``activity``: the plan activity that refers to it, if any)."""
    owner = reference(task.get("owner"))
    kinds = [c for c in codes_in(task.get("code"), codes.PLAN_ITEM_SYSTEM) if c in KINDS]
    when, when_text = _first_moment(
        *walk(task, ("executionPeriod", "start")),
        *walk(task, ("restriction", "period", "start")),
        *walk(task, ("restriction", "period", "end")),
    )
    return PlanItem(
        kind=(_activity_kind(activity) if activity else None)
        or (kinds[0] if kinds else codes.AFSPRAAK),
        source=f"Task/{task['id']}",
        path="Task",
        description=string(task, "description") or text(task.get("code")),
        status=string(task, "status"),
        responsible=_responsible(activity, task) or owner,
        performers=(owner,) if owner else (),
        requester=reference(task.get("requester")),
        when=when,
        when_text=when_text,
        notes=_notes(walk(task, ("note",))),
        goals=tuple(r for r in references(task, ("focus",)) if r.startswith("Goal/")),
        displays=_displays(
            walk(task, ("owner",)),
            walk(task, ("requester",)),
            walk(task, (f"extension:{codes.EXT_RESPONSIBLE}", "valueReference")),
            walk(activity, (f"extension:{codes.EXT_RESPONSIBLE}", "valueReference")),
        ),
    )
