"""CarePlan/$summary and CarePlan/$checklist over HTTP with real tokens: what each caller
learns is bounded by the client's consent, an outsider gets the 404 of a read, bad input is a
4xx OperationOutcome, both are audited, and the output is the declared, valid FHIR."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B.parameters import Parameters

from tests.plan_fixture import network, store
from tests.support import mint_access_token
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.store.model import AccessConstraint

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import gen_operation_definitions as gen  # noqa: E402

STAFF_SCOPES = "user/*.cruds"
SUMMARY = "/fhir/CarePlan/plan-p1/$summary"
CHECKLIST = "/fhir/CarePlan/plan-p1/$checklist"


class Callers:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def token(self, **kwargs: Any) -> dict[str, str]:
        token = mint_access_token(self.settings.data_dir, "http://test", **kwargs)
        return {"Authorization": f"Bearer {token}"}

    def professional(self, role: str, organization: str) -> dict[str, str]:
        return self.token(
            fhir_user=f"PractitionerRole/{role}",
            organization=f"Organization/{organization}",
            scope=STAFF_SCOPES,
        )

    @property
    def client(self) -> dict[str, str]:
        return self.token(patient="p1")

    @property
    def regiebehandelaar(self) -> dict[str, str]:
        return self.professional("pr-wv", "o-wijk")

    @property
    def huisarts(self) -> dict[str, str]:
        """Has the client's Consent for the CarePlan only."""
        return self.professional("pr-ha", "o-ha")

    @property
    def outsider(self) -> dict[str, str]:
        return self.professional("pr-x", "o-x")


@pytest.fixture
async def callers(app: FastAPI, settings: Settings) -> Callers:
    repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())
    await store(repo, network())
    return Callers(settings)


def parts(parameter: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in parameter.get("part", []) if p["name"] == name]


def params(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in body["parameter"] if p["name"] == name]


def value(parameter: dict[str, Any], name: str) -> Any:
    (found,) = parts(parameter, name)
    return next(v for k, v in found.items() if k.startswith("value"))


def bundle_keys(body: dict[str, Any]) -> set[str]:
    (bundle,) = params(body, "bundle")
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["resource"]["entry"]
    }


async def get(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# --------------------------------------------------------------------------- $summary


async def test_the_client_sees_the_whole_who_is_who(
    secured_client: httpx.AsyncClient, callers: Callers
) -> None:
    body = await get(secured_client, SUMMARY, callers.client)
    Parameters.model_validate(body)
    assert params(body, "plan")[0]["valueReference"]["reference"] == "CarePlan/plan-p1"
    (regie,) = params(body, "regiebehandelaar")
    assert value(regie, "wie") == {
        "reference": "PractitionerRole/pr-wv",
        "display": "Sanne de Vries",
    }
    assert value(regie, "organisatie")["display"] == "Wijkzorg Oost"
    (complaints,) = parts(regie, "klachtadres")
    assert [p["valueAddress"]["city"] for p in parts(complaints, "adres")] == ["Utrecht"]
    assert parts(complaints, "contact")[0]["valueContactPoint"]["value"] == "06-11112222"
    assert value(params(body, "aanspreekpunt")[0], "naam") == "Fatima El Amrani"
    assert value(params(body, "indicerend-zorgverlener")[0], "naam") == "Pieter Jansen"
    assert value(params(body, "coordinerend-zorgverlener")[0], "naam") == "Sanne de Vries"
    (volmacht,) = params(body, "volmacht")
    assert value(volmacht, "vermeld") is True
    (holder,) = parts(volmacht, "gevolmachtigde")
    assert value(holder, "naam") == "Ingrid Berends"
    assert value(holder, "consent") == {"reference": "Consent/volmacht"}
    assert [value(r, "relatie") for r in params(body, "vertegenwoordiger")] == ["bewindvoerder"]
    agreements = params(body, "afspraak")
    assert [value(a, "omschrijving") for a in agreements] == [
        "Wondzorg en medicatie",
        "Huishoudelijke hulp",
    ]
    first = agreements[0]
    assert value(first, "status") == "in-progress"
    assert value(parts(first, "verantwoordelijke")[0], "naam") == "Sanne de Vries"
    assert value(parts(first, "uitvoerder")[0], "naam") == "Sanne de Vries"
    assert value(first, "voortgang") == "Wond sluit goed"
    assert (value(first, "bron"), value(first, "pad")) == (
        {"reference": "CarePlan/plan-p1"},
        "CarePlan.activity[0]",
    )
    (evaluation,) = params(body, "evaluatiemoment")
    assert value(evaluation, "moment") == "2099-03-01"
    assert len(params(body, "crisisafspraak")) == len(params(body, "waarneming")) == 1
    assert value(params(body, "mantelzorgtaak")[0], "omschrijving") == "Dagelijks boodschappen doen"
    assert {"Consent/volmacht", "RelatedPerson/rp-dochter", "CareTeam/ct1"} <= bundle_keys(body)
    (narrative,) = params(body, "narrative")
    div = narrative["resource"]["text"]["div"]
    assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    assert "Ingrid Berends" in div


async def test_a_narrow_consent_bounds_the_summary(
    secured_client: httpx.AsyncClient, callers: Callers
) -> None:
    """The huisarts may see the CarePlan only: not who holds the volmacht, nor anything else
    of the network beyond what the plan itself says and the directory."""
    r = await secured_client.get(SUMMARY, headers=callers.huisarts)
    assert r.status_code == 200, r.text
    assert "Ingrid" not in r.text and "Kees Smit" not in r.text
    body = r.json()
    (volmacht,) = params(body, "volmacht")
    assert value(volmacht, "vermeld") is True  # what the plan states, which they may read
    assert parts(volmacht, "gevolmachtigde") == []
    assert params(body, "regiebehandelaar") == [] and params(body, "client") == []
    assert {k.split("/")[0] for k in bundle_keys(body)} <= {
        "CarePlan",
        "PractitionerRole",
        "Practitioner",
        "Organization",
    }
    # The regiebehandelaar reads the network and the active volmacht: the holder is named.
    body = await get(secured_client, SUMMARY, callers.regiebehandelaar)
    (volmacht,) = params(body, "volmacht")
    assert value(parts(volmacht, "gevolmachtigde")[0], "naam") == "Ingrid Berends"


async def test_an_outsider_gets_the_answer_of_a_missing_plan(
    secured_client: httpx.AsyncClient, callers: Callers
) -> None:
    for operation in ("$summary", "$checklist"):
        hidden = await secured_client.get(
            f"/fhir/CarePlan/plan-p1/{operation}", headers=callers.outsider
        )
        missing = await secured_client.get(
            f"/fhir/CarePlan/nergens/{operation}", headers=callers.outsider
        )
        assert hidden.status_code == missing.status_code == 404
        assert (
            hidden.json()["issue"][0]["code"] == missing.json()["issue"][0]["code"] == "not-found"
        )
        assert "Berends" not in hidden.text
        read = await secured_client.get("/fhir/CarePlan/plan-p1", headers=callers.outsider)
        assert read.status_code == 404


async def test_both_operations_are_audited(
    secured_client: httpx.AsyncClient, callers: Callers
) -> None:
    await get(secured_client, SUMMARY, callers.huisarts)
    await get(secured_client, CHECKLIST, callers.huisarts)
    r = await secured_client.get("/fhir/AuditEvent?patient=p1&_count=100", headers=callers.client)
    events = [e["resource"] for e in r.json()["entry"]]
    by_huisarts = [
        e
        for e in events
        if e["subtype"][0]["code"] == "operation"
        and any(a.get("who", {}).get("reference") == "PractitionerRole/pr-ha" for a in e["agent"])
    ]
    assert len(by_huisarts) == 2
    for event in by_huisarts:
        entities = [x["what"]["reference"] for x in event["entity"] if "what" in x]
        assert any(e.startswith("CarePlan/plan-p1") for e in entities)
        # What they could not see was not disclosed, and is not recorded as disclosed.
        assert not any(e.startswith(("Consent/", "RelatedPerson/")) for e in entities)


# --------------------------------------------------------------------------- $checklist


async def test_the_checklist_judges_every_item_with_its_source(
    secured_client: httpx.AsyncClient, callers: Callers
) -> None:
    body = await get(secured_client, CHECKLIST, callers.client)
    Parameters.model_validate(body)
    items = params(body, "item")
    assert len(items) == 34
    regie = next(i for i in items if value(i, "id") == "001-regie-3")
    assert value(regie, "uitkomst") == "pass"
    assert value(regie, "citaat").startswith("Is voor de cliënt (of diens vertegenwoordiger)")
    assert value(regie, "sectie") == "Hoofdstuk 5, Checklist samenwerkingsafspraken"
    assert value(regie, "bron").startswith("seed 001: ")
    (evidence,) = parts(regie, "bewijs")
    assert value(evidence, "resource") == {"reference": "CareTeam/ct1"}
    assert value(evidence, "pad") == "CareTeam.participant[2].role"
    (totals,) = params(body, "totaal")
    assert [value(totals, n) for n in ("voldaan", "niet-voldaan", "niet-te-beoordelen")] == [
        28,
        0,
        6,
    ]


async def test_the_checklist_of_a_narrow_view_says_what_it_cannot_tell(
    secured_client: httpx.AsyncClient, callers: Callers
) -> None:
    body = await get(secured_client, CHECKLIST, callers.huisarts)
    verdicts = {value(i, "id"): value(i, "uitkomst") for i in params(body, "item")}
    assert "fail" not in verdicts.values()
    assert verdicts["001-mandaat-3"] == "cannot-tell"
    assert "Ingrid" not in str(body)


async def test_the_checklist_takes_items_by_query_or_parameters(
    secured_client: httpx.AsyncClient, callers: Callers
) -> None:
    body = await get(
        secured_client, CHECKLIST + "?item=003-zorgplan-e&item=001-regie-1", callers.client
    )
    assert [value(i, "id") for i in params(body, "item")] == ["001-regie-1", "003-zorgplan-e"]
    r = await secured_client.post(
        CHECKLIST,
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "item", "valueString": "003-zorgplan-d"}],
        },
        headers=callers.client,
    )
    assert r.status_code == 200, r.text
    assert [value(i, "id") for i in params(r.json(), "item")] == ["003-zorgplan-d"]
    r = await secured_client.post(SUMMARY, headers=callers.client)
    assert r.status_code == 200 and params(r.json(), "regiebehandelaar")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "expression"),
    [
        ("PUT", SUMMARY, {"resourceType": "Parameters"}, 405, None),
        ("DELETE", CHECKLIST, None, 405, None),
        ("GET", SUMMARY + "?onbekend=1", None, 400, "onbekend"),
        ("GET", CHECKLIST + "?item=001-nergens-9", None, 400, "item"),
        ("POST", SUMMARY, {"resourceType": "Patient"}, 400, "resourceType"),
        (
            "POST",
            CHECKLIST,
            {"resourceType": "Parameters", "parameter": [{"name": "soort", "valueString": "x"}]},
            400,
            "Parameters.parameter[0].name",
        ),
        (
            "POST",
            CHECKLIST,
            {"resourceType": "Parameters", "parameter": [{"name": "item", "valueInteger": 3}]},
            400,
            "Parameters.parameter[0].value[x]",
        ),
        ("GET", "/fhir/CarePlan/plan-p1/$samenvatting", None, 400, None),
        ("GET", "/fhir/CarePlan/plan%20p1/$summary", None, 400, "id"),
        ("GET", "/fhir/CarePlan/bestaat-niet/$summary", None, 404, None),
        ("GET", "/fhir/Goal/g1/$summary", None, 400, None),
    ],
)
async def test_bad_input_is_a_4xx_operation_outcome(
    secured_client: httpx.AsyncClient,
    callers: Callers,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    expression: str | None,
) -> None:
    r = await secured_client.request(method, path, json=body, headers=callers.client)
    assert r.status_code == status, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    if expression is not None:
        assert outcome["issue"][0]["expression"] == [expression]


async def test_a_token_without_careplan_read_is_refused(
    secured_client: httpx.AsyncClient, callers: Callers
) -> None:
    headers = callers.token(patient="p1", scope="launch/patient patient/Goal.rs")
    r = await secured_client.get(SUMMARY, headers=headers)
    assert r.status_code == 403
    assert r.json()["resourceType"] == "OperationOutcome"


# --------------------------------------------------------------------------- declared output


def declared(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in definition["parameter"] if p["use"] == "out"}


def conforms(emitted: list[dict[str, Any]], allowed: dict[str, dict[str, Any]], at: str) -> None:
    """Every emitted parameter is declared, with the declared type (or parts) and cardinality."""
    counts: dict[str, int] = {}
    for parameter in emitted:
        name = parameter["name"]
        assert name in allowed, f"{at}.{name} is not declared"
        spec = allowed[name]
        counts[name] = counts.get(name, 0) + 1
        if "part" in spec:
            conforms(parameter["part"], {p["name"]: p for p in spec["part"]}, f"{at}.{name}")
            continue
        kind = next(k for k in parameter if k != "name")
        expected = "resource" if spec["type"][0].isupper() and kind == "resource" else None
        if expected:
            assert parameter["resource"]["resourceType"] == spec["type"]
        elif spec["type"] == "dateTime" and kind == "valueString":
            pass  # a moment written as text (scheduledString)
        else:
            assert kind == f"value{spec['type'][0].upper()}{spec['type'][1:]}", (at, name, kind)
    for name, spec in allowed.items():
        assert counts.get(name, 0) >= spec["min"], f"{at}.{name} is required"
        if spec["max"] == "1":
            assert counts.get(name, 0) <= 1, f"{at}.{name} repeats"


async def test_the_output_is_what_the_operation_definitions_declare(
    secured_client: httpx.AsyncClient, callers: Callers
) -> None:
    for path, definition in ((SUMMARY, gen.summary()), (CHECKLIST, gen.checklist())):
        for caller in (callers.client, callers.huisarts):
            body = await get(secured_client, path, caller)
            conforms(body["parameter"], declared(definition), definition["code"])
