"""``GET|POST [base]/CarePlan/[id]/$summary``: the who-is-who of a plan (plan/summary.py) as
Parameters — one parameter per role holder, volmacht, representative, goal and plan item — with
the resources it was made of (``bundle``) and a Dutch narrative (``narrative``).

It reads through the request's Repository: a caller sees the plan's network as far as the
client's consent lets them, and one who may not see the plan gets the 404 a read gets.
"""

from __future__ import annotations

from zorgleefplan.fhir import parameters as p
from zorgleefplan.fhir.interactions import Context
from zorgleefplan.fhir.request import FhirRequest, FhirResponse
from zorgleefplan.plan import codes
from zorgleefplan.plan.labels import ITEM_KINDS, ROLES
from zorgleefplan.plan.narrative import summary_narrative
from zorgleefplan.plan.network import load_network
from zorgleefplan.plan.people import Party
from zorgleefplan.plan.summary import (
    GoalView,
    ItemView,
    Representative,
    RoleEntry,
    Summary,
    summarize,
)
from zorgleefplan.plan.values import Json

NAME = "summary"
DEFINITION = codes.operation_definition("CarePlan-summary")
TITLE = "Wie is wie in het zorgleefplan"


async def careplan_summary(req: FhirRequest, ctx: Context, careplan_id: str) -> FhirResponse:
    p.operation_inputs(req, NAME, frozenset())
    network = await load_network(ctx.repo, careplan_id, ctx.repo.decision.now)
    summary = summarize(network)
    client = summary.client
    body = p.parameters(
        [
            p.reference("plan", summary.plan, summary.title),
            p.reference("client", client.reference, client.name) if client else None,
            *(p.text("domein", d) for d in summary.domains),
            *(_role(r) for r in summary.roles),
            _volmacht(summary),
            *(_representative(r) for r in summary.representatives),
            *(_goal(g) for g in summary.goals),
            *(_item(v) for v in summary.items if v.item.kind != codes.EVALUATIEMOMENT),
            *(_item(v) for v in summary.next_evaluations),
            p.collection("bundle", ctx.base, [network.resources[ref] for ref in summary.cited]),
            p.narrative(
                TITLE,
                summary_narrative(summary),
                network.client_reference,
                network.now.isoformat(),
            ),
        ]
    )
    return FhirResponse(200, body=body, touched=network.rows)


def _party(party: Party, name: str = "wie") -> list[p.Part | None]:
    return [
        p.reference(name, party.reference, party.name),
        p.text("naam", party.name),
        p.text("deskundigheid", party.qualification),
        p.reference("organisatie", party.organization, party.organization_name),
        *(p.part("contact", "valueContactPoint", c) for c in party.telecom),
    ]


def _role(entry: RoleEntry) -> p.Part:
    role = (
        p.part(
            "rol",
            "valueCoding",
            {"system": codes.ROLE_SYSTEM, "code": entry.role, "display": ROLES[entry.role]},
        )
        if entry.role
        else None
    )
    complaints = None
    if entry.role == codes.REGIEBEHANDELAAR:
        complaints = p.group(
            "klachtadres",
            [
                *(p.part("contact", "valueContactPoint", c) for c in entry.party.telecom),
                *(p.part("adres", "valueAddress", a) for a in entry.party.address),
            ],
        )
    return p.group(
        entry.role or "betrokkene",
        [
            role,
            *(p.text("rol-omschrijving", r) for r in entry.other_roles),
            *_party(entry.party),
            _period(entry.period),
            complaints,
            p.text("toelichting", entry.note),
            p.reference("bron", entry.source),
            p.text("pad", entry.path),
        ],
    )


def _representative(representative: Representative) -> p.Part:
    return p.group(
        "vertegenwoordiger",
        [
            *_party(representative.party),
            *(p.text("relatie", role) for role in representative.roles),
            _period(representative.period),
        ],
    )


def _goal(goal: GoalView) -> p.Part:
    return p.group(
        "doel",
        [
            p.reference("bron", goal.reference, goal.description),
            p.text("omschrijving", goal.description),
            p.part("status", "valueCode", goal.status) if goal.status else None,
            p.part("streefdatum", "valueDate", goal.due) if goal.due else None,
            p.text("resultaat", goal.achievement),
            *(p.text("levensgebied", area) for area in goal.life_areas),
        ],
    )


def _period(period: Json | None) -> p.Part | None:
    return p.part("periode", "valuePeriod", period) if period else None


def _volmacht(summary: Summary) -> p.Part:
    view = summary.volmacht
    return p.group(
        "volmacht",
        [
            p.part("vermeld", "valueBoolean", view.stated) if view.stated is not None else None,
            p.text("pad", view.path),
            *(
                p.group(
                    "gevolmachtigde",
                    [
                        *_party(holder),
                        p.reference("consent", entry.consent),
                        _period(entry.period),
                    ],
                )
                for entry in view.entries
                for holder in entry.holders
            ),
        ],
    )


def _item(view: ItemView) -> p.Part:
    item = view.item
    when = None
    if item.when_text:
        when = (
            p.part("moment", "valueDateTime", item.when_text)
            if item.when is not None
            else p.text("moment", item.when_text)
        )
    return p.group(
        item.kind,
        [
            p.part(
                "soort",
                "valueCoding",
                {
                    "system": codes.PLAN_ITEM_SYSTEM,
                    "code": item.kind,
                    "display": ITEM_KINDS[item.kind],
                },
            ),
            p.text("omschrijving", item.description),
            p.part("status", "valueCode", item.status) if item.status else None,
            p.group("verantwoordelijke", _party(view.responsible)) if view.responsible else None,
            *(p.group("uitvoerder", _party(performer)) for performer in view.performers),
            when,
            p.part("verstreken", "valueBoolean", True) if view.overdue else None,
            *(p.text("voortgang", note.text) for note in item.notes),
            *(p.reference("doel", goal) for goal in item.goals),
            p.reference("bron", item.source),
            p.text("pad", item.path),
        ],
    )
