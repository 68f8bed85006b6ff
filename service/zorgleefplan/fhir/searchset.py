"""Search and history results as Bundles, assembled from stored bytes without re-parsing.

Entries whose resource must be reshaped (``_summary``, ``_elements``) are parsed and dumped;
everything else is concatenated from the stored canonical JSON.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

import orjson

from zorgleefplan.errors import InvalidRequest
from zorgleefplan.fhir.elements import apply_elements, apply_summary
from zorgleefplan.fhir.request import etag, http_date
from zorgleefplan.store.model import StoredVersion

_MAX_CURSOR = 4096


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(token: str | None, length: int | None = None) -> list[Any] | None:
    """The keyset values in a ``_cursor`` token; a damaged token is a client error."""
    if token is None:
        return None
    if len(token) > _MAX_CURSOR:
        raise InvalidRequest("_cursor is not a cursor this server issued", expression=["_cursor"])
    try:
        values = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "_cursor is not a cursor this server issued", expression=["_cursor"]
        ) from None
    ok = isinstance(values, list) and all(
        v is None or (isinstance(v, str | int | float) and not isinstance(v, bool)) for v in values
    )
    if not ok or (length is not None and len(values) != length):
        raise InvalidRequest("_cursor does not belong to this search", expression=["_cursor"])
    return values


def link_url(base: str, path: str, params: Iterable[tuple[str, str]]) -> str:
    query = urlencode(list(params))
    return f"{base}/{path}" + (f"?{query}" if query else "")


class Shaper:
    """Applies ``_summary`` / ``_elements`` to entries, or passes stored bytes through."""

    def __init__(self, summary: str | None, elements: Sequence[str] | None) -> None:
        self.summary = summary if summary not in (None, "false") else None
        self.elements = list(elements) if elements else None

    @property
    def passthrough(self) -> bool:
        return self.summary is None and self.elements is None

    def shape(self, body: bytes) -> bytes:
        if self.passthrough:
            return body
        resource = orjson.loads(body)
        if self.summary is not None:
            resource = apply_summary(resource, self.summary)
        if self.elements is not None:
            resource = apply_elements(resource, self.elements)
        return orjson.dumps(resource)


def _entry(full_url: str, resource: bytes | None, extra: dict[str, Any]) -> bytes:
    head = orjson.dumps({"fullUrl": full_url})[:-1]
    parts = [head]
    if resource is not None:
        parts.append(b',"resource":' + resource)
    for key, value in extra.items():
        parts.append(b"," + orjson.dumps(key) + b":" + orjson.dumps(value))
    return b"".join(parts) + b"}"


def bundle_bytes(
    bundle_type: str,
    entries: Sequence[bytes],
    *,
    total: int | None,
    links: Sequence[tuple[str, str]],
    bundle_id: str | None = None,
    timestamp: str | None = None,
) -> bytes:
    head: dict[str, Any] = {"resourceType": "Bundle"}
    if bundle_id:
        head["id"] = bundle_id
    head["type"] = bundle_type
    if timestamp:
        head["timestamp"] = timestamp
    if total is not None:
        head["total"] = total
    if links:
        head["link"] = [{"relation": rel, "url": url} for rel, url in links]
    return orjson.dumps(head)[:-1] + b',"entry":[' + b",".join(entries) + b"]}"


def search_entries(
    base: str,
    matches: Sequence[StoredVersion],
    included: Sequence[StoredVersion],
    shaper: Shaper,
    outcome: dict[str, Any] | None = None,
) -> list[bytes]:
    entries = [
        _entry(
            f"{base}/{v.type}/{v.id}", shaper.shape(v.body or b"{}"), {"search": {"mode": "match"}}
        )
        for v in matches
    ]
    entries.extend(
        _entry(
            f"{base}/{v.type}/{v.id}",
            shaper.shape(v.body or b"{}"),
            {"search": {"mode": "include"}},
        )
        for v in included
    )
    if outcome is not None:
        entries.append(
            _entry("urn:uuid:outcome", orjson.dumps(outcome), {"search": {"mode": "outcome"}})
        )
    return entries


_STATUS = {"POST": "201 Created", "PUT": "200 OK", "PATCH": "200 OK", "DELETE": "204 No Content"}


def history_entries(base: str, versions: Sequence[StoredVersion]) -> list[bytes]:
    entries = []
    for v in versions:
        url = v.type if v.method == "POST" else f"{v.type}/{v.id}"
        status = "201 Created" if v.version == 1 and v.method == "PUT" else _STATUS[v.method]
        response: dict[str, Any] = {
            "status": status,
            "etag": etag(v.version),
            "lastModified": v.last_updated.isoformat().replace("+00:00", "Z"),
        }
        if not v.deleted:
            response["location"] = f"{v.type}/{v.id}/_history/{v.version}"
        entries.append(
            _entry(
                f"{base}/{v.type}/{v.id}",
                v.body if not v.deleted else None,
                {"request": {"method": v.method, "url": url}, "response": response},
            )
        )
    return entries


def last_modified(version: StoredVersion) -> str:
    return http_date(version.last_updated)
