"""Examples of resources that conform to each of the project's profiles (profiles/): the
unit tests of the validator break them one rule at a time, the API tests send them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zorgleefplan.plan import codes
from zorgleefplan.plan.identifiers import BSN

Json = dict[str, Any]
SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
LIVING_WILL = "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.14.1"
CONTACT_ROLE = "urn:oid:2.16.840.1.113883.2.4.3.11.22.472"


def ref(reference: str) -> Json:
    return {"reference": reference}


def concept(system: str, code: str) -> Json:
    return {"coding": [{"system": system, "code": code}]}


def meta(profile: str) -> Json:
    return {"profile": [profile]}


def role(code: str) -> list[Json]:
    return [concept(codes.ROLE_SYSTEM, code)]


def volmacht_extension(exists: bool, *consents: str) -> Json:
    parts: list[Json] = [{"url": "aanwezig", "valueBoolean": exists}]
    parts += [{"url": "consent", "valueReference": ref(c)} for c in consents]
    return {"url": codes.EXT_VOLMACHT, "extension": parts}


def kind(code: str) -> Json:
    return {
        "url": codes.EXT_PLAN_ITEM_KIND,
        "valueCodeableConcept": concept(codes.PLAN_ITEM_SYSTEM, code),
    }


# --------------------------------------------------------------------------- valid resources


def client() -> Json:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": meta(codes.PROFILE_CLIENT),
        "identifier": [{"system": BSN, "value": "999911120"}],
        "name": [{"family": "Berends", "given": ["Anna"]}],
    }


def zorgleefplan() -> Json:
    return {
        "resourceType": "CarePlan",
        "id": "plan",
        "meta": meta(codes.PROFILE_ZORGLEEFPLAN),
        "extension": [volmacht_extension(True, "Consent/volmacht")],
        "status": "active",
        "intent": "plan",
        "category": [
            concept(codes.DOMAIN_SYSTEM, codes.ZVW),
            concept(codes.DOMAIN_SYSTEM, codes.WMO),
            concept(codes.LIFE_AREA_SYSTEM, codes.PARTICIPATIE),
        ],
        "subject": ref("Patient/p1"),
        "careTeam": [ref("CareTeam/netwerk")],
        "goal": [ref("Goal/wandelen")],
        "activity": [
            {
                "extension": [kind(codes.AFSPRAAK)],
                "detail": {
                    "status": "in-progress",
                    "description": "Dagelijks wandelen met de buurvrouw",
                    "performer": [ref("RelatedPerson/buur")],
                },
                "progress": [{"text": "Gaat goed", "time": "2024-05-01"}],
            },
            {
                "extension": [kind(codes.EVALUATIEMOMENT)],
                "detail": {
                    "status": "scheduled",
                    "scheduledString": "elke drie maanden",
                    "performer": [ref("PractitionerRole/wijkverpleegkundige")],
                },
            },
            {"extension": [kind(codes.MANTELZORGTAAK)], "reference": ref("Task/boodschappen")},
        ],
    }


def zorgnetwerk() -> Json:
    return {
        "resourceType": "CareTeam",
        "id": "netwerk",
        "meta": meta(codes.PROFILE_ZORGNETWERK),
        "subject": ref("Patient/p1"),
        "participant": [
            {
                "role": role(codes.REGIEBEHANDELAAR) + role(codes.AANSPREEKPUNT),
                "member": ref("PractitionerRole/wijkverpleegkundige"),
                "period": {"start": "2024-01-01"},
            },
            {
                "role": role(codes.INDICEREND_ZORGVERLENER),
                "member": ref("PractitionerRole/psychiater"),
            },
            {
                "role": role(codes.COORDINEREND_ZORGVERLENER),
                "member": ref("PractitionerRole/spv"),
            },
            {
                "role": [*role(codes.MANTELZORGER), concept("http://snomed.info/sct", "133932002")],
                "member": ref("RelatedPerson/dochter"),
            },
        ],
    }


def volmachtverlening() -> Json:
    return {
        "resourceType": "Consent",
        "id": "volmacht",
        "meta": meta(codes.PROFILE_VOLMACHTVERLENING),
        "status": "active",
        "scope": concept(SCOPE, "adr"),
        "category": [concept("http://terminology.hl7.org/CodeSystem/consentcategorycodes", "acd")],
        "patient": ref("Patient/p1"),
        "dateTime": "2024-02-01",
        "policy": [{"uri": "http://wetten.overheid.nl/"}],
        "provision": {
            "type": "permit",
            "period": {"start": "2024-02-01"},
            "code": [concept(LIVING_WILL, "VOL")],
            "actor": [
                {"role": concept(ROLE_CODE, "RESPRSN"), "reference": ref("RelatedPerson/dochter")}
            ],
        },
    }


def toegangstoestemming() -> Json:
    return {
        "resourceType": "Consent",
        "id": "toegang",
        "meta": meta(codes.PROFILE_TOEGANGSTOESTEMMING),
        "status": "active",
        "scope": concept(SCOPE, "patient-privacy"),
        "category": [concept("http://loinc.org", "59284-0")],
        "patient": ref("Patient/p1"),
        "policyRule": concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN"),
        "provision": {
            "type": "deny",
            "provision": [
                {
                    "type": "permit",
                    "actor": [
                        {
                            "role": concept(
                                "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PRCP"
                            ),
                            "reference": ref("PractitionerRole/huisarts"),
                        }
                    ],
                    "action": [
                        concept("http://terminology.hl7.org/CodeSystem/consentaction", "access")
                    ],
                }
            ],
        },
    }


def naaste() -> Json:
    return {
        "resourceType": "RelatedPerson",
        "id": "dochter",
        "meta": meta(codes.PROFILE_NAASTE),
        "patient": ref("Patient/p1"),
        "relationship": [concept(ROLE_CODE, "DAU"), concept(CONTACT_ROLE, "01")],
        "name": [{"family": "Berends", "given": ["Els"]}],
    }


def opvolgtaak() -> Json:
    return {
        "resourceType": "Task",
        "id": "boodschappen",
        "meta": meta(codes.PROFILE_OPVOLGTAAK),
        "status": "in-progress",
        "intent": "plan",
        "basedOn": [ref("CarePlan/plan")],
        "code": concept(codes.PLAN_ITEM_SYSTEM, codes.MANTELZORGTAAK),
        "for": ref("Patient/p1"),
        "owner": ref("RelatedPerson/dochter"),
    }


VALID: dict[str, Callable[[], Json]] = {
    "client": client,
    "zorgleefplan": zorgleefplan,
    "zorgnetwerk": zorgnetwerk,
    "volmachtverlening": volmachtverlening,
    "toegangstoestemming": toegangstoestemming,
    "naaste": naaste,
    "opvolgtaak": opvolgtaak,
}
