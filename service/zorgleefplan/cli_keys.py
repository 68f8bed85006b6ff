"""``zorgleefplan keys`` (signing-key rotation) and ``zorgleefplan tokens issue`` (an access
token for an operator's own testing).

Both act on the key file in the data dir, which is as powerful as the service itself: whoever
can read it can sign tokens. ``tokens issue`` only makes that explicit and auditable for a
local test or demo; apps get their tokens from the OAuth endpoints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from zorgleefplan.auth import keys, tokens
from zorgleefplan.auth.scopes import ScopeSet
from zorgleefplan.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(**({} if args.data_dir is None else {"data_dir": args.data_dir}))


def _fail(args: argparse.Namespace, message: str) -> int:
    print(f"zorgleefplan {args.command} {args.action}: error: {message}", file=sys.stderr)
    return 2


def _keys_list(args: argparse.Namespace) -> int:
    signing = keys.SigningKeys.open(_settings(args).data_dir)
    active = signing.signing_key().kid
    for jwk in signing.public_jwks()["keys"]:
        print(f"{jwk['kid']}\t{'active' if jwk['kid'] == active else 'verify-only'}")
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    print(keys.rotate(_settings(args).data_dir))
    return 0


def _keys_retire(args: argparse.Namespace) -> int:
    try:
        keys.retire(_settings(args).data_dir, args.kid)
    except ValueError as exc:
        return _fail(args, str(exc))
    return 0


def _tokens_issue(args: argparse.Namespace) -> int:
    settings = _settings(args)
    scopes = ScopeSet.parse(args.scope)
    if scopes.invalid:
        return _fail(args, "unknown or unsupported scopes: " + " ".join(sorted(scopes.invalid)))
    kind, _, ident = args.fhir_user.partition("/")
    if kind not in ("Patient", "RelatedPerson", "Practitioner", "PractitionerRole") or not ident:
        return _fail(
            args, "--fhir-user must be Patient/ID, RelatedPerson/ID or PractitionerRole/ID"
        )
    root = (args.issuer or settings.base_url or f"http://{settings.host}:{settings.port}").rstrip(
        "/"
    )
    patient = ident if kind == "Patient" else args.patient
    issued = tokens.issue(
        keys.SigningKeys.open(settings.data_dir),
        issuer=root,
        audience=f"{root}/fhir",
        subject=args.fhir_user,
        client_id="zorgleefplan-cli",
        scope=args.scope,
        lifetime=args.lifetime or settings.access_token_lifetime,
        patient=patient,
        fhir_user=args.fhir_user,
    )
    print(issued.token)
    return 0


def add_commands(commands: Any) -> None:
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument("--data-dir", type=Path, help="where the store lives (default ./data)")

    key_commands = commands.add_parser("keys", help="the token signing keys")
    key_actions = key_commands.add_subparsers(dest="action", required=True)
    listed = key_actions.add_parser("list", parents=[data_dir], help="key ids and their use")
    listed.set_defaults(run=_keys_list)
    rotate = key_actions.add_parser(
        "rotate", parents=[data_dir], help="add a new signing key; prints its kid"
    )
    rotate.set_defaults(run=_keys_rotate)
    retire = key_actions.add_parser(
        "retire",
        parents=[data_dir],
        help="remove an old key: tokens it signed stop working",
    )
    retire.add_argument("kid")
    retire.set_defaults(run=_keys_retire)

    token_commands = commands.add_parser("tokens", help="access tokens for local testing")
    token_actions = token_commands.add_subparsers(dest="action", required=True)
    issue = token_actions.add_parser(
        "issue",
        parents=[data_dir],
        help="print an access token signed with this service's key",
        description="Sign an access token for a person in the store, for trying the API "
        "locally (curl, the demo). Apps use the OAuth endpoints instead.",
    )
    issue.add_argument("--fhir-user", required=True, help="Patient/ID, RelatedPerson/ID, ...")
    issue.add_argument("--patient", help="the client in context (for a RelatedPerson)")
    issue.add_argument("--scope", default="launch/patient patient/*.cruds")
    issue.add_argument("--issuer", help="public root URL (default ZLP_BASE_URL or host:port)")
    issue.add_argument("--lifetime", type=int, help="seconds (default the access-token lifetime)")
    issue.set_defaults(run=_tokens_issue)
