"""The browser session of the login and consent pages: a signed, expiring cookie.

The session holds the pending authorization request, the person once logged in, and a CSRF
token that every form carries back. It lives in the cookie itself (no server-side state, so
any worker can serve any page), signed with HMAC-SHA256 under a secret generated into the data
dir on first start. A cookie that is unsigned, tampered with, expired or too old to parse is
simply no session.

The cookie is HttpOnly, SameSite=Lax (the external login provider's redirect back is a
top-level GET, which Lax allows) and Secure when the public URL is https or a setting forces
it; a secure cookie gets the ``__Host-`` prefix, which pins it to this host and path ``/``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

SECRET_FILE = "session.key"
SECRET_BYTES = 32
COOKIE_NAME = "zlp_session"
SECURE_COOKIE_NAME = "__Host-zlp_session"
# Browsers keep at least 4096 bytes per cookie (name, value and attributes together).
MAX_COOKIE_BYTES = 3900


class SessionTooLarge(ValueError):
    """The session does not fit in a cookie (an authorization request with huge parameters)."""


def load_or_create_secret(data_dir: Path) -> bytes:
    """The signing secret in ``<data_dir>/session.key``, created (0600) on first start.

    Several workers may start at once: each writes a complete candidate to its own temporary
    file and ``link``s it to the final name, which succeeds for exactly one of them; the others
    read the winner's file. A reader never sees a half-written secret."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    for _ in range(3):
        with contextlib.suppress(FileNotFoundError):
            return _read_secret(path)
        temporary = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    secret = base64.urlsafe_b64decode(path.read_bytes().strip())
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"{path} holds a session secret shorter than {SECRET_BYTES} bytes")
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """One browser's session. ``data`` is free-form JSON; ``csrf`` is fixed for its lifetime."""

    id: str
    csrf: str
    expires: int  # unix seconds
    data: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def with_data(self, **changes: Any) -> Session:
        """A copy with keys set (a value of None removes the key)."""
        data = {**self.data, **changes}
        return replace(self, data={k: v for k, v in data.items() if v is not None})

    def check_csrf(self, token: object) -> bool:
        return isinstance(token, str) and hmac.compare_digest(
            token.encode("utf-8"), self.csrf.encode("ascii")
        )


class SessionCodec:
    """Signs, verifies, reads and writes the session cookie."""

    def __init__(
        self,
        secret: bytes,
        *,
        lifetime: int,
        secure: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = hashlib.sha256(b"zorgleefplan session v1\x00" + secret).digest()
        self.lifetime = lifetime
        self.secure = secure
        self.cookie_name = SECURE_COOKIE_NAME if secure else COOKIE_NAME
        self._clock = clock

    def new(self, **data: Any) -> Session:
        """A fresh session: new id, new CSRF token, full lifetime. Start one at every
        authorization request and after every login (no session fixation)."""
        return Session(
            id=secrets.token_urlsafe(16),
            csrf=secrets.token_urlsafe(24),
            expires=int(self._clock()) + self.lifetime,
            data={k: v for k, v in data.items() if v is not None},
        )

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def encode(self, session: Session) -> str:
        body = {"i": session.id, "c": session.csrf, "e": session.expires, "d": session.data}
        payload = _b64(orjson.dumps(body))
        value = f"{payload}.{self._sign(payload)}"
        if len(value) + len(self.cookie_name) + 100 > MAX_COOKIE_BYTES:
            raise SessionTooLarge("the session does not fit in a cookie")
        return value

    def decode(self, value: str | None) -> Session | None:
        """The session in a cookie value; None when absent, forged, malformed or expired."""
        if not value or value.count(".") != 1 or len(value) > MAX_COOKIE_BYTES:
            return None
        payload, signature = value.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            body = orjson.loads(_unb64(payload))
            session = Session(
                id=str(body["i"]), csrf=str(body["c"]), expires=int(body["e"]), data=body["d"]
            )
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(session.data, dict) or session.expires <= self._clock():
            return None
        return session

    def read(self, request: Request) -> Session | None:
        return self.decode(request.cookies.get(self.cookie_name))

    def write(self, response: Response, session: Session) -> None:
        response.set_cookie(
            self.cookie_name,
            self.encode(session),
            max_age=max(0, session.expires - int(self._clock())),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="lax"
        )
