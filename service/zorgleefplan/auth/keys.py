"""Access-token signing keys: EC P-256 (ES256), kept as a private JWKS in the data dir.

The first start generates a key. :func:`rotate` adds a newer key, which then signs; older keys
stay in the file so the tokens they signed still verify until :func:`retire` removes them.
Every change is made under a lock file and lands by atomic rename: worker processes starting
together end with one key, and a reader never sees half a file. A loaded :class:`SigningKeys`
notices another process's change by the file's identity (inode, mtime, size).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
from joserfc.jwk import ECKey

ALGORITHM = "ES256"
CURVE = "P-256"
KEY_DIR = "keys"
KEY_FILE = "signing-keys.json"
_LOCK_FILE = "signing-keys.lock"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str  # RFC 7638 thumbprint of the public key
    created: int  # Unix seconds
    key: ECKey  # the private key; verification uses its public half

    def public_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": self.kid, "alg": ALGORITHM, "use": "sig"}


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_DIR / KEY_FILE


def rotate(data_dir: Path) -> str:
    """Add a new key, which becomes the active signing key; returns its kid."""
    path = key_file(data_dir)
    with _locked(path):
        keys = _read(path) if path.exists() else []
        # Never older than the key it replaces, even if the clock stepped back.
        created = max([int(time.time()), *(k.created for k in keys)])
        new = _generate(created)
        _write(path, [*keys, new])
    return new.kid


def retire(data_dir: Path, kid: str) -> None:
    """Remove an old key: tokens it signed no longer verify. The active key cannot go."""
    path = key_file(data_dir)
    with _locked(path):
        keys = _read(path)
        if kid not in {k.kid for k in keys}:
            raise ValueError(f"no signing key with kid {kid!r}")
        if keys[-1].kid == kid:
            raise ValueError("the active signing key cannot be retired; rotate first")
        _write(path, [k for k in keys if k.kid != kid])


@dataclass(frozen=True, slots=True)
class _Snapshot:
    stamp: tuple[int, int, int]  # (inode, mtime_ns, size) of the file it was read from
    keys: Mapping[str, SigningKey]  # in file order: oldest first
    active: SigningKey


class SigningKeys:
    """The keys of one data dir as last read. Reads are lock-free: each reload swaps in a new
    immutable snapshot."""

    def __init__(self, path: Path, *, check_interval: float = 1.0) -> None:
        self.path = path
        # How often a lookup looks at the file for another process's rotation or retirement.
        self.check_interval = check_interval
        self._snapshot = self._load()
        self._checked = time.monotonic()

    @classmethod
    def open(cls, data_dir: Path, *, check_interval: float = 1.0) -> SigningKeys:
        """Load the data dir's keys, generating the first one if there is none yet."""
        path = key_file(data_dir)
        if not path.exists():
            with _locked(path):
                # Another process may have won the race while this one waited for the lock.
                if not path.exists():
                    _write(path, [_generate(int(time.time()))])
        return cls(path, check_interval=check_interval)

    def signing_key(self) -> SigningKey:
        """The active key: the newest."""
        self._maybe_reload()
        return self._snapshot.active

    def find(self, kid: str) -> SigningKey | None:
        """The key with this kid, or None. An unknown kid looks at the file at once (a cheap
        stat): a token from a process that just rotated must not wait for the next check."""
        self._maybe_reload()
        key = self._snapshot.keys.get(kid)
        if key is None and self.reload_if_changed():
            key = self._snapshot.keys.get(kid)
        return key

    def public_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWKS to publish: public parts only, newest first."""
        self._maybe_reload()
        return {"keys": [k.public_jwk() for k in reversed(self._snapshot.keys.values())]}

    def reload_if_changed(self) -> bool:
        """Re-read the file if it was replaced since the last read; True if it was."""
        self._checked = time.monotonic()
        try:
            changed = _stamp(self.path) != self._snapshot.stamp
        except FileNotFoundError:
            return False  # keep serving with the keys in hand rather than refuse every token
        if changed:
            self._snapshot = self._load()
        return changed

    def _maybe_reload(self) -> None:
        if time.monotonic() - self._checked >= self.check_interval:
            self.reload_if_changed()

    def _load(self) -> _Snapshot:
        # Stamp first: if the file is replaced while reading, the next check reloads again.
        stamp = _stamp(self.path)
        keys = _read(self.path)
        if not keys:
            raise ValueError(f"{self.path} holds no signing keys")
        return _Snapshot(stamp, MappingProxyType({k.kid: k for k in keys}), keys[-1])


def _generate(created: int) -> SigningKey:
    key = ECKey.generate_key(CURVE, private=True)
    return SigningKey(kid=key.thumbprint(), created=created, key=key)


def _read(path: Path) -> list[SigningKey]:
    """The keys in file order, which is creation order: the last one is active."""
    keys: list[SigningKey] = []
    for entry in orjson.loads(path.read_bytes())["keys"]:
        jwk = {k: v for k, v in entry.items() if k not in ("kid", "alg", "use", "created")}
        key = ECKey.import_key(jwk)
        if key.curve_name != CURVE or not key.is_private or key.thumbprint() != entry["kid"]:
            raise ValueError(f"{path}: key {entry.get('kid')!r} is not a P-256 private key")
        keys.append(SigningKey(kid=entry["kid"], created=int(entry["created"]), key=key))
    return keys


def _write(path: Path, keys: list[SigningKey]) -> None:
    document = {
        "keys": [
            {
                **k.key.as_dict(private=True),
                "kid": k.kid,
                "alg": ALGORITHM,
                "use": "sig",
                "created": k.created,
            }
            for k in keys
        ]
    }
    # mkstemp creates the file with mode 0600; rename makes it appear whole or not at all.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-keys.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(document, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _stamp(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return (status.st_ino, status.st_mtime_ns, status.st_size)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the key file (between processes and between threads:
    each call opens its own file description)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.parent / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
