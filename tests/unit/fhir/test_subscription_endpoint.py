"""Endpoint rules: http(s) URLs only; never link-local or metadata addresses; loopback and
private ranges (and plain http to them) only when allowed; every resolved address checked."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from zorgleefplan.fhir.subscription.endpoint import (
    AddressPolicy,
    RefusedEndpoint,
    parse_endpoint,
)
from zorgleefplan.fhir.subscription.rest_hook import request_url

STRICT = AddressPolicy(allow_private=False)
DEV = AddressPolicy(allow_private=True)

NEVER = [
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack metadata
    "169.254.1.1",
    "fe80::1",
    "fe80::1%1",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "fd00:ec2::254",  # AWS metadata over IPv6 (inside the private fc00::/7)
    "100.100.100.200",  # Alibaba Cloud metadata (inside 100.64/10)
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",  # reserved (240/4)
    "240.0.0.1",
]
PRIVATE = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "::1", "fc00::1"]
PUBLIC = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"]


@pytest.mark.parametrize("address", NEVER)
def test_link_local_metadata_and_non_unicast_addresses_are_never_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert STRICT.refusal(ip) is not None
    assert DEV.refusal(ip) is not None


@pytest.mark.parametrize("address", PRIVATE)
def test_loopback_and_private_addresses_only_when_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert "loopback or private" in (STRICT.refusal(ip) or "")
    assert DEV.refusal(ip) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert STRICT.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/hook", "http: or https:"),
        ("mailto:x@example.org", "http: or https:"),
        ("/relative/hook", "http: or https:"),
        ("https://user:pw@example.org/hook", "user info"),
        ("https://example.org/hook#part", "fragment"),
        ("https:///hook", "no host"),
        ("https://example.org/a b", "spaces"),
        ("https://example.org:99999/", "not a valid URL"),
        ("", "absolute URL"),
    ],
)
def test_endpoint_syntax(url: str, message: str) -> None:
    with pytest.raises(RefusedEndpoint, match=message):
        parse_endpoint(url)


def test_endpoint_parts_and_request_url() -> None:
    e = parse_endpoint("https://Hooks.Example.org./fhir/?key=1")
    assert (e.scheme, e.host, e.port, e.path, e.query) == (
        "https",
        "hooks.example.org",
        443,
        "/fhir",
        "key=1",
    )
    address = ipaddress.ip_address("93.184.216.34")
    assert request_url(e, address, "Goal/g1") == "https://93.184.216.34:443/fhir/Goal/g1?key=1"
    six = parse_endpoint("http://[2001:db8::1]:8080")
    assert six.literal == ipaddress.ip_address("2001:db8::1")
    assert request_url(six, six.literal, None) == "http://[2001:db8::1]:8080/"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://METADATA/",
    ],
)
def test_check_refuses_metadata_and_link_local_even_when_private_is_allowed(url: str) -> None:
    with pytest.raises(RefusedEndpoint):
        DEV.check(parse_endpoint(url))


def test_plain_http_only_on_a_private_net() -> None:
    with pytest.raises(RefusedEndpoint, match="https"):
        STRICT.check(parse_endpoint("http://hooks.example.org/"))
    with pytest.raises(RefusedEndpoint, match="https"):
        DEV.check(parse_endpoint("http://93.184.216.34/"))
    DEV.check(parse_endpoint("http://127.0.0.1:8080/"))
    STRICT.check(parse_endpoint("https://hooks.example.org/"))
    with pytest.raises(RefusedEndpoint, match="loopback or private"):
        STRICT.check(parse_endpoint("https://10.0.0.1/"))


def resolving_to(*answers: Sequence[str]):  # type: ignore[no-untyped-def]
    """A resolver that gives each answer in turn (the last one from then on)."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]

    return resolve


async def test_every_resolved_address_is_checked() -> None:
    policy = AddressPolicy(
        allow_private=True, resolver=resolving_to(["93.184.216.34", "169.254.169.254"])
    )
    with pytest.raises(RefusedEndpoint, match="link-local"):
        await policy.addresses(parse_endpoint("https://hooks.example.org/"))


async def test_a_name_that_rebinds_to_metadata_is_refused_at_the_next_resolution() -> None:
    policy = AddressPolicy(
        allow_private=False, resolver=resolving_to(["93.184.216.34"], ["169.254.169.254"])
    )
    endpoint = parse_endpoint("https://hooks.example.org/")
    assert await policy.addresses(endpoint) == [ipaddress.ip_address("93.184.216.34")]
    with pytest.raises(RefusedEndpoint, match="link-local"):
        await policy.addresses(endpoint)


async def test_numeric_host_spellings_are_judged_by_what_they_resolve_to() -> None:
    # 2852039166 is 169.254.169.254 written as one number; the resolver decides what it is.
    policy = AddressPolicy(allow_private=True, resolver=resolving_to(["169.254.169.254"]))
    with pytest.raises(RefusedEndpoint, match="link-local"):
        await policy.addresses(parse_endpoint("http://2852039166/"))


async def test_unresolvable_host_is_refused() -> None:
    async def fail(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    policy = AddressPolicy(allow_private=False, resolver=fail)
    with pytest.raises(RefusedEndpoint, match="does not resolve"):
        await policy.addresses(parse_endpoint("https://nowhere.invalid/"))


async def test_system_resolver_checks_localhost_as_loopback() -> None:
    with pytest.raises(RefusedEndpoint, match="loopback or private"):
        await STRICT.addresses(parse_endpoint("https://localhost:9/"))
    assert all(a.is_loopback for a in await DEV.addresses(parse_endpoint("http://localhost:9/")))
