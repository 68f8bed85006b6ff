"""The plan belongs to the client (seed 002: "de cliënt is eigenaar van het plan"): a CarePlan's
subject is one Patient, its owner, and it never changes — an update or patch that names another
subject is refused, whoever sends it. (Moving a plan would move the whole plan to another
client's compartment, out of reach of the consents that governed it.)
"""

from __future__ import annotations

from zorgleefplan.errors import InvalidResource
from zorgleefplan.plan.context import PlanContext, Resource
from zorgleefplan.plan.elements import reference


async def check_plan_owner(
    ctx: PlanContext, new: Resource | None, current: Resource | None
) -> None:
    if new is None:
        return
    subject = reference(new.get("subject"))
    if subject is None or not subject.startswith("Patient/"):
        raise InvalidResource(
            "een zorgleefplan is van één cliënt: subject verwijst naar een Patient",
            expression=["CarePlan.subject"],
        )
    if current is None:
        return
    owner = reference(current.get("subject"))
    if subject != owner:
        raise InvalidResource(
            f"de eigenaar van het plan ({owner}) kan niet worden gewijzigd: subject blijft {owner}",
            expression=["CarePlan.subject"],
        )
