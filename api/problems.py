"""Every error as application/problem+json (RFC 9457), naming the fields at fault."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import DomainError
from projections.service import ProjectionBehindError

log = logging.getLogger("sla_credits.api")
PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


def _answer(
    request: Request, status: int, detail: str, errors: list[dict[str, str]] | None = None, **headers: str
) -> Response:
    """A problem document, or on the web console the same message as a page."""
    if request.url.path.startswith("/ui"):
        from api.console import error_page

        page = error_page(request, status, detail, errors)
        page.headers.update(headers)
        return page
    return problem(status, detail, errors, **headers)


def problem(status: int, detail: str, errors: list[dict[str, str]] | None = None, **headers: str) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://sla-credits.example/problems/{status}" if status != 500 else "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    text = ""
    for p in parts:
        if isinstance(p, int):
            text += f"[{p}]"
        else:
            text += ("." if text else "") + str(p)
    return text or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"field": _field(e["loc"]), "reason": str(e["msg"])} for e in exc.errors()]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return _answer(request, 422, f"invalid input: {fields}", errors)

    @app.exception_handler(ValidationError)
    async def _model(request: Request, exc: ValidationError) -> Response:
        # a body checked by a model outside FastAPI's own parsing (the console's forms)
        errors = [{"field": _field(e["loc"]), "reason": str(e["msg"])} for e in exc.errors()]
        return _answer(request, 422, f"invalid input: {', '.join(e['field'] for e in errors)}", errors)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return _answer(request, exc.status, f"{exc.field}: {exc.reason}", [{"field": exc.field, "reason": exc.reason}])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 400:
            # a body that is not even JSON text: a bad input like any other
            return _answer(
                request, 422, f"invalid input: body: {exc.detail}", [{"field": "body", "reason": str(exc.detail)}]
            )
        return _answer(request, exc.status_code, str(exc.detail), **headers)

    @app.exception_handler(ProjectionBehindError)
    async def _behind(request: Request, exc: ProjectionBehindError) -> Response:
        return _answer(request, 503, f"the read model is behind the log: {exc}", **{"Retry-After": "1"})

    @app.exception_handler(IntegrityError)
    async def _conflict(request: Request, exc: IntegrityError) -> Response:
        return _answer(request, 409, "another request changed the same record at the same time; send it again")

    @app.exception_handler(PersistenceError)
    async def _database(request: Request, exc: PersistenceError) -> Response:
        log.warning("database unavailable: %s", _named(exc))
        return _answer(request, 503, "the database is unavailable; try again shortly", **{"Retry-After": "2"})

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InterfaceError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(sqlite3.OperationalError)
    async def _driver(request: Request, exc: Exception) -> Response:
        # a connection lost or refused (a database restart), a pool exhausted, a lock held
        log.warning("database unavailable: %s", _named(exc))
        return _answer(request, 503, "the database is unavailable; try again shortly", **{"Retry-After": "2"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error")
        return _answer(request, 500, "an unexpected error; it was logged")


def _named(exc: BaseException) -> str:
    """The error's class and the first line of its message, for the operator ("OperationalError:
    sorry, too many clients already"); never sent to the client."""
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class CatchAll:
    """Innermost middleware: an unexpected exception becomes the 500 problem here, and goes no
    further. Starlette's outermost error middleware answers it too, but then re-raises it, and
    uvicorn closes the connection: the client's next request on that kept-alive connection
    met a reset (ECONNRESET)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("unexpected error")
            if started:
                raise  # half an answer was sent: only closing the connection can tell the client
            request = Request(scope)
            await _answer(request, 500, "an unexpected error; it was logged")(scope, receive, send)
