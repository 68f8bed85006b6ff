"""Subscriptions over HTTP, delivered to a real HTTP receiver on 127.0.0.1 (private addresses
allowed for the test): activation, both payload forms, deletes, retries with backoff, error
after repeated failures, restart, two workers on one store, endpoint refusal.

A notification that must not happen is checked with a marker: delivery follows the change log
in order, so once a later change has arrived the earlier one was passed over for good.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tests.conftest import as_development
from tests.hook_receiver import Receiver, running_receiver
from zorgleefplan.access.audit import AuditLog
from zorgleefplan.app import create_app, open_services
from zorgleefplan.config import Settings
from zorgleefplan.fhir.subscription.delivery import Deliverer
from zorgleefplan.fhir.subscription.subscriber_gate import registry_gate

FHIR_JSON = "application/fhir+json"


def fast(data_dir: Path, **changes: Any) -> Settings:
    """Settings for delivery tests: private endpoints allowed, quick polls and retries."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "subscription_allow_private": True,
        "subscription_poll_seconds": 0.02,
        "subscription_retry_seconds": 0.05,
        "subscription_retry_max_seconds": 0.2,
        "subscription_max_failures": 3,
        "subscription_timeout": 2.0,
    }
    return Settings(**(values | changes))


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app (FHIR requests as the development principal) and a client of it."""
    app = create_app(settings, resolve_principal=as_development)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers={"Content-Type": FHIR_JSON}
        ) as client:
            yield app, client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with serving(fast(tmp_path / "data")) as pair:
        await put(pair[1], {"resourceType": "Patient", "id": "p1"})
        await put(pair[1], {"resourceType": "Patient", "id": "p2"})
        yield pair


@pytest.fixture
def client(served: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return served[1]


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    url = f"/fhir/{resource['resourceType']}/{resource['id']}"
    r = await client.put(url, content=orjson.dumps(resource))
    assert r.status_code in (200, 201), r.text
    return r.json()


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"/fhir/{resource['resourceType']}", content=orjson.dumps(resource))
    assert r.status_code == 201, r.text
    return r.json()


def goal(patient: str, text: str = "wandelen", status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": status,
        "description": {"text": text},
        "subject": {"reference": f"Patient/{patient}"},
    }


def subscription(
    endpoint: str,
    criteria: str = "Goal?subject=Patient/p1",
    *,
    payload: bool = True,
    headers: list[str] | None = None,
) -> dict[str, Any]:
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": endpoint}
    if payload:
        channel["payload"] = FHIR_JSON
    if headers:
        channel["header"] = headers
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "test",
        "criteria": criteria,
        "channel": channel,
    }


async def wait_status(
    client: httpx.AsyncClient, sid: str, status: str, timeout: float = 10.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(f"/fhir/Subscription/{sid}")
        assert r.status_code == 200, r.text
        if r.json()["status"] == status:
            return r.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"Subscription/{sid} did not become {status}: {r.text}")
        await asyncio.sleep(0.02)


async def subscribe(client: httpx.AsyncClient, resource: dict[str, Any]) -> str:
    sid = str((await create(client, resource))["id"])
    await wait_status(client, sid, "active")
    return sid


def paths(received: list[Any]) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in received]


# --------------------------------------------------------------------------- delivery


async def test_a_requested_subscription_becomes_active_and_is_sent_the_resource(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    body = subscription(receiver.url, headers=["Authorization: Bearer ontvanger-geheim"])
    created = await create(client, body)
    assert created["status"] == "requested"
    active = await wait_status(client, created["id"], "active")
    assert "error" not in active
    made = await create(client, goal("p1"))
    (got,) = await receiver.wait_for(1)
    assert (got.method, got.path) == ("PUT", f"/hook/Goal/{made['id']}")
    assert orjson.loads(got.body) == made  # the stored resource, meta included
    assert got.headers["content-type"].startswith(FHIR_JSON)
    assert got.headers["authorization"] == "Bearer ontvanger-geheim"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    # An update is an update of the same resource at the endpoint.
    made["description"] = {"text": "fietsen"}
    updated = await put(client, made)
    got = (await receiver.wait_for(2))[1]
    assert (got.method, orjson.loads(got.body)) == ("PUT", updated)


async def test_without_payload_a_notification_is_an_empty_post(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, subscription(receiver.url, payload=False))
    await create(client, goal("p1"))
    (got,) = await receiver.wait_for(1)
    assert (got.method, got.path, got.body) == ("POST", "/hook", b"")
    assert "content-type" not in got.headers


async def test_only_changes_matching_the_criteria_are_notified(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(
        client, subscription(receiver.url, "Goal?subject=Patient/p1&lifecycle-status=active")
    )
    other_client = await create(client, goal("p2"))
    first = await create(client, goal("p1"))
    await receiver.wait_for(1)
    first["lifecycleStatus"] = "cancelled"  # no longer matches: R4 sends nothing
    await put(client, first)
    await create(client, {**goal("p1"), "lifecycleStatus": "proposed"})
    marker = await create(client, goal("p1", "marker"))
    got = await receiver.wait_for(2)
    assert paths(got) == [
        ("PUT", f"/hook/Goal/{first['id']}"),
        ("PUT", f"/hook/Goal/{marker['id']}"),
    ]
    assert all(other_client["id"] not in r.path for r in receiver.received())


async def test_a_delete_is_notified_only_for_a_resource_notified_before(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    unseen = await create(client, goal("p1", status="proposed"))  # before the subscription
    await subscribe(client, subscription(receiver.url))
    seen = await create(client, goal("p1"))
    await receiver.wait_for(1)
    assert (await client.delete(f"/fhir/Goal/{seen['id']}")).status_code == 204
    assert (await client.delete(f"/fhir/Goal/{unseen['id']}")).status_code == 204
    marker = await create(client, goal("p1", "marker"))
    got = await receiver.wait_for(3)
    assert paths(got) == [
        ("PUT", f"/hook/Goal/{seen['id']}"),
        ("DELETE", f"/hook/Goal/{seen['id']}"),
        ("PUT", f"/hook/Goal/{marker['id']}"),
    ]
    assert got[1].body == b""


async def test_a_created_and_deleted_resource_is_notified_as_it_is_now(
    served: tuple[FastAPI, httpx.AsyncClient], receiver: Receiver
) -> None:
    """Delivery reads the current state: an older version is passed over (a later change
    covers it), so a resource gone before delivery is never sent at all."""
    app, client = served
    await subscribe(client, subscription(receiver.url))
    deliverer: Deliverer = app.state.deliverer
    # Hold delivery back while the changes are made, as when the endpoint is slow.
    async with pause(deliverer):
        gone = await create(client, goal("p1", "kort"))
        assert (await client.delete(f"/fhir/Goal/{gone['id']}")).status_code == 204
        twice = await create(client, goal("p1", "eerst"))
        twice["description"] = {"text": "daarna"}
        latest = await put(client, twice)
    got = await receiver.wait_for(1)
    await create(client, goal("p1", "marker"))
    got = await receiver.wait_for(2)
    assert got[0].path == f"/hook/Goal/{twice['id']}" and orjson.loads(got[0].body) == latest
    assert all(gone["id"] not in r.path for r in got)


@asynccontextmanager
async def pause(deliverer: Deliverer) -> AsyncIterator[None]:
    """Keep the deliverer from starting a pass for the duration."""
    original = deliverer.run_once

    async def idle() -> bool:
        return False

    deliverer.run_once = idle  # type: ignore[method-assign]
    await asyncio.sleep(0.1)  # a pass in progress ends
    try:
        yield
    finally:
        deliverer.run_once = original  # type: ignore[method-assign]


async def test_failed_notifications_are_retried_with_backoff(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, subscription(receiver.url))
    receiver.fail_first = 2
    started = time.monotonic()
    made = await create(client, goal("p1"))
    (got,) = await receiver.wait_for(1)
    assert got.path == f"/hook/Goal/{made['id']}"
    assert receiver.attempts == 3
    assert time.monotonic() - started >= 0.05 + 0.1  # two waits, the second twice the first


async def test_repeated_failures_put_the_subscription_in_error_until_requested_again(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    sid = await subscribe(client, subscription(receiver.url))
    receiver.fail_first = 1000
    waiting = await create(client, goal("p1", "wacht"))
    failed = await wait_status(client, sid, "error")
    assert "3 notifications in a row failed" in failed["error"]
    assert "HTTP 503" in failed["error"]
    assert receiver.attempts == 3
    # Paused: further changes are not attempted.
    await create(client, goal("p1", "niet"))
    await asyncio.sleep(0.3)
    assert receiver.attempts == 3
    # The client asks again (R4: a client sets requested); delivery starts from that request.
    receiver.fail_first = 0
    failed["status"] = "requested"
    again = await put(client, failed)
    assert "error" not in again
    await wait_status(client, sid, "active")
    after = await create(client, goal("p1", "daarna"))
    got = await receiver.wait_for(1)
    assert paths(got) == [("PUT", f"/hook/Goal/{after['id']}")]
    assert waiting["id"] not in got[0].path


async def test_queued_notifications_survive_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    settings = fast(tmp_path / "data", subscription_max_failures=100)
    async with serving(settings) as (_, client):
        await put(client, {"resourceType": "Patient", "id": "p1"})
        await subscribe(client, subscription(receiver.url))
        receiver.fail_first = 1000  # the endpoint is down: the changes wait in the store
        queued = [await create(client, goal("p1", f"doel {i}")) for i in range(3)]
        while receiver.attempts == 0:
            await asyncio.sleep(0.02)
    attempts = receiver.attempts
    receiver.fail_first = attempts  # up again from now on
    async with serving(settings):
        got = await receiver.wait_for(3)
    assert paths(got) == [("PUT", f"/hook/Goal/{g['id']}") for g in queued]


async def test_two_workers_on_one_store_notify_each_change_once(
    tmp_path: Path, served: tuple[FastAPI, httpx.AsyncClient], receiver: Receiver
) -> None:
    app, client = served
    settings: Settings = app.state.services.settings
    # A second worker, as another process would run it: its own store connection and clock.
    other = await open_services(settings)
    audit = AuditLog(other.store)
    second = Deliverer(other, audit, registry_gate(app.state.auth.registry, allow_development=True))
    second.start()
    try:
        await subscribe(client, subscription(receiver.url))
        made = await asyncio.gather(*(create(client, goal("p1", f"doel {i}")) for i in range(12)))
        got = await receiver.wait_for(12)
        await asyncio.sleep(0.2)
    finally:
        await second.stop()
        await audit.close()
        await other.store.close()
    assert sorted(r.path for r in receiver.received()) == sorted(
        f"/hook/Goal/{g['id']}" for g in made
    )
    assert len(got) == 12


# --------------------------------------------------------------------------- the resource


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]:8080/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/latest/meta-data/",
        "ftp://127.0.0.1/hook",
    ],
)
async def test_metadata_and_link_local_endpoints_are_refused(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    r = await client.post("/fhir/Subscription", content=orjson.dumps(subscription(endpoint)))
    assert r.status_code == 422, r.text
    issue = r.json()["issue"][0]
    assert issue["expression"] == ["Subscription.channel.endpoint"]


async def test_private_endpoints_need_the_setting(tmp_path: Path) -> None:
    async with serving(Settings(data_dir=tmp_path / "data")) as (_, client):
        for endpoint in ("http://127.0.0.1:9/hook", "https://10.0.0.1/hook", "http://example.org/"):
            r = await client.post(
                "/fhir/Subscription", content=orjson.dumps(subscription(endpoint))
            )
            assert r.status_code == 422, r.text


async def test_a_name_resolving_to_a_refused_address_puts_the_subscription_in_error(
    client: httpx.AsyncClient,
) -> None:
    # localhost is allowed here; a name that resolves nowhere is refused at activation.
    created = await create(client, subscription("http://host.invalid/hook"))
    failed = await wait_status(client, created["id"], "error")
    assert "does not resolve" in failed["error"]


async def test_a_client_sets_requested_or_off_only(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    r = await client.post(
        "/fhir/Subscription",
        content=orjson.dumps({**subscription(receiver.url), "status": "active"}),
    )
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["Subscription.status"]
    sid = await subscribe(client, subscription(receiver.url))
    current = (await client.get(f"/fhir/Subscription/{sid}")).json()
    current["status"] = "off"
    await put(client, current)
    await create(client, goal("p1"))
    await asyncio.sleep(0.3)
    assert receiver.received() == []
    history = (await client.get(f"/fhir/Subscription/{sid}/_history")).json()
    statuses = [e["resource"]["status"] for e in reversed(history["entry"])]
    assert statuses == ["requested", "active", "off"]


async def test_a_deleted_subscription_notifies_nothing(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    sid = await subscribe(client, subscription(receiver.url))
    assert (await client.delete(f"/fhir/Subscription/{sid}")).status_code == 204
    await create(client, goal("p1"))
    await asyncio.sleep(0.3)
    assert receiver.received() == []


async def test_an_ended_subscription_is_turned_off(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    ended = {**subscription(receiver.url), "end": "2020-01-01T00:00:00Z"}
    created = await create(client, ended)
    await wait_status(client, created["id"], "off")
