"""The FastAPI application: built by a factory, everything created in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from api import problems
from api.routes_billing import audit, billing
from api.routes_commands import contracts, incidents, maintenance
from api.routes_queries import credits, reports
from api.settings import Settings
from projections.runner import LiveProjection
from projections.service import CreditsService

DESCRIPTION = """Service credits decided by rule, not by volume.

Authorize with an API key (`Authorization: Bearer <key>`); the roles are admin, ingest,
account_manager, billing and auditor. Every error is `application/problem+json`.
"""


def create_app(settings: Settings) -> FastAPI:
    keys = settings.api_key_list()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "service", None) is not None:
            # a second lifespan on the same app object (a test client inside another) reuses it
            yield
            return
        # few threads: the handlers are short and CPU-bound; many threads only fight for the GIL
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        service = CreditsService(settings.database_url, pool_size=settings.pool_size)
        live = (
            LiveProjection(settings.database_url, settings.projection_batch_seconds).start()
            if settings.run_projection
            else None
        )
        app.state.service = service
        try:
            yield
        finally:
            if live is not None:
                live.stop()
            service.close()
            app.state.service = None

    app = FastAPI(title="sla-credits", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.keys = keys
    problems.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    for router in (contracts, incidents, maintenance, credits, reports, billing, audit):
        app.include_router(router)
    return app


def create_app_from_environment() -> FastAPI:
    return create_app(Settings())
