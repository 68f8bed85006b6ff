"""The deliverer pass by pass, with the network replaced at its two seams (the resolver and the
HTTP transport): a notification goes to the address that was checked, with the host name kept
for Host and TLS SNI; a name that rebinds to a metadata address is refused before anything is
sent; the subscriber's registration is checked before every notification."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from zorgleefplan.access.audit import AuditLog
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.access.subscriber import Subscriber
from zorgleefplan.app import open_services
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import FhirServices, Repository
from zorgleefplan.fhir.subscription.delivery import Deliverer
from zorgleefplan.store.model import AccessConstraint


@dataclass
class Network:
    """What the resolver answers (one list per lookup, the last repeated) and what was sent."""

    answers: list[list[str]]
    lookups: int = 0
    sent: list[httpx.Request] = field(default_factory=list)
    refused_subscribers: set[str] = field(default_factory=set)

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        self.lookups += 1
        return self.answers[min(self.lookups, len(self.answers)) - 1]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(200)

    async def gate(self, subscriber: Subscriber) -> str | None:
        return "the app is disabled" if subscriber.subject in self.refused_subscribers else None


@dataclass
class Rig:
    services: FhirServices
    repo: Repository
    deliverer: Deliverer
    network: Network

    async def subscription(self, sid: str) -> dict[str, Any]:
        return dict(orjson.loads((await self.repo.read("Subscription", sid)).body or b"{}"))


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    settings = Settings(
        data_dir=tmp_path / "data",
        subscription_max_failures=2,
        subscription_retry_seconds=0.001,
        subscription_retry_max_seconds=0.001,
    )
    services = await open_services(settings)
    audit = AuditLog(services.store)
    network = Network(answers=[["93.184.216.34"]])
    deliverer = Deliverer(
        services,
        audit,
        network.gate,
        resolver=network.resolve,
        transport=httpx.MockTransport(network.handle),
    )
    repo = Repository(services, DEVELOPMENT, AccessConstraint.unrestricted())
    await repo.update("Patient", "p1", {"resourceType": "Patient", "id": "p1"})
    try:
        yield Rig(services, repo, deliverer, network)
    finally:
        await deliverer.stop()
        await audit.close()
        await services.store.close()


SUBSCRIPTION = {
    "resourceType": "Subscription",
    "status": "requested",
    "reason": "sync",
    "criteria": "Goal",
    "channel": {
        "type": "rest-hook",
        "endpoint": "https://hooks.example.org:8443/fhir",
        "payload": "application/fhir+json",
    },
}
GOAL = {
    "resourceType": "Goal",
    "lifecycleStatus": "active",
    "description": {"text": "wandelen"},
    "subject": {"reference": "Patient/p1"},
}


async def test_a_notification_goes_to_the_checked_address_under_the_host_name(rig: Rig) -> None:
    sid = (await rig.repo.create(dict(SUBSCRIPTION))).id
    assert await rig.deliverer.run_once()
    assert (await rig.subscription(sid))["status"] == "active"
    made = await rig.repo.create(dict(GOAL))
    assert await rig.deliverer.run_once()
    (request,) = rig.network.sent
    assert str(request.url) == f"https://93.184.216.34:8443/fhir/Goal/{made.id}"
    assert request.headers["host"] == "hooks.example.org:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.org"
    assert request.method == "PUT" and request.content == made.body
    assert not await rig.deliverer.run_once()  # nothing left to do


async def test_a_name_that_rebinds_to_a_metadata_address_is_never_contacted(rig: Rig) -> None:
    rig.network.answers = [["93.184.216.34"], ["93.184.216.34"], ["169.254.169.254"]]
    sid = (await rig.repo.create(dict(SUBSCRIPTION))).id
    await rig.deliverer.run_once()  # activation: the first lookup
    await rig.repo.create(dict(GOAL))
    await rig.deliverer.run_once()  # delivered: the second lookup
    await rig.repo.create(dict(GOAL))
    await rig.deliverer.run_once()  # the third lookup answers the metadata address
    assert len(rig.network.sent) == 1
    assert (await rig.subscription(sid))["status"] == "active"  # one failure: retried later


async def test_repeated_refusals_put_the_subscription_in_error(rig: Rig) -> None:
    rig.network.answers = [["93.184.216.34"], ["169.254.169.254"]]
    sid = (await rig.repo.create(dict(SUBSCRIPTION))).id
    await rig.deliverer.run_once()
    await rig.repo.create(dict(GOAL))
    for _ in range(2):  # subscription_max_failures
        await asyncio.sleep(0.01)  # past the backoff
        await rig.deliverer.run_once()
    subscription = await rig.subscription(sid)
    assert subscription["status"] == "error"
    assert (
        "link-local" in subscription["error"]
        and "2 notifications in a row" in subscription["error"]
    )
    assert rig.network.sent == []


async def test_an_endpoint_refused_at_activation_is_an_error(rig: Rig) -> None:
    rig.network.answers = [["10.0.0.7"]]  # private, and private endpoints are not allowed here
    sid = (await rig.repo.create(dict(SUBSCRIPTION))).id
    await rig.deliverer.run_once()
    subscription = await rig.subscription(sid)
    assert subscription["status"] == "error"
    assert "loopback or private" in subscription["error"]


async def test_the_subscriber_is_checked_before_each_notification(rig: Rig) -> None:
    sid = (await rig.repo.create(dict(SUBSCRIPTION))).id
    await rig.deliverer.run_once()
    rig.network.refused_subscribers.add("development")
    await rig.repo.create(dict(GOAL))
    await rig.deliverer.run_once()
    subscription = await rig.subscription(sid)
    assert (subscription["status"], subscription["error"]) == ("error", "the app is disabled")
    assert rig.network.sent == []
