"""ASGI middleware in front of every route: a write under /v1/ must carry a known API key
before its body is read (401 otherwise, the body never read), and no request body may exceed
SLACREDITS_MAX_BODY_BYTES (413, whether it says its length or streams it)."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem

WRITES = {b"POST", b"PUT", b"PATCH", b"DELETE"}


class BodyGuard:
    def __init__(self, app: ASGIApp, keys: list[Any], max_body_bytes: int) -> None:
        self.app = app
        self.keys = [k.key.encode() for k in keys]
        self.limit = max_body_bytes

    def _known(self, authorization: bytes) -> bool:
        scheme, _, key = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or not key:
            return False
        found = False
        for known in self.keys:  # every key is compared, so the time does not tell which one matched
            found |= hmac.compare_digest(known, key.strip())
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"].encode() not in WRITES:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if scope["path"].startswith("/v1/") and not self._known(headers.get(b"authorization", b"")):
            response = problem(
                401, "an API key is required (Authorization: Bearer <key>)", **{"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await problem(413, f"the request body is larger than {self.limit} bytes")(scope, receive, send)
            return
        # read the body here, at most the limit, then hand it to the app
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await problem(413, f"the request body is larger than {self.limit} bytes")(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
