"""The regiebehandelaar of a client over time, read from the client's CareTeams, and the
handover as a change of those CareTeams. Pure: JSON in, JSON out.

A designation is a CareTeam participant with role ``zorgleefplan-rol#regiebehandelaar``. It
counts while its team is active (status ``active`` or absent, as the access engine reads it),
for the part of the participant's period that lies within the team's period. The client has at
most one regiebehandelaar at any moment: no two designations of different people overlap.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zorgleefplan.access.facts import Period
from zorgleefplan.plan import codes
from zorgleefplan.plan.elements import Resource, has_coding, items, ref, reference
from zorgleefplan.plan.periods import as_period, end_before, instant, overlap, period_at

REGIE_CONCEPT: dict[str, Any] = {
    "coding": [
        {"system": codes.ROLE_SYSTEM, "code": codes.REGIEBEHANDELAAR, "display": "Regiebehandelaar"}
    ]
}


@dataclass(frozen=True, slots=True)
class Designation:
    team: str  # CareTeam id
    index: int  # position in CareTeam.participant
    member: str | None  # normalized "Type/id"
    period: Period  # where it counts: the participant's period within the team's

    @property
    def path(self) -> str:
        return f"CareTeam.participant[{self.index}]"


def is_regie(participant: object) -> bool:
    return isinstance(participant, Mapping) and has_coding(
        participant.get("role"), codes.ROLE_SYSTEM, codes.REGIEBEHANDELAAR
    )


def team_active(team: Mapping[str, Any]) -> bool:
    return team.get("status") in (None, "active")


def designations(team: Mapping[str, Any] | None) -> list[Designation]:
    """The regiebehandelaar designations of a team (none when it is not active)."""
    if team is None or not team_active(team):
        return []
    team_period = period_at(team.get("period"), "CareTeam.period")
    found = []
    for index, participant in enumerate(items(team.get("participant"))):
        if not is_regie(participant):
            continue
        own = period_at(participant.get("period"), f"CareTeam.participant[{index}].period")
        effective = overlap(own, team_period)
        if effective is not None:
            found.append(
                Designation(
                    str(team.get("id")), index, reference(participant.get("member")), effective
                )
            )
    return found


def clash(mine: Iterable[Designation], others: Iterable[Designation]) -> tuple[Designation, ...]:
    """A designation of ``mine`` and another one (of ``mine`` or ``others``) of a different
    person whose periods overlap; empty when there is none."""
    mine = list(mine)
    everyone = [*mine, *others]
    for d in mine:
        for other in everyone:
            if other is d or other.member == d.member:
                continue
            if overlap(d.period, other.period) is not None:
                return (d, other)
    return ()


def holder_at(found: Iterable[Designation], moment: datetime) -> Designation | None:
    """The designation that counts at ``moment`` (there is at most one)."""
    return next((d for d in found if d.period.covers(moment)), None)


def hand_over(
    team: Resource,
    held: Designation,
    receiver: str,
    start: datetime,
    end: datetime | None,
    receiver_organization: str | None = None,
) -> Resource:
    """``team`` after the designation ``held`` passes to ``receiver`` from ``start``; with an
    ``end`` (exclusive) it is temporary and the holder's designation resumes at ``end``.

    The designations follow each other to the microsecond: the holder's ends at the last
    microsecond before ``start``, the receiver's begins at ``start``. The caller has checked that
    ``held`` covers the whole handover. Other roles of the holder's participation stay as they
    were: only the regiebehandelaar role moves.
    """
    changed = copy.deepcopy(team)
    participants: list[Any] = changed["participant"]
    entry = participants[held.index]
    roles = items(entry.get("role"))
    regie_roles = [r for r in roles if is_regie({"role": [r]})]
    other_roles = [r for r in roles if not is_regie({"role": [r]})]
    original = entry.get("period") or {}
    replacement: list[Any] = []
    if other_roles:
        replacement.append({**entry, "role": other_roles})
    if held.period.start is None or held.period.start < start:
        before = {k: v for k, v in original.items() if k != "end"}
        before["end"] = end_before(start)
        replacement.append({**entry, "role": regie_roles, "period": before})
    participants[held.index : held.index + 1] = replacement
    taking_over: dict[str, Any] = {
        "role": [copy.deepcopy(REGIE_CONCEPT)],
        "member": ref(receiver),
        "period": as_period(start, end),
    }
    if receiver_organization:
        taking_over["onBehalfOf"] = ref(receiver_organization)
    participants.append(taking_over)
    if end is not None:
        after = {"start": instant(end)}
        if original.get("end") is not None:
            after["end"] = original["end"]
        participants.append({**entry, "role": regie_roles, "period": after})
    return changed
