"""A real webhook receiver for the tests: a threaded HTTP server on 127.0.0.1 that verifies
every request with the `standardwebhooks` verifier (with each secret it is given), then
answers what the test tells it to (200 by default; 500 while `failing`; it can hold a
request until released)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    msg_id: str
    type: str
    data: dict[str, Any]
    answered: int
    signatures: int


class Receiver:
    def __init__(self) -> None:
        self.secrets: list[str] = []  # every one must verify the request
        self.failing = False  # answer 500
        self.hold: threading.Event | None = None  # when set to an unset event: wait for it
        self.holding = threading.Event()  # a request is being held
        self.requests: list[Received] = []
        self.refused: list[str] = []  # requests that failed verification, and why
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.handle(self, body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k: v for k, v in handler.headers.items()}
        try:
            if not self.secrets:
                raise ValueError("no secret to verify with")
            payloads = [Webhook(s).verify(body, headers) for s in self.secrets]  # every secret verifies
            payload = payloads[0]
        except Exception as e:
            with self._lock:
                self.refused.append(f"{type(e).__name__}: {e}")
            self._answer(handler, 400)
            return
        hold = self.hold
        if hold is not None:
            self.holding.set()
            hold.wait(30)
        status = 500 if self.failing else 200
        with self._lock:
            self.requests.append(
                Received(
                    headers["webhook-id"],
                    payload["type"],
                    payload["data"],
                    status,
                    len(headers["webhook-signature"].split()),
                )
            )
        self._answer(handler, status)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int) -> None:
        handler.send_response(status)
        handler.send_header("content-length", "0")
        handler.end_headers()

    def delivered(self) -> list[Received]:
        """The requests answered 2xx, in the order they arrived."""
        with self._lock:
            return [r for r in self.requests if r.answered == 200]

    def all_requests(self) -> list[Received]:
        with self._lock:
            return list(self.requests)


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll an observed condition until it holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def body_of(r: Received) -> str:
    return json.dumps(r.data, sort_keys=True)
