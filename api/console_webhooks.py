"""The console's webhooks page (admins): every endpoint, its deliveries in log order (event,
attempts, last status, next attempt) and a button to send one again, over the same functions as
the API (api/routes_webhooks.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from api.console import PAGE_SIZE, Page, page, posted
from api.routes_webhooks import delivery_public, webhook_public
from domain.errors import NotFoundError, StateError
from webhooks.store import ABANDONED, WebhookStore

ADMIN = {"admin"}
console_webhooks = APIRouter(prefix="/ui/webhooks", include_in_schema=False)


def _page(p: Page, webhook_id: str | None = None, message: str | None = None) -> HTMLResponse:
    app = p.service.app
    store: WebhookStore = p.request.app.state.webhook_store
    hooks = [webhook_public(app.get_webhook(w)) for w in app.webhook_ids()]
    chosen = None
    listed = []
    if webhook_id is not None:
        chosen = webhook_public(app.get_webhook(webhook_id))
        # the most recent page: the ones a person looks at when something is stuck
        found = store.page(webhook_id, (0, -1), 1_000_000)
        listed = [delivery_public(d) for d in found[-PAGE_SIZE:]]
    stats = store.stats(datetime.now(UTC).timestamp())
    return p.render(
        "webhooks.html",
        "webhooks",
        show_as_of=False,
        hooks=hooks,
        chosen=chosen,
        deliveries=listed,
        oldest=stats["oldest_undelivered_seconds"],
        notice=message,
    )


@console_webhooks.get("")
def webhooks_page(request: Request) -> HTMLResponse:
    p = page(request)
    p.allow(ADMIN, "manage webhooks")
    return _page(p)


@console_webhooks.get("/{webhook_id}")
def webhook_page(request: Request, webhook_id: str) -> HTMLResponse:
    p = page(request)
    p.allow(ADMIN, "manage webhooks")
    return _page(p, webhook_id)


@console_webhooks.post("/{webhook_id}/deliveries/{delivery_id}/retry")
def retry_delivery(request: Request, webhook_id: str, delivery_id: str, csrf: str = Form("")) -> HTMLResponse:
    p = posted(request, csrf)
    p.allow(ADMIN, "send a delivery again")
    w = p.service.app.get_webhook(webhook_id)
    store: WebhookStore = request.app.state.webhook_store
    found = store.get(webhook_id, delivery_id)
    if found is None:
        raise NotFoundError("delivery_id", f"no delivery {delivery_id!r} for webhook {webhook_id!r}")
    if not w.active or found.state == ABANDONED:
        raise StateError("webhook_id", "the webhook is disabled: its deliveries are not sent any more")
    store.retry(delivery_id, datetime.now(UTC).timestamp())
    return _page(p, webhook_id, f"{delivery_id} will be sent again after the endpoint's earlier deliveries.")
