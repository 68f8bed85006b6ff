"""Informatie-uitwisseling (seed 001, hoofdstuk 5): what the client wants shared, and whether
consent was asked — read from the client's access Consents."""

from __future__ import annotations

from collections.abc import Iterable

from zorgleefplan.access import codes as access_codes
from zorgleefplan.access.facts import Provision, parse_consent
from zorgleefplan.plan.findings import FAIL, PASS, Evidence, Finding
from zorgleefplan.plan.judges.context import (
    PlanView,
    listing,
)
from zorgleefplan.plan.values import Json

_ANSWERED = ("proposed", "active", "rejected", "inactive")  # a consent asked for and answered


def _privacy_consents(ctx: PlanView) -> list[tuple[Json, Provision | None]]:
    found = []
    for raw in ctx.network.of_type("Consent"):
        parsed = parse_consent(raw)
        if parsed is not None and parsed.valid and parsed.has_scope(access_codes.SCOPE_PRIVACY):
            found.append((raw, parsed.provision))
    return found


def _provisions(root: Provision | None) -> Iterable[Provision]:
    if root is not None:
        yield root
        for nested in root.provisions:
            yield from _provisions(nested)


def sharing_wishes(ctx: PlanView) -> Finding:
    """Whom to share what with: an active access Consent naming an actor and what (class or
    data) in one of its provisions."""
    active = [(r, p) for r, p in _privacy_consents(ctx) if r.get("status") == "active"]
    if not active:
        return ctx.missing(
            "Er is geen actieve toestemming van de cliënt over het delen van gegevens",
            ["Consent"],
            [Evidence(None, "Consent.provision")],
        )
    evidence = [Evidence(f"Consent/{r['id']}", "Consent.provision") for r, _ in active]
    specific = [
        f"Consent/{r['id']}"
        for r, root in active
        if any(p.actors and (p.classes or p.data) for p in _provisions(root))
    ]
    if not specific:
        return Finding(
            FAIL,
            "De toestemming van de cliënt noemt nergens zowel aan wie (actor) als welke gegevens "
            "(class of data) gedeeld worden.",
            tuple(evidence),
        )
    return Finding(
        PASS,
        f"De cliënt heeft vastgelegd welke gegevens met wie gedeeld worden ({listing(specific)}).",
        tuple(evidence),
    )


def consent_asked(ctx: PlanView) -> Finding:
    """Consent was asked: an access Consent that was proposed or answered."""
    answered = [r for r, _ in _privacy_consents(ctx) if r.get("status") in _ANSWERED]
    if not answered:
        return ctx.missing(
            "Er is geen toestemmingsvraag over gegevensuitwisseling vastgelegd",
            ["Consent"],
            [Evidence(None, "Consent.status")],
        )
    return Finding(
        PASS,
        "De cliënt is om toestemming gevraagd ("
        + listing(f"Consent/{r['id']}: {r['status']}" for r in answered)
        + ").",
        tuple(Evidence(f"Consent/{r['id']}", "Consent.status") for r in answered),
    )
