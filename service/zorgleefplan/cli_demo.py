"""``zorgleefplan demo``: load mevrouw Berends's network into the data dir and print how to try
every role (the network itself is plan/demo_network.py).

The directory (organisations, professionals) is stored by the operator; the plan is written by
the client herself, in one transaction, so it carries her Provenance and passes every write
rule a client's own plan must pass. Loading again changes nothing: a resource is written only
when it differs from what is stored (dates count from the day the plan was first loaded),
accounts and apps are added only when missing, and the EHR backend's key is kept in the data
dir (``demo/``) and reused.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from zorgleefplan.access.principal import DEVELOPMENT, Principal
from zorgleefplan.auth.registry import AuthRegistry, new_account, new_app, utc_now
from zorgleefplan.config import Settings
from zorgleefplan.errors import Conflict, ZlpError
from zorgleefplan.fhir.repository import Repository
from zorgleefplan.plan import demo_network as demo
from zorgleefplan.store.model import AccessConstraint

KEY_FILE = Path("demo") / "epd-thuiszorg.private-jwk.json"
DEMO_CLIENT_ID = "zorgleefplan-demo"  # the "app" the demo loader writes the plan through


@dataclass(frozen=True)
class LoadedDemo:
    written: int  # resources written this time (0 when everything was there already)
    anchor: date  # the day the plan was drawn up
    new_accounts: tuple[str, ...]  # usernames added this time
    key_file: Path  # the EHR backend's private key
    key_matches: bool  # False when the registered app has another key than the file


async def _store(repo: Repository, resource: dict[str, Any]) -> bool:
    """Write ``resource`` unless the stored version says the same; True when written."""
    type_, id_ = resource["resourceType"], resource["id"]
    current = await repo.current(type_, id_)
    if current is not None and current.body is not None:
        stored = orjson.loads(current.body)
        stored.pop("meta", None)
        if stored == resource:
            return False
    await repo.update(type_, id_, dict(resource))
    return True


async def _anchor(repo: Repository) -> date:
    stored = await repo.current("CarePlan", demo.PLAN)
    if stored is not None and stored.body is not None:
        found = demo.anchor_of(orjson.loads(stored.body))
        if found is not None:
            return found
    return datetime.now(UTC).date()


def _backend_key(data_dir: Path) -> dict[str, Any]:
    """The EHR backend's private key (EC P-256), made on first use, readable by the owner."""
    from joserfc.jwk import ECKey

    path = data_dir / KEY_FILE
    if path.exists():
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    key = ECKey.generate_key(
        "P-256", parameters={"use": "sig", "alg": "ES256"}, private=True, auto_kid=True
    )
    private = dict(key.as_dict(private=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as sink:
        json.dump(private, sink, indent=2)
    return private


def _public(private: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in private.items() if k != "d"}


async def _accounts(registry: AuthRegistry) -> tuple[str, ...]:
    from zorgleefplan.auth.passwords import Passwords

    added = []
    for login in demo.LOGINS:
        if await registry.get_account(login.username) is not None:
            continue
        await registry.add_account(
            new_account(
                username=login.username,
                display_name=login.name,
                fhir_users=[login.fhir_user],
                password_hash=await Passwords().hash(demo.PASSWORD),
                created=utc_now(),
            )
        )
        added.append(login.username)
    return tuple(added)


async def _apps(registry: AuthRegistry, key: dict[str, Any]) -> bool:
    """Register the demo apps that are missing; False when the backend app is registered
    with a key other than the one in the data dir."""
    jwks = {"keys": [_public(key)]}
    for app in demo.APPS:
        existing = await registry.get_app(app.client_id)
        if existing is not None:
            if app.kind == "backend" and existing.jwks != jwks:
                return False
            continue
        await registry.add_app(
            new_app(
                client_id=app.client_id,
                name=app.name,
                kind=app.kind,  # type: ignore[arg-type]
                created=utc_now(),
                redirect_uris=app.redirect_uris,
                jwks=jwks if app.kind == "backend" else None,
                organization=app.organization,
                organization_name=app.organization_name,
            )
        )
    return True


async def load_demo(settings: Settings) -> LoadedDemo:
    """Store the demo network in ``settings.data_dir`` (idempotent)."""
    from zorgleefplan.app import open_services
    from zorgleefplan.auth.services import open_auth_services

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    services = await open_services(settings)
    try:
        operator = Repository(services, DEVELOPMENT, AccessConstraint.unrestricted())
        anchor = await _anchor(operator)
        network = demo.demo_network(anchor)
        written = 0
        async with operator.transaction() as repo:
            for resource in network.directory:
                written += await _store(repo, resource)
        client = Principal(
            "patient",
            subject=demo.LOGINS[0].username,
            display=demo.LOGINS[0].name,
            fhir_user=f"Patient/{demo.CLIENT}",
            patient=demo.CLIENT,
            client_id=DEMO_CLIENT_ID,
        )
        decision = await services.policy.decide(client)
        own = Repository(services, client, decision.constraint, decision=decision)
        async with own.transaction() as repo:
            for resource in network.plan:
                written += await _store(repo, resource)
        auth = await open_auth_services(settings)
        try:
            added = await _accounts(auth.registry)
            key = _backend_key(settings.data_dir)
            matches = await _apps(auth.registry, key)
        finally:
            await auth.close()
    finally:
        await services.store.close()
    return LoadedDemo(written, anchor, added, settings.data_dir / KEY_FILE, matches)


def _guide(loaded: LoadedDemo, settings: Settings) -> str:
    root = settings.base_url or f"http://{settings.host}:{settings.port}"
    lines = [
        "Demo: het zorgleefplan van mevrouw Berends (RVS-advies, casus in hoofdstuk 1)",
        f"  data dir: {settings.data_dir}  -  {loaded.written} resources geschreven"
        + (" (alles stond er al)" if loaded.written == 0 else ""),
        f"  plan: {root}/fhir/CarePlan/{demo.PLAN}  (opgesteld {loaded.anchor.isoformat()}, "
        f"evaluatiemoment {demo.EVALUATION_DAYS} dagen later)",
        "",
        f"Logins (ingebouwde accounts, wachtwoord voor allemaal: {demo.PASSWORD})",
    ]
    width = max(len(login.username) for login in demo.LOGINS)
    for login in demo.LOGINS:
        lines += [
            f"  {login.username.ljust(width)}  {login.name}, {login.role}",
            f"  {' ' * width}  fhirUser {login.fhir_user}; scope: {login.scope}",
            f"  {' ' * width}  {login.may}",
        ]
    if len(loaded.new_accounts) < len(demo.LOGINS):
        lines.append("  (accounts die al bestonden zijn niet gewijzigd)")
    pgo, ehr = demo.APPS
    redirect = pgo.redirect_uris[0]
    # A PKCE pair for trying the login by hand (PKCE guards a real app's code in transit).
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    lines += [
        "",
        "Apps",
        f"  {pgo.name}: client_id {pgo.client_id} (public, PKCE S256), redirect_uri {redirect}",
        "    1. open in de browser (cliënt of dochter / zorgverlener), log in, geef toestemming:",
    ]
    for scope in (demo.PATIENT_SCOPE, demo.PROFESSIONAL_SCOPE):
        query = urlencode(
            {
                "response_type": "code",
                "client_id": pgo.client_id,
                "redirect_uri": redirect,
                "scope": scope,
                "state": secrets.token_urlsafe(8),
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            }
        )
        lines.append(f"       {root}/oauth/authorize?{query}")
    lines += [
        "    2. de browser gaat naar een adres dat niet bestaat; neem de code uit de adresbalk:",
        f"       curl -d grant_type=authorization_code -d client_id={pgo.client_id} "
        f"-d redirect_uri={redirect} -d code_verifier={verifier} -d code=CODE {root}/oauth/token",
        f"  {ehr.name}: client_id {ehr.client_id} (backend, client_credentials met "
        f"private_key_jwt), handelt voor {ehr.organization}",
        f"    private sleutel: {loaded.key_file} (zie README: Try it: zorgleefplan demo)",
    ]
    if not loaded.key_matches:
        lines.append(
            "    LET OP: de geregistreerde app heeft een andere sleutel dan dit bestand; "
            f"schakel de app uit (clients disable {ehr.client_id}) of gebruik een nieuwe data dir"
        )
    lines += [
        "",
        "Snel proberen zonder app: een token voor een rol, dan curl",
        f"  TOKEN=$(zorgleefplan tokens issue --data-dir {settings.data_dir} "
        f"--fhir-user RelatedPerson/{demo.DAUGHTER} --patient {demo.CLIENT})",
        f'  curl -H "Authorization: Bearer $TOKEN" {root}/fhir/CarePlan/{demo.PLAN}',
        "Start de server met: zorgleefplan serve"
        + ("" if settings.data_dir == Path("data") else f" --data-dir {settings.data_dir}"),
    ]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    settings = Settings(**({} if args.data_dir is None else {"data_dir": args.data_dir}))
    try:
        loaded = asyncio.run(load_demo(settings))
    except Conflict as exc:
        print(
            f"zorgleefplan demo: error: {exc.diagnostics}. Was the demo plan erased in this "
            "data dir? The ids of an erased plan are never used again: use another --data-dir.",
            file=sys.stderr,
        )
        return 2
    except (ZlpError, OSError) as exc:
        message = exc.diagnostics if isinstance(exc, ZlpError) else str(exc)
        print(f"zorgleefplan demo: error: {message}", file=sys.stderr)
        return 2
    print(_guide(loaded, settings))
    return 0


def add_command(commands: Any) -> None:
    command = commands.add_parser(
        "demo",
        help="load the demo network of mevrouw Berends and print its logins",
        description="Load a realistic zorgleefplan (mevrouw Berends, her daughter with a "
        "volmacht, her wijkverpleegkundige as regiebehandelaar, the huisarts, home care, the "
        "gemeente) with accounts and apps for every role. Running it again changes nothing.",
    )
    command.add_argument("--data-dir", type=Path, help="where the store lives (default ./data)")
    command.set_defaults(run=_run)
