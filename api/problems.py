"""Every error as application/problem+json (RFC 9457), naming the fields at fault."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
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
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e["loc"]), "reason": str(e["msg"])} for e in exc.errors()]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem(422, f"invalid input: {fields}", errors)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return problem(exc.status, f"{exc.field}: {exc.reason}", [{"field": exc.field, "reason": exc.reason}])

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 400:
            # a body that is not even JSON text: a bad input like any other
            return problem(422, f"invalid input: body: {exc.detail}", [{"field": "body", "reason": str(exc.detail)}])
        return problem(exc.status_code, str(exc.detail), **headers)

    @app.exception_handler(ProjectionBehindError)
    async def _behind(_: Request, exc: ProjectionBehindError) -> JSONResponse:
        return problem(503, f"the read model is behind the log: {exc}", **{"Retry-After": "1"})

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        return problem(409, "another request changed the same record at the same time; send it again")

    @app.exception_handler(PersistenceError)
    async def _database(_: Request, exc: PersistenceError) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem(503, "the database is unavailable; try again shortly", **{"Retry-After": "2"})

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InterfaceError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(sqlite3.OperationalError)
    async def _driver(_: Request, exc: Exception) -> JSONResponse:
        # a connection lost or refused (a database restart), a pool exhausted, a lock held
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem(503, "the database is unavailable; try again shortly", **{"Retry-After": "2"})

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return problem(500, "an unexpected error; it was logged")
