"""Generate the OperationDefinitions of ``CarePlan/$summary`` and ``CarePlan/$checklist``.

Writes ``profiles/OperationDefinition-CarePlan-summary.json`` and
``profiles/OperationDefinition-CarePlan-checklist.json``. The parameters repeat per role and per
kind of plan item, so they are generated from the plan's own code lists rather than written by
hand; a test checks that the committed files are what this script writes and that the
operations' output uses exactly the parameters declared here. Run from the repository root:

    python scripts/gen_operation_definitions.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "service"))

from zorgleefplan.fhir import plan_checklist, plan_summary  # noqa: E402
from zorgleefplan.plan import codes  # noqa: E402
from zorgleefplan.plan.labels import ITEM_KINDS, ROLES  # noqa: E402

PROFILES = ROOT / "profiles"
Param = dict[str, Any]


def param(
    name: str, type_: str | None, low: int, high: str, doc: str, parts: list[Param] | None = None
) -> Param:
    found: Param = {"name": name, "use": "out", "min": low, "max": high, "documentation": doc}
    if type_:
        found["type"] = type_
    if parts:
        found["part"] = parts
    return found


def party_parts() -> list[Param]:
    return [
        param("wie", "Reference", 1, "1", "The person, team or organisation (display: name)."),
        param("naam", "string", 0, "1", "Their name, when the requester may see it."),
        param("deskundigheid", "string", 0, "1", "PractitionerRole.code/specialty, qualification."),
        param("organisatie", "Reference", 0, "1", "The organisation they act for."),
        param("contact", "ContactPoint", 0, "*", "How to reach them."),
    ]


def role_param(code: str) -> Param:
    parts = [
        param("rol", "Coding", 0, "1", "The role (zorgleefplan-rol)."),
        param("rol-omschrijving", "string", 0, "*", "Roles outside zorgleefplan-rol, as text."),
        *party_parts(),
        param("periode", "Period", 0, "1", "When they hold the role."),
    ]
    if code == codes.REGIEBEHANDELAAR:
        parts.append(
            param(
                "klachtadres",
                None,
                0,
                "1",
                "The central complaint address (seed 002, aanbeveling 4).",
                [
                    param("contact", "ContactPoint", 0, "*", "Contact points."),
                    param("adres", "Address", 0, "*", "Postal address (of the organisation)."),
                ],
            )
        )
    parts += [
        param("toelichting", "string", 0, "1", "Why they are listed in this role."),
        param("bron", "Reference", 1, "1", "The CareTeam that names them."),
        param("pad", "string", 1, "1", "The participant's element path in that CareTeam."),
    ]
    label = ROLES.get(code, "participant without a project role")
    return param(code or "betrokkene", None, 0, "*", f"A current {label} of the client.", parts)


def item_param(kind: str) -> Param:
    when = "open ones only, soonest first" if kind == codes.EVALUATIEMOMENT else "in plan order"
    return param(
        kind,
        None,
        0,
        "*",
        f"A {ITEM_KINDS[kind]} of the plan ({when}).",
        [
            param("soort", "Coding", 1, "1", "The kind of plan item (plan-item-soort)."),
            param("omschrijving", "string", 0, "1", "What was agreed."),
            param("status", "code", 0, "1", "activity.detail.status or Task.status."),
            param("verantwoordelijke", None, 0, "1", "Who is responsible.", party_parts()),
            param("uitvoerder", None, 0, "*", "Who performs it.", party_parts()),
            param("moment", "dateTime", 0, "1", "When it is due (a string when not a date)."),
            param("verstreken", "boolean", 0, "1", "True when open and its moment has passed."),
            param("voortgang", "string", 0, "*", "Progress notes, oldest first."),
            param("doel", "Reference", 0, "*", "The goals it works towards."),
            param("bron", "Reference", 1, "1", "Where it is recorded (the CarePlan or a Task)."),
            param("pad", "string", 1, "1", "Its element path there."),
        ],
    )


def definition(name: str, title: str, description: str, params: list[Param]) -> dict[str, Any]:
    return {
        "resourceType": "OperationDefinition",
        "id": f"CarePlan-{name}",
        "url": codes.operation_definition(f"CarePlan-{name}"),
        "version": "0.1.0",
        "name": f"CarePlan{name.capitalize()}",
        "title": title,
        "status": "active",
        "kind": "operation",
        "publisher": "Zorgleefplan",
        "description": description,
        "affectsState": False,
        "code": name,
        "resource": ["CarePlan"],
        "system": False,
        "type": False,
        "instance": True,
        "parameter": params,
    }


def narrative_param() -> Param:
    return param(
        "narrative",
        "Composition",
        1,
        "1",
        "The same in Dutch for people: Composition.text.div (Parameters has no narrative).",
    )


def summary() -> dict[str, Any]:
    return definition(
        plan_summary.NAME,
        "Wie is wie in het zorgleefplan",
        "The who-is-who of the plan as the client and every professional need it (seed 002 "
        "§5.1; seed 001 'is voor de cliënt duidelijk wie…'): aanspreekpunt, regiebehandelaar "
        "with contact and complaint address, coördinerend and indicerend zorgverlener and the "
        "rest of the care network, the volmacht and its holder, representatives, goals, every "
        "agreement with its responsible party, performer and status, the next evaluation "
        "moments, crisis agreements, waarneming and the tasks of informal carers. Only what the "
        "requester may see is reported; a plan they may not see answers 404. GET or POST; it "
        "takes no input parameters.",
        [
            param("plan", "Reference", 1, "1", "The CarePlan."),
            param("client", "Reference", 0, "1", "The client, when the requester may see them."),
            param("domein", "string", 0, "*", "The laws/domains the plan spans (Zvw, Wlz, ...)."),
            *(role_param(code) for code in ROLES),
            role_param(""),
            param(
                "volmacht",
                None,
                1,
                "1",
                "What the plan states about a volmacht, and its holders (seed 002, aanbeveling 3).",
                [
                    param("vermeld", "boolean", 0, "1", "The plan's statement (absent: silent)."),
                    param("pad", "string", 0, "1", "Where the plan states it."),
                    param(
                        "gevolmachtigde",
                        None,
                        0,
                        "*",
                        "A holder of an active volmacht the requester may see.",
                        [
                            *party_parts(),
                            param("consent", "Reference", 1, "1", "The volmacht Consent."),
                            param("periode", "Period", 0, "1", "When the volmacht holds."),
                        ],
                    ),
                ],
            ),
            param(
                "vertegenwoordiger",
                None,
                0,
                "*",
                "A representative: curator, mentor, wettelijk vertegenwoordiger, bewindvoerder.",
                [
                    *party_parts(),
                    param("relatie", "string", 0, "*", "What they are for the client."),
                    param("periode", "Period", 0, "1", "When."),
                ],
            ),
            param(
                "doel",
                None,
                0,
                "*",
                "A goal of the plan.",
                [
                    param("bron", "Reference", 1, "1", "The Goal."),
                    param("omschrijving", "string", 0, "1", "Goal.description."),
                    param("status", "code", 0, "1", "Goal.lifecycleStatus."),
                    param("streefdatum", "date", 0, "1", "The earliest Goal.target.dueDate."),
                    param("resultaat", "string", 0, "1", "Goal.achievementStatus."),
                    param("levensgebied", "string", 0, "*", "Life areas (levensgebied)."),
                ],
            ),
            *(item_param(kind) for kind in ITEM_KINDS),
            param("bundle", "Bundle", 1, "1", "A collection of the resources the summary used."),
            narrative_param(),
        ],
    )


def checklist() -> dict[str, Any]:
    evidence = [
        param("resource", "Reference", 0, "1", "The resource looked at (absent: none found)."),
        param("pad", "string", 1, "1", "The element looked at."),
    ]
    return definition(
        plan_checklist.NAME,
        "Toets van het zorgleefplan",
        "The plan judged against the checklists of the source documents: seed 001 chapter 5 "
        "(informatie-uitwisseling, rolverdeling, mandaat, regie, overdracht, monitoring en "
        "nazorg) and seed 003 §2.2.2 items a-f. Each item is pass, fail or cannot-tell, with "
        "the reason and the resources and element paths looked at. An item is failed for "
        "something missing only when the requester sees every resource where it could be; "
        "items the data cannot speak to are cannot-tell. GET or POST.",
        [
            {
                "name": "item",
                "use": "in",
                "min": 0,
                "max": "*",
                "type": "string",
                "documentation": "Judge only these items (ids as in the output); default: all.",
            },
            param("plan", "Reference", 1, "1", "The CarePlan."),
            param(
                "item",
                None,
                0,
                "*",
                "One checklist item and its judgement, in checklist order.",
                [
                    param("id", "string", 1, "1", "The item id (seed-topic-number)."),
                    param("bron", "string", 1, "1", "The source document."),
                    param("sectie", "string", 1, "1", "The section of the source."),
                    param("onderwerp", "string", 1, "1", "The topic heading."),
                    param("citaat", "string", 1, "1", "The sentence as the source words it."),
                    param("uitkomst", "code", 1, "1", "pass | fail | cannot-tell"),
                    param("reden", "string", 1, "1", "Why, in Dutch."),
                    param("bewijs", None, 0, "*", "What was looked at.", evidence),
                ],
            ),
            param(
                "totaal",
                None,
                1,
                "1",
                "How many items got each verdict.",
                [
                    param("voldaan", "integer", 1, "1", "pass"),
                    param("niet-voldaan", "integer", 1, "1", "fail"),
                    param("niet-te-beoordelen", "integer", 1, "1", "cannot-tell"),
                ],
            ),
            narrative_param(),
        ],
    )


def write(resource: dict[str, Any]) -> None:
    path = PROFILES / f"OperationDefinition-{resource['id']}.json"
    path.write_bytes(orjson.dumps(resource, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    write(summary())
    write(checklist())


if __name__ == "__main__":
    main()
