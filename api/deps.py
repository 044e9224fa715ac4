"""Dependencies: the services built in the lifespan, and role checks on API keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.settings import ApiKey, Settings
from projections.answer_reads import InProcessAnswerReads, PostgresAnswerReads
from projections.service import CreditsService

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


# The dependencies do no I/O: as coroutines they run on the event loop, not each in a thread of
# the pool (three thread hops per request otherwise; docs/performance.md).
async def get_service(request: Request) -> CreditsService:
    return request.app.state.service  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_answer_reads(request: Request) -> InProcessAnswerReads | PostgresAnswerReads:
    return request.app.state.answer_reads  # type: ignore[no-any-return]


Service = Annotated[CreditsService, Depends(get_service)]
AnswerReads_ = Annotated[InProcessAnswerReads | PostgresAnswerReads, Depends(get_answer_reads)]


def require(*roles: str) -> Callable[..., str]:
    """A dependency answering the caller's role, or 401/403."""
    allowed = {"admin", *roles}

    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> str:
        keys: list[ApiKey] = request.app.state.keys
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "an API key is required", headers={"WWW-Authenticate": "Bearer"})
        role = None
        for key in keys:  # every key is compared, so the time does not tell which one matched
            if key.matches(credentials.credentials):
                role = key.role
        if role is None:
            raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
        if role not in allowed:
            raise HTTPException(403, f"the role {role!r} may not do this")
        return role

    check.roles = sorted(allowed)  # type: ignore[attr-defined]
    return check


WRITE_CONTRACTS = require()
INGEST = require("ingest")
READ_CONTRACTS = require("account_manager", "billing", "auditor")
READ_ALL = require("ingest", "account_manager", "billing", "auditor")
READ_CREDITS = require("account_manager", "billing", "auditor")
FILE_CLAIMS = require("account_manager")
READ_REPORTS = require("account_manager", "auditor")
