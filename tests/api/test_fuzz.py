"""Random bodies, search strings and headers never produce a 500 (the ASGI transport re-raises
any unhandled exception, so a server error fails the test) and never store anything broken."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
FHIR_KEYS = st.sampled_from(
    [
        "resourceType",
        "id",
        "meta",
        "status",
        "intent",
        "subject",
        "name",
        "identifier",
        "activity",
        "period",
        "category",
        "contained",
        "extension",
        "reference",
        "text",
        "gender",
    ]
)
RESOURCEISH = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Patient", "CarePlan", "Goal", "Bundle", "Nope"])},
    optional={
        k: JSON
        for k in [
            "id",
            "meta",
            "status",
            "subject",
            "name",
            "identifier",
            "activity",
            "contained",
            "extension",
            "gender",
        ]
    },
)
PARAM_NAMES = st.sampled_from(
    [
        "patient",
        "subject",
        "status",
        "date",
        "_id",
        "_lastUpdated",
        "_sort",
        "_count",
        "_include",
        "_revinclude",
        "_has:Goal:patient:status",
        "subject:Patient.name",
        "identifier",
        "name:contains",
        "_summary",
        "_elements",
        "_cursor",
        "_total",
        "x",
    ]
) | st.text(max_size=15)
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(body=RESOURCEISH | JSON)
async def test_random_bodies_never_break_the_server(client: httpx.AsyncClient, body: Any) -> None:
    raw = json.dumps(body).encode()
    for method, url in [("POST", "/fhir/Patient"), ("PUT", "/fhir/CarePlan/fz"), ("POST", "/fhir")]:
        r = await client.request(method, url, content=raw)
        assert r.status_code < 500
        if r.status_code >= 400:
            assert r.json()["resourceType"] == "OperationOutcome"


@FUZZ
@given(params=st.lists(st.tuples(PARAM_NAMES, st.text(max_size=25)), max_size=4))
async def test_random_searches_never_break_the_server(
    client: httpx.AsyncClient, params: list[tuple[str, str]]
) -> None:
    for path in ["/fhir/CarePlan", "/fhir", "/fhir/_history", "/fhir/Patient/x/_history"]:
        r = await client.get(path, params=params)
        assert r.status_code < 500
        assert r.json()["resourceType"] in ("Bundle", "OperationOutcome")


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "If-Match",
                "If-None-Match",
                "If-None-Exist",
                "If-Modified-Since",
                "Prefer",
                "Accept",
                "Content-Type",
            ]
        ),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
        max_size=3,
    )
)
async def test_random_headers_never_break_the_server(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    body = b'{"resourceType":"Patient","id":"h1"}'
    for method, url in [
        ("PUT", "/fhir/Patient/h1"),
        ("GET", "/fhir/Patient/h1"),
        ("POST", "/fhir/Patient"),
        ("DELETE", "/fhir/Patient/h1"),
    ]:
        r = await client.request(method, url, content=body, headers=headers)
        assert r.status_code < 500
