"""``zorgleefplan demo`` end to end, as a newcomer follows its printout: load the demo with the
CLI, start ``zorgleefplan serve``, open the printed login URL, log in as the daughter with the
printed password through the pages, exchange the code with the printed verifier, and act on
her mother's plan under the volmacht."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support import csrf_of, free_port, start_server
from zorgleefplan.plan import demo_network as demo


def _demo(data_dir: Path, port: int) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "zorgleefplan", "demo", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ZLP_PORT": str(port)},
    )
    return done.stdout


def test_the_daughter_logs_in_as_the_printout_says_and_acts_for_her_mother(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    printed = _demo(data_dir, port)
    for login in demo.LOGINS:
        assert re.search(rf"^  {re.escape(login.username)}\s+{login.name}", printed, re.M)
    assert f"wachtwoord voor allemaal: {demo.PASSWORD}" in printed
    assert demo.EHR_APP in printed and str(data_dir) in printed

    (authorize,) = [
        url
        for url in re.findall(r"(http://\S+/oauth/authorize\?\S+)", printed)
        if "launch%2Fpatient" in url
    ]
    (verifier,) = re.findall(r"code_verifier=(\S+)", printed)
    server = start_server(data_dir, port)
    root = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=root, timeout=10) as browser:
            start = browser.get(authorize)
            assert start.status_code == 303 and start.headers["location"] == "/oauth/login"
            page = browser.get("/oauth/login")
            form = {"username": "marieke", "password": demo.PASSWORD, "csrf": csrf_of(page.text)}
            logged_in = browser.post("/oauth/login", data=form)
            assert logged_in.status_code == 303, logged_in.text
            consent = browser.get("/oauth/consent")
            assert "namens Johanna Berends (u bent gevolmachtigde)" in consent.text
            decision = browser.post(
                "/oauth/consent", data={"decision": "approve", "csrf": csrf_of(consent.text)}
            )
            assert decision.status_code == 303, decision.text
            (code,) = parse_qs(urlsplit(decision.headers["location"]).query)["code"]
            token = browser.post(
                "/oauth/token",
                data={
                    "grant_type": "authorization_code",
                    "client_id": demo.PGO_APP,
                    "redirect_uri": demo.REDIRECT_URI,
                    "code_verifier": verifier,
                    "code": code,
                },
            )
            assert token.status_code == 200, token.text
            assert token.json()["patient"] == demo.CLIENT
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

            plan = browser.get(f"/fhir/CarePlan/{demo.PLAN}", headers=headers)
            assert plan.status_code == 200, plan.text
            (volmacht,) = [e for e in plan.json()["extension"] if e["url"].endswith("/volmacht")]
            stated = {e["url"]: e for e in volmacht["extension"]}
            assert stated["consent"]["valueReference"]["reference"] == f"Consent/{demo.VOLMACHT}"
            goal = {
                "resourceType": "Goal",
                "lifecycleStatus": "proposed",
                "description": {"text": "Eén keer per maand met mijn man naar de kaartclub"},
                "subject": {"reference": f"Patient/{demo.CLIENT}"},
            }
            created = browser.post(
                "/fhir/Goal",
                json=goal,
                headers={**headers, "Content-Type": "application/fhir+json"},
            )
            assert created.status_code == 201, created.text
            provenance = browser.get(
                f"/fhir/Provenance?target=Goal/{created.json()['id']}", headers=headers
            )
            (author,) = [e["resource"]["agent"][0] for e in provenance.json()["entry"]]
            assert author["who"] == {"reference": f"RelatedPerson/{demo.DAUGHTER}"}
            assert author["onBehalfOf"] == {"reference": f"Patient/{demo.CLIENT}"}
    finally:
        server.stop()
