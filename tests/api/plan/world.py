"""A small care network for the plan's rules over HTTP, acting with real tokens.

Client p1 (and p2 next door), with a daughter holding a volmacht (RelatedPerson vm1), a
huisarts A (PractitionerRole pr-a of Organization o-a) who is p1's regiebehandelaar in CareTeam
team-p1, a wijkverpleegkundige B (pr-b of o-b) with no access to p1's plan, a third
professional C (pr-c of o-c), and a thuiszorg provider (Organization o-zorg) with a backend.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.support import mint_access_token
from zorgleefplan.access import codes as access_codes
from zorgleefplan.access.principal import DEVELOPMENT
from zorgleefplan.config import Settings
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.plan import codes
from zorgleefplan.store.model import AccessConstraint

ROOT = "http://test"
STAFF_SCOPES = "user/*.cruds"
SINCE_2020 = {"start": "2020-01-01T00:00:00Z"}
NAMES = {"a": "Anna Arts", "b": "Bas Verpleegkundige", "c": "Cor Collega"}


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


def coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def role(code: str) -> list[dict[str, Any]]:
    return [coding(codes.ROLE_SYSTEM, code)]


def regie(member: str, period: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "role": role(codes.REGIEBEHANDELAAR),
        "member": ref(member),
        "period": period or SINCE_2020,
    }


def care_team(*participants: dict[str, Any], id_: str = "team-p1", **extra: Any) -> dict:
    return {
        "resourceType": "CareTeam",
        "id": id_,
        "status": "active",
        "subject": ref("Patient/p1"),
        "participant": list(participants),
        **extra,
    }


def volmacht(holder: str = "RelatedPerson/vm1", *, id_: str = "volmacht", **extra: Any) -> dict:
    return {
        "resourceType": "Consent",
        "id": id_,
        "status": "active",
        "scope": coding(access_codes.CONSENT_SCOPE_SYSTEM, access_codes.SCOPE_ADR),
        "category": [coding(access_codes.CONSENT_CATEGORY_SYSTEM, access_codes.CATEGORY_ACD)],
        "patient": ref("Patient/p1"),
        "provision": {
            "type": "permit",
            "period": SINCE_2020,
            "code": [coding(access_codes.LIVING_WILL_SYSTEM, access_codes.VOLMACHT)],
            "actor": [
                {
                    "role": coding(access_codes.ROLE_CODE_SYSTEM, access_codes.RESPRSN),
                    "reference": ref(holder),
                }
            ],
        },
        **extra,
    }


def handover(
    *,
    requester: str = "PractitionerRole/pr-a",
    giver: str = "PractitionerRole/pr-a",
    receiver: str = "PractitionerRole/pr-b",
    period: dict[str, str] | None = None,
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": coding(codes.TASK_SYSTEM, codes.REGIEBEHANDELAAR_OVERDRACHT),
        "for": ref("Patient/p1"),
        "requester": ref(requester),
        "owner": ref(receiver),
        "description": "Overdracht regiebehandelaar: revalidatie na heupoperatie",
        "input": [
            {
                "type": coding(codes.HANDOVER_PARTY_SYSTEM, codes.OVERDRAGEND),
                "valueReference": ref(giver),
            }
        ],
    }
    if period is not None:
        task["restriction"] = {"period": period}
    return task


class PlanWorld:
    def __init__(self, app: FastAPI, settings: Settings, client: httpx.AsyncClient) -> None:
        self.repo = Repository(app.state.services, DEVELOPMENT, AccessConstraint.unrestricted())
        self.settings = settings
        self.client = client

    async def put(self, resource: dict[str, Any]) -> None:
        await self.repo.update(resource["resourceType"], resource["id"], resource)

    async def build(self) -> None:
        for org in ("o-a", "o-b", "o-c", "o-zorg"):
            await self.put({"resourceType": "Organization", "id": org, "name": f"Org {org}"})
        for key in ("a", "b", "c"):
            given, family = NAMES[key].split(" ", 1)
            await self.put(
                {
                    "resourceType": "Practitioner",
                    "id": f"dr-{key}",
                    "name": [{"given": [given], "family": family}],
                }
            )
            await self.put(
                {
                    "resourceType": "PractitionerRole",
                    "id": f"pr-{key}",
                    "practitioner": ref(f"Practitioner/dr-{key}"),
                    "organization": ref(f"Organization/o-{key}"),
                }
            )
        for patient in ("p1", "p2"):
            await self.put({"resourceType": "Patient", "id": patient})
            await self.put(
                {
                    "resourceType": "CarePlan",
                    "id": f"plan-{patient}",
                    "status": "active",
                    "intent": "plan",
                    "subject": ref(f"Patient/{patient}"),
                }
            )
        await self.put(
            {
                "resourceType": "RelatedPerson",
                "id": "vm1",
                "active": True,
                "patient": ref("Patient/p1"),
                "name": [{"text": "Dochter"}],
            }
        )
        await self.put(
            {"resourceType": "RelatedPerson", "id": "naaste-p2", "patient": ref("Patient/p2")}
        )
        await self.put(volmacht())
        await self.put(care_team(regie("PractitionerRole/pr-a")))

    # ------------------------------------------------------------------ who asks

    def headers(self, **claims: Any) -> dict[str, str]:
        token = mint_access_token(self.settings.data_dir, ROOT, **claims)
        return {"Authorization": f"Bearer {token}"}

    def client_p1(self) -> dict[str, str]:
        return self.headers(patient="p1")

    def holder(self) -> dict[str, str]:
        return self.headers(fhir_user="RelatedPerson/vm1", patient="p1")

    def professional(self, key: str) -> dict[str, str]:
        return self.headers(
            fhir_user=f"PractitionerRole/pr-{key}",
            organization=f"Organization/o-{key}",
            scope=STAFF_SCOPES,
        )

    def backend(self, org: str) -> dict[str, str]:
        return self.headers(organization=f"Organization/{org}", scope="system/*.cruds")

    # ------------------------------------------------------------------ requests

    async def get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        return await self.client.get(f"/fhir/{path}", headers=headers)

    async def post(self, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(f"/fhir/{body['resourceType']}", json=body, headers=headers)

    async def put_as(self, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        path = f"/fhir/{body['resourceType']}/{body['id']}"
        clean = {k: v for k, v in body.items() if k != "meta"}
        return await self.client.put(path, json=clean, headers=headers)

    async def search(self, query: str, headers: dict[str, str]) -> list[dict[str, Any]]:
        r = await self.get(query, headers)
        assert r.status_code == 200, r.text
        return [e["resource"] for e in r.json().get("entry", [])]

    async def stored(self, type_: str, id_: str) -> dict[str, Any]:
        r = await self.get(f"{type_}/{id_}", self.client_p1())
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def issue(r: httpx.Response) -> dict[str, Any]:
    """The first issue of an OperationOutcome answer."""
    body = r.json()
    assert body["resourceType"] == "OperationOutcome", body
    first: dict[str, Any] = body["issue"][0]
    return first
