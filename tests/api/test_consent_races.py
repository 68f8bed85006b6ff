"""Consent edits racing reads: a withdrawal counts from the moment it is answered.

Many reads and searches by a professional run concurrently with the client withdrawing the
access Consent. A request answered before the withdrawal was sent saw the data; one sent after
the withdrawal was answered sees nothing (no cached decision outlives the edit); in between
either answer is right — but never a 5xx, a partial body or a hint of the data.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from tests.api.test_consent_access import World, permit, world  # noqa: F401  (fixture)

READERS = 16
READS_AFTER = 3


@dataclass
class Outcome:
    started: int  # position in the event order when the request was sent
    answered: int  # ... and when its response arrived
    status: int
    goal_ids: tuple[str, ...]


@pytest.mark.parametrize("path", ["/fhir/Goal/goal-p1", "/fhir/Goal?patient=p1"])
async def test_withdrawal_racing_reads(world: World, path: str) -> None:  # noqa: F811
    await world.put(permit("PractitionerRole/pr1", "Goal"))
    huisarts = world.huisarts()
    assert (await world.client.get(path, headers=huisarts)).status_code == 200
    clock = 0
    withdraw_sent = withdraw_answered = -1
    outcomes: list[Outcome] = []

    def tick() -> int:
        nonlocal clock
        clock += 1
        return clock

    async def read() -> None:
        started = tick()
        r = await world.client.get(path, headers=huisarts)
        body = r.json()
        if body["resourceType"] == "Goal":
            ids: tuple[str, ...] = (body["id"],)
        else:
            ids = tuple(e["resource"]["id"] for e in body.get("entry", []))
        outcomes.append(Outcome(started, tick(), r.status_code, ids))

    async def reader() -> None:
        # Read continuously until a few reads have started after the withdrawal's answer.
        after = 0
        while after < READS_AFTER:
            if withdraw_answered > 0:
                after += 1
            await read()

    async def withdraw() -> None:
        nonlocal withdraw_sent, withdraw_answered
        while len(outcomes) < READERS:  # the stream of reads is under way
            await asyncio.sleep(0.001)
        withdrawn = permit("PractitionerRole/pr1", "Goal") | {"status": "inactive"}
        withdraw_sent = tick()
        r = await world.client.put(
            "/fhir/Consent/toegang", json=withdrawn, headers=world.client_p1()
        )
        assert r.status_code == 200, r.text
        withdraw_answered = tick()

    await asyncio.gather(withdraw(), *(reader() for _ in range(READERS)))

    assert 0 < withdraw_sent < withdraw_answered
    before = [o for o in outcomes if o.answered < withdraw_sent]
    after = [o for o in outcomes if o.started > withdraw_answered]
    assert before and len(after) >= READERS
    for o in outcomes:
        if path.endswith("goal-p1"):
            assert (o.status, o.goal_ids) in {(200, ("goal-p1",)), (404, ())}, o
        else:
            assert o.status == 200 and o.goal_ids in {("goal-p1",), ()}, o
    for o in before:
        assert o.goal_ids == ("goal-p1",), o
    for o in after:
        assert o.goal_ids == (), o
