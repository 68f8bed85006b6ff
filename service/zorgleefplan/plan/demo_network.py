"""The demo network: mevrouw Berends's zorgleefplan (seed 002, chapter 1) as FHIR resources.

Mevrouw Berends (80) has arthrosis and cares for her husband, who has beginning dementia. She
broke her hip in a fall, was operated on and rehabilitated, and is home again: she needs
physiotherapy (Zvw) and cannot drive to it (Wmo transport), cannot climb the stairs to the
bedroom (Wmo home adaptation), finds the housekeeping too heavy (Wmo), and her husband's
personal care comes from the Wlz. Her wijkverpleegkundige is her regiebehandelaar; her daughter
holds a volmacht; her neighbour is her mantelzorger. The plan holds goals, agreements across
Zvw, Wmo and Wlz, informal-care tasks, a crisis agreement, waarneming and an evaluation moment
due a week after the plan was drawn up (seed 003 §2.2.2 a-f).

Pure data: :func:`demo_network` builds the resources (in an order in which each one's
references resolve), the logins and the apps; ``zorgleefplan demo`` (cli_demo.py) stores them.
Identifiers are valid Dutch test identifiers: BSNs in the 99999xxxx test range passing the
elfproef, AGB and URA codes of 8 digits, BIG numbers of 11. Dates are relative to ``anchor``,
the day the plan was first loaded, so loading again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from zorgleefplan.access import codes as access_codes
from zorgleefplan.plan import codes

CLIENT = "demo-berends"
PLAN = "demo-zorgleefplan"
CARE_TEAM = "demo-netwerk"
VOLMACHT = "demo-volmacht"
DAUGHTER = "demo-dochter"
NEIGHBOUR = "demo-buurvrouw"
HUSBAND = "demo-echtgenoot"
EVALUATION_DAYS = 7  # the evaluation moment is due a week after the plan was drawn up

ORG_HUISARTS = "demo-huisartsenpraktijk"
ORG_THUISZORG = "demo-thuiszorg"
ORG_GEMEENTE = "demo-gemeente"
ORG_FYSIO = "demo-fysiotherapie"
WIJKVERPLEEGKUNDIGE = "demo-wijkverpleegkundige"
HUISARTS = "demo-huisarts"
VERZORGENDE = "demo-verzorgende"
WMO_CONSULENT = "demo-wmo-consulent"
FYSIOTHERAPEUT = "demo-fysiotherapeut"

BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"
AGB_SYSTEM = "http://fhir.nl/fhir/NamingSystem/agb-z"
URA_SYSTEM = "http://fhir.nl/fhir/NamingSystem/ura"
BIG_SYSTEM = "http://fhir.nl/fhir/NamingSystem/big"
SNOMED = "http://snomed.info/sct"
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
MANTELZORGER_SYSTEM = "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.23.1"
PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

PASSWORD = "zorgleefplan-demo"  # the same for every demo account: the data is made up
REDIRECT_URI = "http://localhost:8765/callback"  # nothing listens: read the code in the URL
PGO_APP = "zorgleefplan-demo-app"
EHR_APP = "zorgleefplan-demo-epd-thuiszorg"


@dataclass(frozen=True)
class DemoLogin:
    """A built-in account for one role, and what the client's consent lets it do."""

    username: str
    name: str
    fhir_user: str
    role: str  # the role in Dutch, as the printout shows it
    may: str  # what the client's plan lets this role do, in Dutch
    scope: str  # what to ask for when logging in through an app


@dataclass(frozen=True)
class DemoApp:
    client_id: str
    name: str
    kind: str  # "public" or "backend"
    redirect_uris: tuple[str, ...] = ()
    organization: str | None = None
    organization_name: str | None = None


@dataclass(frozen=True)
class DemoNetwork:
    directory: tuple[dict[str, Any], ...]  # shared data: organisations, professionals
    plan: tuple[dict[str, Any], ...]  # the client's compartment, written by the client
    logins: tuple[DemoLogin, ...]
    apps: tuple[DemoApp, ...]


def _ref(reference: str, display: str | None = None) -> dict[str, str]:
    return {"reference": reference, **({"display": display} if display else {})}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)], **({"text": display} if display else {})}


def _identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


# --------------------------------------------------------------------------- directory


def _organization(id_: str, name: str, ura: str, agb: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": id_,
        "identifier": [_identifier(URA_SYSTEM, ura), _identifier(AGB_SYSTEM, agb)],
        "active": True,
        "name": name,
    }


def _professional(
    id_: str,
    given: str,
    family: str,
    organization: str,
    role: str,
    agb: str,
    big: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    identifiers = [_identifier(AGB_SYSTEM, agb)]
    if big is not None:
        identifiers.append(_identifier(BIG_SYSTEM, big))
    practitioner = {
        "resourceType": "Practitioner",
        "id": id_,
        "identifier": identifiers,
        "active": True,
        "name": [{"family": family, "given": [given], "text": f"{given} {family}"}],
    }
    practitioner_role = {
        "resourceType": "PractitionerRole",
        "id": id_,
        "active": True,
        "practitioner": _ref(f"Practitioner/{id_}", f"{given} {family}"),
        "organization": _ref(f"Organization/{organization}"),
        "code": [{"text": role}],
        "telecom": [
            {"system": "phone", "value": f"0318-{agb[-6:]}", "use": "work"},
            {"system": "email", "value": f"{given.lower()}@{organization}.example", "use": "work"},
        ],
    }
    return practitioner, practitioner_role


def _directory() -> tuple[dict[str, Any], ...]:
    organizations = (
        _organization(ORG_HUISARTS, "Huisartsenpraktijk De Linde", "90000011", "01012345"),
        _organization(ORG_THUISZORG, "Thuiszorg Rivierenland", "90000022", "75012345"),
        _organization(ORG_GEMEENTE, "Gemeente Zuidermeer (Wmo-loket)", "90000033", "98012345"),
        _organization(ORG_FYSIO, "Fysiotherapie Het Anker", "90000044", "04012345"),
    )
    people = (
        (WIJKVERPLEEGKUNDIGE, "Sanne", "de Vries", ORG_THUISZORG, "Wijkverpleegkundige",
         "30012345", "19012345630"),
        (HUISARTS, "Pieter", "Bakker", ORG_HUISARTS, "Huisarts", "01054321", "49012345601"),
        (VERZORGENDE, "Fatima", "El Amrani", ORG_THUISZORG, "Verzorgende IG", "30054321", None),
        (WMO_CONSULENT, "Joost", "Hendriks", ORG_GEMEENTE, "Wmo-consulent", "98054321", None),
        (FYSIOTHERAPEUT, "Anouk", "Visser", ORG_FYSIO, "Fysiotherapeut", "04054321",
         "09012345604"),
    )  # fmt: skip
    professionals = [r for p in people for r in _professional(*p)]
    return (*organizations, *professionals)


# --------------------------------------------------------------------------- the plan


def _related_person(
    id_: str,
    given: str,
    family: str,
    relationships: list[dict[str, Any]],
    start: str,
    phone: str,
) -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "id": id_,
        "active": True,
        "patient": _ref(f"Patient/{CLIENT}"),
        "relationship": relationships,
        "name": [{"family": family, "given": [given], "text": f"{given} {family}"}],
        "telecom": [{"system": "phone", "value": phone, "use": "mobile"}],
        "period": {"start": start},
    }


def _goal(
    id_: str, text: str, start: str, due: str, addresses: str | None = None
) -> dict[str, Any]:
    goal: dict[str, Any] = {
        "resourceType": "Goal",
        "id": id_,
        "lifecycleStatus": "active",
        "description": {"text": text},
        "subject": _ref(f"Patient/{CLIENT}"),
        "startDate": start,
        "target": [{"dueDate": due}],
        "expressedBy": _ref(f"Patient/{CLIENT}"),
    }
    if addresses is not None:
        goal["addresses"] = [_ref(f"Condition/{addresses}")]
    return goal


def _activity(
    kind: str,
    description: str,
    performers: list[str],
    responsible: str,
    status: str = "in-progress",
    goals: tuple[str, ...] = (),
    scheduled: dict[str, Any] | None = None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "status": status,
        "description": description,
        "performer": [_ref(p) for p in performers],
    }
    if goals:
        detail["goal"] = [_ref(f"Goal/{g}") for g in goals]
    if scheduled is not None:
        detail.update(scheduled)
    return {
        "extension": [
            {
                "url": codes.EXT_PLAN_ITEM_KIND,
                "valueCodeableConcept": _concept(codes.PLAN_ITEM_SYSTEM, kind),
            },
            # who answers for it, and to whom a naaste reports signs (seed 003 §2.2.2 c)
            {"url": codes.EXT_RESPONSIBLE, "valueReference": _ref(responsible)},
        ],
        "detail": detail,
    }


def _participant(member: str, start: str, *roles: dict[str, Any]) -> dict[str, Any]:
    return {"role": list(roles), "member": _ref(member), "period": {"start": start}}


def _zlp_role(code: str, display: str) -> dict[str, Any]:
    return _concept(codes.ROLE_SYSTEM, code, display)


def _access_consent(
    id_: str, actor: str, classes: tuple[str, ...], actions: tuple[str, ...], start: str
) -> dict[str, Any]:
    """An access Consent (scope patient-privacy) permitting one actor ``actions`` on
    ``classes`` of the plan."""
    return {
        "resourceType": "Consent",
        "id": id_,
        "status": "active",
        "scope": _concept(access_codes.CONSENT_SCOPE_SYSTEM, access_codes.SCOPE_PRIVACY),
        "category": [_concept("http://loinc.org", "59284-0", "Toestemming")],
        "patient": _ref(f"Patient/{CLIENT}"),
        "dateTime": start,
        "policyRule": _concept(ACT_CODE_SYSTEM, "OPTIN"),
        "provision": {
            "type": "permit",
            "period": {"start": start},
            "actor": [
                {
                    "role": _concept(PARTICIPATION_SYSTEM, "PRCP"),
                    "reference": _ref(actor),
                }
            ],
            "action": [_concept(access_codes.CONSENT_ACTION_SYSTEM, a) for a in actions],
            "class": [{"system": access_codes.RESOURCE_TYPES_SYSTEM, "code": c} for c in classes],
        },
    }


def _plan(anchor: date) -> tuple[dict[str, Any], ...]:
    def day(offset: int) -> str:
        return (anchor + timedelta(days=offset)).isoformat()

    start = day(0)
    client = f"Patient/{CLIENT}"
    wijk = f"PractitionerRole/{WIJKVERPLEEGKUNDIGE}"
    huisarts = f"PractitionerRole/{HUISARTS}"
    verzorgende = f"PractitionerRole/{VERZORGENDE}"
    wmo = f"PractitionerRole/{WMO_CONSULENT}"
    fysio = f"PractitionerRole/{FYSIOTHERAPEUT}"
    patient = {
        "resourceType": "Patient",
        "id": CLIENT,
        "identifier": [_identifier(BSN_SYSTEM, "999990044")],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": "Berends",
                "given": ["Johanna"],
                "text": "Johanna Berends",
            }
        ],
        "telecom": [{"system": "phone", "value": "0345-123456", "use": "home"}],
        "gender": "female",
        "birthDate": date(anchor.year - 80, 3, 12).isoformat(),
        "address": [{"line": ["Dijkstraat 14"], "postalCode": "4101 AB", "city": "Zuidermeer"}],
        "generalPractitioner": [_ref(huisarts)],
    }
    daughter = _related_person(
        DAUGHTER,
        "Marieke",
        "Berends",
        [  # her role in the plan first: the consent screen names the first one
            _concept(ROLE_CODE_SYSTEM, "HPOWATT", "gevolmachtigde"),
            _concept(ROLE_CODE_SYSTEM, "DAU", "dochter"),
        ],
        day(-30),
        "06-12345678",
    )
    neighbour = _related_person(
        NEIGHBOUR,
        "Ria",
        "Jansen",
        [
            _concept(ROLE_CODE_SYSTEM, "NBOR", "buurvrouw"),
            _concept(MANTELZORGER_SYSTEM, "100001", "Mantelzorger"),
        ],
        day(-30),
        "06-87654321",
    )
    husband = _related_person(
        HUSBAND,
        "Hendrik",
        "Berends",
        [_concept(ROLE_CODE_SYSTEM, "HUSB", "echtgenoot")],
        "1968-06-01",
        "0345-123456",
    )
    volmacht = {
        "resourceType": "Consent",
        "id": VOLMACHT,
        "status": "active",
        "scope": _concept(access_codes.CONSENT_SCOPE_SYSTEM, access_codes.SCOPE_ADR),
        "category": [_concept(access_codes.CONSENT_CATEGORY_SYSTEM, access_codes.CATEGORY_ACD)],
        "patient": _ref(client),
        "dateTime": day(-30),
        "provision": {
            "type": "permit",
            "period": {"start": day(-30)},
            "code": [_concept(access_codes.LIVING_WILL_SYSTEM, access_codes.VOLMACHT, "Volmacht")],
            "actor": [
                {
                    "role": _concept(access_codes.ROLE_CODE_SYSTEM, access_codes.RESPRSN),
                    "reference": _ref(f"RelatedPerson/{DAUGHTER}", "Marieke Berends"),
                }
            ],
        },
    }
    conditions = (
        {
            "resourceType": "Condition",
            "id": "demo-artrose",
            "clinicalStatus": _concept(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "active"
            ),
            "code": _concept(SNOMED, "396275006", "Artrose"),
            "subject": _ref(client),
            "onsetString": "sinds ongeveer 2015",
        },
        {
            "resourceType": "Condition",
            "id": "demo-heupfractuur",
            "clinicalStatus": _concept(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved"
            ),
            "code": _concept(SNOMED, "5913000", "Heupfractuur rechts, operatief behandeld"),
            "subject": _ref(client),
            "onsetDateTime": day(-70),
        },
    )
    goals = (
        _goal(
            "demo-doel-thuis",
            "Samen met mijn man zo lang mogelijk thuis blijven wonen en voor hem kunnen zorgen",
            start,
            day(365),
        ),
        _goal(
            "demo-doel-mobiliteit",
            "Weer veilig lopen in en om het huis en zelf de trap op kunnen",
            start,
            day(90),
            "demo-heupfractuur",
        ),
        _goal(
            "demo-doel-huishouden",
            "Het huishouden blijft op orde zonder dat het mij te zwaar wordt",
            start,
            day(180),
        ),
        _goal(
            "demo-doel-pijn",
            "De pijn door de artrose is draaglijk: overdag lager dan 4 op een schaal van 10",
            start,
            day(90),
            "demo-artrose",
        ),
    )
    care_team = {
        "resourceType": "CareTeam",
        "id": CARE_TEAM,
        "status": "active",
        "name": "Netwerk van mevrouw Berends",
        "subject": _ref(client),
        "period": {"start": start},
        "participant": [
            _participant(
                wijk,
                start,
                _zlp_role(codes.REGIEBEHANDELAAR, "Regiebehandelaar"),
                _zlp_role(codes.AANSPREEKPUNT, "Aanspreekpunt"),
                _zlp_role(codes.COORDINEREND_ZORGVERLENER, "Coördinerend zorgverlener"),
            ),
            _participant(
                huisarts,
                start,
                _zlp_role(codes.INDICEREND_ZORGVERLENER, "Indicerend zorgverlener"),
            ),
            _participant(verzorgende, start, {"text": "Verzorgende thuiszorg"}),
            _participant(fysio, start, {"text": "Fysiotherapeut"}),
            _participant(wmo, start, {"text": "Wmo-consulent"}),
            _participant(
                f"RelatedPerson/{DAUGHTER}",
                day(-30),
                _concept(ROLE_CODE_SYSTEM, "HPOWATT", "Gevolmachtigde"),
            ),
            _participant(
                f"RelatedPerson/{NEIGHBOUR}",
                day(-30),
                _zlp_role(codes.MANTELZORGER, "Mantelzorger"),
            ),
        ],
        "managingOrganization": [_ref(f"Organization/{ORG_THUISZORG}")],
    }
    evaluation = {"scheduledPeriod": {"start": day(EVALUATION_DAYS)}}
    activities = [
        _activity(
            codes.AFSPRAAK,
            "Zvw: fysiotherapie in de praktijk, twee keer per week, gericht op traplopen en "
            "veilig lopen na de heupoperatie.",
            [fysio],
            responsible=fysio,
            goals=("demo-doel-mobiliteit",),
            scheduled={"scheduledString": "dinsdag en vrijdag"},
        ),
        _activity(
            codes.AFSPRAAK,
            "Zvw: wijkverpleging, wekelijks huisbezoek: controle van de heup, signaleren van "
            "overbelasting en afstemming met het netwerk.",
            [wijk],
            responsible=wijk,
            goals=("demo-doel-thuis", "demo-doel-mobiliteit"),
        ),
        _activity(
            codes.AFSPRAAK,
            "Zvw: pijnbestrijding bij artrose; de huisarts evalueert de medicatie elke drie "
            "maanden.",
            [huisarts],
            responsible=huisarts,
            goals=("demo-doel-pijn",),
        ),
        _activity(
            codes.AFSPRAAK,
            "Wmo: huishoudelijke hulp, drie uur per week, toegekend door de gemeente en "
            "geleverd door Thuiszorg Rivierenland.",
            [wmo, f"Organization/{ORG_THUISZORG}"],
            responsible=wmo,
            goals=("demo-doel-huishouden",),
        ),
        _activity(
            codes.AFSPRAAK,
            "Wmo: vervoer naar de fysiotherapeut met de regiotaxi (Wmo-vervoerspas).",
            [wmo],
            responsible=wmo,
            goals=("demo-doel-mobiliteit",),
        ),
        _activity(
            codes.AFSPRAAK,
            "Wmo: woningaanpassing — een traplift, zodat zij weer boven kan slapen; de "
            "aanvraag is in behandeling.",
            [wmo],
            responsible=wmo,
            status="scheduled",
            goals=("demo-doel-thuis",),
        ),
        _activity(
            codes.AFSPRAAK,
            "Wlz: de verzorgende helpt meneer Berends dagelijks met wassen en aankleden; bij "
            "overbelasting van mevrouw Berends regelt de thuiszorg logeeropvang voor hem.",
            [verzorgende],
            responsible=verzorgende,
            goals=("demo-doel-thuis",),
        ),
        _activity(
            codes.MANTELZORGTAAK,
            "Buurvrouw Ria belt elke ochtend even aan en doet op dinsdag de boodschappen; de "
            "wijkverpleegkundige is haar aanspreekpunt.",
            [f"RelatedPerson/{NEIGHBOUR}"],
            responsible=wijk,
            goals=("demo-doel-thuis",),
        ),
        _activity(
            codes.MANTELZORGTAAK,
            "Dochter Marieke regelt de post en de aanvragen bij de gemeente en gaat mee naar "
            "de afspraken bij de huisarts.",
            [f"RelatedPerson/{DAUGHTER}"],
            responsible=wijk,
            goals=("demo-doel-huishouden",),
        ),
        _activity(
            codes.CRISISAFSPRAAK,
            "Bij een val of acute nood: de alarmknop (personenalarmering) waarschuwt buurvrouw "
            "Ria en daarna de dochter; buiten kantoortijd de huisartsenpost.",
            [f"RelatedPerson/{NEIGHBOUR}", f"RelatedPerson/{DAUGHTER}"],
            responsible=huisarts,
        ),
        _activity(
            codes.WAARNEMING,
            "Bij afwezigheid van de wijkverpleegkundige neemt een collega van het wijkteam van "
            "Thuiszorg Rivierenland waar, bereikbaar via het teamnummer.",
            [f"Organization/{ORG_THUISZORG}"],
            responsible=wijk,
        ),
        _activity(
            codes.EVALUATIEMOMENT,
            "Evaluatie van het zorgleefplan met mevrouw Berends, haar dochter en de "
            "wijkverpleegkundige: lukt het thuis, is de traplift geregeld, is de zorg voor "
            "meneer Berends nog vol te houden?",
            [wijk, client, f"RelatedPerson/{DAUGHTER}"],
            responsible=wijk,
            status="scheduled",
            scheduled=evaluation,
        ),
    ]
    plan = {
        "resourceType": "CarePlan",
        "id": PLAN,
        "extension": [
            {
                "url": codes.EXT_VOLMACHT,
                "extension": [
                    {"url": "aanwezig", "valueBoolean": True},
                    {"url": "consent", "valueReference": _ref(f"Consent/{VOLMACHT}")},
                ],
            }
        ],
        "status": "active",
        "intent": "plan",
        "category": [
            _concept(codes.DOMAIN_SYSTEM, codes.ZVW, "Zorgverzekeringswet"),
            _concept(codes.DOMAIN_SYSTEM, codes.WMO, "Wet maatschappelijke ondersteuning"),
            _concept(codes.DOMAIN_SYSTEM, codes.WLZ, "Wet langdurige zorg"),
        ],
        "title": "Zorgleefplan van mevrouw Berends",
        "description": "Na haar heupfractuur is mevrouw Berends weer thuis. Zij wil samen met "
        "haar man, die beginnende dementie heeft, thuis blijven wonen. Dit plan bundelt de "
        "afspraken met haar zorgverleners, de gemeente en haar naasten.",
        "subject": _ref(client),
        "period": {"start": start},
        "created": start,
        "author": _ref(client),
        "contributor": [_ref(wijk), _ref(f"RelatedPerson/{DAUGHTER}")],
        "careTeam": [_ref(f"CareTeam/{CARE_TEAM}")],
        "addresses": [_ref(f"Condition/{c['id']}") for c in conditions],
        "goal": [_ref(f"Goal/{g['id']}") for g in goals],
        "activity": activities,
    }
    consents = (
        _access_consent(
            "demo-toegang-huisarts",
            huisarts,
            ("Patient", "CarePlan", "CareTeam", "Goal", "Condition", "Task", "Communication"),
            ("access", "correct"),
            start,
        ),
        _access_consent(
            "demo-toegang-thuiszorg",
            f"Organization/{ORG_THUISZORG}",
            ("Patient", "CarePlan", "CareTeam", "Goal", "Task", "Communication"),
            ("access", "correct"),
            start,
        ),
        _access_consent(
            "demo-toegang-gemeente",
            wmo,
            ("Patient", "CarePlan", "Goal", "Task"),
            ("access",),
            start,
        ),
        _access_consent(
            "demo-toegang-fysiotherapeut",
            fysio,
            ("Patient", "CarePlan", "Goal", "Condition"),
            ("access", "correct"),
            start,
        ),
    )
    return (
        patient,
        daughter,
        neighbour,
        husband,
        volmacht,
        *conditions,
        *goals,
        care_team,
        plan,
        *consents,
    )


# --------------------------------------------------------------------------- logins, apps

PATIENT_SCOPE = "openid fhirUser launch/patient patient/*.cruds"
PROFESSIONAL_SCOPE = "openid fhirUser user/*.cruds"

LOGINS = (
    DemoLogin(
        "berends",
        "Johanna Berends",
        f"Patient/{CLIENT}",
        "cliënt",
        "ziet en wijzigt haar hele plan, geeft en trekt toegang in, ziet wie haar plan inzag",
        PATIENT_SCOPE,
    ),
    DemoLogin(
        "marieke",
        "Marieke Berends",
        f"RelatedPerson/{DAUGHTER}",
        "dochter, gevolmachtigde",
        "handelt namens haar moeder (volmacht): ziet en wijzigt het plan, niet de volmacht zelf",
        PATIENT_SCOPE,
    ),
    DemoLogin(
        "wijkverpleegkundige",
        "Sanne de Vries",
        f"PractitionerRole/{WIJKVERPLEEGKUNDIGE}",
        "wijkverpleegkundige, regiebehandelaar",
        "leest het plan en het netwerk, werkt het zorgleefplan en taken bij",
        PROFESSIONAL_SCOPE,
    ),
    DemoLogin(
        "huisarts",
        "Pieter Bakker",
        f"PractitionerRole/{HUISARTS}",
        "huisarts",
        "leest plan, doelen, netwerk en diagnoses; legt eigen gegevens vast (toestemming)",
        PROFESSIONAL_SCOPE,
    ),
    DemoLogin(
        "wmo-consulent",
        "Joost Hendriks",
        f"PractitionerRole/{WMO_CONSULENT}",
        "Wmo-consulent van de gemeente",
        "leest het plan, de doelen en taken, geen diagnoses (toestemming)",
        PROFESSIONAL_SCOPE,
    ),
)

APPS = (
    DemoApp(PGO_APP, "Zorgleefplan demo-app", "public", redirect_uris=(REDIRECT_URI,)),
    DemoApp(
        EHR_APP,
        "EPD Thuiszorg Rivierenland (demo)",
        "backend",
        organization=f"Organization/{ORG_THUISZORG}",
        organization_name="Thuiszorg Rivierenland",
    ),
)


def demo_network(anchor: date) -> DemoNetwork:
    """The network with the plan drawn up on ``anchor``."""
    return DemoNetwork(directory=_directory(), plan=_plan(anchor), logins=LOGINS, apps=APPS)


def anchor_of(plan: dict[str, Any]) -> date | None:
    """The day a stored demo plan was drawn up (its ``created``), if readable."""
    created = plan.get("created")
    try:
        return date.fromisoformat(created[:10]) if isinstance(created, str) else None
    except ValueError:
        return None
