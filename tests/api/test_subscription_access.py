"""Subscriptions and access, with real tokens and a real HTTP receiver: a notification is
decided by the subscriber's access at that moment, like a search would be — nothing about what
they may not see, nothing once consent is withdrawn, no delete of what they never saw; every
notification audited in the client's log; a Subscription seen and changed by its subscriber
only; an app disabled in the registry ends its subscriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from joserfc.jwk import ECKey

from tests.api.test_consent_access import action, actor
from tests.api.test_subscriptions import fast, goal, subscription
from tests.hook_receiver import Receiver, running_receiver
from tests.support import mint_access_token
from zorgleefplan.access import codes
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.app import create_app
from zorgleefplan.auth.registry import App, new_account, new_app, utc_now
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.plan.codes import EXT_SUBSCRIBER
from zorgleefplan.store.model import AccessConstraint

ROOT = "http://test"
FHIR_JSON = "application/fhir+json"


def goal_permit(patient: str = "p1", status: str = "active") -> dict[str, Any]:
    """A client's access Consent: Organization o-ok may read their Goals."""
    return {
        "resourceType": "Consent",
        "id": f"toegang-{patient}",
        "status": status,
        "scope": {"coding": [{"system": codes.CONSENT_SCOPE_SYSTEM, "code": codes.SCOPE_PRIVACY}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "provision": {
            "type": "permit",
            "actor": [actor("Organization/o-ok")],
            "action": [action(codes.ACTION_ACCESS)],
            "class": [{"system": codes.RESOURCE_TYPES_SYSTEM, "code": "Goal"}],
        },
    }


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    repo: Repository  # the development principal: seeding and ground truth
    receiver: Receiver
    ehr: App
    other_ehr: App
    pgo: App
    tokens: dict[str, dict[str, str]]

    async def call(self, who: str, method: str, url: str, body: Any = None) -> httpx.Response:
        content = orjson.dumps(body) if body is not None else None
        return await self.client.request(method, url, content=content, headers=self.tokens[who])

    async def subscribe(self, who: str, resource: dict[str, Any]) -> str:
        r = await self.call(who, "POST", "/fhir/Subscription", resource)
        assert r.status_code == 201, r.text
        sid = str(r.json()["id"])
        await self.wait_status(sid, "active")
        return sid

    async def wait_status(self, sid: str, status: str) -> dict[str, Any]:
        for _ in range(500):
            current = await self.repo.read("Subscription", sid)
            resource: dict[str, Any] = orjson.loads(current.body or b"{}")
            if resource["status"] == status:
                return resource
            await _sleep()
        raise AssertionError(f"Subscription/{sid} did not become {status}: {resource}")

    async def create(self, resource: dict[str, Any]) -> str:
        return (await self.repo.create(resource)).id


async def _sleep() -> None:
    import asyncio

    await asyncio.sleep(0.02)


def backend(name: str, organization: str) -> App:
    jwks = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    return new_app(
        name=name, kind="backend", jwks=jwks, organization=organization, created=utc_now()
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


@pytest.fixture
async def world(tmp_path: Path, receiver: Receiver) -> AsyncIterator[World]:
    settings = fast(tmp_path / "data")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())
        for resource in (
            {"resourceType": "Patient", "id": "p1"},
            {"resourceType": "Patient", "id": "p2"},
            {"resourceType": "Patient", "id": "p3"},
            {"resourceType": "Organization", "id": "o-ok", "name": "Huisarts"},
            {"resourceType": "Organization", "id": "o-other", "name": "Elders"},
            goal_permit("p1"),
            goal_permit("p2"),
        ):
            await repo.update(resource["resourceType"], resource["id"], resource)
        registry = app.state.auth.registry
        ehr, other_ehr = (
            backend("EHR", "Organization/o-ok"),
            backend("EHR 2", "Organization/o-other"),
        )
        pgo = new_app(
            name="PGO",
            kind="public",
            redirect_uris=["https://pgo.example.org/cb"],
            created=utc_now(),
        )
        for registered in (ehr, other_ehr, pgo):
            await registry.add_app(registered)
        await registry.add_account(
            new_account(
                username="anna",
                fhir_users=["Patient/p1"],
                external=("https://idp.example.org", "anna-1"),
                created=utc_now(),
            )
        )
        data_dir = settings.data_dir

        def bearer(**claims: Any) -> dict[str, str]:
            token = mint_access_token(data_dir, ROOT, **claims)
            return {"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON}

        tokens = {
            "ehr": bearer(
                organization="Organization/o-ok", scope="system/*.cruds", client_id=ehr.client_id
            ),
            "other-ehr": bearer(
                organization="Organization/o-other",
                scope="system/*.cruds",
                client_id=other_ehr.client_id,
            ),
            "client-p1": bearer(patient="p1", client_id=pgo.client_id, subject="anna"),
        }
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ROOT
        ) as client:
            yield World(app, client, repo, receiver, ehr, other_ehr, pgo, tokens)


async def test_notifications_follow_the_subscribers_consent_at_each_change(world: World) -> None:
    hook = world.receiver.url + "/ehr"
    await world.subscribe("ehr", subscription(hook, "Goal"))
    seen = await world.create(goal("p1"))
    await world.receiver.wait_for(1)
    hidden = await world.create(goal("p3"))  # p3 shares nothing with the EHR
    # The client withdraws the Consent: from the next change on, nothing of p1 reaches the EHR.
    r = await world.call(
        "client-p1", "PUT", "/fhir/Consent/toegang-p1", goal_permit(status="inactive")
    )
    assert r.status_code == 200, r.text
    after = await world.repo.read("Goal", seen)
    changed = {**orjson.loads(after.body or b"{}"), "description": {"text": "gewijzigd"}}
    await world.repo.update("Goal", seen, changed)
    await world.create(goal("p1", "na intrekking"))
    await world.repo.delete("Goal", seen)  # seen before, but no longer visible
    await world.repo.delete("Goal", hidden)  # never visible
    # p2 still shares: its next change arrives, so everything before it was passed over.
    marker = await world.create(goal("p2", "gedeeld"))
    got = await world.receiver.wait_for(2)
    assert [(g.method, g.path) for g in got] == [
        ("PUT", f"/hook/ehr/Goal/{seen}"),
        ("PUT", f"/hook/ehr/Goal/{marker}"),
    ]
    everything = b"".join(g.body + g.path.encode() for g in world.receiver.received())
    assert hidden.encode() not in everything and b"intrekking" not in everything


async def test_a_delete_the_subscriber_may_see_is_notified(world: World) -> None:
    hook = world.receiver.url + "/ehr"
    await world.subscribe("ehr", subscription(hook, "Goal?subject=Patient/p1"))
    made = await world.create(goal("p1"))
    await world.receiver.wait_for(1)
    await world.repo.delete("Goal", made)
    got = await world.receiver.wait_for(2)
    assert (got[1].method, got[1].path) == ("DELETE", f"/hook/ehr/Goal/{made}")


async def test_each_notification_is_in_the_clients_access_log(world: World) -> None:
    await world.subscribe("ehr", subscription(world.receiver.url + "/ehr", "Goal"))
    made = await world.create(goal("p1"))
    await world.receiver.wait_for(1)
    r = await world.call("client-p1", "GET", "/fhir/AuditEvent?patient=p1&_count=50")
    assert r.status_code == 200, r.text
    events = [e["resource"] for e in r.json().get("entry", [])]
    notified = [e for e in events if e["subtype"][0]["code"] == "subscription-notification"]
    assert len(notified) == 1, events
    event = notified[0]
    assert event["action"] == "R"
    assert {"reference": "Organization/o-ok"} in [a["who"] for a in event["agent"]]
    agents = [a["who"].get("identifier", {}).get("value") for a in event["agent"]]
    assert world.ehr.client_id in agents
    assert f"Goal/{made}/_history/1" in [
        e["what"]["reference"] for e in event["entity"] if "what" in e
    ]


async def test_a_subscription_is_seen_and_changed_by_its_subscriber_only(world: World) -> None:
    body = subscription("https://ehr.example.org/fhir", "Goal")
    r = await world.call("ehr", "POST", "/fhir/Subscription", body)
    assert r.status_code == 201, r.text
    ehr_sub = r.json()
    (recorded,) = (e for e in ehr_sub["extension"] if e["url"] == EXT_SUBSCRIBER)
    assert {"url": "client", "valueString": world.ehr.client_id} in recorded["extension"]
    r = await world.call(
        "client-p1", "POST", "/fhir/Subscription", subscription("https://pgo.example.org/hook")
    )
    assert r.status_code == 201, r.text
    own_sub = r.json()
    for who, visible in (("ehr", ehr_sub["id"]), ("client-p1", own_sub["id"])):
        r = await world.call(who, "GET", "/fhir/Subscription")
        assert [e["resource"]["id"] for e in r.json().get("entry", [])] == [visible]
        hidden = own_sub["id"] if visible == ehr_sub["id"] else ehr_sub["id"]
        assert (await world.call(who, "GET", f"/fhir/Subscription/{hidden}")).status_code == 404
    r = await world.call("other-ehr", "GET", "/fhir/Subscription")
    assert r.json().get("entry", []) == []
    r = await world.call("other-ehr", "GET", "/fhir/_history")
    assert ehr_sub["id"] not in r.text and own_sub["id"] not in r.text
    # Somebody else's subscription can be neither taken over nor deleted.
    hijack = {
        **body,
        "id": ehr_sub["id"],
        "channel": {**body["channel"], "endpoint": "https://evil.example.org/"},
    }
    r = await world.call("other-ehr", "PUT", f"/fhir/Subscription/{ehr_sub['id']}", hijack)
    assert r.status_code == 409, r.text
    r = await world.call("other-ehr", "DELETE", f"/fhir/Subscription/{ehr_sub['id']}")
    assert r.status_code == 404
    stored = await world.repo.read("Subscription", ehr_sub["id"])
    assert b"evil" not in (stored.body or b"")  # (version 2 is the server's status change)
    # The subscriber changes and deletes its own.
    r = await world.call(
        "ehr",
        "PUT",
        f"/fhir/Subscription/{ehr_sub['id']}",
        {**body, "id": ehr_sub["id"], "status": "off"},
    )
    assert r.status_code == 200, r.text
    assert (
        await world.call("ehr", "DELETE", f"/fhir/Subscription/{ehr_sub['id']}")
    ).status_code == 204


async def test_the_clients_own_subscription_stays_in_their_plan(world: World) -> None:
    await world.subscribe(
        "client-p1", subscription(world.receiver.url + "/pgo", "Goal", payload=False)
    )
    await world.create(goal("p2"))
    mine = await world.create(goal("p1"))
    (got,) = await world.receiver.wait_for(1)
    assert (got.method, got.path, got.body) == ("POST", "/hook/pgo", b"")
    r = await world.call("client-p1", "GET", "/fhir/Goal/_history?_since=2000-01-01")
    assert mine in r.text


async def test_disabling_the_app_ends_its_subscriptions(world: World) -> None:
    sid = await world.subscribe("ehr", subscription(world.receiver.url + "/ehr", "Goal"))
    await world.app.state.auth.registry.set_app_active(world.ehr.client_id, False)
    await world.create(goal("p1"))
    failed = await world.wait_status(sid, "error")
    assert world.ehr.client_id in failed["error"] and "no longer" in failed["error"]
    assert world.receiver.received() == []
