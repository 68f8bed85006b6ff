"""Sending one rest-hook notification over HTTP(S) (httpx, async).

The host is resolved and checked (endpoint.py) right before each request, and the request goes
to the checked address itself: the URL carries the IP, the Host header and TLS SNI carry the
name (so the certificate is verified for the name), and nothing is resolved again in between.
No proxies from the environment, no redirects (a 3xx is a failure: it could point anywhere),
the response body is never read, and every phase has a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from zorgleefplan import __version__
from zorgleefplan.fhir.subscription.endpoint import (
    AddressPolicy,
    Endpoint,
    IPAddress,
    RefusedEndpoint,
)

FHIR_JSON = "application/fhir+json"
USER_AGENT = f"zorgleefplan/{__version__} (subscription notification)"


@dataclass(frozen=True, slots=True)
class Notification:
    """What to send: an empty POST to the endpoint, or the resource to [endpoint]/[type]/[id]."""

    method: Literal["POST", "PUT", "DELETE"]
    resource_path: str | None  # "Type/id" for PUT and DELETE
    body: bytes | None = None


class DeliveryFailed(Exception):
    """The endpoint was refused or did not accept the notification; the message says why."""


def _host_header(endpoint: Endpoint) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    default = 443 if endpoint.scheme == "https" else 80
    return host if endpoint.port == default else f"{host}:{endpoint.port}"


def request_url(endpoint: Endpoint, address: IPAddress, resource_path: str | None) -> str:
    """The URL with the checked address in place of the host name."""
    host = f"[{address}]" if address.version == 6 else str(address)
    path = endpoint.path + (f"/{resource_path}" if resource_path else "")
    query = f"?{endpoint.query}" if endpoint.query else ""
    return f"{endpoint.scheme}://{host}:{endpoint.port}{path or '/'}{query}"


class RestHook:
    """The rest-hook channel: one pooled HTTP client for all notifications."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        )

    async def send(
        self,
        endpoint: Endpoint,
        headers: tuple[tuple[str, str], ...],
        notification: Notification,
    ) -> None:
        """Deliver ``notification``; DeliveryFailed unless the endpoint answers 2xx."""
        try:
            addresses = await self._policy.addresses(endpoint)
        except RefusedEndpoint as exc:
            raise DeliveryFailed(f"endpoint refused: {exc}") from None
        sent = [*headers, ("Host", _host_header(endpoint)), ("User-Agent", USER_AGENT)]
        if notification.body is not None:
            sent.append(("Content-Type", f"{FHIR_JSON}; charset=utf-8"))
        extensions = {}
        if endpoint.scheme == "https" and endpoint.literal is None:
            extensions["sni_hostname"] = endpoint.host
        request = self._client.build_request(
            notification.method,
            request_url(endpoint, addresses[0], notification.resource_path),
            headers=sent,
            content=notification.body if notification.body is not None else b"",
            extensions=extensions,
        )
        try:
            response = await self._client.send(request, stream=True)
            await response.aclose()
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc or 'no answer'}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"the endpoint answered HTTP {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()
