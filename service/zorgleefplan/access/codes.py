"""Code systems and codes the consent policy engine reads (see DOMAIN.md, "FHIR mapping").

Kept as named constants so the engine, the facts parser and their tests spell each code once.
"""

from __future__ import annotations

from zorgleefplan.plan import codes as plan_codes

# Consent.scope
CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
SCOPE_PRIVACY = "patient-privacy"  # access consents: who may see / change what
SCOPE_ADR = "adr"  # advance directives (wilsverklaringen), among them the volmacht

# Consent.category of an nl-core-AdvanceDirective
CONSENT_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentcategorycodes"
CATEGORY_ACD = "acd"

# Wilsverklaring type (nl-core LivingWillTypeCodelist): VOL = volmacht
LIVING_WILL_SYSTEM = "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.14.1"
VOLMACHT = "VOL"

# Consent.provision.actor.role
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
RESPRSN = "RESPRSN"  # responsible party: the volmacht holder

# Consent.provision.action
CONSENT_ACTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentaction"
ACTION_ACCESS = "access"  # read, vread, search, history
ACTION_CORRECT = "correct"  # update, and create of the actor's own records
ACTION_COLLECT = "collect"
ACTION_USE = "use"
ACTION_DISCLOSE = "disclose"

# Consent.provision.class
RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"

# Consent.provision.purpose / purpose of use of a request
ACT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ETREAT = "ETREAT"  # emergency treatment: break-the-glass
TREAT = "TREAT"

# RelatedPerson.relationship: ContactPerson roles (zib Contactpersoon, Rol)
CONTACT_ROLE_SYSTEM = "urn:oid:2.16.840.1.113883.2.4.3.11.22.472"
CURATOR = "03"
BEWINDVOERDER = "14"  # financial affairs only: no access to the care plan
MENTOR = "15"
WETTELIJK_VERTEGENWOORDIGER = "24"
LEGAL_CARE_ROLES = frozenset({CURATOR, MENTOR, WETTELIJK_VERTEGENWOORDIGER})

# CareTeam.participant.role: the project's own roles (defined with the plan's vocabulary)
ZLP_ROLE_SYSTEM = plan_codes.ROLE_SYSTEM
REGIEBEHANDELAAR = plan_codes.REGIEBEHANDELAAR

# Task.code of the workflow Tasks whose owner may read and update them (a handover addressed to
# the receiving professional, a complaint forwarded to a provider)
WORKFLOW_TASK_SYSTEM = plan_codes.TASK_SYSTEM
ADDRESSED_TASK_CODES = frozenset({plan_codes.REGIEBEHANDELAAR_OVERDRACHT, plan_codes.KLACHT})
