"""Request bodies and formats: size and nesting limits, content types, ``_format`` / Accept."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from zorgleefplan.errors import InvalidRequest, NotAcceptable, TooLarge, UnsupportedMediaType

JSON_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
JSON_PATCH = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"
_JSON_FORMATS = frozenset({"json", *JSON_TYPES})


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing anything over ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise TooLarge(f"request body exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody is left to answer; refuse quietly instead of logging a server error.
        raise InvalidRequest("the client disconnected before sending the whole body") from None
    return b"".join(chunks)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def require_media_type(content_type: str | None, allowed: frozenset[str]) -> str:
    kind = media_type(content_type)
    if kind not in allowed:
        names = ", ".join(sorted(allowed))
        shown = kind or "none"
        raise UnsupportedMediaType(f"content type {shown} is not supported here; use {names}")
    return kind


def parse_json(raw: bytes, max_depth: int) -> Any:
    if not raw.strip():
        raise InvalidRequest("the request body is empty")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if _too_deep(value, max_depth):
        raise InvalidRequest(f"the JSON body is nested deeper than {max_depth} levels")
    return value


def _too_deep(value: Any, limit: int) -> bool:
    """Iterative depth check (no recursion, so hostile nesting cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def check_format(format_param: str | None, accept: str | None) -> None:
    """Refuse a response format we cannot produce (we speak FHIR JSON only)."""
    if format_param is not None and format_param.split(";")[0].strip().lower() not in _JSON_FORMATS:
        raise NotAcceptable(f"_format={format_param} is not supported; this server speaks JSON")
    if accept:
        kinds = [media_type(part) for part in accept.split(",")]
        if not any(k in JSON_TYPES or k in ("*/*", "application/*", "") for k in kinds):
            raise NotAcceptable(
                f"cannot produce {accept}; this server speaks application/fhir+json"
            )
