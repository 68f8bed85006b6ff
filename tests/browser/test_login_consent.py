"""A real browser (Debian chromium through Playwright) logs in, approves on the Dutch consent
page and lands on the app's redirect URI with a code that the token endpoint accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.support import s256

VERIFIER = "browser-test-verifier-" + "x" * 40


def test_login_consent_remember_and_approve_in_chromium(
    chromium: Path, seeded_server: Any, app_callback: Any
) -> None:
    from playwright.sync_api import expect, sync_playwright

    query = urlencode(
        {
            "response_type": "code",
            "client_id": seeded_server.client_id,
            "redirect_uri": app_callback.redirect_uri,
            "scope": "openid fhirUser launch/patient offline_access zorgleefplan~1",
            "state": "browser-state-42",
            "code_challenge": s256(VERIFIER),
            "code_challenge_method": "S256",
        }
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            page = browser.new_page(locale="nl-NL")
            blocked: list[str] = []
            page.on(
                "console",
                lambda m: blocked.append(m.text) if "Content Security" in m.text else None,
            )
            page.goto(f"{seeded_server.root}/oauth/authorize?{query}")
            expect(page.locator("h1")).to_have_text("Inloggen")
            page.get_by_label("Gebruikersnaam").fill(seeded_server.username)
            page.get_by_label("Wachtwoord").fill(seeded_server.password)
            page.get_by_role("button", name="Inloggen").click()

            expect(page.locator("h1")).to_have_text(f"Toestemming voor {seeded_server.app_name}")
            expect(page.locator("main")).to_contain_text("Zorgleefplan")
            expect(page.locator("main")).to_contain_text("Zorgleefplan inzien")
            expect(page.locator("main")).to_contain_text("Anna de Vries")
            assert page.locator("html").get_attribute("lang") == "nl"
            remember = page.get_by_label(re.compile("Langdurig toegang geven"))
            expect(remember).not_to_be_checked()
            remember.check()
            page.get_by_role("button", name="Toestaan").click()

            page.wait_for_url(f"{app_callback.redirect_uri}?**")
            landed = urlsplit(page.url)
            assert not blocked, blocked
        finally:
            browser.close()

    params = parse_qs(landed.query)
    assert params["state"] == ["browser-state-42"]
    (code,) = params["code"]
    callbacks = [p for p in app_callback.received if p.startswith("/callback?")]
    assert len(callbacks) == 1 and f"code={code}" in callbacks[0]

    token = httpx.post(
        f"{seeded_server.root}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": app_callback.redirect_uri,
            "client_id": seeded_server.client_id,
            "code_verifier": VERIFIER,
        },
    )
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["patient"] == "p1"
    assert body["fhirUser"] == "Patient/p1"
    assert "refresh_token" in body  # remember was ticked
