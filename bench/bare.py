"""The ceiling: a bare FastAPI app returning fixed bytes, served like the service.

Two routes with the same paths as the benchmarked FHIR interactions, each answering the bytes
and headers (content type, ETag, Last-Modified) that the service answered for them once:

    GET /fhir/CarePlan/{id}           the body of a read of a seeded CarePlan
    GET /fhir/CarePlan?patient=...    the searchset Bundle of a search by patient

uvicorn runs it as ``zorgleefplan serve`` runs the service: one worker (or ``--workers N``, as
the service is run), ``loop``/``http`` on "auto" (uvloop and httptools when installed), log
level warning, and no access log.

    python bench/bare.py --fixture FIXTURE.json --port 8090 [--workers 2]

FIXTURE.json: {"read": {"headers": {...}, "body": "..."}, "search": {...}} (run.py writes it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI
from starlette.responses import Response

# Headers the server sets itself; everything else is replayed as captured.
_SERVER_HEADERS = frozenset({"content-length", "date", "server", "connection"})


class Canned:
    """One fixed response: body bytes and headers."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.body: bytes = entry["body"].encode("utf-8")
        self.headers: dict[str, str] = {
            k: v for k, v in entry["headers"].items() if k.lower() not in _SERVER_HEADERS
        }

    def response(self) -> Response:
        return Response(self.body, headers=self.headers)


def build_app(fixture: dict[str, Any]) -> FastAPI:
    read, search = Canned(fixture["read"]), Canned(fixture["search"])
    app = FastAPI(title="bare")

    @app.get("/fhir/CarePlan/{id_}")
    async def read_plan(id_: str) -> Response:
        return read.response()

    @app.get("/fhir/CarePlan")
    async def search_plans() -> Response:
        return search.response()

    return app


def app_from_environment() -> FastAPI:
    """The app of a worker process: the fixture named by BENCH_BARE_FIXTURE."""
    return build_app(orjson.loads(Path(os.environ["BENCH_BARE_FIXTURE"]).read_bytes()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bare FastAPI ceiling for bench/run.py")
    parser.add_argument("--fixture", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    options = {"host": args.host, "port": args.port, "log_level": "warning", "access_log": False}
    if args.workers > 1:
        # Worker processes import the app; this script's directory is on their path.
        os.environ["BENCH_BARE_FIXTURE"] = str(args.fixture.resolve())
        uvicorn.run("bare:app_from_environment", factory=True, workers=args.workers, **options)
        return 0
    uvicorn.run(build_app(orjson.loads(args.fixture.read_bytes())), **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
