"""Who a reference in the plan is, as far as the caller may see: name, organisation, contact.

A reference whose target the caller may not see stays a bare reference (with the display the
referring element itself carries, which the caller can read anyway): nothing is looked up
around the caller's access.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zorgleefplan.plan.network import PlanNetwork
from zorgleefplan.plan.values import Json, reference, string, text, walk


@dataclass(frozen=True)
class Party:
    """A person, team or organisation in the plan."""

    reference: str  # Type/id
    name: str | None
    organization: str | None = None  # Organization/id acted for
    organization_name: str | None = None
    qualification: str | None = None  # what a professional is (PractitionerRole.code/specialty)
    telecom: tuple[Json, ...] = ()  # ContactPoints, most specific first
    address: tuple[Json, ...] = ()  # postal addresses (the organisation's for a professional)
    visible: bool = True  # False: the reference only (target absent or not visible)

    @property
    def type(self) -> str:
        return self.reference.split("/", 1)[0]

    @property
    def is_professional(self) -> bool:
        return self.type in ("Practitioner", "PractitionerRole", "Organization", "CareTeam")

    @property
    def label(self) -> str:
        return self.name or self.reference


def human_name(resource: object) -> str | None:
    """A HumanName list rendered as people write it: its text, else prefix given family."""
    for name in walk(resource, ("name",)):
        if not isinstance(name, Mapping):
            continue
        if string(name, "text"):
            return string(name, "text")
        parts = [
            *(p for p in walk(name, ("prefix",)) if isinstance(p, str)),
            *(g for g in walk(name, ("given",)) if isinstance(g, str)),
        ]
        family = string(name, "family")
        if family:
            parts.append(family)
        if parts:
            return " ".join(parts)
    return None


def _name(resource: Json) -> str | None:
    if resource.get("resourceType") in ("Organization", "CareTeam"):
        return string(resource, "name")
    return human_name(resource)


def _contacts(*resources: Json | None) -> tuple[Json, ...]:
    return tuple(
        c
        for r in resources
        if r is not None
        for c in walk(r, ("telecom",))
        if isinstance(c, Mapping) and string(c, "value")
    )


def _addresses(resource: Json | None) -> tuple[Json, ...]:
    return tuple(a for a in walk(resource, ("address",)) if isinstance(a, Mapping))


def party(
    network: PlanNetwork,
    ref: str,
    *,
    display: str | None = None,
    on_behalf_of: str | None = None,
) -> Party:
    """``ref`` resolved in the network (``display``: the referring element's own display;
    ``on_behalf_of``: the organisation a care team participant acts for)."""
    resource = network.get(ref)
    organization_ref = on_behalf_of
    if resource is None:
        organization = network.get(organization_ref)
        return Party(
            ref,
            display,
            organization_ref,
            _name(organization) if organization else None,
            visible=False,
        )
    person: Json | None = resource
    qualification = None
    if resource.get("resourceType") == "PractitionerRole":
        organization_ref = organization_ref or reference(resource.get("organization"))
        person = network.get(reference(resource.get("practitioner")))
        qualification = ", ".join(
            t
            for t in (text(c) for c in walk(resource, ("code",)) + walk(resource, ("specialty",)))
            if t
        )
    elif resource.get("resourceType") == "Practitioner":
        qualification = ", ".join(
            t for t in (text(q) for q in walk(resource, ("qualification", "code"))) if t
        )
    elif resource.get("resourceType") == "Organization":
        organization_ref = None
    organization = network.get(organization_ref)
    name = (_name(person) if person is not None else None) or display
    return Party(
        ref,
        name,
        organization_ref,
        _name(organization) if organization else None,
        qualification or None,
        _contacts(resource, person if person is not resource else None, organization),
        _addresses(resource) or _addresses(organization),
        visible=True,
    )


def same_party(network: PlanNetwork, a: str | None, b: str | None) -> bool:
    """Whether two references name the same professional: equal, or a PractitionerRole and
    the Practitioner it is a role of."""
    if a is None or b is None:
        return False
    return a == b or b in _identities(network, a) or a in _identities(network, b)


def _identities(network: PlanNetwork, ref: str) -> set[str]:
    resource = network.get(ref)
    found = {ref}
    if resource is not None and resource.get("resourceType") == "PractitionerRole":
        practitioner = reference(resource.get("practitioner"))
        if practitioner:
            found.add(practitioner)
    return found
