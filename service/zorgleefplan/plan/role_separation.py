"""Indicerend and coördinerend zorgverlener are different people (seed 003, GGZ module §2.3),
unless the exception is recorded: a rule on every write of a CareTeam.

"Bij voorkeur is de coördinerend zorgverlener niet dezelfde persoon als de indicerend
zorgverlener ... In uitzonderingsgevallen kan [hij] dezelfde persoon zijn ..., bijvoorbeeld op
nadrukkelijk verzoek van de cliënt of bij het ontbreken van een andere zorgverlener met de
juiste expertise." §2.2.3 adds that such a professional demonstrably belongs to a *lerend
netwerk*.

People, not roles: two PractitionerRoles of the same Practitioner are one person. The roles
clash when they are held by one person at overlapping times in the client's active CareTeams
(at least one of the two in the team being written). The exception is the CareTeam extension
``rolcombinatie-uitzondering`` on a team holding either role::

    {"url": EXT_ROLE_EXCEPTION, "extension": [
        {"url": "reden", "valueCodeableConcept": {"coding": [
            {"system": ROLE_EXCEPTION_REASON_SYSTEM, "code": "verzoek-client"}]}},
        {"url": "lerendNetwerk", "valueBoolean": true},
        {"url": "toelichting", "valueString": "..."}]}

``reden`` (1..1) is one of the seed's two reasons, ``lerendNetwerk`` (1..1) must be true,
``toelichting`` (0..1) is free text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zorgleefplan.access.facts import Period
from zorgleefplan.errors import InvalidResource
from zorgleefplan.plan import codes
from zorgleefplan.plan.context import PlanContext, Resource
from zorgleefplan.plan.elements import client_of, extensions, has_coding, items, reference
from zorgleefplan.plan.periods import overlap, period_at
from zorgleefplan.plan.regie import team_active
from zorgleefplan.store.model import SearchQuery

INDICEREND = codes.INDICEREND_ZORGVERLENER
COORDINEREND = codes.COORDINEREND_ZORGVERLENER
REASONS = frozenset({codes.VERZOEK_CLIENT, codes.GEEN_ANDERE_ZORGVERLENER})


@dataclass(frozen=True, slots=True)
class _Holder:
    role: str
    team: str
    index: int
    member: str
    period: Period
    excused: bool  # the team records the exception


async def check_role_separation(
    ctx: PlanContext, new: Resource | None, current: Resource | None
) -> None:
    if new is None:
        return
    excused = exception_recorded(new)
    mine = _holders(new, excused)
    if not mine or (
        current is not None
        and [(h.role, h.member, h.period) for h in mine]
        == [(h.role, h.member, h.period) for h in _holders(current, excused)]
        and _recorded_quietly(current) == excused
    ):
        return
    client = client_of(new)
    others: list[_Holder] = []
    if client is not None:
        for team in await ctx.find(SearchQuery(("CareTeam",)), client):
            if team.get("id") != new.get("id"):
                others += _holders(team, _recorded_quietly(team))
    people: dict[str, str] = {}

    async def person(member: str) -> str:
        if member not in people:
            people[member] = await _person(ctx, member)
        return people[member]

    everyone = [*mine, *others]
    for h in mine:
        for other in everyone:
            if other.role == h.role or overlap(h.period, other.period) is None:
                continue
            if h.excused or other.excused:
                continue
            if await person(h.member) == await person(other.member):
                raise InvalidResource(
                    "De indicerend en de coördinerend zorgverlener zijn in principe verschillende "
                    f"personen; {await person(h.member)} heeft hier beide rollen. Leg de "
                    "uitzondering vast (reden en lerend netwerk) in de extensie "
                    f"{codes.EXT_ROLE_EXCEPTION} (GGZ-module §2.3)",
                    expression=[f"CareTeam.participant[{h.index}]"],
                )


def exception_recorded(team: Mapping[str, Any]) -> bool:
    """Whether the team records the exception; InvalidResource when it does so incompletely."""
    found = list(extensions(team, codes.EXT_ROLE_EXCEPTION))
    if len(found) > 1:
        raise InvalidResource(
            "de uitzondering op de rolverdeling staat er meer dan eens",
            expression=[f"CareTeam.extension[{found[1][0]}]"],
        )
    if not found:
        return False
    index, ext = found[0]
    path = f"CareTeam.extension[{index}]"
    parts: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for i, part in enumerate(items(ext.get("extension"))):
        if isinstance(part, dict):
            parts.setdefault(str(part.get("url")), []).append((f"{path}.extension[{i}]", part))
    for url, found_parts in parts.items():
        if url not in (
            codes.ROLE_EXCEPTION_REDEN,
            codes.ROLE_EXCEPTION_LEREND_NETWERK,
            codes.ROLE_EXCEPTION_TOELICHTING,
        ):
            raise InvalidResource(
                f"onbekend onderdeel {url!r} in de uitzondering op de rolverdeling",
                expression=[found_parts[0][0]],
            )
    reasons = parts.get(codes.ROLE_EXCEPTION_REDEN, [])
    if len(reasons) != 1 or not any(
        has_coding(reasons[0][1].get("valueCodeableConcept"), codes.ROLE_EXCEPTION_REASON_SYSTEM, r)
        for r in REASONS
    ):
        raise InvalidResource(
            "de uitzondering op de rolverdeling noemt één reden: 'verzoek-client' (nadrukkelijk "
            "verzoek van de cliënt) of 'geen-andere-zorgverlener' (geen andere zorgverlener met "
            f"de juiste expertise), uit {codes.ROLE_EXCEPTION_REASON_SYSTEM}",
            expression=[reasons[-1][0] if reasons else f"{path}.extension"],
        )
    network = parts.get(codes.ROLE_EXCEPTION_LEREND_NETWERK, [])
    if len(network) != 1 or network[0][1].get("valueBoolean") is not True:
        raise InvalidResource(
            "wie beide rollen heeft, maakt aantoonbaar deel uit van een lerend netwerk "
            "(GGZ-module §2.2.3): lerendNetwerk is true",
            expression=[network[-1][0] if network else f"{path}.extension"],
        )
    notes = parts.get(codes.ROLE_EXCEPTION_TOELICHTING, [])
    if len(notes) > 1 or (notes and not isinstance(notes[0][1].get("valueString"), str)):
        raise InvalidResource(
            "de toelichting bij de uitzondering is één tekst",
            expression=[notes[-1][0]],
        )
    return True


def _recorded_quietly(team: Mapping[str, Any]) -> bool:
    """Another team's exception as stored (it passed this rule when it was written)."""
    try:
        return exception_recorded(team)
    except InvalidResource:
        return False


def _holders(team: Mapping[str, Any], excused: bool) -> list[_Holder]:
    if not team_active(team):
        return []
    team_period = period_at(team.get("period"), "CareTeam.period")
    found = []
    for index, participant in enumerate(items(team.get("participant"))):
        if not isinstance(participant, dict):
            continue
        member = reference(participant.get("member"))
        if member is None:
            continue
        for role in (INDICEREND, COORDINEREND):
            if not has_coding(participant.get("role"), codes.ROLE_SYSTEM, role):
                continue
            own = period_at(participant.get("period"), f"CareTeam.participant[{index}].period")
            effective = overlap(own, team_period)
            if effective is not None:
                found.append(_Holder(role, str(team.get("id")), index, member, effective, excused))
    return found


async def _person(ctx: PlanContext, member: str) -> str:
    """The person behind a participant: the Practitioner of a PractitionerRole (directory
    data, readable by everyone), otherwise the member itself."""
    if not member.startswith("PractitionerRole/"):
        return member
    role = await ctx.read("PractitionerRole", member.split("/", 1)[1])
    practitioner = reference(role.get("practitioner")) if role else None
    return practitioner or member
