"""The volmacht (seed 002 recommendation 3, art. 3:61 BW) and the plan's statement about it.

* A volmacht is a Consent with scope ``adr`` and wilsverklaring type VOL (in ``provision.code``,
  or in ``category`` as nl-core places the type; the same reading as the access engine). It names
  its holder: at least one ``provision.actor`` with role ``v3-RoleCode#RESPRSN``, and every such
  actor is a RelatedPerson of the same client (a naaste, not a professional).
* "Vermeld expliciet in het persoonlijk zorgleefplan of de cliënt een volmacht heeft gegeven en
  wie de gevolmachtigde is": the CarePlan says so with the extension ``EXT_VOLMACHT``::

      {"url": EXT_VOLMACHT, "extension": [
          {"url": "aanwezig", "valueBoolean": true},
          {"url": "consent", "valueReference": {"reference": "Consent/<volmacht>"}}]}

  ``aanwezig`` 1..1; ``consent`` 0..*, at least one when ``aanwezig`` is true and none when it
  is false. Each ``consent`` is an active volmacht of the plan's client (whose provision period
  covers now). ``aanwezig: false`` is refused while the writer can see an active volmacht of the
  client (a writer who cannot see the client's Consents learns nothing from this rule).

The statement is checked when a plan is created and whenever the extension changes; a later
revocation of the volmacht does not block unrelated updates of the plan (the client must always
be able to revoke, and the plan's ``$checklist`` reports a statement that no longer holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zorgleefplan.access import codes as access_codes
from zorgleefplan.access.engine import is_volmacht
from zorgleefplan.access.facts import ClientFacts, parse_consent
from zorgleefplan.errors import InvalidResource
from zorgleefplan.plan import codes
from zorgleefplan.plan.context import PlanContext, Resource
from zorgleefplan.plan.elements import client_of, extensions, has_coding, items, reference
from zorgleefplan.store.model import SearchQuery, TokenCriterion, TokenMatch


def is_volmacht_consent(resource: Mapping[str, Any] | None) -> bool:
    """A Consent that is a volmacht, whatever its status or period."""
    if resource is None or resource.get("resourceType") != "Consent":
        return False
    if not has_coding(resource.get("scope"), access_codes.CONSENT_SCOPE_SYSTEM, "adr"):
        return False
    provision = resource.get("provision")
    where = [resource.get("category")]
    if isinstance(provision, Mapping):
        where.append(provision.get("code"))
    return any(
        has_coding(items(concepts), access_codes.LIVING_WILL_SYSTEM, access_codes.VOLMACHT)
        for concepts in where
    )


def holders(consent: Mapping[str, Any]) -> list[tuple[int, str | None]]:
    """(actor index, reference) of each RESPRSN actor of a volmacht."""
    provision = consent.get("provision")
    actors = items(provision.get("actor")) if isinstance(provision, Mapping) else []
    return [
        (i, reference(a.get("reference")))
        for i, a in enumerate(actors)
        if isinstance(a, Mapping)
        and has_coding(a.get("role"), access_codes.ROLE_CODE_SYSTEM, access_codes.RESPRSN)
    ]


async def check_volmacht(ctx: PlanContext, new: Resource | None, current: Resource | None) -> None:
    """A volmacht names a RelatedPerson of the same client as its holder."""
    if new is None or not is_volmacht_consent(new):
        return
    client = client_of(new)
    if client is None:
        raise InvalidResource(
            "een volmacht hoort bij één cliënt: patient verwijst naar de Patient",
            expression=["Consent.patient"],
        )
    named = holders(new)
    if not named:
        raise InvalidResource(
            "een volmacht noemt de gevolmachtigde: een provision.actor met rol "
            "v3-RoleCode#RESPRSN die naar een RelatedPerson verwijst",
            expression=["Consent.provision.actor"],
        )
    for index, holder in named:
        path = f"Consent.provision.actor[{index}].reference"
        if holder is None or not holder.startswith("RelatedPerson/"):
            raise InvalidResource(
                "de gevolmachtigde is een naaste van de cliënt: een RelatedPerson",
                expression=[path],
            )
        person = await ctx.read("RelatedPerson", holder.split("/", 1)[1], visible=True)
        if person is None or client_of_person(person) != client:
            raise InvalidResource(
                f"{holder} is geen naaste van Patient/{client}: de gevolmachtigde is een "
                "RelatedPerson van dezelfde cliënt",
                expression=[path],
            )


def client_of_person(person: Mapping[str, Any]) -> str | None:
    target = reference(person.get("patient"))
    return target.split("/", 1)[1] if target and target.startswith("Patient/") else None


async def check_plan_volmacht(
    ctx: PlanContext, new: Resource | None, current: Resource | None
) -> None:
    """The plan's statement whether a volmacht exists, and which."""
    if new is None:
        return
    stated = list(extensions(new, codes.EXT_VOLMACHT))
    before = list(extensions(current, codes.EXT_VOLMACHT)) if current is not None else []
    if current is not None and [e for _, e in stated] == [e for _, e in before]:
        return
    if not stated:
        return
    if len(stated) > 1:
        raise InvalidResource(
            "het plan vermeldt de volmacht één keer",
            expression=[f"CarePlan.extension[{stated[1][0]}]"],
        )
    index, ext = stated[0]
    path = f"CarePlan.extension[{index}]"
    present: list[tuple[str, Any]] = []
    consents: list[tuple[str, str | None]] = []
    for i, part in enumerate(items(ext.get("extension"))):
        here = f"{path}.extension[{i}]"
        url = part.get("url") if isinstance(part, Mapping) else None
        if url == codes.VOLMACHT_AANWEZIG:
            present.append((here, part.get("valueBoolean")))
        elif url == codes.VOLMACHT_CONSENT:
            consents.append((f"{here}.valueReference", reference(part.get("valueReference"))))
        else:
            raise InvalidResource(
                f"onbekend onderdeel {url!r} in de vermelding van de volmacht; verwacht "
                f"'{codes.VOLMACHT_AANWEZIG}' en '{codes.VOLMACHT_CONSENT}'",
                expression=[here],
            )
    if len(present) != 1 or not isinstance(present[0][1], bool):
        raise InvalidResource(
            "het plan vermeldt of er een volmacht is: precies één 'aanwezig' met valueBoolean",
            expression=[present[-1][0] if present else f"{path}.extension"],
        )
    client = client_of(new)
    facts = ClientFacts(client or "")
    if present[0][1] is False:
        if consents:
            raise InvalidResource(
                "het plan zegt dat er geen volmacht is, maar verwijst naar een volmacht",
                expression=[consents[0][0]],
            )
        if client is not None and await _active_volmacht(ctx, client, facts):
            raise InvalidResource(
                "de cliënt heeft een actieve volmacht; het plan vermeldt die (aanwezig: true, "
                "met een verwijzing naar de volmacht)",
                expression=[present[0][0]],
            )
        return
    if not consents:
        raise InvalidResource(
            "het plan vermeldt dat er een volmacht is en verwijst ernaar: "
            f"'{codes.VOLMACHT_CONSENT}' met een verwijzing naar de Consent",
            expression=[f"{path}.extension"],
        )
    for here, target in consents:
        consent = None
        if target is not None and target.startswith("Consent/"):
            consent = await ctx.read("Consent", target.split("/", 1)[1], visible=True)
        parsed = parse_consent(consent) if consent is not None else None
        if (
            parsed is None
            or client is None
            or client_of(consent) != client
            or not is_volmacht(parsed, facts, None, ctx.now)
        ):
            raise InvalidResource(
                f"{target or 'deze verwijzing'} is geen actieve volmacht van deze cliënt",
                expression=[here],
            )


async def _active_volmacht(ctx: PlanContext, client: str, facts: ClientFacts) -> bool:
    adr = TokenCriterion("scope", (TokenMatch(access_codes.CONSENT_SCOPE_SYSTEM, "adr"),))
    for consent in await ctx.find(SearchQuery(("Consent",), (adr,)), client, visible=True):
        parsed = parse_consent(consent)
        if parsed is not None and is_volmacht(parsed, facts, None, ctx.now):
            return True
    return False
