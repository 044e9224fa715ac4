"""Dependencies: the services built in the lifespan, and role checks on API keys.

No `from __future__ import annotations` here: FastAPI reads the annotations of `RoleCheck.__call__`
at run time, and a method of an instance gives it no module globals to resolve a string in."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBearer

from api.settings import ApiKey, Settings
from projections.service import CreditsService

BEARER = "An API key: `Authorization: Bearer <key>`."


# The dependencies do no I/O: as coroutines they run on the event loop, not each in a thread of
# the pool (three thread hops per request otherwise; docs/performance.md).
async def get_service(request: Request) -> CreditsService:
    return request.app.state.service  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


Service = Annotated[CreditsService, Depends(get_service)]


class RoleCheck(HTTPBearer):
    """A dependency answering the caller's role, or 401/403: the bearer scheme and the role check
    in one callable (one dependency for FastAPI to solve per request, not two). The OpenAPI
    document shows the same `HTTPBearer` scheme as before."""

    def __init__(self, allowed: set[str]) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer", description=BEARER)
        self._allowed = frozenset(allowed)

    async def __call__(self, request: Request) -> str:  # type: ignore[override]
        credentials = await super().__call__(request)
        keys: list[ApiKey] = request.app.state.keys
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "an API key is required", headers={"WWW-Authenticate": "Bearer"})
        role = None
        for key in keys:  # every key is compared, so the time does not tell which one matched
            if key.matches(credentials.credentials):
                role = key.role
        if role is None:
            raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
        if role not in self._allowed:
            raise HTTPException(403, f"the role {role!r} may not do this")
        return role


def require(*roles: str) -> Callable[..., Awaitable[str]]:
    """A dependency answering the caller's role (admin may do everything), or 401/403."""
    return RoleCheck({"admin", *roles})


WRITE_CONTRACTS = require()
INGEST = require("ingest")
READ_CONTRACTS = require("account_manager", "billing", "auditor")
READ_ALL = require("ingest", "account_manager", "billing", "auditor")
READ_CREDITS = require("account_manager", "billing", "auditor")
FILE_CLAIMS = require("account_manager")
READ_REPORTS = require("account_manager", "auditor")
