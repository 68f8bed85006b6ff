"""AuditEvent over FHIR: a client's own access log ("wie heeft mijn plan ingezien").

AuditEvents are written by the server only (see :mod:`zorgleefplan.access.audit`) into the
store's append-only audit log, not into the resource set, so they have their own interactions:

- ``GET AuditEvent?patient=<id>[&_count=n]`` (and ``POST AuditEvent/_search``): the client's
  log, newest first, paged with a ``_cursor`` next link;
- ``GET AuditEvent/<id>``: one entry.

Who may read is the requester's access constraint: it must allow AuditEvent in the client's
compartment (the consent engine grants that to the client and their volmacht holder only). A log
the requester may not read is an empty searchset, and an entry they may not see is 404 — the
same answer as for one that does not exist. Writes and history are refused (405): the log is
append-only and has one version per entry.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from zorgleefplan.access.audit import render_row
from zorgleefplan.errors import InvalidRequest, MethodNotAllowed, ResourceNotFound
from zorgleefplan.fhir.interactions import Context
from zorgleefplan.fhir.outcome import information
from zorgleefplan.fhir.request import FhirRequest, FhirResponse
from zorgleefplan.fhir.searchset import (
    Shaper,
    bundle_bytes,
    decode_cursor,
    encode_cursor,
    link_url,
    search_entries,
)
from zorgleefplan.store.model import AccessConstraint, AuditRow, StoredVersion

TYPE = "AuditEvent"
SEARCH_PARAMETERS = ("patient",)  # what the CapabilityStatement lists (plus _count, _cursor)
_RESULT_PARAMS = frozenset({"_format", "_pretty"})
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
APPEND_ONLY = "AuditEvent is append-only and written by the server"


def append_only() -> MethodNotAllowed:
    return MethodNotAllowed(APPEND_ONLY)


def no_history() -> MethodNotAllowed:
    return MethodNotAllowed(
        "AuditEvent has no history: each entry is written once by the server and never changes"
    )


def may_read_log(access: AccessConstraint, patient: str) -> bool:
    """Whether ``access`` covers the whole of ``patient``'s access log (the search path).

    A grant naming specific AuditEvents, or excluding some, does not open the log to search;
    such entries stay readable one by one through :func:`may_read_entry`."""
    for g in access.grants:
        if g.compartments is not None and patient not in g.compartments:
            continue
        if g.types is not None and TYPE not in g.types:
            continue
        if g.resources is not None or any(t == TYPE for t, _ in g.exclude):
            continue
        return True
    return False


def may_read_entry(access: AccessConstraint, row: AuditRow) -> bool:
    """Entries about no client (a failed login for an unknown name) are in nobody's log."""
    return row.patient is not None and access.allows(TYPE, row.id, row.patient)


def _as_version(row: AuditRow) -> StoredVersion:
    return StoredVersion(
        type=TYPE,
        id=row.id,
        version=1,
        last_updated=datetime.fromtimestamp(row.recorded / 1_000_000, tz=UTC),
        deleted=False,
        body=render_row(row),
        seq=row.seq,
        method="POST",
        compartment=row.patient,
    )


async def read(req: FhirRequest, ctx: Context, id_: str) -> FhirResponse:
    row = await ctx.repo.services.store.audit_read(id_)
    if row is None or not may_read_entry(ctx.repo.access, row):
        raise ResourceNotFound(f"AuditEvent/{id_} is not known")
    version = _as_version(row)
    return FhirResponse(200, body=version.body, version=version)


def _patient_id(value: str, base: str) -> str:
    text = value.strip()
    for prefix in (base + "/Patient/", "Patient/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if not _ID.match(text):
        raise InvalidRequest(
            f"patient={value} is not a client id or a Patient/<id> reference",
            expression=["patient"],
        )
    return text


async def search(req: FhirRequest, ctx: Context) -> FhirResponse:
    settings = ctx.repo.services.settings
    patient: str | None = None
    count = settings.default_page_size
    before: int | None = None
    ignored: list[str] = []
    for key, value in req.params:
        if key == "patient":
            if patient is not None:
                raise InvalidRequest("patient may be given once", expression=["patient"])
            patient = _patient_id(value, ctx.base)
        elif key == "_count":
            if not value.isdigit() or int(value) < 1:
                raise InvalidRequest(f"_count={value} is not a positive number", expression=[key])
            count = min(int(value), settings.max_page_size)
        elif key == "_cursor":
            decoded = decode_cursor(value, 1)
            if not decoded or not isinstance(decoded[0], int):
                raise InvalidRequest("_cursor does not belong to this search", expression=[key])
            before = decoded[0]
        elif key in _RESULT_PARAMS:
            pass
        elif req.lenient:
            ignored.append(key)
        else:
            raise InvalidRequest(
                f"AuditEvent search supports patient, _count and _cursor, not {key}",
                expression=[key],
            )
    if patient is None:
        raise InvalidRequest(
            "the patient parameter is required: AuditEvent?patient=<client id>",
            expression=["patient"],
        )
    params = [(k, v) for k, v in req.params if k != "_cursor" and k not in ignored]
    links = [("self", link_url(ctx.base, TYPE, req.params))]
    rows: tuple[AuditRow, ...] = ()
    next_before: int | None = None
    if may_read_log(ctx.repo.access, patient):
        rows, next_before = await ctx.repo.services.store.audit_page(patient, before, count)
    if next_before is not None:
        links.append(
            ("next", link_url(ctx.base, TYPE, [*params, ("_cursor", encode_cursor([next_before]))]))
        )
    # Counted only when this one page holds the whole log (the same rule as other searches).
    total = len(rows) if before is None and next_before is None else None
    outcome = information("ignored search parameters: " + ", ".join(ignored)) if ignored else None
    entries = search_entries(
        ctx.base, [_as_version(r) for r in rows], [], Shaper(None, None), outcome
    )
    return FhirResponse(200, body=bundle_bytes("searchset", entries, total=total, links=links))
