"""Signing keys in the data dir (zorgleefplan.auth.keys): creation, rotation, retirement."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from joserfc.jwk import ECKey

from zorgleefplan.auth.keys import SigningKeys, key_file, retire, rotate


def _file_kids(data_dir: Path) -> list[str]:
    return [k["kid"] for k in json.loads(key_file(data_dir).read_text())["keys"]]


def test_first_start_creates_one_private_key_readable_only_by_the_owner(tmp_path: Path) -> None:
    keys = SigningKeys.open(tmp_path)
    path = key_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    active = keys.signing_key()
    assert _file_kids(tmp_path) == [active.kid]
    assert active.key.curve_name == "P-256" and active.key.is_private
    assert active.kid == active.key.thumbprint()
    assert abs(active.created - time.time()) < 60
    # No temporary files left beside it.
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "signing-keys.json",
        "signing-keys.lock",
    ]


def test_second_start_reuses_the_key(tmp_path: Path) -> None:
    first = SigningKeys.open(tmp_path).signing_key()
    again = SigningKeys.open(tmp_path).signing_key()
    assert again.kid == first.kid
    assert again.key.as_dict(private=True) == first.key.as_dict(private=True)


def test_public_jwks_has_no_private_parts(tmp_path: Path) -> None:
    keys = SigningKeys.open(tmp_path)
    jwks = keys.public_jwks()
    (jwk,) = jwks["keys"]
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert jwk["alg"] == "ES256" and jwk["use"] == "sig"
    public = ECKey.import_key(jwk)
    assert not public.is_private
    assert public.thumbprint() == jwk["kid"] == keys.signing_key().kid


def test_rotation_makes_the_new_key_active_and_keeps_the_old(tmp_path: Path) -> None:
    keys = SigningKeys.open(tmp_path, check_interval=0)
    old = keys.signing_key()
    new_kid = rotate(tmp_path)
    assert new_kid != old.kid
    assert keys.signing_key().kid == new_kid
    found = keys.find(old.kid)
    assert found is not None and found.kid == old.kid
    assert [k["kid"] for k in keys.public_jwks()["keys"]] == [new_kid, old.kid]
    assert _file_kids(tmp_path) == [old.kid, new_kid]
    assert stat.S_IMODE(key_file(tmp_path).stat().st_mode) == 0o600


def test_rotation_by_another_process_is_picked_up(tmp_path: Path) -> None:
    # A long check interval: only an unknown kid or an explicit reload looks at the file.
    keys = SigningKeys.open(tmp_path, check_interval=3600)
    old = keys.signing_key()
    new_kid = rotate(tmp_path)
    assert keys.signing_key().kid == old.kid  # not checked yet
    found = keys.find(new_kid)  # an unknown kid checks the file at once
    assert found is not None and found.kid == new_kid
    assert keys.signing_key().kid == new_kid
    assert keys.reload_if_changed() is False


def test_periodic_check_sees_rotation(tmp_path: Path) -> None:
    keys = SigningKeys.open(tmp_path, check_interval=0)
    new_kid = rotate(tmp_path)
    assert keys.signing_key().kid == new_kid


def test_retire_removes_an_old_key(tmp_path: Path) -> None:
    keys = SigningKeys.open(tmp_path, check_interval=0)
    old = keys.signing_key().kid
    new = rotate(tmp_path)
    retire(tmp_path, old)
    assert _file_kids(tmp_path) == [new]
    assert keys.find(old) is None
    assert [k["kid"] for k in keys.public_jwks()["keys"]] == [new]


def test_retire_refuses_the_active_key_and_unknown_kids(tmp_path: Path) -> None:
    keys = SigningKeys.open(tmp_path)
    active = keys.signing_key().kid
    with pytest.raises(ValueError, match="active"):
        retire(tmp_path, active)
    with pytest.raises(ValueError, match="no signing key"):
        retire(tmp_path, "not-a-kid")
    assert _file_kids(tmp_path) == [active]


def test_rotate_without_a_key_file_creates_the_first_key(tmp_path: Path) -> None:
    kid = rotate(tmp_path)
    assert _file_kids(tmp_path) == [kid]


def test_a_key_file_whose_kid_does_not_match_is_refused(tmp_path: Path) -> None:
    SigningKeys.open(tmp_path)
    path = key_file(tmp_path)
    document = json.loads(path.read_text())
    document["keys"][0]["kid"] = "someone-else"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="not a P-256 private key"):
        SigningKeys.open(tmp_path)


def test_a_vanished_key_file_keeps_the_loaded_keys(tmp_path: Path) -> None:
    keys = SigningKeys.open(tmp_path, check_interval=0)
    kid = keys.signing_key().kid
    key_file(tmp_path).unlink()
    assert keys.reload_if_changed() is False
    assert keys.signing_key().kid == kid


def test_concurrent_first_start_in_threads_makes_one_key(tmp_path: Path) -> None:
    barrier = threading.Barrier(12)
    kids: list[str] = []

    def start() -> None:
        barrier.wait()
        kids.append(SigningKeys.open(tmp_path).signing_key().kid)

    threads = [threading.Thread(target=start) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kids) == 12
    assert len(set(kids)) == 1
    assert _file_kids(tmp_path) == kids[:1]


_WORKER = """
import sys, time
from pathlib import Path
from zorgleefplan.auth.keys import SigningKeys
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
print(SigningKeys.open(Path(sys.argv[1])).signing_key().kid)
"""


def test_concurrent_first_start_in_processes_makes_one_key(tmp_path: Path) -> None:
    # Every worker sleeps until the same moment, then races to create the key file.
    start = time.time() + 2.0
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path), repr(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    kids = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        kids.append(out.strip())
    assert len(set(kids)) == 1
    assert _file_kids(tmp_path) == kids[:1]
    assert not list(key_file(tmp_path).parent.glob("*.tmp"))
