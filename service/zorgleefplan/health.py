"""Liveness and readiness for orchestrators and load balancers: no token, no personal data,
no audit record (they touch no client's data).

``/health/live`` answers while the process serves HTTP at all. ``/health/ready`` also asks the
store a cheap question (a lookup by primary key of an id no resource can have) and checks that
the token signing keys are loaded; when either fails it answers 503 with the reason. Reasons
name the failing part only: the details (file paths, database hosts) go to the log, not to an
unauthenticated caller.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from zorgleefplan.store.model import AccessConstraint

log = logging.getLogger(__name__)

STORE_TIMEOUT_S = 2.0
# A FHIR id is [A-Za-z0-9.-]{1,64}: no resource can have this one, so the lookup finds nothing.
_PROBE_ID = "health:probe"
_NO_CACHE = {"Cache-Control": "no-store"}

router = APIRouter(prefix="/health", tags=["Health"])

_PASS = {"description": "pass", "content": {"application/json": {"example": {"status": "pass"}}}}
_FAIL = {
    "description": "fail, with the reason per check",
    "content": {
        "application/json": {
            "example": {"status": "fail", "checks": {"store": "fail: not reachable"}}
        }
    },
}


@router.get(
    "/live",
    summary="Liveness: the process serves HTTP",
    responses={200: _PASS},
    response_class=JSONResponse,
)
async def live() -> JSONResponse:
    return JSONResponse({"status": "pass"}, headers=_NO_CACHE)


@router.get(
    "/ready",
    summary="Readiness: the store answers and the signing keys are loaded",
    responses={200: _PASS, 503: _FAIL},
    response_class=JSONResponse,
)
async def ready(request: Request) -> JSONResponse:
    checks = {"store": await _store_check(request), "signing-keys": _keys_check(request)}
    passed = all(value == "pass" for value in checks.values())
    body: dict[str, Any] = {"status": "pass" if passed else "fail", "checks": checks}
    return JSONResponse(body, status_code=200 if passed else 503, headers=_NO_CACHE)


async def _store_check(request: Request) -> str:
    services = getattr(request.app.state, "services", None)
    if services is None:
        return "fail: not opened"
    try:
        await asyncio.wait_for(
            services.store.read("Patient", _PROBE_ID, AccessConstraint.unrestricted()),
            STORE_TIMEOUT_S,
        )
    except TimeoutError:
        log.warning("readiness: the store did not answer within %g s", STORE_TIMEOUT_S)
        return f"fail: no answer within {STORE_TIMEOUT_S:g} s"
    except Exception as exc:
        log.warning("readiness: the store failed: %s", exc)
        return "fail: not reachable"
    return "pass"


def _keys_check(request: Request) -> str:
    auth = getattr(request.app.state, "auth", None)
    if auth is None:
        return "fail: not loaded"
    try:
        auth.keys.signing_key()
    except Exception as exc:
        log.warning("readiness: the signing keys cannot be read: %s", exc)
        return "fail: not loaded"
    return "pass"
