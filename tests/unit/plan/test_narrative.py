"""The Dutch narratives are valid FHIR narrative: one XHTML div, everything from the data
escaped, no scripts, no event attributes."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from tests.plan_fixture import find, network, plan_network
from zorgleefplan.plan.checklist import judge_plan
from zorgleefplan.plan.labels import date
from zorgleefplan.plan.narrative import XHTML, checklist_narrative, summary_narrative
from zorgleefplan.plan.summary import summarize

ALLOWED = {"div", "h2", "h3", "p", "ul", "li", "table", "thead", "tbody", "tr", "th", "td"}


def parsed(div: str) -> ET.Element:
    root = ET.fromstring(div)
    assert root.tag == f"{{{XHTML}}}div"
    for element in root.iter():
        assert element.tag.removeprefix(f"{{{XHTML}}}") in ALLOWED, element.tag
        assert not any(name.lower().startswith("on") for name in element.attrib)
    return root


def text_of(root: ET.Element) -> str:
    return " ".join(" ".join(root.itertext()).split())


def test_summary_narrative_reads_as_the_who_is_who() -> None:
    text = text_of(parsed(summary_narrative(summarize(plan_network(network())))))
    for expected in (
        "Wie is wie in het zorgleefplan van Ans Berends",
        "Het plan beslaat: Zvw, Wmo.",
        "regiebehandelaar Sanne de Vries (wijkverpleegkundige) Wijkzorg Oost tel. 06-11112222",
        "Met een klacht kunt u terecht bij uw regiebehandelaar",
        "Dorpsstraat 1, 3511 AA Utrecht",
        "Het plan vermeldt dat de cliënt een volmacht heeft gegeven.",
        "Gevolmachtigde: Ingrid Berends (tel. 06-99990000)",
        "Kees Smit: bewindvoerder",
        "Wond aan het been is genezen — actief, streefdatum 01-06-2099",
        "Wondzorg en medicatie Sanne de Vries Sanne de Vries bezig Wond sluit goed",
        "01-03-2099: Evaluatie met de cliënt en dochter — verantwoordelijk: Sanne de Vries",
        "Bij acute verwardheid: huisartsenpost bellen",
        "Dagelijks boodschappen doen Sanne de Vries Ingrid Berends",
    ):
        assert expected in text, expected


def test_names_and_notes_are_escaped() -> None:
    resources = copy.deepcopy(network())
    find(resources, "Practitioner/dr-wv")["name"] = [
        {"text": '<script>alert("x")</script> & <b onclick="x">Sanne</b>'}
    ]
    find(resources, "CarePlan/plan-p1")["activity"][0]["progress"][0]["text"] = "<img src=x>"
    div = summary_narrative(summarize(plan_network(resources)))
    root = parsed(div)
    assert "<script" not in div and "<img" not in div
    assert '<script>alert("x")</script> & <b onclick="x">Sanne</b>' in text_of(root)


def test_checklist_narrative_counts_and_quotes() -> None:
    judgements = judge_plan(plan_network(network()))
    text = text_of(parsed(checklist_narrative(judgements)))
    assert "28 voldaan, 0 niet voldaan, 6 niet te beoordelen." in text
    assert (
        "Is voor de cliënt (of diens vertegenwoordiger) duidelijk wie het aanspreekpunt is" in text
    )
    assert "Generieke module 'Indiceren en coördineren van zorg in de GGZ'" in text


def test_dates_are_written_the_dutch_way() -> None:
    assert date("2099-03-01") == "01-03-2099"
    assert date("2024-02-01T09:30:00Z") == "01-02-2024 09:30"
    assert date("2024") == "2024"
    assert date(None) == "zonder datum"
