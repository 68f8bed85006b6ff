"""The ``zorgleefplan`` command: serve, openapi, clients, accounts, demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zorgleefplan import cli_demo, cli_keys
from zorgleefplan.config import Settings

if TYPE_CHECKING:
    from zorgleefplan.auth.registry import Account, App, AuthRegistry


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.config import LOG_LEVELS

    from zorgleefplan.logs import logging_config

    overrides = {
        k: v
        for k, v in (
            ("host", args.host),
            ("port", args.port),
            ("data_dir", args.data_dir),
            ("log_format", args.log_format),
        )
        if v is not None
    }
    settings = Settings(**overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": args.log_level,
        "log_config": logging_config(settings.log_format, LOG_LEVELS[args.log_level]),
        "access_log": False,  # the service writes its own, without query strings
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    if args.workers > 1:
        # Each worker process builds its own app from the same ZLP_* settings.
        import os

        for key, value in overrides.items():
            os.environ[f"ZLP_{key.upper()}"] = str(value)
        uvicorn.run("zorgleefplan.app:create_app", factory=True, workers=args.workers, **options)
        return 0
    from zorgleefplan.app import create_app

    uvicorn.run(create_app(settings), **options)
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


# --------------------------------------------------------------------------- clients, accounts


class _UsageError(Exception):
    """A mistake in the command line or its input: message on stderr, exit status 2."""


def _admin(
    action: Callable[[AuthRegistry, argparse.Namespace], Awaitable[int]],
) -> Callable[[argparse.Namespace], int]:
    """Run ``action`` against the registry of ``--data-dir``; expected errors become a message
    on stderr and exit status 2 (never a traceback)."""

    def run(args: argparse.Namespace) -> int:
        from zorgleefplan.auth.services import open_registry
        from zorgleefplan.errors import ZlpError

        async def main() -> int:
            overrides = {} if args.data_dir is None else {"data_dir": args.data_dir}
            registry = await open_registry(Settings(**overrides))
            try:
                return await action(registry, args)
            finally:
                await registry.close()

        try:
            return asyncio.run(main())
        except ZlpError as exc:
            message = exc.diagnostics
        except (_UsageError, OSError, ValueError) as exc:
            message = str(exc)
        print(f"zorgleefplan {args.command} {args.action}: error: {message}", file=sys.stderr)
        return 2

    return run


def _read_jwks(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _UsageError(f"cannot read JWKS file {str(path)!r}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _UsageError(f"JWKS file {str(path)!r} is not valid JSON: {exc}") from None


def _app_kind(args: argparse.Namespace) -> str:
    if args.public:
        if args.backend:
            raise _UsageError("--public and --backend exclude each other")
        if args.jwks_uri:
            raise _UsageError("a public app has no keys: drop --jwks-uri")
        return "public"
    if args.jwks is None:
        raise _UsageError(
            "say how the app authenticates: --public (PKCE, no keys) or --jwks FILE "
            "(private_key_jwt with these public keys)"
        )
    if args.backend:
        return "backend"
    return "confidential"


async def _clients_add(registry: AuthRegistry, args: argparse.Namespace) -> int:
    from zorgleefplan.auth.registry import new_app, utc_now

    kind = _app_kind(args)
    app = new_app(
        name=args.name,
        kind=kind,  # type: ignore[arg-type]
        created=utc_now(),
        redirect_uris=args.redirect_uri,
        jwks=None if args.jwks is None else _read_jwks(args.jwks),
        jwks_uri=args.jwks_uri,
        scopes=args.scope,
        organization=args.organization,
        organization_name=args.organization_name,
    )
    await registry.add_app(app)
    print(app.client_id)
    return 0


def _app_json(app: App) -> dict[str, Any]:
    return {
        "client_id": app.client_id,
        "name": app.name,
        "kind": app.kind,
        "active": app.active,
        "redirect_uris": list(app.redirect_uris),
        "scopes": list(app.scopes),
        "organization": app.organization,
        "organization_name": app.organization_name,
        "jwks": app.jwks,
        "jwks_uri": app.jwks_uri,
        "created": app.created.isoformat(timespec="seconds"),
    }


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


async def _clients_list(registry: AuthRegistry, args: argparse.Namespace) -> int:
    apps = await registry.list_apps()
    if args.json:
        print(json.dumps([_app_json(a) for a in apps], indent=2, ensure_ascii=False))
        return 0
    _print_table(
        ("CLIENT_ID", "KIND", "ACTIVE", "NAME", "ORGANIZATION", "REDIRECT_URIS"),
        [
            (
                a.client_id,
                a.kind,
                "yes" if a.active else "no",
                a.name,
                " ".join(x for x in (a.organization_name, a.organization) if x) or "-",
                " ".join(a.redirect_uris) or "-",
            )
            for a in apps
        ],
    )
    return 0


async def _clients_set_active(registry: AuthRegistry, args: argparse.Namespace) -> int:
    app = await registry.set_app_active(args.client_id, args.action == "enable")
    print(f"{args.action}d {app.client_id} ({app.name})")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    text = sys.stdin.read()
    # One trailing line break belongs to the pipe, not to the password.
    return text.removesuffix("\n").removesuffix("\r")


async def _accounts_add(registry: AuthRegistry, args: argparse.Namespace) -> int:
    from zorgleefplan.auth.passwords import Passwords, check_password_policy
    from zorgleefplan.auth.registry import new_account, utc_now, validate_username

    validate_username(args.username)
    if args.password_stdin == bool(args.external_subject):
        raise _UsageError("give exactly one of --password-stdin or --external-subject ISSUER SUB")
    password_hash = None
    if args.password_stdin:
        password = _read_password()
        check_password_policy(password)
        password_hash = await Passwords().hash(password)
    account = new_account(
        username=args.username,
        fhir_users=args.fhir_user,
        created=utc_now(),
        password_hash=password_hash,
        external=tuple(args.external_subject) if args.external_subject else None,
        display_name=args.name,
    )
    await registry.add_account(account)
    print(account.username)
    return 0


def _account_json(account: Account) -> dict[str, Any]:
    locked = account.locked_until
    return {
        "username": account.username,
        "name": account.display_name,
        "fhir_users": list(account.fhir_users),
        "login": "password" if account.password_hash else "external",
        "external_issuer": account.external_issuer,
        "external_subject": account.external_subject,
        "active": account.active,
        "failed_logins": account.failed_logins,
        "locked_until": None if locked is None else locked.isoformat(timespec="seconds"),
        "created": account.created.isoformat(timespec="seconds"),
    }


async def _accounts_list(registry: AuthRegistry, args: argparse.Namespace) -> int:
    from zorgleefplan.auth.registry import utc_now

    accounts = await registry.list_accounts()
    if args.json:
        print(json.dumps([_account_json(a) for a in accounts], indent=2, ensure_ascii=False))
        return 0
    now = utc_now()
    _print_table(
        ("USERNAME", "ACTIVE", "LOGIN", "FHIR_USER", "NAME"),
        [
            (
                a.username,
                ("locked" if a.locked(now) else "yes") if a.active else "no",
                "password" if a.password_hash else f"external {a.external_issuer}",
                " ".join(a.fhir_users),
                a.display_name,
            )
            for a in accounts
        ],
    )
    return 0


async def _accounts_set_active(registry: AuthRegistry, args: argparse.Namespace) -> int:
    account = await registry.set_account_active(args.username, args.action == "enable")
    print(f"{args.action}d {account.username}")
    return 0


def _add_clients(commands: Any) -> None:
    clients = commands.add_parser("clients", help="manage registered apps (OAuth clients)")
    actions = clients.add_subparsers(dest="action", required=True)
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument("--data-dir", type=Path, help="where the store lives (default ./data)")

    add = actions.add_parser(
        "add",
        parents=[data_dir],
        help="register an app; prints its client_id",
        description="Register an app and print its client_id. A patient app without keys: "
        "--public. An app with its own back end: --jwks FILE (private_key_jwt). An EHR "
        "system: --backend --jwks FILE --organization Organization/ID, no redirect URIs.",
    )
    add.add_argument("--name", required=True, help="display name shown on the consent screen")
    add.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        metavar="URI",
        help="exact redirect URI (https, or http on localhost); repeatable",
    )
    how = add.add_mutually_exclusive_group()
    how.add_argument("--public", action="store_true", help="public app: PKCE, no keys")
    how.add_argument("--jwks", type=Path, metavar="FILE", help="JSON file with the public JWKS")
    add.add_argument("--jwks-uri", metavar="URL", help="where the app publishes its JWKS")
    add.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="S",
        help="allowed scope; repeatable (default: a set for the app kind)",
    )
    add.add_argument("--organization", metavar="Organization/ID", help="organisation acted for")
    add.add_argument("--organization-name", metavar="NAME", help="organisation display name")
    add.add_argument("--backend", action="store_true", help="backend service (client_credentials)")
    add.set_defaults(run=_admin(_clients_add))

    listing = actions.add_parser("list", parents=[data_dir], help="list registered apps")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(run=_admin(_clients_list))

    for action, text in (
        ("disable", "disable an app and revoke its tokens"),
        ("enable", "enable an app"),
    ):
        toggle = actions.add_parser(action, parents=[data_dir], help=text)
        toggle.add_argument("client_id", metavar="CLIENT_ID")
        toggle.set_defaults(run=_admin(_clients_set_active))


def _add_accounts(commands: Any) -> None:
    accounts = commands.add_parser("accounts", help="manage person accounts")
    actions = accounts.add_subparsers(dest="action", required=True)
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument("--data-dir", type=Path, help="where the store lives (default ./data)")

    add = actions.add_parser(
        "add",
        parents=[data_dir],
        help="add an account",
        description="Add an account that logs in with a password (read from stdin) or through "
        "an external OpenID Connect provider (issuer URL and subject).",
    )
    add.add_argument("--username", required=True)
    login = add.add_mutually_exclusive_group()
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    login.add_argument(
        "--external-subject",
        nargs=2,
        metavar=("ISSUER", "SUBJECT"),
        help="log in through this OpenID Connect issuer with this sub",
    )
    add.add_argument(
        "--fhir-user",
        action="append",
        required=True,
        metavar="TYPE/ID",
        help="Patient/ID, RelatedPerson/ID or PractitionerRole/ID; repeatable",
    )
    add.add_argument("--name", help="display name (default: the username)")
    add.set_defaults(run=_admin(_accounts_add))

    listing = actions.add_parser("list", parents=[data_dir], help="list accounts")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(run=_admin(_accounts_list))

    for action, text in (
        ("disable", "disable an account and revoke its tokens"),
        ("enable", "enable an account (also clears a lockout)"),
    ):
        toggle = actions.add_parser(action, parents=[data_dir], help=text)
        toggle.add_argument("username", metavar="USERNAME")
        toggle.set_defaults(run=_admin(_accounts_set_active))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zorgleefplan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the FHIR server")
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1, ZLP_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8080, ZLP_PORT)")
    serve.add_argument("--data-dir", type=Path, help="where the store lives (default ./data)")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        help="info and below include the access log (default info)",
    )
    serve.add_argument(
        "--log-format", choices=("text", "json"), help="log lines (default text, ZLP_LOG_FORMAT)"
    )
    serve.set_defaults(run=_serve)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", type=Path, default=Path("openapi/openapi.json"))
    openapi.set_defaults(run=_openapi)

    _add_clients(commands)
    _add_accounts(commands)
    cli_keys.add_commands(commands)
    cli_demo.add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
