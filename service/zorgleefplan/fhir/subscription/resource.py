"""The Subscription resource as this server runs it (R4 subscription.html, rest-hook only).

What a client may write (:func:`accept`, called by the repository for every Subscription write):

* ``criteria``: a search of one served type, ``Type?params`` — the same parameters a search
  takes, criteria only (no ``_sort``, ``_count``, ``_include``, ``_summary``, ...). Not on
  Subscription (a subscription does not watch subscriptions) nor AuditEvent (not in the change
  log).
* ``channel.type`` ``rest-hook``; ``channel.endpoint`` an http(s) URL the address rules allow
  (endpoint.py); ``channel.header`` lines ``Name: value`` sent with every notification.
* ``channel.payload``: absent, or ``application/fhir+json`` (this server speaks JSON only). R4's
  rest-hook: without a payload a notification is a POST to the endpoint with no body (the
  client then asks what changed, e.g. ``_history?_since=``); with a payload the endpoint is a
  service base and the resource is sent as an update, ``PUT [endpoint]/[type]/[id]``. R4 sends
  nothing for a delete; this server does (see delivery.py), as ``DELETE [endpoint]/[type]/[id]``
  with a payload and as the same empty POST without.
* ``status``: ``requested`` or ``off`` (R4: a client submits only those). The server moves a
  request to ``active`` once the endpoint checks out, to ``error`` (with ``error`` saying why)
  when it does not or delivery keeps failing, and to ``off`` at ``end``. A client's ``error`` is
  dropped: it is the server's note.

The server also records who the subscription notifies for, in the extension ``EXT_SUBSCRIBER``
(:class:`~zorgleefplan.access.subscriber.Subscriber`), replacing whatever the client sent: the
writer of the subscription is its subscriber.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args
from urllib.parse import parse_qsl

import orjson

from zorgleefplan.access.principal import Principal, PrincipalKind
from zorgleefplan.access.subscriber import Subscriber
from zorgleefplan.errors import InvalidRequest, InvalidResource, UnknownResourceType
from zorgleefplan.fhir.search.parameters import SearchParameterRegistry
from zorgleefplan.fhir.search.parse import SYSTEM_CRITERIA, parse_search
from zorgleefplan.fhir.subscription.endpoint import (
    AddressPolicy,
    Endpoint,
    RefusedEndpoint,
    parse_endpoint,
)
from zorgleefplan.plan.codes import EXT_SUBSCRIBER
from zorgleefplan.store.model import SearchQuery, StoredVersion

REST_HOOK = "rest-hook"
PAYLOAD = "application/fhir+json"
CLIENT_STATUSES = frozenset({"requested", "off"})
UNWATCHED_TYPES = frozenset({"Subscription", "AuditEvent"})
# Headers the server sets itself, and hop-by-hop headers.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "user-agent",
    }
)
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}")
_MAX_HEADERS = 20
_MAX_HEADER_VALUE = 4096
_KINDS: frozenset[str] = frozenset(get_args(PrincipalKind))
_SUBSCRIBER_FIELDS = ("kind", "subject", "client", "fhirUser", "patient", "organization", "scope")


@dataclass(frozen=True, slots=True)
class Criteria:
    type: str
    params: tuple[tuple[str, str], ...]
    query: SearchQuery  # the parsed search, for the store


@dataclass(frozen=True, slots=True)
class Channel:
    endpoint: Endpoint
    payload: bool  # True: the resource itself (PUT/DELETE [endpoint]/[type]/[id])
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """A stored Subscription, read for delivery."""

    id: str
    version: int
    seq: int
    status: str
    end: datetime | None
    criteria: Criteria
    channel: Channel
    subscriber: Subscriber


def _invalid(message: str, element: str) -> InvalidResource:
    return InvalidResource(message, expression=[f"Subscription.{element}"])


# --------------------------------------------------------------------------- criteria


def parse_criteria(text: Any, registry: SearchParameterRegistry) -> Criteria:
    """``Type?params`` as a search of one served type; InvalidResource naming the problem."""
    if not isinstance(text, str) or not text.strip():
        raise _invalid("criteria must be a search such as 'Task?patient=123'", "criteria")
    type_, _, query = text.strip().lstrip("/").partition("?")
    if type_ in UNWATCHED_TYPES:
        raise _invalid(f"subscriptions on {type_} are not supported", "criteria")
    params = tuple(parse_qsl(query, keep_blank_values=True))
    for key, _ in params:
        name = key.partition(":")[0]
        if name.startswith("_") and name not in SYSTEM_CRITERIA and name != "_has":
            raise _invalid(
                f"criteria may hold search criteria only, not the result parameter {key}",
                "criteria",
            )
    try:
        request = parse_search(type_, params, registry)
    except UnknownResourceType:
        raise _invalid(
            f"criteria: resource type {type_!r} is not served here", "criteria"
        ) from None
    except InvalidRequest as exc:
        raise _invalid(f"criteria: {exc.diagnostics}", "criteria") from None
    return Criteria(type_, params, request.query)


# --------------------------------------------------------------------------- channel


def _headers(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > _MAX_HEADERS:
        raise _invalid(f"channel.header must be a list of at most {_MAX_HEADERS}", "channel.header")
    headers = []
    for i, line in enumerate(raw):
        name, sep, value = line.partition(":") if isinstance(line, str) else ("", "", "")
        value = value.strip()
        if (
            not sep
            or not _HEADER_NAME.fullmatch(name)
            or len(value) > _MAX_HEADER_VALUE
            or any((ord(c) < 0x20 and c != "\t") or c == "\x7f" for c in value)
        ):
            raise _invalid(f"channel.header[{i}] must be 'Name: value'", f"channel.header[{i}]")
        if name.lower() in RESERVED_HEADERS:
            raise _invalid(
                f"channel.header[{i}]: the server sets {name} itself", f"channel.header[{i}]"
            )
        headers.append((name, value))
    return tuple(headers)


def parse_channel(channel: Any, policy: AddressPolicy) -> Channel:
    if not isinstance(channel, dict):
        raise _invalid("channel is required", "channel")
    if channel.get("type") != REST_HOOK:
        raise InvalidResource(
            f"channel.type {channel.get('type')!r} is not supported; this server delivers "
            "rest-hook only",
            expression=["Subscription.channel.type"],
            issue_code="not-supported",
        )
    payload = channel.get("payload")
    if payload not in (None, PAYLOAD):
        raise _invalid(f"channel.payload must be absent (no body) or {PAYLOAD}", "channel.payload")
    try:
        endpoint = parse_endpoint(channel.get("endpoint", ""))
        policy.check(endpoint)
    except RefusedEndpoint as exc:
        raise _invalid(f"channel.endpoint: {exc}", "channel.endpoint") from None
    return Channel(endpoint, payload is not None, _headers(channel.get("header")))


# --------------------------------------------------------------------------- the subscriber


def _subscriber_extension(subscriber: Subscriber) -> dict[str, Any]:
    values = (
        ("kind", "valueCode", subscriber.kind),
        ("subject", "valueString", subscriber.subject),
        ("client", "valueString", subscriber.client_id),
        ("fhirUser", "valueString", subscriber.fhir_user),
        ("patient", "valueString", subscriber.patient),
        ("organization", "valueString", subscriber.organization),
        ("scope", "valueString", " ".join(sorted(subscriber.scopes))),
    )
    return {
        "url": EXT_SUBSCRIBER,
        "extension": [{"url": name, kind: value} for name, kind, value in values if value],
    }


def _read_subscriber(resource: dict[str, Any]) -> Subscriber:
    found = [e for e in resource.get("extension", []) if e.get("url") == EXT_SUBSCRIBER]
    if len(found) != 1:
        raise _invalid("the server's subscriber extension is missing", "extension")
    values: dict[str, str] = {}
    for part in found[0].get("extension", []):
        if part.get("url") in _SUBSCRIBER_FIELDS:
            value = part.get("valueCode", part.get("valueString"))
            if isinstance(value, str):
                values[part["url"]] = value
    kind = values.get("kind", "")
    if kind not in _KINDS or not values.get("subject"):
        raise _invalid("the server's subscriber extension is not valid", "extension")
    return Subscriber(
        kind=kind,  # type: ignore[arg-type]  # checked against PrincipalKind above
        subject=values["subject"],
        client_id=values.get("client"),
        fhir_user=values.get("fhirUser"),
        patient=values.get("patient"),
        organization=values.get("organization"),
        scopes=frozenset(values.get("scope", "").split()),
    )


# --------------------------------------------------------------------------- writes and reads


def accept(
    resource: dict[str, Any],
    principal: Principal,
    registry: SearchParameterRegistry,
    policy: AddressPolicy,
) -> dict[str, Any]:
    """The Subscription as it is stored when ``principal`` writes ``resource``: checked (see the
    module docstring), ``error`` dropped, the subscriber extension set. InvalidResource names
    the first problem."""
    status = resource.get("status")
    if status not in CLIENT_STATUSES:
        raise _invalid(
            f"status {status!r}: a client sets requested or off; the server sets active and error",
            "status",
        )
    parse_criteria(resource.get("criteria"), registry)
    parse_channel(resource.get("channel"), policy)
    accepted = {k: v for k, v in resource.items() if k != "error"}
    extensions = resource.get("extension", [])
    if not isinstance(extensions, list):
        raise _invalid("extension must be a list", "extension")
    accepted["extension"] = [
        *(e for e in extensions if not (isinstance(e, dict) and e.get("url") == EXT_SUBSCRIBER)),
        _subscriber_extension(Subscriber.of(principal)),
    ]
    return accepted


def read_subscription(
    stored: StoredVersion, registry: SearchParameterRegistry, policy: AddressPolicy
) -> SubscriptionSpec:
    """A stored Subscription for delivery; InvalidResource when it no longer parses (the rules
    or the served types changed since it was written)."""
    resource = orjson.loads(stored.body or b"{}")
    end = resource.get("end")
    try:
        ends = datetime.fromisoformat(end.replace("Z", "+00:00")) if end else None
    except (AttributeError, ValueError):
        raise _invalid(f"end {end!r} is not an instant", "end") from None
    return SubscriptionSpec(
        id=stored.id,
        version=stored.version,
        seq=stored.seq,
        status=str(resource.get("status")),
        end=ends,
        criteria=parse_criteria(resource.get("criteria"), registry),
        channel=parse_channel(resource.get("channel"), policy),
        subscriber=_read_subscriber(resource),
    )
