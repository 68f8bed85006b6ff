"""The project's canonical URLs and codes for the zorgleefplan domain (see DOMAIN.md).

The JSON conformance resources in profiles/ define these codes; a test checks that both agree.
Code values are Dutch domain terms as the source documents use them.
"""

from __future__ import annotations

CANONICAL_BASE = "https://zorgleefplan.nl/fhir"


def code_system(name: str) -> str:
    return f"{CANONICAL_BASE}/CodeSystem/{name}"


def structure_definition(name: str) -> str:
    return f"{CANONICAL_BASE}/StructureDefinition/{name}"


# Roles in the care network (CareTeam.participant.role, Task owner roles)
ROLE_SYSTEM = code_system("zorgleefplan-rol")
REGIEBEHANDELAAR = "regiebehandelaar"
AANSPREEKPUNT = "aanspreekpunt"
COORDINEREND_ZORGVERLENER = "coordinerend-zorgverlener"
INDICEREND_ZORGVERLENER = "indicerend-zorgverlener"
ZORGVERANTWOORDELIJKE = "zorgverantwoordelijke"
WZD_FUNCTIONARIS = "wzd-functionaris"
PERSOONLIJK_BEGELEIDER = "persoonlijk-begeleider"
DOSSIERHOUDER = "dossierhouder"
ZORGKANTOOR = "zorgkantoor"
ONAFHANKELIJKE_CLIENTONDERSTEUNER = "onafhankelijke-clientondersteuner"
MANTELZORGER = "mantelzorger"
VRIJWILLIGER = "vrijwilliger"

# The law / domain a part of the plan falls under (CarePlan.category)
DOMAIN_SYSTEM = code_system("zorgleefplan-domein")
ZVW = "zvw"
WLZ = "wlz"
WMO = "wmo"
JEUGDWET = "jeugdwet"

# Life areas (levensgebieden) of the plan (CarePlan.category, Goal.category)
LIFE_AREA_SYSTEM = code_system("levensgebied")

# Kinds of plan items (extension on CarePlan.activity, Task.code)
PLAN_ITEM_SYSTEM = code_system("plan-item-soort")
AFSPRAAK = "afspraak"  # agreement between client and provider
EVALUATIEMOMENT = "evaluatiemoment"  # evaluation / reflection moment
CRISISAFSPRAAK = "crisisafspraak"  # crisis agreement
WAARNEMING = "waarneming"  # substitution during absence
MANTELZORGTAAK = "mantelzorgtaak"  # task taken on by an informal carer

# Workflow tasks of the plan (Task.code)
TASK_SYSTEM = code_system("zorgleefplan-taak")
REGIEBEHANDELAAR_OVERDRACHT = "regiebehandelaar-overdracht"  # handover from A to B
KLACHT = "klacht"  # a client's complaint, handled via the regiebehandelaar
WLZ_PLAATSING = "wlz-plaatsing"  # a step of the Wlz placement (seed 004)

# Extensions
EXT_PLAN_ITEM_KIND = structure_definition("plan-item-soort")  # on CarePlan.activity
EXT_VOLMACHT = structure_definition("volmacht")  # on CarePlan: exists? + Reference(Consent)
EXT_ROLE_EXCEPTION = structure_definition("rolcombinatie-uitzondering")  # on CareTeam
# On Subscription, set by the server: who the subscription notifies for (see
# access/subscriber.py); sub-extensions kind, subject, client, fhirUser, patient, organization,
# scope.
EXT_SUBSCRIBER = structure_definition("subscriber")
