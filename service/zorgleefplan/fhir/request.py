"""HTTP-free FHIR requests and responses.

The HTTP layer turns a Starlette request into a :class:`FhirRequest`; bundle processing builds
them from entries. Both then pass through the same dispatcher, so a bundle entry is handled
exactly like the equivalent HTTP call (the Medplum fhir-router pattern).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from typing import Any

from zorgleefplan.errors import InvalidRequest
from zorgleefplan.store.model import StoredVersion

_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,18})"\s*$')


@dataclass(frozen=True)
class FhirRequest:
    method: str
    path: str  # relative to the FHIR base, without leading slash: "CarePlan/1/_history/2"
    params: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: Any = None  # parsed JSON, or None
    media_type: str = ""  # the body's media type
    # Set for bundle entries: their position, fullUrl, and the id a transaction assigned.
    entry_index: int = 0
    full_url: str | None = None
    assigned_id: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def prefer(self) -> dict[str, str]:
        """``Prefer: return=minimal, handling=lenient`` as a dict."""
        found: dict[str, str] = {}
        for part in (self.header("prefer") or "").split(","):
            key, _, value = part.strip().partition("=")
            if key:
                found[key.strip().lower()] = value.strip().strip('"').lower()
        return found

    @property
    def lenient(self) -> bool:
        return self.prefer.get("handling") == "lenient"


@dataclass
class FhirResponse:
    status: int
    body: bytes | dict[str, Any] | None = None  # stored bytes are served as they are
    version: StoredVersion | None = None  # for ETag, Last-Modified and Location
    location: str | None = None  # relative "Type/id/_history/n"
    outcome: dict[str, Any] | None = None  # an OperationOutcome to report beside the body
    headers: dict[str, str] = field(default_factory=dict)
    # The stored resources this response carries or changed: what the audit trail records.
    touched: tuple[StoredVersion, ...] = ()


def version_from_etag(value: str | None, header: str) -> int | None:
    """``W/"3"`` → 3. Anything else in an If-Match/If-None-Match is a client error."""
    if value is None:
        return None
    match = _ETAG.match(value)
    if not match:
        raise InvalidRequest(f'{header} must be a version ETag like W/"3"', expression=[header])
    return int(match.group(1))


def etag(version: int) -> str:
    return f'W/"{version}"'


@lru_cache(maxsize=4096)  # the Last-Modified of the resources being read, over and over
def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def parse_http_date(value: str, header: str) -> datetime:
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise InvalidRequest(f"{header} is not an HTTP date", expression=[header]) from None
