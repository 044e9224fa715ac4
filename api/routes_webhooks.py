"""Webhooks (admin): endpoints as facts, their secrets, and their deliveries (docs/webhooks.md)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import Service, get_settings, require
from api.responses import errors
from api.schemas import Body as BodyModel
from api.schemas import Id
from api.settings import Settings
from domain.errors import InvalidValueError, NotFoundError, StateError
from domain.webhook import EVENT_TYPES, MAX_URL_LENGTH, Webhook
from projections.records import instant_text
from webhooks.secrets import Secrets
from webhooks.store import ABANDONED, Delivery, WebhookStore
from webhooks.url_policy import check_url, resolve

webhooks = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ADMIN = require()
EventType = Literal["ledger.entry.issued", "billing.run.completed", "views.mismatch"]
assert set(EVENT_TYPES) == set(EventType.__args__)  # type: ignore[attr-defined]


class WebhookIn(BodyModel):
    webhook_id: Id | None = Field(
        None, description="Your own id (the same body again answers 200 without the secret); else one is made"
    )
    url: str = Field(max_length=MAX_URL_LENGTH, examples=["https://billing.example.com/hooks/sla-credits"])
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str = Field("", max_length=500)


class DisableIn(BodyModel):
    reason: str = Field("", max_length=500)


class WebhookPublic(BaseModel):
    webhook_id: str
    url: str
    events: list[str]
    description: str
    active: bool
    registered_at: str
    registered_by: str
    secret_rotated_at: str | None
    secret_rotated_by: str | None
    previous_secret_valid_until: str | None
    disabled_at: str | None
    disabled_by: str | None
    disabled_reason: str | None


class WebhookCreated(WebhookPublic):
    secret: str | None = Field(description="Shown once, in the 201 answer only (null when repeated)")


class WebhookList(BaseModel):
    webhooks: list[WebhookPublic]


class SecretRotation(BaseModel):
    webhook_id: str
    secret: str = Field(description="The new secret, shown once")
    previous_secret_valid_until: str = Field(description="Until then, the previous secret signs too")


class DeliveryPublic(BaseModel):
    delivery_id: str = Field(description="The webhook-id header: the same on every attempt")
    event_id: str
    event_type: str
    position: int = Field(description="Position in the log of the fact it comes from")
    state: Literal["pending", "delivered", "abandoned"]
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: str
    last_attempt_at: str | None
    next_attempt_at: str | None
    delivered_at: str | None


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryPublic]
    next_cursor: str


def get_store(request: Request) -> WebhookStore:
    return request.app.state.webhook_store  # type: ignore[no-any-return]


def get_secrets(request: Request) -> Secrets:
    return request.app.state.webhook_secrets  # type: ignore[no-any-return]


Store = Annotated[WebhookStore, Depends(get_store)]
SecretStore = Annotated[Secrets, Depends(get_secrets)]
Settings_ = Annotated[Settings, Depends(get_settings)]


def _when(value: datetime | float | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, float | int):
        value = datetime.fromtimestamp(value, UTC)
    return instant_text(value)


def webhook_public(w: Webhook) -> dict[str, Any]:
    return {
        "webhook_id": w.webhook_id,
        "url": w.url,
        "events": list(w.events),
        "description": w.description,
        "active": w.active,
        "registered_at": _when(w.registered_at),
        "registered_by": w.registered_by,
        "secret_rotated_at": _when(w.rotated_at),
        "secret_rotated_by": w.rotated_by,
        "previous_secret_valid_until": _when(w.previous_valid_until),
        "disabled_at": _when(w.disabled_at),
        "disabled_by": w.disabled_by,
        "disabled_reason": w.disabled_reason,
    }


def delivery_public(d: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": d.delivery_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "position": d.position,
        "state": d.state,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": _when(d.created_at),
        "last_attempt_at": _when(d.last_attempt_at),
        "next_attempt_at": _when(d.next_attempt_at),
        "delivered_at": _when(d.delivered_at),
    }


def _cursor(position: int, n: int) -> str:
    return base64.urlsafe_b64encode(f"deliveries:{position}:{n}".encode()).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return 0, -1
    try:
        kind, position, n = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")
        if kind != "deliveries":
            raise ValueError
        return int(position), int(n)
    except (ValueError, UnicodeDecodeError):
        raise InvalidValueError("after", "not a cursor this service gave") from None


def _recorded(body: dict[str, Any], created: bool, position: int | None) -> JSONResponse:
    headers = {"X-Log-Position": str(position)} if position is not None else None
    return JSONResponse(body, status_code=201 if created else 200, headers=headers)


@webhooks.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses={
        200: {"model": WebhookCreated, "description": "The same webhook id and body again: nothing new recorded"},
        **errors(401, 403, 409, 422, 503),
    },
)
def register_webhook(
    body: WebhookIn, service: Service, secrets: SecretStore, settings: Settings_, role: Annotated[str, Depends(ADMIN)]
) -> JSONResponse:
    """Register an endpoint for events; the answer shows its signing secret, once."""
    allow = settings.webhook_allow_insecure
    resolve(check_url(body.url, allow), allow)
    webhook_id = body.webhook_id or f"wh-{uuid.uuid4().hex[:24]}"
    secret_id, secret = secrets.create(webhook_id)
    result = service.app.register_webhook(
        webhook_id=webhook_id,
        url=body.url,
        events=list(body.events),
        description=body.description,
        secret_id=secret_id,
        registered_by=role,
        registered_at=datetime.now(UTC),
    )
    answer = {**webhook_public(service.app.get_webhook(webhook_id)), "secret": secret if result.created else None}
    return _recorded(answer, result.created, result.position)


@webhooks.get("", response_model=WebhookList, responses=errors(401, 403, 503))
def list_webhooks(service: Service, _: Annotated[str, Depends(ADMIN)]) -> dict[str, Any]:
    """Every registered webhook, in the order registered, disabled ones included."""
    return {"webhooks": [webhook_public(service.app.get_webhook(w)) for w in service.app.webhook_ids()]}


@webhooks.get("/{webhook_id}", response_model=WebhookPublic, responses=errors(401, 403, 404, 503))
def get_webhook(webhook_id: str, service: Service, _: Annotated[str, Depends(ADMIN)]) -> dict[str, Any]:
    """One webhook: where it points, what it receives, who registered, rotated or disabled it."""
    return webhook_public(service.app.get_webhook(webhook_id))


@webhooks.post(
    "/{webhook_id}/disable",
    status_code=201,
    response_model=WebhookPublic,
    responses={
        200: {"model": WebhookPublic, "description": "It was already disabled: nothing new recorded"},
        **errors(401, 403, 404, 422, 503),
    },
)
def disable_webhook(
    webhook_id: str,
    service: Service,
    role: Annotated[str, Depends(ADMIN)],
    body: Annotated[DisableIn | None, Body()] = None,
) -> JSONResponse:
    """Stop every delivery to this endpoint, for good (register a new one to start again)."""
    result = service.app.disable_webhook(
        webhook_id=webhook_id,
        reason=body.reason if body is not None else "",
        disabled_by=role,
        disabled_at=datetime.now(UTC),
    )
    return _recorded(webhook_public(service.app.get_webhook(webhook_id)), result.created, result.position)


@webhooks.post(
    "/{webhook_id}/secret",
    status_code=201,
    response_model=SecretRotation,
    responses=errors(401, 403, 404, 409, 503),
)
def rotate_webhook_secret(
    webhook_id: str, service: Service, secrets: SecretStore, role: Annotated[str, Depends(ADMIN)]
) -> JSONResponse:
    """A new signing secret, shown once; the previous one keeps signing beside it for 24 hours."""
    service.app.get_webhook(webhook_id)  # 404 before anything is stored
    secret_id, secret = secrets.create(webhook_id)
    result = service.app.rotate_webhook_secret(
        webhook_id=webhook_id, secret_id=secret_id, rotated_by=role, rotated_at=datetime.now(UTC)
    )
    w = service.app.get_webhook(webhook_id)
    answer = {"webhook_id": webhook_id, "secret": secret, "previous_secret_valid_until": _when(w.previous_valid_until)}
    return _recorded(answer, True, result.position)


@webhooks.get("/{webhook_id}/deliveries", response_model=DeliveryPage, responses=errors(401, 403, 404, 422, 503))
def list_webhook_deliveries(
    webhook_id: str,
    service: Service,
    store: Store,
    _: Annotated[str, Depends(ADMIN)],
    after: Annotated[str | None, Query(description="The next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The endpoint's deliveries in log order: event, attempts, last status, next attempt."""
    service.app.get_webhook(webhook_id)
    start = _after(after)
    page = store.page(webhook_id, start, limit)
    last = (page[-1].position, page[-1].n) if page else start
    return {"deliveries": [delivery_public(d) for d in page], "next_cursor": _cursor(*last)}


@webhooks.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    response_model=DeliveryPublic,
    responses=errors(401, 403, 404, 409, 503),
)
def retry_webhook_delivery(
    webhook_id: str, delivery_id: str, service: Service, store: Store, _: Annotated[str, Depends(ADMIN)]
) -> dict[str, Any]:
    """Send a delivery again now (after the endpoint's earlier ones); a delivered one is sent again too."""
    w = service.app.get_webhook(webhook_id)
    found = store.get(webhook_id, delivery_id)
    if found is None:
        raise NotFoundError("delivery_id", f"no delivery {delivery_id!r} for webhook {webhook_id!r}")
    if not w.active or found.state == ABANDONED:
        raise StateError("webhook_id", "the webhook is disabled: its deliveries are not sent any more")
    store.retry(delivery_id, datetime.now(UTC).timestamp())
    again = store.get(webhook_id, delivery_id)
    assert again is not None
    return delivery_public(again)
