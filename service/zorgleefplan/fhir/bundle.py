"""Batch and transaction bundles (R4 http.html#transaction).

Each entry becomes a FhirRequest and passes through the same dispatcher as an HTTP call.
A transaction runs in one store transaction — all or nothing — after ids are assigned to its
POST entries and ``urn:uuid:`` / conditional references are resolved; entries are processed in
the spec's order (DELETE, POST, PUT/PATCH, GET/HEAD) and answered in the bundle's order.
Batch entries are independent: each has its own transaction and its own outcome.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from zorgleefplan.errors import InvalidRequest, PreconditionFailed, ZlpError
from zorgleefplan.fhir.dispatch import dispatch
from zorgleefplan.fhir.interactions import Context, search_query_for
from zorgleefplan.fhir.outcome import outcome_for_error
from zorgleefplan.fhir.repository import new_id
from zorgleefplan.fhir.request import FhirRequest, FhirResponse, etag
from zorgleefplan.fhir.searchset import bundle_bytes
from zorgleefplan.store.model import Page

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_REASONS = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified"}
_ENTRY_HEADERS = {
    "ifMatch": "if-match",
    "ifNoneMatch": "if-none-match",
    "ifNoneExist": "if-none-exist",
    "ifModifiedSince": "if-modified-since",
}


async def process_bundle(bundle: Any, req: FhirRequest, ctx: Context) -> FhirResponse:
    kind, entries = _check_bundle(bundle, ctx)
    requests = [_entry_request(e, i, req, ctx.base) for i, e in enumerate(entries)]
    if kind == "batch":
        responses = [await _batch_entry(r, ctx) for r in requests]
    else:
        responses = await _transaction(requests, entries, ctx)
    body = bundle_bytes(
        f"{kind}-response", [_response_entry(r, ctx.base) for r in responses], total=None, links=()
    )
    return FhirResponse(200, body=body, touched=tuple(t for r in responses for t in r.touched))


def _check_bundle(bundle: Any, ctx: Context) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidRequest("POST to the base needs a Bundle of type batch or transaction")
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise InvalidRequest(
            f"Bundle.type must be batch or transaction, not {kind!r}", expression=["Bundle.type"]
        )
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidRequest("Bundle.entry must be a list of objects", expression=["Bundle.entry"])
    limit = ctx.repo.services.settings.max_bundle_entries
    if len(entries) > limit:
        raise InvalidRequest(
            f"a bundle may hold at most {limit} entries", expression=["Bundle.entry"]
        )
    return kind, entries


def _entry_request(entry: dict[str, Any], index: int, outer: FhirRequest, base: str) -> FhirRequest:
    where = f"Bundle.entry[{index}]"
    request = entry.get("request")
    if not isinstance(request, dict):
        raise InvalidRequest(f"{where}.request is missing", expression=[f"{where}.request"])
    method, url = request.get("method"), request.get("url")
    if method not in _ORDER or not isinstance(url, str) or not url:
        raise InvalidRequest(
            f"{where}.request needs a method ({', '.join(_ORDER)}) and a url",
            expression=[f"{where}.request"],
        )
    if url.startswith(base + "/"):
        url = url[len(base) + 1 :]
    split = urlsplit(url)
    if split.scheme or split.netloc:
        raise InvalidRequest(
            f"{where}.request.url must be relative to this server",
            expression=[f"{where}.request.url"],
        )
    headers = {h: request[k] for k, h in _ENTRY_HEADERS.items() if isinstance(request.get(k), str)}
    if "prefer" in outer.headers:
        headers["prefer"] = outer.headers["prefer"]
    body = entry.get("resource")
    return FhirRequest(
        method=method,
        path=split.path.strip("/"),
        params=tuple(parse_qsl(split.query, keep_blank_values=True)),
        headers=headers,
        body=body,
        media_type="application/fhir+json" if body is not None else "",
        entry_index=index,
        full_url=entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None,
    )


async def _batch_entry(req: FhirRequest, ctx: Context) -> FhirResponse:
    try:
        return await dispatch(req, ctx)
    except ZlpError as exc:
        return FhirResponse(exc.status_hint, body=outcome_for_error(exc))


async def _transaction(
    requests: list[FhirRequest], entries: list[dict[str, Any]], ctx: Context
) -> list[FhirResponse]:
    responses: dict[int, FhirResponse] = {}
    async with ctx.repo.transaction() as repo:
        tctx = Context(repo=repo, base=ctx.base)
        requests = await _assign_ids(requests, tctx)
        for req in sorted(requests, key=lambda r: _ORDER[r.method]):
            try:
                responses[req.entry_index] = await dispatch(req, tctx)
            except ZlpError as exc:
                exc.diagnostics = f"Bundle.entry[{req.entry_index}]: {exc.diagnostics}"
                exc.args = (exc.diagnostics,)
                raise
    return [responses[i] for i in range(len(entries))]


async def _assign_ids(requests: list[FhirRequest], ctx: Context) -> list[FhirRequest]:
    """Give POST entries their ids and rewrite references to them (and conditional references)
    in every entry's resource."""
    mapping: dict[str, str] = {}
    assigned: list[FhirRequest] = []
    for req in requests:
        if req.method == "POST" and isinstance(req.body, dict) and "/" not in req.path:
            existing = await _conditional_create_match(req, ctx)
            req = replace(req, assigned_id=existing or new_id())
            if req.full_url:
                mapping[req.full_url] = f"{req.path}/{req.assigned_id}"
        elif req.method == "PUT" and req.full_url and "?" not in req.path:
            mapping[req.full_url] = req.path
        assigned.append(req)
    conditional = await _resolve_conditional_references(assigned, ctx)
    mapping.update(conditional)
    if not mapping:
        return assigned
    return [
        replace(r, body=_rewrite(r.body, mapping)) if isinstance(r.body, dict) else r
        for r in assigned
    ]


async def _conditional_create_match(req: FhirRequest, ctx: Context) -> str | None:
    """The id an ``ifNoneExist`` entry resolves to when it matches an existing resource."""
    condition = req.header("if-none-exist")
    if condition is None:
        return None
    params = parse_qsl(condition.partition("?")[2] or condition, keep_blank_values=True)
    query = search_query_for(ctx, req.path, params, "ifNoneExist")
    page = await ctx.repo.search(query, Page(count=2))
    return page.rows[0].id if len(page.rows) == 1 else None


async def _resolve_conditional_references(
    requests: list[FhirRequest], ctx: Context
) -> dict[str, str]:
    """``Patient?identifier=x`` used as a reference resolves to the one match, or fails."""
    found: dict[str, str] = {}
    for req in requests:
        for ref in _references(req.body):
            if "?" not in ref or ref in found or ref.startswith(("http:", "https:", "urn:")):
                continue
            type_, _, query = ref.partition("?")
            params = parse_qsl(query, keep_blank_values=True)
            if not params:
                continue
            query_model = search_query_for(ctx, type_, params, f"the conditional reference {ref}")
            page = await ctx.repo.search(query_model, Page(count=2))
            if len(page.rows) != 1:
                raise PreconditionFailed(
                    f"Bundle.entry[{req.entry_index}]: the conditional reference {ref} "
                    f"matches {len(page.rows)} resources; it must match exactly one"
                )
            found[ref] = f"{type_}/{page.rows[0].id}"
    return found


def _references(node: Any) -> list[str]:
    refs: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str):
                refs.append(ref)
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
    return refs


def _rewrite(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in mapping:
                out[key] = mapping[value]
            else:
                out[key] = _rewrite(value, mapping)
        return out
    if isinstance(node, list):
        return [_rewrite(v, mapping) for v in node]
    return node


def _response_entry(resp: FhirResponse, base: str) -> bytes:
    response: dict[str, Any] = {"status": f"{resp.status} {_REASONS.get(resp.status, '')}".strip()}
    if resp.location:
        response["location"] = resp.location
    if resp.version is not None:
        response["etag"] = etag(resp.version.version)
        response["lastModified"] = resp.version.last_updated.isoformat().replace("+00:00", "Z")
    if resp.outcome is not None:
        response["outcome"] = resp.outcome
    head = b"{"
    if resp.version is not None and not resp.version.deleted:
        head += orjson.dumps(f"{base}/{resp.version.type}/{resp.version.id}").join(
            (b'"fullUrl":', b",")
        )
    body = resp.body
    if (
        isinstance(body, dict)
        and body.get("resourceType") == "OperationOutcome"
        and resp.status >= 400
    ):
        response["outcome"] = body
        body = None
    resource = b""
    if body is not None:
        resource = b'"resource":' + (body if isinstance(body, bytes) else orjson.dumps(body)) + b","
    return head + resource + b'"response":' + orjson.dumps(response) + b"}"
