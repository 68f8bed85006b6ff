"""What the plan's workflow Tasks (handover, complaint) share: which Task is which, who is
which party, fields fixed once the Task exists, and status changes as a table of
(from, to) -> the parties who may make that change.

Statuses are FHIR's Task.status; a Task is *open* until it reaches a final one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from zorgleefplan.errors import Forbidden, InvalidResource
from zorgleefplan.plan import codes
from zorgleefplan.plan.context import PlanContext, Resource
from zorgleefplan.plan.elements import has_coding, reference

OPEN = frozenset({"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"})
Transitions = Mapping[tuple[str, str], frozenset[str]]


def is_task(resource: Mapping[str, Any] | None, code: str) -> bool:
    return (
        resource is not None
        and resource.get("resourceType") == "Task"
        and has_coding(resource.get("code"), codes.TASK_SYSTEM, code)
    )


def status(task: Mapping[str, Any]) -> str:
    value = task.get("status")
    return value if isinstance(value, str) else ""


def acts_as(ctx: PlanContext, *refs: str | None) -> bool:
    """Whether the principal is (or acts for) one of ``refs``."""
    return any(r is not None and r in ctx.acting_for for r in refs)


def is_client_side(ctx: PlanContext) -> bool:
    """The client or their proxy (the access decision has already tied them to this plan)."""
    return ctx.principal.kind in ("patient", "related-person")


def keep(old: Mapping[str, Any], new: Mapping[str, Any], fields: Iterable[str], what: str) -> None:
    """InvalidResource naming the first of ``fields`` that differs."""
    for name in fields:
        if old.get(name) != new.get(name):
            raise InvalidResource(
                f"{name} van {what} ligt vast zodra de taak bestaat", expression=[f"Task.{name}"]
            )


def move(
    table: Transitions,
    old: str,
    new: str,
    parties: frozenset[str],
    names: Mapping[str, str],
    what: str,
) -> None:
    """Allow a status change only along ``table`` and only to a party it names."""
    if old == new:
        return
    allowed = table.get((old, new))
    if allowed is None:
        raise InvalidResource(
            f"{what} gaat niet van '{old}' naar '{new}'", expression=["Task.status"]
        )
    if not allowed & parties:
        who = " of ".join(names[p] for p in sorted(allowed))
        raise Forbidden(f"alleen {who} zet {what} op '{new}'", expression=["Task.status"])


def require_reference(task: Resource, name: str, *types: str) -> str:
    """The literal reference in ``Task.<name>`` to one of ``types``, or InvalidResource."""
    target = reference(task.get(name))
    if target is None or target.split("/", 1)[0] not in types:
        raise InvalidResource(
            f"Task.{name} verwijst naar een {' of '.join(types)}", expression=[f"Task.{name}"]
        )
    return target
