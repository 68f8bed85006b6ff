"""How each checklist item is judged: one function per item id, registered in :data:`JUDGES`.

Honesty rules (every judge keeps them):
* An item the FHIR data cannot speak to (what a professional knows, agreements the plan does not
  record) is always ``cannot-tell``, and says why.
* ``fail`` because something is *missing* only when the caller sees every resource of the types
  where it could be (``PlanNetwork.sees_all``); otherwise ``cannot-tell``. A ``fail`` because
  something *visible* falls short needs no such proof. So a narrow consent never makes a plan
  look worse than it is, and no verdict depends on what the caller cannot see.
"""

from __future__ import annotations

from zorgleefplan.plan.findings import CANNOT_TELL, Finding
from zorgleefplan.plan.judges import handover, monitoring, roles, sharing, zorgplan
from zorgleefplan.plan.judges.context import Judge, PlanView

__all__ = ["JUDGES", "PlanView"]


def outside_data(reason: str) -> Judge:
    """An item the plan's data cannot speak to: always cannot-tell, with why."""

    def judge(_: PlanView) -> Finding:
        return Finding(CANNOT_TELL, reason)

    return judge


_NOT_STRUCTURED = (
    "Afspraken van het samenwerkingsverband over {} legt het zorgleefplan niet gestructureerd "
    "vast; dit is niet uit de gegevens af te leiden."
)


JUDGES: dict[str, Judge] = {
    "001-informatie-1": sharing.sharing_wishes,
    "001-informatie-2": sharing.consent_asked,
    "001-informatie-3": outside_data(
        "De vraag gaat over wat de professional zelf weet en met collega's deelde; dat staat "
        "niet in het zorgleefplan."
    ),
    "001-informatie-4": outside_data(_NOT_STRUCTURED.format("de wijze van terugkoppeling")),
    "001-informatie-5": outside_data(_NOT_STRUCTURED.format("de snelheid van terugkoppeling")),
    "001-informatie-6": outside_data(_NOT_STRUCTURED.format("de inhoud van terugkoppeling")),
    "001-informatie-7": outside_data(
        "Het cliëntdossier van iedere zorgverlener valt buiten het zorgleefplan (het plan is van "
        "de cliënt); of het volledig is, is hieruit niet af te leiden."
    ),
    "001-rolverdeling-1": roles.expertise,
    "001-rolverdeling-2": roles.division_of_tasks,
    "001-rolverdeling-3": outside_data(
        "De vraag gaat over het inzicht van de professional zelf; dat staat niet in het "
        "zorgleefplan."
    ),
    "001-mandaat-1": roles.responsibility_per_part,
    "001-mandaat-2": roles.roles_recorded,
    "001-mandaat-3": roles.mandate,
    "001-regie-1": roles.client_involved,
    "001-regie-2": roles.coordinator_position,
    "001-regie-3": roles.contact_point,
    "001-regie-4": roles.responsibility_named,
    "001-regie-5": roles.overall_coordination,
    "001-overdracht-1": handover.handover_agreed,
    "001-overdracht-2": handover.handover_client_involved,
    "001-overdracht-3": handover.handover_medium,
    "001-overdracht-4": handover.handover_content,
    "001-overdracht-5": handover.handover_recorded_by_receiver,
    "001-overdracht-6": handover.handover_recorded_by_giver,
    "001-monitoring-1": monitoring.evaluation_agreed,
    "001-monitoring-2": monitoring.client_experience,
    "001-monitoring-3": monitoring.finger_on_pulse,
    "001-monitoring-4": monitoring.naaste_reports_to,
    "003-zorgplan-a": zorgplan.goals_for_a_period,
    "003-zorgplan-b": zorgplan.goals_have_means,
    "003-zorgplan-c": roles.division_of_tasks,
    "003-zorgplan-d": zorgplan.crisis_and_waarneming,
    "003-zorgplan-e": zorgplan.coordinator_named,
    "003-zorgplan-f": monitoring.reflection_planned,
}
