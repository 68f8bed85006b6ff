"""The access log: one record per request with request id, method, path, status and duration;
never the query string, a token or a body."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.support import mint_access_token
from zorgleefplan.config import Settings
from zorgleefplan.logs import ACCESS, ACCESS_FIELDS

BSN = "999911120"


def _access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS.name]


async def test_one_record_per_request_without_query_token_or_body(
    settings: Settings, secured_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = mint_access_token(settings.data_dir, "http://test", patient="p1")
    caplog.set_level(logging.INFO, logger=ACCESS.name)
    r = await secured_client.get(
        f"/fhir/Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn|{BSN}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200
    body = '{"resourceType": "Patient", "id": "p1", "name": [{"family": "Geheimnaam"}]}'
    w = await secured_client.put(
        "/fhir/Patient/p1", content=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert w.status_code == 201, w.text
    records = _access_records(caplog)
    assert [(x.method, x.path, x.status) for x in records] == [  # type: ignore[attr-defined]
        ("GET", "/fhir/Patient", 200),
        ("PUT", "/fhir/Patient/p1", 201),
    ]
    for record, response in zip(records, (r, w), strict=True):
        assert record.request_id == response.headers["x-request-id"]  # type: ignore[attr-defined]
        assert record.duration_ms >= 0  # type: ignore[attr-defined]
        text = record.getMessage() + repr({k: getattr(record, k) for k in ACCESS_FIELDS})
        for secret in (BSN, "identifier", token, "Geheimnaam"):
            assert secret not in text


async def test_a_request_id_from_the_proxy_is_kept_and_a_bad_one_replaced(
    secured_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS.name)
    kept = await secured_client.get("/health/live", headers={"X-Request-ID": "3f2a-proxy.id_9"})
    assert kept.headers["x-request-id"] == "3f2a-proxy.id_9"
    injected = "abc\nINFO forged line"
    replaced = await secured_client.get(
        "/health/live", headers={"X-Request-ID": injected.replace("\n", " ")}
    )
    new_id = replaced.headers["x-request-id"]
    assert new_id != injected.replace("\n", " ") and len(new_id) == 16
    assert [r.request_id for r in _access_records(caplog)] == [  # type: ignore[attr-defined]
        "3f2a-proxy.id_9",
        new_id,
    ]


async def test_every_request_gets_its_own_id(
    secured_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS.name)
    ids = {(await secured_client.get("/health/live")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_no_access_log_and_no_request_id_when_the_logger_is_off(
    secured_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=ACCESS.name)
    r = await secured_client.get("/health/live")
    assert r.status_code == 200
    assert "x-request-id" not in r.headers
    assert _access_records(caplog) == []


async def test_an_unauthenticated_fhir_request_is_logged_with_its_status(
    secured_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS.name)
    r = await secured_client.get("/fhir/CarePlan?patient=Patient/p1")
    assert r.status_code == 401
    [record] = _access_records(caplog)
    assert (record.method, record.path, record.status) == (  # type: ignore[attr-defined]
        "GET",
        "/fhir/CarePlan",
        401,
    )
