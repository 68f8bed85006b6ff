"""Subscriptions belong to their subscriber: which compartment holds one, and the facts about
the subscriber that are kept with it.

The client's own Subscription belongs to the client's compartment, like everything else about
their plan (erasure takes it along). Anyone else's — a volmacht holder's, a professional's, a
backend's — belongs to no client: it goes into a compartment of its own, keyed by the app, the
identity acted as and the subject (``subscriber:<client_id>:<fhirUser or organization>:<sub>``,
never a valid Patient id), which only that subscriber's access decision grants, so nobody else
sees its endpoint and headers (the receiver's secret). What it notifies is still bounded, at
each notification, by what the subscriber may see of the client's plan.

A subscription outlives the token that created it, so what is kept is the principal's identity
(:class:`Subscriber`), never a token. Each notification rebuilds the principal from it and asks
the consent policy afresh; the registry checks (app still active, account still holding the
``fhirUser``) are made by the caller (see fhir/subscription/subscriber_gate.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from zorgleefplan.access.principal import Principal, PrincipalKind

SUBSCRIBER_PREFIX = "subscriber:"


def subscriber_compartment(principal: Principal) -> str:
    """The compartment of a Subscription made by ``principal``."""
    if principal.kind == "patient" and principal.patient:
        return principal.patient
    acting = principal.fhir_user or principal.organization or "-"
    return f"{SUBSCRIBER_PREFIX}{principal.client_id or '-'}:{acting}:{principal.subject}"


def is_client_compartment(compartment: str | None) -> bool:
    """True for a client's compartment (a Patient id), False for none or a subscriber's own."""
    return compartment is not None and not compartment.startswith(SUBSCRIBER_PREFIX)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """Who a subscription notifies for: the principal's identity, without its token."""

    kind: PrincipalKind
    subject: str
    client_id: str | None = None
    fhir_user: str | None = None
    patient: str | None = None
    organization: str | None = None
    scopes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, principal: Principal) -> Subscriber:
        return cls(
            kind=principal.kind,
            subject=principal.subject,
            client_id=principal.client_id,
            fhir_user=principal.fhir_user,
            patient=principal.patient,
            organization=principal.organization,
            scopes=principal.scopes,
        )

    def principal(self) -> Principal:
        """The principal each notification is decided for (no token: none is presented)."""
        return Principal(
            kind=self.kind,
            subject=self.subject,
            display=self.fhir_user or self.organization or self.subject,
            fhir_user=self.fhir_user,
            patient=self.patient,
            client_id=self.client_id,
            scopes=self.scopes,
            organization=self.organization,
        )
