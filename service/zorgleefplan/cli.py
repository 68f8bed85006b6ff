"""The ``zorgleefplan`` command: serve, openapi."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zorgleefplan.config import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    overrides = {
        k: v
        for k, v in (("host", args.host), ("port", args.port), ("data_dir", args.data_dir))
        if v is not None
    }
    settings = Settings(**overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.workers > 1:
        # Each worker process builds its own app from the same ZLP_* settings.
        import os

        for key, value in overrides.items():
            os.environ[f"ZLP_{key.upper()}"] = str(value)
        uvicorn.run(
            "zorgleefplan.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=args.workers,
            log_level=args.log_level,
        )
        return 0
    from zorgleefplan.app import create_app

    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level
    )
    return 0


def openapi_text() -> str:
    """The OpenAPI document as committed in openapi/openapi.json (stable key order)."""
    from zorgleefplan.app import create_app

    document = create_app(Settings()).openapi()
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _openapi(args: argparse.Namespace) -> int:
    text = openapi_text()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zorgleefplan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the FHIR server")
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1, ZLP_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8080, ZLP_PORT)")
    serve.add_argument("--data-dir", type=Path, help="where the store lives (default ./data)")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=_serve)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", type=Path, default=Path("openapi/openapi.json"))
    openapi.set_defaults(run=_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
