"""The FastAPI application: built by a factory, everything created in the lifespan."""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from api import console, metrics, problems
from api.body_guard import BodyGuard
from api.console_session import Sessions
from api.observability import RequestContext, configure_logging
from api.responses import Health, Readiness, errors, finish_document
from api.routes_billing import audit, billing
from api.routes_commands import contracts, incidents, maintenance
from api.routes_queries import credits, reports
from api.routes_webhooks import webhooks
from api.settings import Settings
from projections.blocking import blocks, describe
from projections.heap import keep_out_of_collections
from projections.runner import LiveProjection
from projections.service import CreditsService
from webhooks.secrets import Secrets
from webhooks.store import WebhookStore

DESCRIPTION = """Service credits decided by rule, not by volume.

Authorize with an API key (`Authorization: Bearer <key>`); the roles are admin, ingest,
account_manager, billing and auditor. Every error is `application/problem+json`.
"""


def operation_id(route: APIRoute) -> str:
    """Short, stable operation ids for generated clients: the handler's name in camelCase
    (`get_credits` -> `getCredits`, `list_ledger_entries` -> `listLedgerEntries`)."""
    head, *rest = route.name.strip("_").split("_")
    return head + "".join(part.capitalize() for part in rest)


def live_projection(settings: Settings) -> LiveProjection:
    """The projection with its self-check, as the settings say (in the API or its own process)."""
    return LiveProjection(
        settings.database_url,
        settings.projection_batch_seconds,
        settings.self_check_customers,
        settings.self_check_pause_seconds,
        settings.self_check_cpu_share,
    )


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
        service.app.on_recorded.append(metrics.count_recorded)
        live = live_projection(settings).start() if settings.run_projection else None
        app.state.service = service
        app.state.answer_reads = service.live_answer_reads(settings.pool_size)
        await app.state.answer_reads.open()
        app.state.webhook_store = WebhookStore(service.app)
        app.state.webhook_secrets = Secrets(app.state.webhook_store, settings.webhook_secret_key)
        try:
            yield
        finally:
            if live is not None:
                live.stop()
            await app.state.answer_reads.close()
            service.close()
            app.state.service = None

    app = FastAPI(
        generate_unique_id_function=operation_id,
        title="sla-credits",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from our own origin
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.keys = keys

    def openapi_document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish_document(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi_document  # type: ignore[method-assign]
    problems.install(app)
    app.add_middleware(problems.CatchAll)  # innermost: added first
    app.add_middleware(BodyGuard, keys=keys, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext, observe=metrics.observe_request)

    @app.get("/healthz", tags=["health"], response_model=Health)
    def healthz() -> dict[str, str]:
        """The process is up (for a load balancer's liveness check)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=Readiness, responses=errors(503))
    def readyz(request: Request) -> JSONResponse:
        """Ready for traffic: the database answers and the read models are within
        SLACREDITS_READY_MAX_LAG_SECONDS of the log."""
        service: CreditsService = request.app.state.service
        try:
            status = service.projection_status()
        except Exception as e:  # any database failure: not ready
            return problems.problem(503, f"the database is unreachable ({type(e).__name__})", **{"Retry-After": "2"})
        failure = service.projection_failure()
        if blocks(failure):
            assert failure is not None
            return problems.problem(503, describe(failure), **{"Retry-After": "10"})
        if status["lag_seconds"] > settings.ready_max_lag_seconds:
            return problems.problem(
                503,
                f"the read models are {status['lag_seconds']:.1f}s ({status['lag_events']} facts) behind the log",
                **{"Retry-After": "2"},
            )
        return JSONResponse({"status": "ready", **status, "self_check": service.self_check_status()})

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "Prometheus text exposition format",
            },
            **errors(401),
        },
    )
    def metrics_(request: Request) -> Response:
        """Prometheus metrics (text format) of every API worker, and the projection's lag."""
        if settings.metrics_token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode()):
                return problems.problem(
                    401, "metrics need the token (Authorization: Bearer <SLACREDITS_METRICS_TOKEN>)"
                )
        service: CreditsService = request.app.state.service
        body, content_type = metrics.render(
            lambda: {
                **service.projection_status(),
                "self_check": service.self_check_status(),
                "failure": service.projection_failure(),
            },
            webhooks=lambda: request.app.state.webhook_store.stats(time.time()),
        )
        return Response(body, media_type=content_type)

    for router in (contracts, incidents, maintenance, credits, reports, billing, audit, webhooks):
        app.include_router(router)
    console.install(app, Sessions(keys, settings.console_session_seconds, settings.console_secret))

    # Swagger UI from the fastapi-offline package's files, not a CDN: /docs works offline
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="sla-credits API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> RedirectResponse:
        # ReDoc's page loads its logo from a CDN: one documentation page, the offline one
        return RedirectResponse("/docs", status_code=307)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    return app


def create_app_from_environment() -> FastAPI:
    """The factory uvicorn calls in each worker process (logging is set up per process)."""
    settings = Settings()
    configure_logging(settings)
    app = create_app(settings)
    # The modules and the app, made at start, live as long as the worker: left out of the cyclic
    # collector's full passes, which otherwise walk them all again (about 110,000 objects, 50 ms
    # a pass on the reference machine, landing on whichever request is running; the projection
    # process does the same after loading its working state: projections/heap.py).
    keep_out_of_collections()
    return app
