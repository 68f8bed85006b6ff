"""``GET|POST [base]/CarePlan/[id]/$checklist``: the plan judged against the checklists of the
source documents (plan/checklist.py) as Parameters — one ``item`` per checklist item with its
source sentence, verdict (pass, fail, cannot-tell), reason and what was looked at — with the
totals and a Dutch narrative.

Input ``item`` (0..*): judge only these item ids. Reads through the request's Repository, so
the verdicts rest on what the caller may see (plan/judges.py says how that is kept honest).
"""

from __future__ import annotations

from collections import Counter

from zorgleefplan.errors import InvalidRequest
from zorgleefplan.fhir import parameters as p
from zorgleefplan.fhir.interactions import Context
from zorgleefplan.fhir.request import FhirRequest, FhirResponse
from zorgleefplan.plan import codes
from zorgleefplan.plan.checklist import BY_ID, Judgement, judge_plan
from zorgleefplan.plan.findings import CANNOT_TELL, FAIL, PASS
from zorgleefplan.plan.narrative import checklist_narrative
from zorgleefplan.plan.network import load_network

NAME = "checklist"
DEFINITION = codes.operation_definition("CarePlan-checklist")
TITLE = "Toets van het zorgleefplan"
_TOTALS = ((PASS, "voldaan"), (FAIL, "niet-voldaan"), (CANNOT_TELL, "niet-te-beoordelen"))


async def careplan_checklist(req: FhirRequest, ctx: Context, careplan_id: str) -> FhirResponse:
    wanted = [value for _, value in p.operation_inputs(req, NAME, frozenset({"item"}))]
    unknown = [w for w in wanted if w not in BY_ID]
    if unknown:
        raise InvalidRequest(
            f"unknown checklist item(s): {', '.join(unknown)}; the items are " + ", ".join(BY_ID),
            expression=["item"],
        )
    network = await load_network(ctx.repo, careplan_id, ctx.repo.decision.now)
    judgements = judge_plan(network, wanted)
    counts = Counter(j.finding.verdict for j in judgements)
    body = p.parameters(
        [
            p.reference("plan", network.plan_reference),
            *(_item(j) for j in judgements),
            p.group(
                "totaal",
                [p.part(name, "valueInteger", counts[verdict]) for verdict, name in _TOTALS],
            ),
            p.narrative(
                TITLE,
                checklist_narrative(judgements),
                network.client_reference,
                network.now.isoformat(),
            ),
        ]
    )
    return FhirResponse(200, body=body, touched=network.rows)


def _item(judgement: Judgement) -> p.Part:
    item, finding = judgement.item, judgement.finding
    return p.group(
        "item",
        [
            p.part("id", "valueString", item.id),
            p.text("bron", f"seed {item.seed}: {item.document}"),
            p.text("sectie", item.section),
            p.text("onderwerp", item.topic),
            p.text("citaat", item.quote),
            p.part("uitkomst", "valueCode", finding.verdict),
            p.text("reden", finding.reason),
            *(
                p.group(
                    "bewijs",
                    [p.reference("resource", e.reference), p.text("pad", e.path)],
                )
                for e in finding.evidence
            ),
        ],
    )
