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


def operation_definition(name: str) -> str:
    return f"{CANONICAL_BASE}/OperationDefinition/{name}"


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
GEVOLMACHTIGDE = "gevolmachtigde"  # holds the client's volmacht (art. 3:61 BW)
WETTELIJK_VERTEGENWOORDIGER = "wettelijk-vertegenwoordiger"  # mentor, curator, ... (kantonrechter)
ROLES = (
    REGIEBEHANDELAAR,
    AANSPREEKPUNT,
    COORDINEREND_ZORGVERLENER,
    INDICEREND_ZORGVERLENER,
    ZORGVERANTWOORDELIJKE,
    WZD_FUNCTIONARIS,
    PERSOONLIJK_BEGELEIDER,
    DOSSIERHOUDER,
    ZORGKANTOOR,
    ONAFHANKELIJKE_CLIENTONDERSTEUNER,
    MANTELZORGER,
    VRIJWILLIGER,
    GEVOLMACHTIGDE,
    WETTELIJK_VERTEGENWOORDIGER,
)

# The law / domain a part of the plan falls under (CarePlan.category)
DOMAIN_SYSTEM = code_system("zorgleefplan-domein")
ZVW = "zvw"
WLZ = "wlz"
WMO = "wmo"
JEUGDWET = "jeugdwet"

# Life areas (levensgebieden) of the plan (CarePlan.category, Goal.category): the four domains
# of the zorgleefplan in the Wlz quality framework (see profiles/CodeSystem-levensgebied.json)
LIFE_AREA_SYSTEM = code_system("levensgebied")
LICHAMELIJK_WELBEVINDEN = "lichamelijk-welbevinden"  # physical well-being and health
WOON_EN_LEEFOMSTANDIGHEDEN = "woon-en-leefomstandigheden"  # living conditions
PARTICIPATIE = "participatie"  # participation
MENTAAL_WELBEVINDEN = "mentaal-welbevinden"  # mental well-being

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
WLZ_PLAATSING = "wlz-plaatsing"  # a task of the Wlz placement steps (seed 004)

# A party's part in a task of a PlanDefinition (seed 004: "eindverantwoordelijk" or a
# contribution; in step 5 and 6 some tasks fall to whoever takes on or organised the meeting)
RESPONSIBILITY_SYSTEM = code_system("verantwoordelijkheid")
EINDVERANTWOORDELIJK = "eindverantwoordelijk"
BIJDRAGE = "bijdrage"
PER_BIJEENKOMST = "per-bijeenkomst"  # "Kan je per bijeenkomst bepalen."
ORGANISATOR_BIJEENKOMST = "organisator-bijeenkomst"  # "Door de partij die ... organiseerde."

# Why one professional is both indicerend and coördinerend zorgverlener (seed 003 §2.1)
ROLE_EXCEPTION_REASON_SYSTEM = code_system("rolcombinatie-reden")
VERZOEK_CLIENT = "verzoek-client"  # on the client's explicit request
GEEN_ANDERE_ZORGVERLENER = "geen-andere-zorgverlener"  # nobody else involved or available

# The two sides of a regiebehandelaar handover (Task.input.type, Provenance.agent.role)
HANDOVER_PARTY_SYSTEM = code_system("overdracht-partij")
OVERDRAGEND = "overdragend"  # the regiebehandelaar who hands over (A)
ONTVANGEND = "ontvangend"  # the professional who takes over (B)

# Extensions
EXT_PLAN_ITEM_KIND = structure_definition("plan-item-soort")  # on CarePlan.activity
EXT_VOLMACHT = structure_definition("volmacht")  # on CarePlan: aanwezig + Reference(Consent)
VOLMACHT_AANWEZIG = "aanwezig"  # sub-extension, valueBoolean 1..1: whether a volmacht exists
VOLMACHT_CONSENT = "consent"  # sub-extension, valueReference(Consent) 0..*: the volmacht(en)
EXT_ROLE_EXCEPTION = structure_definition("rolcombinatie-uitzondering")  # on CareTeam
ROLE_EXCEPTION_REDEN = "reden"  # sub-extension, valueCodeableConcept 1..1 (rolcombinatie-reden)
ROLE_EXCEPTION_LEREND_NETWERK = "lerendNetwerk"  # valueBoolean 1..1, must be true (§2.2.3)
ROLE_EXCEPTION_TOELICHTING = "toelichting"  # valueString 0..1: the circumstances
# A party in a task: on PlanDefinition.action.participant (verantwoordelijkheid, toelichting) and
# on Task (also rol and partij, the Organization filling the role)
EXT_PARTY = structure_definition("betrokken-partij")
EXT_PLAN_STEP = structure_definition("plan-stap")  # on Task: the step (1-based) it belongs to
# Who is responsible for one plan item (extension on CarePlan.activity and Task, valueReference;
# seed 003 §2.2.2 c: "wie verantwoordelijk is voor de verschillende onderdelen van de zorg")
EXT_RESPONSIBLE = structure_definition("verantwoordelijke")

# Profiles (StructureDefinitions of resources)
PROFILE_CLIENT = structure_definition("client")  # Patient
PROFILE_ZORGLEEFPLAN = structure_definition("zorgleefplan")  # CarePlan
PROFILE_ZORGNETWERK = structure_definition("zorgnetwerk")  # CareTeam
PROFILE_VOLMACHTVERLENING = structure_definition("volmachtverlening")  # Consent: the volmacht
PROFILE_TOEGANGSTOESTEMMING = structure_definition("toegangstoestemming")  # Consent: access
PROFILE_NAASTE = structure_definition("naaste")  # RelatedPerson
PROFILE_OPVOLGTAAK = structure_definition("opvolgtaak")  # Task
# On Subscription, set by the server: who the subscription notifies for (see
# access/subscriber.py); sub-extensions kind, subject, client, fhirUser, patient, organization,
# scope.
EXT_SUBSCRIBER = structure_definition("subscriber")
