"""The application factory: ``create_app(settings)`` builds and wires everything.

No import-time globals: the store, registries and validators live on ``app.state`` for the
lifetime of the app (opened in the lifespan, closed on shutdown).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from zorgleefplan import __version__, health, logs
from zorgleefplan.access.audit import AuditLog
from zorgleefplan.access.policy import AccessPolicy
from zorgleefplan.auth import authorize_routes, oauth_routes
from zorgleefplan.auth.services import open_auth_services
from zorgleefplan.config import Settings
from zorgleefplan.fhir import api as fhir_api
from zorgleefplan.fhir.bundled import install_bundled
from zorgleefplan.fhir.outcome import install_error_handlers
from zorgleefplan.fhir.plan_rules import PLAN_RULES
from zorgleefplan.fhir.repository import FhirServices
from zorgleefplan.fhir.search.extract import IndexExtractor
from zorgleefplan.fhir.search.parameters import default_registry
from zorgleefplan.fhir.subscription.delivery import Deliverer
from zorgleefplan.fhir.subscription.subscriber_gate import registry_gate
from zorgleefplan.fhir.validation import ResourceValidator
from zorgleefplan.store.factory import open_store


async def open_services(settings: Settings) -> FhirServices:
    """Open the store and build what every interaction needs (close with ``store.close()``)."""
    store = await open_store(settings)
    registry = default_registry()
    services = FhirServices(
        settings=settings,
        store=store,
        registry=registry,
        validator=ResourceValidator(),
        extractor=IndexExtractor(registry),
        policy=AccessPolicy(
            store, emergency_window=timedelta(minutes=settings.break_glass_minutes)
        ),
        started=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        write_rules=PLAN_RULES,
    )
    try:
        await install_bundled(services)  # the definitions the operations need (fhir/bundled.py)
    except BaseException:
        await store.close()
        raise
    return services


class ZorgleefplanApp(FastAPI):
    """FastAPI for the authorization server, the pages and the OpenAPI document; requests
    under /fhir go straight to the FHIR app, ahead of FastAPI's middleware and router. The
    access log (when its logger is on) wraps both."""

    def __init__(self, fhir: fhir_api.FhirApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fhir = fhir

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and logs.ACCESS.isEnabledFor(logging.INFO):
            await logs.logged(self._route, scope, receive, send)
        else:
            await self._route(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and fhir_api.is_fhir_path(scope["path"]):
            scope["app"] = self
            await self.fhir(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    resolve_principal: fhir_api.PrincipalResolver = fhir_api.bearer_principal,
) -> FastAPI:
    """The application. ``resolve_principal`` decides who each FHIR request comes from: the
    bearer token, unless code that builds the app passes another resolver (tests of FHIR
    behaviour act as the development principal this way; no request or setting can)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await open_services(settings)
        try:
            auth = await open_auth_services(settings)
        except BaseException:
            await services.store.close()
            raise
        # The one audit log of the application: the FHIR request path and the authorization
        # server both record through it (batches join the store's group commit).
        audit = AuditLog(services.store, retention_days=settings.audit_retention_days)
        audit.start_retention()
        # Development subscriptions are delivered only by an app built with another resolver.
        gate = registry_gate(
            auth.registry, allow_development=resolve_principal is not fhir_api.bearer_principal
        )
        deliverer = Deliverer(services, audit, gate)
        deliverer.start()
        app.state.services = services
        app.state.auth = auth
        app.state.audit = audit
        app.state.deliverer = deliverer
        try:
            yield
        finally:
            # uvicorn gets here on SIGTERM after it stopped accepting connections and the
            # requests in flight finished (or ``shutdown_timeout`` ran out): stop notifying,
            # write the last audit batch, then close what it writes to.
            await deliverer.stop()
            await audit.close()
            await auth.close()
            await services.store.close()

    app = ZorgleefplanApp(
        fhir_api.FhirApp(resolve_principal),
        title="Zorgleefplan",
        version=__version__,
        description="FHIR R4 service for the client-owned persoonlijk zorgleefplan. "
        "The FHIR API lives under /fhir (application/fhir+json).",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    fhir_api.describe(app)
    app.include_router(oauth_routes.router)
    app.include_router(authorize_routes.router)
    app.include_router(health.router)
    return app
