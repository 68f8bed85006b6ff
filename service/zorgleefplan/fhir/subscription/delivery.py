"""The background worker that delivers subscription notifications: one per process, and any
number of processes on one store.

The queue is the store's change log: every version is written in the transaction that made the
change, with a sequence number in commit order, so a change is notified only once it has
committed and none is lost. Each active subscription keeps a cursor into that log (its
``Delivery``); the store leases a delivery to one worker at a time (``claim_deliveries``,
atomic across processes) and takes its new state back (``release_delivery``).

Each pass of the worker:

1. **Activation.** Subscriptions with status ``requested`` are checked — the subscriber still
   registered (subscriber_gate.py), the endpoint resolving to allowed addresses (endpoint.py) —
   and become ``active``, their cursor just after the requested version; or go to ``error``
   saying why.
2. **Delivery.** Each leased delivery is served in log order, one change at a time, each
   decided as a search at that moment would be:

   * the subscriber's access is decided afresh (``AccessPolicy.decide`` for the stored
     subscriber, bounded by the scopes it had): a withdrawn Consent counts from the next change;
   * a created or updated resource is notified when the criteria, narrowed to its id, find it at
     that very version under that access. An older version is passed over (a later change in
     the log covers it); a resource that does not match or may not be seen is passed over too,
     and nothing is sent — not even that something changed;
   * a deletion is notified only when the subscriber was notified of the resource before (the
     seen set) and may see its tombstone now, so a delete never tells about a resource the
     subscriber could not see;
   * every notification is audited (NEN 7513, like a search) before it is sent;
   * a failure stops the delivery there, to be retried after an exponential backoff; after
     ``subscription_max_failures`` failures in a row the subscription goes to ``error``.

Progress is stored when the lease is handed back, so a restart resumes where it stopped; a
change in flight when a process dies is sent again (at least once: a receiver recognises a
repeat by its versionId). Status changes the server makes are new versions (status.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx

from zorgleefplan.access.audit import NOTIFICATION, AuditLog
from zorgleefplan.errors import InvalidResource
from zorgleefplan.fhir.audit_trail import records_for
from zorgleefplan.fhir.repository import FhirServices
from zorgleefplan.fhir.scope_gate import bounded_by_scopes
from zorgleefplan.fhir.subscription.endpoint import (
    AddressPolicy,
    RefusedEndpoint,
    Resolver,
    system_resolver,
)
from zorgleefplan.fhir.subscription.resource import SubscriptionSpec, read_subscription
from zorgleefplan.fhir.subscription.rest_hook import DeliveryFailed, Notification, RestHook
from zorgleefplan.fhir.subscription.status import set_status
from zorgleefplan.fhir.subscription.subscriber_gate import SubscriberGate
from zorgleefplan.store.model import (
    AccessConstraint,
    Delivery,
    IdCriterion,
    Page,
    SearchQuery,
    StoredVersion,
    TokenCriterion,
    TokenMatch,
)
from zorgleefplan.store.port import HistoryQuery, Transaction

log = logging.getLogger(__name__)

ALL = AccessConstraint.unrestricted()
LEASE_SECONDS = 300  # a delivery stops taking new changes after half of it
CHANGES_PER_CLAIM = 50
CLAIMS_PER_PASS = 8  # deliveries served concurrently (distinct endpoints)
ACTIVATIONS_PER_PASS = 20
_REQUESTED = SearchQuery(
    ("Subscription",), (TokenCriterion("status", (TokenMatch(None, "requested"),)),)
)
Key = tuple[str, str]


def _now_micros() -> int:
    return time.time_ns() // 1000


@dataclass
class _Progress:
    """A leased delivery as it advances; handed back to the store at the end."""

    delivery: Delivery
    seen: dict[Key, bool] = field(default_factory=dict)  # True: notified; False: deleted
    settled: bool = False  # its state was written with a status change: nothing to hand back

    def passed(self, change: StoredVersion, sent: bool) -> None:
        self.delivery = replace(
            self.delivery, cursor=change.seq, failures=0 if sent else self.delivery.failures
        )
        if sent:
            self.seen[(change.type, change.id)] = not change.deleted


class Deliverer:
    """Started and stopped by the application's lifespan (app.py)."""

    def __init__(
        self,
        services: FhirServices,
        audit: AuditLog,
        gate: SubscriberGate,
        *,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        settings = services.settings
        self._services = services
        self._store = services.store
        self._audit = audit
        self._gate = gate
        self._settings = settings
        self._policy = AddressPolicy(
            allow_private=settings.subscription_allow_private, resolver=resolver
        )
        self._hook = RestHook(
            self._policy, timeout=settings.subscription_timeout, transport=transport
        )
        self._owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="zlp-subscriptions")

    async def stop(self) -> None:
        """Finish the notification in flight (bounded by the timeout), hand back the leases."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self._settings.subscription_timeout + 5)
            except TimeoutError:
                log.warning("subscription delivery did not stop in time; cancelled")
        await self._hook.close()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                busy = await self.run_once()
            except Exception:
                log.exception("subscription delivery pass failed")
                busy = False
            if not busy and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), self._settings.subscription_poll_seconds
                    )
            self._wake.clear()

    async def run_once(self) -> bool:
        """One pass: activate requested subscriptions, serve deliveries with changes waiting.
        True when it changed anything (so the next pass follows at once)."""
        activated = 0
        page = await self._store.search(_REQUESTED, Page(count=ACTIVATIONS_PER_PASS), ALL)
        for stored in page.rows:
            activated += await self._activate(stored)
        now = _now_micros()
        claimed = await self._store.claim_deliveries(
            self._owner, now, now + LEASE_SECONDS * 1_000_000, CLAIMS_PER_PASS
        )
        await asyncio.gather(*(self._serve(d) for d in claimed))
        return bool(activated or claimed)

    # ------------------------------------------------------------------ activation

    async def _activate(self, stored: StoredVersion) -> bool:
        try:
            spec = read_subscription(stored, self._services.registry, self._policy)
        except InvalidResource as exc:
            return await self._set(stored, "error", exc.diagnostics, _keep)
        if spec.end is not None and spec.end <= datetime.now(UTC):
            return await self._set(stored, "off", None, _forget(spec.id))
        reason = await self._gate(spec.subscriber)
        if reason is None:
            try:
                await self._policy.addresses(spec.channel.endpoint)
            except RefusedEndpoint as exc:
                reason = f"endpoint refused: {exc}"
        if reason is not None:
            return await self._set(stored, "error", reason, _keep)
        start = Delivery(spec.id, spec.criteria.type, cursor=stored.seq)
        return await self._set(stored, "active", None, lambda tx: tx.put_delivery(start))

    async def _set(
        self,
        stored: StoredVersion,
        status: str,
        error: str | None,
        delivery: Callable[[Transaction], None],
    ) -> bool:
        changed = await set_status(self._services, stored, status, error=error, delivery=delivery)
        if changed:
            log.info(
                "Subscription/%s is now %s%s", stored.id, status, f": {error}" if error else ""
            )
        return changed

    # ------------------------------------------------------------------ delivery

    async def _serve(self, delivery: Delivery) -> None:
        progress = _Progress(delivery)
        try:
            await self._deliver(progress)
        except Exception:
            log.exception("Subscription/%s: delivery failed", delivery.subscription)
            progress.delivery = replace(progress.delivery, due=self._retry_at(1))
        finally:
            if not progress.settled:
                await asyncio.shield(self._hand_back(progress))

    async def _hand_back(self, progress: _Progress) -> None:
        seen = [key for key, notified in progress.seen.items() if notified]
        unseen = [key for key, notified in progress.seen.items() if not notified]
        try:
            kept = await self._store.release_delivery(
                progress.delivery, self._owner, seen=seen, unseen=unseen
            )
        except Exception:
            log.exception("Subscription/%s: progress not stored", progress.delivery.subscription)
            return
        if not kept:
            log.warning(
                "Subscription/%s: lease lost; progress dropped", progress.delivery.subscription
            )

    async def _deliver(self, progress: _Progress) -> None:
        started = time.monotonic()
        delivery = progress.delivery
        stored = await self._store.read("Subscription", delivery.subscription, ALL)
        spec = None
        if stored is not None and not stored.deleted:
            try:
                spec = read_subscription(stored, self._services.registry, self._policy)
            except InvalidResource as exc:
                progress.settled = await self._set(
                    stored, "error", exc.diagnostics, _pause(delivery)
                )
                return
        if stored is None or spec is None or spec.status == "off":
            async with self._store.transaction() as tx:
                tx.remove_delivery(delivery.subscription)
            progress.settled = True
            return
        if spec.status != "active":  # requested again: activation restarts it
            progress.delivery = replace(delivery, active=False)
            return
        if spec.end is not None and spec.end <= datetime.now(UTC):
            progress.settled = await self._set(stored, "off", None, _forget(spec.id))
            return
        reason = await self._gate(spec.subscriber)
        if reason is not None:
            progress.settled = await self._set(stored, "error", reason, _pause(delivery))
            return
        changes = await self._store.history(
            HistoryQuery(type=spec.criteria.type, after_seq=delivery.cursor), CHANGES_PER_CLAIM, ALL
        )
        for change in changes.rows:
            if self._stopping or time.monotonic() - started > LEASE_SECONDS / 2:
                return
            try:
                sent = await self._notify(spec, change, progress)
            except DeliveryFailed as exc:
                await self._failed(stored, spec, progress, str(exc))
                return
            progress.passed(change, sent)

    async def _notify(
        self, spec: SubscriptionSpec, change: StoredVersion, progress: _Progress
    ) -> bool:
        """Send the notification of ``change`` if the subscriber may have it now (module
        docstring); False when there is nothing to send."""
        principal = spec.subscriber.principal()
        decision = await self._services.policy.decide(principal)
        access = bounded_by_scopes(decision.constraint, principal)
        key = (change.type, change.id)
        path = f"{change.type}/{change.id}"
        payload = spec.channel.payload
        if change.deleted:
            current = await self._store.read(change.type, change.id, access)
            if current is None or current.version != change.version:
                return False  # not visible now, or created again since
            seen = progress.seen.get(key)
            if seen is None:
                seen = key in await self._store.seen(spec.id, [key])
            if not seen:
                return False
            notification = Notification("DELETE", path) if payload else Notification("POST", None)
        else:
            criteria = spec.criteria.query
            query = replace(criteria, criteria=(*criteria.criteria, IdCriterion((change.id,))))
            page = await self._store.search(query, Page(count=1), access)
            current = page.rows[0] if page.rows else None
            if current is None or current.version != change.version:
                return False
            notification = (
                Notification("PUT", path, current.body) if payload else Notification("POST", None)
            )
        records = records_for(decision, NOTIFICATION, spec.criteria.params, (current,), status=200)
        await self._audit.record_all(records)
        await self._hook.send(spec.channel.endpoint, spec.channel.headers, notification)
        return True

    async def _failed(
        self, stored: StoredVersion, spec: SubscriptionSpec, progress: _Progress, reason: str
    ) -> None:
        failures = progress.delivery.failures + 1
        log.info("Subscription/%s: notification failed (%d): %s", spec.id, failures, reason)
        progress.delivery = replace(
            progress.delivery, failures=failures, due=self._retry_at(failures)
        )
        if failures < self._settings.subscription_max_failures:
            return
        # Hand back the progress first (it keeps the seen set), then pause with the status.
        await self._hand_back(progress)
        progress.settled = True
        error = f"{failures} notifications in a row failed; the last: {reason}"
        await self._set(stored, "error", error, _pause(progress.delivery))

    def _retry_at(self, failures: int) -> int:
        settings = self._settings
        delay = min(
            settings.subscription_retry_seconds * 2 ** (failures - 1),
            settings.subscription_retry_max_seconds,
        )
        return _now_micros() + int(delay * 1_000_000)


def _keep(tx: Transaction) -> None:
    """No change to the delivery state."""


def _forget(subscription: str) -> Callable[[Transaction], None]:
    return lambda tx: tx.remove_delivery(subscription)


def _pause(delivery: Delivery) -> Callable[[Transaction], None]:
    """Keep the delivery state (and its seen set) but stop delivering."""
    paused = replace(delivery, active=False)
    return lambda tx: tx.put_delivery(paused)
