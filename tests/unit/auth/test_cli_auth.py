"""``zorgleefplan clients`` and ``zorgleefplan accounts``: the installed console script, run in a
subprocess against a fresh data directory."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from zorgleefplan.auth.passwords import PasswordLogin, Passwords
from zorgleefplan.auth.sqlite_registry import SqliteAuthRegistry
from zorgleefplan.config import Settings

SCRIPT = Path(sys.executable).parent / "zorgleefplan"
PASSWORD = "correct horse battery"


def run(
    *args: str | Path, data_dir: Path | None, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT), *map(str, args)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=data_dir.parent if data_dir is not None else None,
        check=False,
    )


def ok(*args: str | Path, data_dir: Path, stdin: str = "") -> str:
    result = run(*args, data_dir=data_dir, stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def refused(*args: str | Path, data_dir: Path, stdin: str = "") -> str:
    result = run(*args, data_dir=data_dir, stdin=stdin)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return result.stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    key = ECKey.generate_key("P-256")
    path.write_text(json.dumps({"keys": [{**key.as_dict(private=False), "kid": "ehr-1"}]}))
    return path


def apps(data_dir: Path) -> dict[str, dict[str, Any]]:
    return {
        a["client_id"]: a for a in json.loads(ok("clients", "list", "--json", data_dir=data_dir))
    }


def accounts(data_dir: Path) -> dict[str, dict[str, Any]]:
    listed = json.loads(ok("accounts", "list", "--json", data_dir=data_dir))
    return {a["username"]: a for a in listed}


def test_script_is_installed() -> None:
    assert SCRIPT.exists()


def test_clients_add_list_disable(data_dir: Path, jwks_file: Path) -> None:
    public = ok(
        "clients", "add", "--name", "Mijn PGO", "--public",
        "--redirect-uri", "https://pgo.example/cb", "--redirect-uri", "http://localhost:8765/cb",
        "--scope", "openid", "--scope", "patient/CarePlan.rs",
        data_dir=data_dir,
    ).strip()  # fmt: skip
    confidential = ok(
        "clients", "add", "--name", "Zorgapp", "--jwks", jwks_file,
        "--redirect-uri", "https://zorgapp.example/cb", "--organization-name", "Zorgapp B.V.",
        data_dir=data_dir,
    ).strip()  # fmt: skip
    backend = ok(
        "clients", "add", "--name", "EPD Ziekenhuis", "--backend", "--jwks", jwks_file,
        "--organization", "Organization/zh-1", "--jwks-uri", "https://epd.example/jwks",
        data_dir=data_dir,
    ).strip()  # fmt: skip
    assert len({public, confidential, backend}) == 3
    assert all(len(c) >= 32 and "\n" not in c for c in (public, confidential, backend))

    listed = apps(data_dir)
    assert listed[public]["kind"] == "public"
    assert listed[public]["redirect_uris"] == ["https://pgo.example/cb", "http://localhost:8765/cb"]
    assert listed[public]["scopes"] == ["openid", "patient/CarePlan.rs"]
    assert listed[public]["jwks"] is None
    assert listed[confidential]["kind"] == "confidential"
    assert listed[confidential]["organization_name"] == "Zorgapp B.V."
    assert listed[confidential]["jwks"] == json.loads(jwks_file.read_text())
    assert listed[backend]["kind"] == "backend"
    assert listed[backend]["redirect_uris"] == []
    assert listed[backend]["organization"] == "Organization/zh-1"
    assert listed[backend]["jwks_uri"] == "https://epd.example/jwks"
    assert listed[backend]["scopes"] == ["system/*.cruds"]
    assert all(a["active"] for a in listed.values())

    table = ok("clients", "list", data_dir=data_dir).splitlines()
    assert table[0].split()[:3] == ["CLIENT_ID", "KIND", "ACTIVE"]
    assert any(line.startswith(public) and "Mijn PGO" in line for line in table[1:])

    assert confidential in ok("clients", "disable", confidential, data_dir=data_dir)
    listed = apps(data_dir)
    assert not listed[confidential]["active"]
    assert listed[public]["active"]
    ok("clients", "enable", confidential, data_dir=data_dir)
    assert apps(data_dir)[confidential]["active"]
    assert "no app" in refused("clients", "disable", "no-such-client", data_dir=data_dir)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--public", "--redirect-uri", "http://pgo.example/cb"], "must use https"),
        (["--public", "--redirect-uri", "https://pgo.example/cb#x"], "fragment"),
        (["--public"], "at least one redirect URI"),
        (["--redirect-uri", "https://pgo.example/cb"], "--public"),
        (["--public", "--backend"], "exclude each other"),
        (["--public", "--redirect-uri", "https://a.example/cb", "--scope", "a b"], "scope"),
        (["--jwks", "JWKS", "--backend"], "Organization/ID"),
        (
            [
                "--jwks",
                "JWKS",
                "--backend",
                "--organization",
                "Organization/x",
                "--redirect-uri",
                "https://a/c",
            ],
            "no redirect URIs",
        ),
        (["--jwks", "JWKS", "--backend", "--organization", "Org/1"], "Organization/ID"),
        (["--jwks", "PRIVATE", "--redirect-uri", "https://a.example/cb"], "private"),
        (["--jwks", "MISSING", "--redirect-uri", "https://a.example/cb"], "cannot read"),
        (["--jwks", "GARBAGE", "--redirect-uri", "https://a.example/cb"], "not valid JSON"),
        (["--public", "--jwks", "JWKS", "--redirect-uri", "https://a.example/cb"], "not allowed"),
        (["--public", "--redirect-uri", "https://a.example/cb", "--bogus"], "unrecognized"),
    ],
)
def test_clients_add_refusals(
    args: list[str], message: str, data_dir: Path, jwks_file: Path, tmp_path: Path
) -> None:
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    files = {"JWKS": jwks_file, "PRIVATE": private, "GARBAGE": garbage}
    files["MISSING"] = tmp_path / "missing.json"
    argv = [str(files.get(a, a)) for a in args]
    assert message in refused("clients", "add", "--name", "App", *argv, data_dir=data_dir)


def test_accounts_add_and_log_in(data_dir: Path) -> None:
    out = ok(
        "accounts", "add", "--username", "Anna", "--password-stdin",
        "--fhir-user", "RelatedPerson/vm-1", "--fhir-user", "RelatedPerson/vm-2",
        "--name", "Anna Berends",
        data_dir=data_dir, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert out.strip() == "Anna"
    ok(
        "accounts", "add", "--username", "dokter",
        "--external-subject", "https://broker.example", "sub-42",
        "--fhir-user", "PractitionerRole/pr-1",
        data_dir=data_dir,
    )  # fmt: skip

    listed = accounts(data_dir)
    assert listed["Anna"]["fhir_users"] == ["RelatedPerson/vm-1", "RelatedPerson/vm-2"]
    assert listed["Anna"]["name"] == "Anna Berends"
    assert listed["Anna"]["login"] == "password"
    assert listed["dokter"]["login"] == "external"
    assert listed["dokter"]["external_issuer"] == "https://broker.example"
    assert listed["dokter"]["external_subject"] == "sub-42"
    assert "argon2" not in ok("accounts", "list", "--json", data_dir=data_dir)
    table = ok("accounts", "list", data_dir=data_dir)
    assert "argon2" not in table
    assert "RelatedPerson/vm-1 RelatedPerson/vm-2" in table

    async def log_in(password: str) -> str | None:
        registry = await SqliteAuthRegistry.from_settings(Settings(data_dir=data_dir))
        try:
            stored = await registry.get_account("anna")
            assert stored is not None
            assert stored.password_hash is not None
            assert stored.password_hash.startswith("$argon2id$")
            login = PasswordLogin.from_settings(registry, Settings(), Passwords())
            account = await login.authenticate("ANNA", password)
            return None if account is None else account.username
        finally:
            await registry.close()

    assert asyncio.run(log_in(PASSWORD)) == "Anna"  # the trailing newline is not part of it
    assert asyncio.run(log_in(PASSWORD + "\n")) is None

    assert ok("accounts", "disable", "ANNA", data_dir=data_dir).strip() == "disabled Anna"
    assert not accounts(data_dir)["Anna"]["active"]
    assert asyncio.run(log_in(PASSWORD)) is None
    ok("accounts", "enable", "anna", data_dir=data_dir)
    assert asyncio.run(log_in(PASSWORD)) == "Anna"
    assert "no account" in refused("accounts", "disable", "nobody", data_dir=data_dir)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--password-stdin"], "short pw\n", "at least 10 characters"),
        (["--password-stdin"], "", "at least 10 characters"),
        (["--password-stdin", "--fhir-user", "Practitioner/p"], PASSWORD, "PractitionerRole/ID"),
        (["--external-subject", "http://idp.example", "s"], "", "must use https"),
        ([], "", "exactly one of --password-stdin or --external-subject"),
        (["--password-stdin", "--external-subject", "https://i", "s"], PASSWORD, "not allowed"),
    ],
)
def test_accounts_add_refusals(args: list[str], stdin: str, message: str, data_dir: Path) -> None:
    if "--fhir-user" not in args:
        args = [*args, "--fhir-user", "Patient/p"]
    stderr = refused("accounts", "add", "--username", "u", *args, data_dir=data_dir, stdin=stdin)
    assert message in stderr


def test_accounts_refusals_keep_existing(data_dir: Path) -> None:
    ok(
        "accounts", "add", "--username", "anna", "--password-stdin", "--fhir-user", "Patient/a",
        data_dir=data_dir, stdin=PASSWORD,
    )  # fmt: skip
    stderr = refused(
        "accounts", "add", "--username", "ANNA", "--password-stdin", "--fhir-user", "Patient/b",
        data_dir=data_dir, stdin=PASSWORD,
    )  # fmt: skip
    assert "taken" in stderr
    assert "required" in refused("accounts", "add", "--username", "x", data_dir=data_dir)
    assert "spaces" in refused(
        "accounts", "add", "--username", "a b", "--password-stdin", "--fhir-user", "Patient/a",
        data_dir=data_dir, stdin=PASSWORD,
    )  # fmt: skip
    assert list(accounts(data_dir)) == ["anna"]


def test_data_dir_defaults_to_settings(tmp_path: Path) -> None:
    env = {**os.environ, "ZLP_DATA_DIR": str(tmp_path / "from-env")}
    result = run("clients", "add", "--name", "A", "--public", "--redirect-uri",
                 "https://a.example/cb", data_dir=None, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-env" / "zorgleefplan.sqlite3").exists()
    listed = run("clients", "list", data_dir=None, env=env)
    assert result.stdout.strip() in listed.stdout
