"""Loading a plan's network through the caller's Repository: what it gathers, in a fixed number
of searches however large the network, and nothing the caller may not see."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi import FastAPI

from tests.plan_fixture import CLIENT, NOW, find, network, only, ref, store
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.errors import ResourceNotFound
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.plan.network import PlanNetwork, load_network
from zorgleefplan.store.model import AccessConstraint, Grant, Page, SearchPage, SearchQuery

EXPECTED = {
    "CarePlan/plan-p1",
    "Patient/p1",
    "CareTeam/ct1",
    "Consent/volmacht",
    "Consent/toegang-ha",
    "RelatedPerson/rp-dochter",
    "RelatedPerson/rp-bewind",
    "Goal/g1",
    "Goal/g2",
    "Task/eval-next",
    "Task/eval-done",
    "Task/ho1",
    "Provenance/prov-ho1",
    "Communication/c-ho1",
    "PractitionerRole/pr-wv",
    "PractitionerRole/pr-ha",
    "PractitionerRole/pr-wmo",
    "Practitioner/dr-wv",
    "Practitioner/dr-ha",
    "Practitioner/dr-wmo",
    "Organization/o-wijk",
    "Organization/o-ha",
    "Organization/o-gem",
}


class Counting:
    """A reader that counts the store trips loading makes."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.access = repo.access
        self.trips = 0

    async def read(self, type_: str, id_: str) -> Any:
        self.trips += 1
        return await self.repo.read(type_, id_)

    async def search(self, query: SearchQuery, page: Page, *, total: bool = False) -> SearchPage:
        self.trips += 1
        return await self.repo.search(query, page, total=total)


def repository(app: FastAPI, access: AccessConstraint | None = None) -> Repository:
    return Repository(app.state.services, DEVELOPMENT, access or AccessConstraint.unrestricted())


async def test_it_gathers_the_network_and_nothing_unreferenced(dev_app: FastAPI) -> None:
    await store(repository(dev_app), network())
    loaded = await load_network(repository(dev_app), "plan-p1", NOW)
    assert set(loaded.resources) == EXPECTED
    assert loaded.client == CLIENT
    assert {f"{r.type}/{r.id}" for r in loaded.rows} == EXPECTED


async def test_it_takes_the_same_number_of_searches_for_a_larger_network(
    dev_app: FastAPI,
) -> None:
    resources = network()
    await store(repository(dev_app), resources)
    small = Counting(repository(dev_app))
    await load_network(small, "plan-p1", NOW)

    bigger = copy.deepcopy(resources)
    team = find(bigger, "CareTeam/ct1")
    for n in range(30):
        bigger.append(
            {"resourceType": "Practitioner", "id": f"extra-{n}", "name": [{"text": f"X{n}"}]}
        )
        bigger.append(
            {
                "resourceType": "PractitionerRole",
                "id": f"extra-{n}",
                "practitioner": ref(f"Practitioner/extra-{n}"),
                "organization": ref("Organization/o-x"),
            }
        )
        team["participant"].append({"member": ref(f"PractitionerRole/extra-{n}")})
    await store(repository(dev_app), bigger)
    large = Counting(repository(dev_app))
    loaded = await load_network(large, "plan-p1", NOW)
    assert "Practitioner/extra-29" in loaded.resources
    assert large.trips == small.trips < 20


async def test_it_loads_only_what_the_caller_may_see(dev_app: FastAPI) -> None:
    await store(repository(dev_app), network())
    narrow = AccessConstraint(
        grants=(
            Grant(
                compartments=frozenset({CLIENT}),
                types=frozenset({"CarePlan"}),
                include_shared=False,
            ),
            Grant(compartments=frozenset(), include_shared=True),
        )
    )
    loaded = await load_network(repository(dev_app, narrow), "plan-p1", NOW)
    assert {k.split("/")[0] for k in loaded.resources} == {
        "CarePlan",
        "PractitionerRole",
        "Practitioner",
        "Organization",
    }
    assert "RelatedPerson/rp-dochter" not in loaded.resources
    nothing = AccessConstraint(grants=())
    with pytest.raises(ResourceNotFound):
        await load_network(repository(dev_app, nothing), "plan-p1", NOW)
    with pytest.raises(ResourceNotFound):
        await load_network(repository(dev_app), "nergens", NOW)


def sees(access: AccessConstraint, type_: str) -> bool:
    plan = find(network(), "CarePlan/plan-p1")
    return PlanNetwork(plan, CLIENT, NOW, {}, (), access).sees_all(type_)


def test_sees_all_only_when_no_resource_of_the_type_can_be_hidden() -> None:
    assert sees(AccessConstraint.unrestricted(), "Consent")
    assert sees(only("Consent"), "Consent") and not sees(only("Consent"), "CareTeam")
    assert sees(only("Consent"), "Practitioner")  # directory data
    one_consent = AccessConstraint(
        grants=(
            Grant(
                compartments=frozenset({CLIENT}),
                resources=frozenset({("Consent", "volmacht")}),
                include_shared=False,
            ),
        )
    )
    assert not sees(one_consent, "Consent")
    all_but_one = AccessConstraint(
        grants=(
            Grant(
                compartments=frozenset({CLIENT}),
                exclude=frozenset({("Consent", "toegang-ha")}),
                include_shared=False,
            ),
        )
    )
    assert not sees(all_but_one, "Consent") and sees(all_but_one, "Goal")
    other_client = AccessConstraint(grants=(Grant(compartments=frozenset({"p2"})),))
    assert not sees(other_client, "Goal")
