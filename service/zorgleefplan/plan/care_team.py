"""The regiebehandelaar in the care network (seeds 002 and 000; DOMAIN.md "The regiebehandelaar"):
rules on every write of a CareTeam.

* A designation (participant with role ``regiebehandelaar``) names a PractitionerRole — a
  professional in the role they have at their organisation — and has a period with at least a
  start: the moment the client's choice took effect.
* At most one regiebehandelaar per client at any moment, across all the client's active
  CareTeams: no two designations of different people overlap in time (periods in the future
  count too, so a planned handover is checked when it is planned).
* The client designates (a right, seed 002 recommendation 4), or their volmacht holder or legal
  representative acting for them, or the server applying a handover the receiving professional
  accepted (``plan/handover.py``). The access engine already lets only the client and their
  proxy write a CareTeam; this rule says it again for the designation itself, so that a future
  widening of CareTeam writes cannot let a professional appoint or end a regiebehandelaar.
* Ending a designation is the client's choice too; a professional who wants to stop hands over.

Checks on other teams run only when the written team's designations change, so an unrelated
edit (adding a mantelzorger) is never refused for the state of another team.
"""

from __future__ import annotations

from zorgleefplan.errors import Forbidden, InvalidResource
from zorgleefplan.plan.context import PlanContext, Resource
from zorgleefplan.plan.elements import client_of, items, reference
from zorgleefplan.plan.regie import Designation, clash, designations, is_regie
from zorgleefplan.store.model import SearchQuery

DESIGNATORS = ("patient", "related-person")  # after the access decision: the client or proxy


async def check_regiebehandelaar(
    ctx: PlanContext, new: Resource | None, current: Resource | None
) -> None:
    if new is not None:
        _check_shape(new)
    before = _timeline(designations(current))
    after = designations(new)
    if _timeline(after) == before:
        return
    if not ctx.by_server and ctx.principal.kind not in DESIGNATORS:
        raise Forbidden(
            "Alleen de cliënt, of diens gevolmachtigde of vertegenwoordiger, wijst de "
            "regiebehandelaar aan; een regiebehandelaar die de rol overdraagt doet dat met een "
            "Task 'regiebehandelaar-overdracht'",
            expression=["CareTeam.participant"],
        )
    client = client_of(new)
    if new is None or client is None:
        return
    others = [
        d
        for team in await ctx.find(SearchQuery(("CareTeam",)), client)
        if team.get("id") != new.get("id")
        for d in designations(team)
    ]
    found = clash(after, others)
    if found:
        mine, other = found
        where = "in dit team" if other.team == mine.team else f"in CareTeam/{other.team}"
        raise InvalidResource(
            "Een cliënt heeft maar één regiebehandelaar tegelijk: "
            f"{other.member or 'een andere deelnemer'} is {where} regiebehandelaar in een "
            f"periode die overlapt met die van {mine.member or 'deze deelnemer'}",
            expression=[mine.path],
        )


def _timeline(found: list[Designation]) -> list[tuple[str | None, object, object]]:
    return sorted(
        ((d.member, d.period.start, d.period.end) for d in found),
        key=lambda t: (t[0] or "", str(t[1]), str(t[2])),
    )


def _check_shape(team: Resource) -> None:
    for index, participant in enumerate(items(team.get("participant"))):
        if not is_regie(participant):
            continue
        path = f"CareTeam.participant[{index}]"
        member = reference(participant.get("member"))
        if member is None or not member.startswith("PractitionerRole/"):
            raise InvalidResource(
                "De regiebehandelaar is een zorgverlener in een rol bij een organisatie: "
                "member verwijst naar een PractitionerRole",
                expression=[f"{path}.member"],
            )
        period = participant.get("period")
        if not isinstance(period, dict) or period.get("start") is None:
            raise InvalidResource(
                "De aanwijzing van een regiebehandelaar heeft een periode met ten minste een begin",
                expression=[f"{path}.period.start"],
            )
