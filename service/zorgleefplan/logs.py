"""Log output: text or one JSON object per line, and the access log.

The access log replaces uvicorn's, which writes the request line with its query string — and a
FHIR query string can hold personal data (``Patient?identifier=…|<BSN>``, ``name=…``). Ours
logs the method, the path without the query, the status, the duration and a request id; never
headers (tokens), query strings or bodies.
"""

from __future__ import annotations

import logging
import random
import re
import time
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS = logging.getLogger("zorgleefplan.access")
REQUEST_ID_HEADER = b"x-request-id"
# An incoming request id is kept when it looks like one (a proxy's or a client's correlation
# id); anything else is replaced, so a header cannot smuggle text into the log.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# Attributes the access log adds to its records; the JSON format writes them as fields.
ACCESS_FIELDS = ("request_id", "method", "path", "status", "duration_ms")

LogFormat = Literal["text", "json"]


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, the access fields when
    present, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        document: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if name in record.__dict__:
                document[name] = record.__dict__[name]
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document).decode()


def logging_config(log_format: LogFormat, level: int) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a server process (uvicorn's ``log_config``): every
    logger — uvicorn's and the service's — writes to stderr in one format; uvicorn's own access
    log is off (see the module docstring)."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"level": level},
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


def _request_id(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value if _REQUEST_ID.fullmatch(value) else _new_request_id()
    return _new_request_id()


def _new_request_id() -> bytes:
    return b"%016x" % random.getrandbits(64)


async def logged(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` for one HTTP request, answer its request id in ``X-Request-ID`` and write
    one access record when the response is done (status 500 when the app failed before
    starting one)."""
    started = time.perf_counter()
    request_id = _request_id(scope)
    status = 500

    async def send_with_id(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id)]
        await send(message)

    try:
        await app(scope, receive, send_with_id)
    finally:
        millis = round((time.perf_counter() - started) * 1000, 2)
        rid = request_id.decode("ascii")
        method, path = scope["method"], scope["path"]
        ACCESS.info(
            "%s %s %d %.2fms request_id=%s",
            method,
            path,
            status,
            millis,
            rid,
            extra={
                "request_id": rid,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": millis,
            },
        )
