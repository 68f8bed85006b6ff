"""A real HTTP receiver for subscription notifications, on 127.0.0.1 in the test process.

It records every request (method, path, headers, body) and answers 200, or a chosen status for
the first ``fail_first`` requests. It runs on a thread (the standard library's server), so the
service under test reaches it over a real socket whatever event loop the test uses.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Receiver:
    port: int
    requests: list[Received] = field(default_factory=list)
    fail_first: int = 0  # answer ``fail_status`` to this many requests first
    fail_status: int = 503
    attempts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, request: Received) -> int:
        with self._lock:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return self.fail_status
            self.requests.append(request)
            return 200

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    async def wait_for(
        self, count: int, timeout: float = 10.0, what: Callable[[Received], bool] | None = None
    ) -> list[Received]:
        """The requests once ``count`` (matching ``what``) have arrived; AssertionError after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            got = [r for r in self.received() if what is None or what(r)]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} notifications, got {len(got)}: {got}")
            await asyncio.sleep(0.02)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.answer(Received(self.command, self.path, headers, body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet

    return Handler


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Receiver(0)))
    receiver = Receiver(server.server_address[1])
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, name="hook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
