"""Where notifications may go: the endpoint URL rules and the address check (SSRF defence).

A rest-hook endpoint is an absolute http(s) URL without user info or fragment. Before every
delivery its host is resolved here and every address checked; the connection then goes to a
checked address (the host name kept for Host and TLS SNI, see rest_hook.py), so a DNS answer
that changes between check and connect (rebinding) cannot turn it elsewhere.

* Never: link-local addresses (169.254.0.0/16, fe80::/10 — where cloud metadata services
  answer), the other known metadata addresses, metadata host names, unspecified, multicast and
  reserved addresses. IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4 inside.
* Loopback and private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, ...) only when
  ``Settings.subscription_allow_private`` is set (development and tests).
* Plain http only to such private addresses: anything on the internet needs https, since a
  notification can carry a client's data and the channel headers the receiver's secret.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# Metadata services outside link-local space (AWS IPv6, Alibaba Cloud) and their host names.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_MAX_URL = 2048


class RefusedEndpoint(ValueError):
    """An endpoint this server will not send to; the message says why."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str  # as the subscription gives it
    scheme: str  # http or https
    host: str  # host name (lower case, no trailing dot) or IP literal (no brackets)
    port: int
    path: str  # without a trailing slash ("" for the root)
    query: str  # "" when none

    @property
    def literal(self) -> IPAddress | None:
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_endpoint(url: str) -> Endpoint:
    """The endpoint of ``url``, or RefusedEndpoint when it is not an absolute http(s) URL."""
    if not isinstance(url, str) or not url or len(url) > _MAX_URL:
        raise RefusedEndpoint(f"the endpoint must be an absolute URL of at most {_MAX_URL} chars")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise RefusedEndpoint("the endpoint URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedEndpoint(f"the endpoint is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise RefusedEndpoint("a rest-hook endpoint must be an http: or https: URL")
    if parts.username is not None or parts.password is not None:
        raise RefusedEndpoint("the endpoint URL must not carry user info; use channel.header")
    if parts.fragment:
        raise RefusedEndpoint("the endpoint URL must not have a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise RefusedEndpoint("the endpoint URL has no host")
    return Endpoint(
        url=url,
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        path=parts.path.rstrip("/"),
        query=parts.query,
    )


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The host's addresses from the system resolver (in a thread: the loop stays free)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressPolicy:
    """The address rules of this server (see the module docstring)."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self._resolver = resolver

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be sent to, or None."""
        inner = _embedded_ipv4(address)
        if inner in METADATA_ADDRESSES or address in METADATA_ADDRESSES:
            return f"{address} is a cloud metadata address"
        if inner.is_link_local:
            return f"{address} is a link-local address"
        if inner.is_unspecified or inner.is_multicast:
            return f"{address} is not a unicast address"
        if inner.is_reserved and not inner.is_loopback:  # ::1 lies in the reserved ::/8
            return f"{address} is a reserved address"
        if not inner.is_global and not self.allow_private:
            return f"{address} is a loopback or private address"
        return None

    def check(self, endpoint: Endpoint) -> None:
        """What can be decided without resolving: RefusedEndpoint for a metadata host name, a
        refused literal address, or plain http to the internet."""
        if endpoint.host.lower() in METADATA_HOSTS:
            raise RefusedEndpoint(f"{endpoint.host} is a cloud metadata host")
        literal = endpoint.literal
        if literal is not None:
            self._check_addresses(endpoint, [literal])
        elif endpoint.scheme == "http" and not self.allow_private:
            raise RefusedEndpoint("the endpoint must use https")

    async def addresses(self, endpoint: Endpoint) -> list[IPAddress]:
        """The endpoint's addresses, each one checked; RefusedEndpoint when the host does not
        resolve or any address is refused (a name that also points inside is not trusted)."""
        self.check(endpoint)
        literal = endpoint.literal
        if literal is not None:
            return [literal]
        try:
            found = await self._resolver(endpoint.host, endpoint.port)
            addresses = [ipaddress.ip_address(a) for a in found]
        except (OSError, ValueError) as exc:
            raise RefusedEndpoint(f"{endpoint.host} does not resolve: {exc}") from None
        if not addresses:
            raise RefusedEndpoint(f"{endpoint.host} does not resolve")
        self._check_addresses(endpoint, addresses)
        return addresses

    def _check_addresses(self, endpoint: Endpoint, addresses: Sequence[IPAddress]) -> None:
        for address in addresses:
            reason = self.refusal(address)
            if reason:
                raise RefusedEndpoint(f"{endpoint.host} is refused: {reason}")
        if endpoint.scheme == "http" and any(_embedded_ipv4(a).is_global for a in addresses):
            raise RefusedEndpoint("the endpoint must use https (plain http only on a private net)")
