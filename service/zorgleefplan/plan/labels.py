"""Dutch words for the codes the plan shows to people (the narrative and displays)."""

from __future__ import annotations

import re

from zorgleefplan.plan import codes

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")

ROLES = {
    codes.REGIEBEHANDELAAR: "regiebehandelaar",
    codes.AANSPREEKPUNT: "aanspreekpunt",
    codes.COORDINEREND_ZORGVERLENER: "coördinerend zorgverlener",
    codes.INDICEREND_ZORGVERLENER: "indicerend zorgverlener",
    codes.ZORGVERANTWOORDELIJKE: "zorgverantwoordelijke",
    codes.WZD_FUNCTIONARIS: "Wzd-functionaris",
    codes.PERSOONLIJK_BEGELEIDER: "persoonlijk begeleider",
    codes.DOSSIERHOUDER: "dossierhouder",
    codes.ZORGKANTOOR: "zorgkantoor",
    codes.ONAFHANKELIJKE_CLIENTONDERSTEUNER: "onafhankelijke cliëntondersteuner",
    codes.MANTELZORGER: "mantelzorger",
    codes.VRIJWILLIGER: "vrijwilliger",
}

ITEM_KINDS = {
    codes.AFSPRAAK: "afspraak",
    codes.EVALUATIEMOMENT: "evaluatiemoment",
    codes.CRISISAFSPRAAK: "crisisafspraak",
    codes.WAARNEMING: "waarneming",
    codes.MANTELZORGTAAK: "mantelzorgtaak",
}

DOMAINS = {codes.ZVW: "Zvw", codes.WLZ: "Wlz", codes.WMO: "Wmo", codes.JEUGDWET: "Jeugdwet"}

# CarePlan.activity.detail.status, Task.status, Goal.lifecycleStatus, CarePlan.status
STATUSES = {
    "not-started": "nog niet gestart",
    "scheduled": "gepland",
    "in-progress": "bezig",
    "on-hold": "gepauzeerd",
    "completed": "afgerond",
    "cancelled": "geannuleerd",
    "stopped": "gestopt",
    "unknown": "onbekend",
    "draft": "concept",
    "requested": "gevraagd",
    "received": "ontvangen",
    "accepted": "geaccepteerd",
    "rejected": "afgewezen",
    "ready": "klaar om te starten",
    "failed": "mislukt",
    "proposed": "voorgesteld",
    "planned": "gepland",
    "active": "actief",
    "suspended": "opgeschort",
    "revoked": "ingetrokken",
}

VERDICTS = {"pass": "voldaan", "fail": "niet voldaan", "cannot-tell": "niet te beoordelen"}


def status(code: str | None) -> str:
    return STATUSES.get(code or "", code or "onbekend")


def date(text: str | None) -> str:
    """A FHIR date as the Dutch write it (dd-mm-jjjj), keeping any time of day."""
    if not text:
        return "zonder datum"
    match = _DATE.match(text)
    if not match:
        return text
    rest = text[10:]
    shown = f"{match[3]}-{match[2]}-{match[1]}"
    return shown + (f" {rest[1:6]}" if rest.startswith("T") else "")
