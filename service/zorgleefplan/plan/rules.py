"""The zorgleefplan's rules on write, per resource type (issue 5, "Rules enforced on write").

Each rule is a :data:`~zorgleefplan.plan.context.PlanRule`, run in the write's transaction
after the access decision; the FHIR layer calls :func:`apply_rules` for every create, update,
patch and delete (``fhir/plan_rules.py``). A refusal is a 4xx OperationOutcome naming the
element path; nothing of the write is stored.
"""

from __future__ import annotations

from zorgleefplan.plan.care_team import check_regiebehandelaar
from zorgleefplan.plan.complaint import check_complaint
from zorgleefplan.plan.context import PlanContext, PlanRule, Resource
from zorgleefplan.plan.handover import check_handover
from zorgleefplan.plan.ownership import check_plan_owner
from zorgleefplan.plan.role_separation import check_role_separation
from zorgleefplan.plan.volmacht import check_plan_volmacht, check_volmacht

RULES: dict[str, tuple[PlanRule, ...]] = {
    "CarePlan": (check_plan_owner, check_plan_volmacht),
    "CareTeam": (check_regiebehandelaar, check_role_separation),
    "Consent": (check_volmacht,),
    "Task": (check_handover, check_complaint),
}


def applies_to(type_: str) -> bool:
    return type_ in RULES


async def apply_rules(ctx: PlanContext, new: Resource | None, current: Resource | None) -> None:
    """Every rule of the resource's type (``new``: None for a delete)."""
    type_ = str((new or current or {}).get("resourceType"))
    for rule in RULES.get(type_, ()):
        await rule(ctx, new, current)
