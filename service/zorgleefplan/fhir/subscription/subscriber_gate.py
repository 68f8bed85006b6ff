"""Is the subscriber still someone the server may notify? Checked before every notification.

A subscription outlives the access token that created it, so what a token vouched for at
creation is checked again against the authorization server's registry each time: the app is
still registered and active (disabling an app also ends its subscriptions), a backend still acts
for the same organisation, and a person's account is still active and still acts as the
``fhirUser`` it had. What the subscriber may see is then decided afresh by the consent policy
(delivery.py). The development principal exists only in code that builds the app with it; its
subscriptions are delivered only by such an app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from zorgleefplan.access.subscriber import Subscriber
from zorgleefplan.auth.registry import AccountRegistry, AppRegistry

# The reason a subscriber may no longer be notified, or None when they may.
SubscriberGate = Callable[[Subscriber], Awaitable[str | None]]


class _Registries(AppRegistry, AccountRegistry, Protocol):
    """What the gate reads (the AuthRegistry has both)."""


def registry_gate(registry: _Registries, *, allow_development: bool) -> SubscriberGate:
    async def check(subscriber: Subscriber) -> str | None:
        if subscriber.kind == "development":
            return None if allow_development else "the development principal is not served here"
        if subscriber.kind == "anonymous" or not subscriber.client_id:
            return "the subscription names no app"
        app = await registry.get_app(subscriber.client_id)
        if app is None or not app.active:
            return f"the app {subscriber.client_id} is no longer registered or active"
        if subscriber.kind == "system":
            if app.kind != "backend" or app.organization != subscriber.organization:
                return f"the app {subscriber.client_id} no longer acts for this organisation"
            return None
        account = await registry.get_account(subscriber.subject)
        if account is None or not account.active:
            return "the subscriber's account is no longer active"
        if subscriber.fhir_user is not None and subscriber.fhir_user not in account.fhir_users:
            return f"the subscriber's account no longer acts as {subscriber.fhir_user}"
        return None

    return check
