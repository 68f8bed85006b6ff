"""Who holds which role around the plan: the care team's participants, the volmacht, the
representatives — read with the same rules the consent engine applies (access/engine.py), so
that the plan and the access decisions never disagree about who the regiebehandelaar or the
volmacht holder is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zorgleefplan.access import codes as access_codes
from zorgleefplan.access.engine import is_volmacht, team_active
from zorgleefplan.access.facts import ClientFacts, parse_care_team, parse_consent
from zorgleefplan.plan import codes
from zorgleefplan.plan.network import PlanNetwork
from zorgleefplan.plan.values import (
    Json,
    codes_in,
    extensions,
    has_code,
    period_covers,
    reference,
    string,
    text,
    walk,
)

# Representatives (zib Contactpersoon roles): the legal ones and the financial bewindvoerder.
REPRESENTATIVE_ROLES = {
    access_codes.CURATOR: "curator",
    access_codes.BEWINDVOERDER: "bewindvoerder",
    access_codes.MENTOR: "mentor",
    access_codes.WETTELIJK_VERTEGENWOORDIGER: "wettelijk vertegenwoordiger",
}


@dataclass(frozen=True)
class Participant:
    """One current participant of one of the client's active care teams."""

    member: str  # Type/id
    roles: tuple[str, ...]  # the project's role codes (codes.ROLE_SYSTEM)
    other_roles: tuple[str, ...]  # what role concepts outside that system say
    on_behalf_of: str | None
    period: Json | None
    team: str  # CareTeam/id
    path: str  # element path of the participant in that team
    display: str | None  # the member reference's own display


def participants(network: PlanNetwork) -> list[Participant]:
    """Current participants of the client's active care teams, in team and list order."""
    if network.client is None:
        return []
    facts = ClientFacts(network.client)
    found = []
    for raw in network.of_type("CareTeam"):
        team = parse_care_team(raw)
        if team is None or not team_active(team, facts, network.now):
            continue
        listed = raw.get("participant") or []  # parse_care_team read each entry, in order
        for i, (parsed, element) in enumerate(zip(team.participants, listed, strict=True)):
            if parsed.member is None or not parsed.period.covers(network.now):
                continue
            concepts = walk(element, ("role",))
            found.append(
                Participant(
                    member=parsed.member,
                    roles=tuple(c for r in concepts for c in codes_in(r, codes.ROLE_SYSTEM)),
                    other_roles=tuple(
                        t for r in concepts if not codes_in(r, codes.ROLE_SYSTEM) and (t := text(r))
                    ),
                    on_behalf_of=parsed.on_behalf_of,
                    period=element.get("period"),
                    team=team.reference,
                    path=f"CareTeam.participant[{i}]",
                    display=string(element.get("member"), "display"),
                )
            )
    return found


def holders(network: PlanNetwork, role: str) -> list[Participant]:
    """The current holders of one of the project's roles."""
    return [p for p in participants(network) if role in p.roles]


@dataclass(frozen=True)
class VolmachtConsent:
    consent: str  # Consent/id
    holders: tuple[str, ...]  # RelatedPerson/id (the RESPRSN actors)
    period: Json | None


@dataclass(frozen=True)
class Volmacht:
    """What the plan states about a volmacht, and the active volmacht Consents visible."""

    stated: bool | None  # the plan's own statement (EXT_VOLMACHT.aanwezig); None: silent
    stated_consent: str | None  # the Consent the plan points at
    path: str | None  # where the plan states it
    consents: tuple[VolmachtConsent, ...]


def volmacht(network: PlanNetwork) -> Volmacht:
    stated = stated_consent = path = None
    for i, ext in enumerate(network.plan.get("extension") or ()):
        if not isinstance(ext, Mapping) or ext.get("url") != codes.EXT_VOLMACHT:
            continue
        path = f"CarePlan.extension[{i}]"
        for sub in extensions(ext, codes.VOLMACHT_AANWEZIG):
            if isinstance(sub.get("valueBoolean"), bool):
                stated = sub["valueBoolean"]
        for sub in extensions(ext, codes.VOLMACHT_CONSENT):
            stated_consent = reference(sub.get("valueReference")) or stated_consent
        break
    found = []
    if network.client is not None:
        facts = ClientFacts(network.client)
        for raw in network.of_type("Consent"):
            consent = parse_consent(raw)
            if consent is None or consent.provision is None:
                continue
            if not is_volmacht(consent, facts, None, network.now):
                continue
            found.append(
                VolmachtConsent(
                    consent.reference,
                    tuple(
                        a.reference
                        for a in consent.provision.actors
                        if a.reference is not None
                        and any(
                            r.system == access_codes.ROLE_CODE_SYSTEM
                            and r.code == access_codes.RESPRSN
                            for r in a.roles
                        )
                    ),
                    raw["provision"].get("period"),
                )
            )
    return Volmacht(stated, stated_consent, path, tuple(found))


def representatives(network: PlanNetwork) -> list[Json]:
    """The client's current representatives (curator, mentor, wettelijk vertegenwoordiger,
    bewindvoerder) among the visible RelatedPersons."""
    return [
        person
        for person in network.of_type("RelatedPerson")
        if reference(person.get("patient")) == network.client_reference
        and person.get("active") is not False
        and period_covers(person.get("period"), network.now)
        and any(
            has_code(r, access_codes.CONTACT_ROLE_SYSTEM, code)
            for r in walk(person, ("relationship",))
            for code in REPRESENTATIVE_ROLES
        )
    ]


def representative_roles(person: Json) -> list[str]:
    """What a representative is: mentor, curator, ..."""
    return [
        REPRESENTATIVE_ROLES[code]
        for r in walk(person, ("relationship",))
        for code in codes_in(r, access_codes.CONTACT_ROLE_SYSTEM)
        if code in REPRESENTATIVE_ROLES
    ]
