"""``zorgleefplan keys`` and ``zorgleefplan tokens issue`` (run in-process through main())."""

from __future__ import annotations

from pathlib import Path

import pytest

from zorgleefplan.auth.keys import SigningKeys
from zorgleefplan.auth.tokens import MemoryRevokedTokens, TokenVerifier
from zorgleefplan.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_rotate_lists_the_new_key_as_active_and_retire_removes_the_old(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path)
    _, out, _ = run(capsys, "keys", "list", "--data-dir", data)
    (first,) = [line.split("\t")[0] for line in out.splitlines()]
    _, new_kid, _ = run(capsys, "keys", "rotate", "--data-dir", data)
    _, out, _ = run(capsys, "keys", "list", "--data-dir", data)
    assert out.splitlines() == [f"{new_kid.strip()}\tactive", f"{first}\tverify-only"]
    status, _, err = run(capsys, "keys", "retire", new_kid.strip(), "--data-dir", data)
    assert status == 2 and "active" in err
    assert run(capsys, "keys", "retire", first, "--data-dir", data)[0] == 0
    _, out, _ = run(capsys, "keys", "list", "--data-dir", data)
    assert out.splitlines() == [f"{new_kid.strip()}\tactive"]


def test_an_issued_token_verifies_for_the_service_and_names_the_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys,
        "tokens",
        "issue",
        "--data-dir",
        str(tmp_path),
        "--fhir-user",
        "Patient/p7",
        "--scope",
        "patient/CarePlan.rs",
        "--issuer",
        "https://zlp.example",
    )
    assert status == 0
    verifier = TokenVerifier(SigningKeys.open(tmp_path), MemoryRevokedTokens())
    claims = verifier.verify(
        out.strip(), issuer="https://zlp.example", audience="https://zlp.example/fhir"
    )
    assert (claims.patient, claims.fhir_user, claims.scope) == (
        "p7",
        "Patient/p7",
        "patient/CarePlan.rs",
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fhir-user", "Device/d1"], "--fhir-user"),
        (["--fhir-user", "Patient/p1", "--scope", "patient/CarePlan.xyz"], "unknown"),
    ],
)
def test_bad_token_requests_are_refused_without_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    status, out, err = run(capsys, "tokens", "issue", "--data-dir", str(tmp_path), *extra)
    assert status == 2 and out == "" and message in err
