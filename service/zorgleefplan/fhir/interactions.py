"""The FHIR RESTful interactions, HTTP-free: (request, context) in, response out.

Semantics follow R4 http.html: versioning and preconditions, conditional create/update/patch/
delete with the spec's 0/1/many rules, ``Prefer: return=…``, PATCH as JSON Patch or FHIRPath
Patch, search and history. Access is never checked here: the repository carries the
requester's constraint into every store call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from zorgleefplan.errors import (
    InvalidRequest,
    InvalidResource,
    PreconditionFailed,
    ResourceNotFound,
)
from zorgleefplan.fhir.body import JSON_PATCH
from zorgleefplan.fhir.outcome import information
from zorgleefplan.fhir.patch import apply_fhirpath_patch, apply_json_patch
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.fhir.request import (
    FhirRequest,
    FhirResponse,
    parse_http_date,
    version_from_etag,
)
from zorgleefplan.fhir.search.normalize import date_range
from zorgleefplan.fhir.search.parse import SearchRequest, parse_search
from zorgleefplan.fhir.searchset import (
    Shaper,
    bundle_bytes,
    decode_cursor,
    encode_cursor,
    history_entries,
    link_url,
    search_entries,
)
from zorgleefplan.store.model import Page, SearchQuery, StoredVersion
from zorgleefplan.store.port import HistoryQuery

# Result parameters that never become criteria (paging and shaping of the answer).
_RESULT_PARAMS = frozenset({"_format", "_pretty"})


@dataclass(frozen=True)
class Context:
    repo: Repository
    base: str  # absolute FHIR base URL, no trailing slash


# --------------------------------------------------------------------------- read


async def read(req: FhirRequest, ctx: Context, type_: str, id_: str) -> FhirResponse:
    found = await ctx.repo.read(type_, id_)
    return _conditional_read(req, found) or _shaped(req, found)


async def vread(req: FhirRequest, ctx: Context, type_: str, id_: str, vid: str) -> FhirResponse:
    if not vid.isdigit() or len(vid) > 18:
        raise ResourceNotFound(f"{type_}/{id_} has no version {vid}")
    found = await ctx.repo.vread(type_, id_, int(vid))
    return _conditional_read(req, found) or _shaped(req, found)


def _conditional_read(req: FhirRequest, found: StoredVersion) -> FhirResponse | None:
    """304 for If-None-Match with the current version, or If-Modified-Since not passed."""
    none_match = req.header("if-none-match")
    if none_match is not None and version_from_etag(none_match, "If-None-Match") == found.version:
        return FhirResponse(304, version=found, touched=(found,))
    since = req.header("if-modified-since")
    if since is not None and found.last_updated.replace(microsecond=0) <= parse_http_date(
        since, "If-Modified-Since"
    ):
        return FhirResponse(304, version=found, touched=(found,))
    return None


def _shaped(req: FhirRequest, found: StoredVersion) -> FhirResponse:
    summary = req.param("_summary")
    elements = req.param("_elements")
    shaper = Shaper(summary, elements.split(",") if elements else None)
    if summary is not None and summary not in ("true", "text", "data", "false"):
        raise InvalidRequest(f"_summary={summary} is not supported here", expression=["_summary"])
    return FhirResponse(
        200, body=shaper.shape(found.body or b"{}"), version=found, touched=(found,)
    )


# --------------------------------------------------------------------------- writes


def _resource_body(req: FhirRequest, type_: str) -> dict[str, Any]:
    body = req.body
    if body is None:
        raise InvalidRequest("the request body is empty; send the resource as JSON")
    if not isinstance(body, dict):
        raise InvalidResource("the body must be a JSON object holding a resource")
    if body.get("resourceType") != type_:
        raise InvalidResource(
            f"the body holds resourceType {body.get('resourceType')!r}, "
            f"but the request is for {type_}",
            expression=["resourceType"],
        )
    return body


def _write_response(req: FhirRequest, stored: StoredVersion, status: int) -> FhirResponse:
    location = f"{stored.type}/{stored.id}/_history/{stored.version}"
    preference = req.prefer.get("return", "representation")
    if preference == "minimal":
        return FhirResponse(status, version=stored, location=location, touched=(stored,))
    if preference == "operationoutcome":
        verb = "created" if status == 201 else "updated"
        outcome = information(f"{stored.type}/{stored.id} {verb} as version {stored.version}")
        return FhirResponse(
            status, body=outcome, version=stored, location=location, touched=(stored,)
        )
    return FhirResponse(
        status, body=stored.body, version=stored, location=location, touched=(stored,)
    )


async def create(req: FhirRequest, ctx: Context, type_: str) -> FhirResponse:
    resource = _resource_body(req, type_)
    condition = req.header("if-none-exist")
    if condition is None:
        return _write_response(req, await ctx.repo.create(resource, req.assigned_id), 201)
    query = search_query_for(ctx, type_, _parse_condition(condition), "If-None-Exist")
    async with ctx.repo.transaction() as repo:
        matches = await _matches(repo, query)
        if len(matches) > 1:
            raise PreconditionFailed(
                f"If-None-Exist matches {len(matches)} {type_} resources; it must match one or none"
            )
        if matches:
            return _write_response(req, matches[0], 200)
        return _write_response(req, await repo.create(resource, req.assigned_id), 201)


async def update(req: FhirRequest, ctx: Context, type_: str, id_: str) -> FhirResponse:
    resource = _resource_body(req, type_)
    if resource.get("id") != id_:
        raise InvalidRequest(
            f"the resource id {resource.get('id')!r} must equal the id in the URL ({id_})",
            expression=[f"{type_}.id"],
        )
    if_match = version_from_etag(req.header("if-match"), "If-Match")
    stored, created = await ctx.repo.update(type_, id_, resource, if_match)
    return _write_response(req, stored, 201 if created else 200)


async def conditional_update(req: FhirRequest, ctx: Context, type_: str) -> FhirResponse:
    resource = _resource_body(req, type_)
    query = search_query_for(ctx, type_, list(req.params), "the conditional update")
    if_match = version_from_etag(req.header("if-match"), "If-Match")
    async with ctx.repo.transaction() as repo:
        matches = await _matches(repo, query)
        if len(matches) > 1:
            raise PreconditionFailed(
                f"the conditional update matches {len(matches)} {type_} resources; "
                "it must match one or none"
            )
        body_id = resource.get("id")
        if matches:
            target = matches[0].id
            if body_id is not None and body_id != target:
                raise InvalidRequest(
                    f"the resource id {body_id!r} differs from the matched resource {target}",
                    expression=[f"{type_}.id"],
                )
        elif body_id is not None:
            target = body_id
            # An id that exists but does not match the criteria must not be silently replaced.
            if await repo.current(type_, target) is not None:
                raise PreconditionFailed(
                    f"{type_}/{target} exists but does not match the conditional update criteria"
                )
        else:
            return _write_response(req, await repo.create(resource), 201)
        stored, created = await repo.update(type_, target, resource, if_match)
        return _write_response(req, stored, 201 if created else 200)


async def patch(req: FhirRequest, ctx: Context, type_: str, id_: str) -> FhirResponse:
    if_match = version_from_etag(req.header("if-match"), "If-Match")
    async with ctx.repo.transaction() as repo:
        current = await repo.read(type_, id_)
        return await _apply_patch(req, repo, current, if_match)


async def conditional_patch(req: FhirRequest, ctx: Context, type_: str) -> FhirResponse:
    query = search_query_for(ctx, type_, list(req.params), "the conditional patch")
    if_match = version_from_etag(req.header("if-match"), "If-Match")
    async with ctx.repo.transaction() as repo:
        matches = await _matches(repo, query)
        if len(matches) != 1:
            if not matches:
                raise ResourceNotFound(f"no {type_} matches the conditional patch criteria")
            raise PreconditionFailed(
                f"the conditional patch matches {len(matches)} {type_} resources; it must match one"
            )
        return await _apply_patch(req, repo, matches[0], if_match)


async def _apply_patch(
    req: FhirRequest, repo: Repository, current: StoredVersion, if_match: int | None
) -> FhirResponse:
    resource = orjson.loads(current.body or b"{}")
    if req.media_type == JSON_PATCH:
        patched = apply_json_patch(resource, req.body)
    else:
        patched = apply_fhirpath_patch(resource, req.body)
    if patched.get("resourceType") != current.type or patched.get("id") != current.id:
        raise InvalidRequest("a patch may not change resourceType or id")
    stored, _ = await repo.update(current.type, current.id, patched, if_match, method="PATCH")
    return _write_response(req, stored, 200)


async def delete(req: FhirRequest, ctx: Context, type_: str, id_: str) -> FhirResponse:
    if_match = version_from_etag(req.header("if-match"), "If-Match")
    tombstone = await ctx.repo.delete(type_, id_, if_match)
    return FhirResponse(204, version=tombstone, touched=(tombstone,) if tombstone else ())


async def conditional_delete(req: FhirRequest, ctx: Context, type_: str) -> FhirResponse:
    query = search_query_for(ctx, type_, list(req.params), "the conditional delete")
    async with ctx.repo.transaction() as repo:
        matches = await _matches(repo, query)
        if len(matches) > 1:
            raise PreconditionFailed(
                f"the conditional delete matches {len(matches)} {type_} resources; "
                "it must match one or none"
            )
        if not matches:
            return FhirResponse(204, outcome=information(f"no {type_} matched; nothing deleted"))
        tombstone = await repo.delete(type_, matches[0].id)
        return FhirResponse(204, version=tombstone, touched=(tombstone,) if tombstone else ())


def _parse_condition(condition: str) -> list[tuple[str, str]]:
    text = condition.split("?", 1)[1] if "?" in condition else condition
    return parse_qsl(text, keep_blank_values=True)


def search_query_for(
    ctx: Context, type_: str, params: list[tuple[str, str]], what: str
) -> SearchQuery:
    criteria = [(k, v) for k, v in params if k not in _RESULT_PARAMS]
    if not criteria:
        raise InvalidRequest(f"{what} needs search criteria")
    request = _parse(ctx, type_, criteria, lenient=False)
    return request.query


async def _matches(repo: Repository, query: SearchQuery) -> list[StoredVersion]:
    page = await repo.search(query, Page(count=2))
    return list(page.rows)


# --------------------------------------------------------------------------- search


def _parse(
    ctx: Context, type_: str | None, params: list[tuple[str, str]], *, lenient: bool
) -> SearchRequest:
    settings = ctx.repo.services.settings
    return parse_search(
        type_,
        params,
        ctx.repo.services.registry,
        lenient=lenient,
        max_count=settings.max_page_size,
        default_count=settings.default_page_size,
        base_url=ctx.base,
    )


async def search(req: FhirRequest, ctx: Context, type_: str | None) -> FhirResponse:
    params = [(k, v) for k, v in req.params if k not in _RESULT_PARAMS]
    request = _parse(ctx, type_, params, lenient=req.lenient)
    repo = ctx.repo
    after = decode_cursor(request.cursor, len(request.query.sort) + 1)
    path = type_ or ""
    self_params = [(k, v) for k, v in params if k != "_cursor"]
    links = [("self", link_url(ctx.base, path, params))]

    if request.summary == "count" or request.count == 0:
        total = await repo.count(request.query)
        return FhirResponse(200, body=bundle_bytes("searchset", [], total=total, links=links))

    page = await repo.search(
        request.query,
        Page(count=request.count, after=tuple(after) if after else None),
        total=request.total == "accurate",
    )
    if page.next_after is not None:
        next_params = [*self_params, ("_cursor", encode_cursor(page.next_after))]
        links.append(("next", link_url(ctx.base, path, next_params)))
    included = await _includes(repo, request, page.rows)
    outcome = None
    if request.ignored:
        outcome = information("ignored search parameters: " + ", ".join(request.ignored))
    shaper = Shaper(request.summary, request.elements)
    entries = search_entries(ctx.base, page.rows, included, shaper, outcome)
    return FhirResponse(
        200,
        body=bundle_bytes("searchset", entries, total=page.total, links=links),
        touched=(*page.rows, *included),
    )


async def _includes(
    repo: Repository, request: SearchRequest, matches: tuple[StoredVersion, ...]
) -> list[StoredVersion]:
    """``_include`` and ``_revinclude``, iterating (``:iterate``) to a fixpoint with a bound."""
    if not request.includes and not request.revincludes:
        return []
    seen = {(v.type, v.id) for v in matches}
    found: list[StoredVersion] = []
    frontier = list(matches)
    limit = repo.services.settings.max_include_iterations
    for round_ in range(limit):
        new: list[StoredVersion] = []
        for inc in request.includes:
            if round_ and not inc.iterate:
                continue
            sources = [(v.type, v.id) for v in frontier if v.type == inc.source_type]
            if sources:
                new.extend(await repo.include(sources, inc.param, inc.target_type))
        for inc in request.revincludes:
            if round_ and not inc.iterate:
                continue
            targets = [(v.type, v.id) for v in frontier]
            if targets:
                new.extend(await repo.revinclude(targets, inc.source_type, inc.param))
        frontier = []
        for v in new:
            if (v.type, v.id) not in seen:
                seen.add((v.type, v.id))
                found.append(v)
                frontier.append(v)
        if not frontier:
            break
    return found


# --------------------------------------------------------------------------- history


async def history(
    req: FhirRequest, ctx: Context, type_: str | None = None, id_: str | None = None
) -> FhirResponse:
    settings = ctx.repo.services.settings
    count = settings.default_page_size
    since = at = before = None
    # Counting a whole type's or the system's history is a scan: only on request.
    total = bool(id_) or req.param("_total") == "accurate"
    for key, value in req.params:
        try:
            if key == "_count":
                count = min(int(value), settings.max_page_size)
                if count < 0:
                    raise ValueError("negative")
            elif key == "_since":
                since = date_range(value)[0]
            elif key == "_at":
                at = date_range(value)
            elif key == "_cursor":
                decoded = decode_cursor(value, 1)
                before = decoded[0] if decoded else None
                if not isinstance(before, int):
                    raise ValueError("cursor")
            elif key not in _RESULT_PARAMS and key != "_total" and not req.lenient:
                raise InvalidRequest(
                    f"history does not support the parameter {key}", expression=[key]
                )
        except ValueError as exc:
            raise InvalidRequest(f"{key}={value} is not valid: {exc}", expression=[key]) from None
    # History of a resource the requester cannot see is as absent as the resource.
    if type_ and id_ and await ctx.repo.current(type_, id_) is None:
        raise ResourceNotFound(f"{type_}/{id_} is not known")
    page = await ctx.repo.history(
        HistoryQuery(type=type_, id=id_, since=since, at=at, before_seq=before),
        count,
        total=total,
    )
    path = "/".join(p for p in (type_, id_, "_history") if p)
    params = [(k, v) for k, v in req.params if k != "_cursor"]
    links = [("self", link_url(ctx.base, path, req.params))]
    if page.next_before_seq is not None:
        links.append(
            (
                "next",
                link_url(
                    ctx.base, path, [*params, ("_cursor", encode_cursor([page.next_before_seq]))]
                ),
            )
        )
    entries = history_entries(ctx.base, page.rows)
    return FhirResponse(
        200,
        body=bundle_bytes("history", entries, total=page.total, links=links),
        touched=page.rows,
    )
