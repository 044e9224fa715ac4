"""Webhooks (admin): endpoints as facts, their secrets, and their deliveries (docs/webhooks.md)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from api.deps import Service, get_settings, require
from api.responses import INSTANT, Answer, F, errors, example
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


_WHEN = f"{INSTANT}; null: not yet"
_HOOK = {
    "webhook_id": "wh-3f9c2a7d41b04e5c8a1d2e3f",
    "url": "https://billing.example.com/hooks/sla-credits",
    "events": ["billing.run.completed", "ledger.entry.issued"],
    "description": "Lago",
    "active": True,
    "registered_at": "2026-04-01T09:00:00Z",
    "registered_by": "admin",
    "secret_rotated_at": None,
    "secret_rotated_by": None,
    "previous_secret_valid_until": None,
    "disabled_at": None,
    "disabled_by": None,
    "disabled_reason": None,
}
_DELIVERY = {
    "delivery_id": "msg_42_0_5d41402abc4b",
    "event_id": "evt_42_0",
    "event_type": "ledger.entry.issued",
    "position": 42,
    "state": "delivered",
    "attempts": 1,
    "last_status": 204,
    "last_error": None,
    "created_at": "2026-04-02T06:00:00.125Z",
    "last_attempt_at": "2026-04-02T06:00:00.310Z",
    "next_attempt_at": None,
    "delivered_at": "2026-04-02T06:00:00.310Z",
}


class WebhookPublic(Answer):
    model_config = example(_HOOK)

    webhook_id: str = F("The webhook's id")
    url: str = F("Where its events are POSTed")
    events: list[str] = F("The event types it receives")
    description: str = F("What it is for, as registered")
    active: bool = F("False once disabled (by an admin, or by the dispatcher after failing for the retry period)")
    registered_at: str = F(f"When it was registered, {INSTANT}")
    registered_by: str = F("The role that registered it")
    secret_rotated_at: str | None = F(f"When its secret was last rotated, {_WHEN}")
    secret_rotated_by: str | None = F("The role that last rotated its secret; null: never rotated")
    previous_secret_valid_until: str | None = F(f"Until when the previous secret signs too, {_WHEN}")
    disabled_at: str | None = F(f"When it was disabled, {_WHEN}")
    disabled_by: str | None = F("Who disabled it: a role, or `dispatcher`; null: active")
    disabled_reason: str | None = F("Why it was disabled; null: active")


class WebhookCreated(WebhookPublic):
    model_config = example({**_HOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})

    secret: str | None = F("The signing secret, shown in the 201 answer only (null when the same call is repeated)")


class WebhookList(Answer):
    model_config = example({"webhooks": [_HOOK]})

    webhooks: list[WebhookPublic] = F("Every webhook, in the order registered, disabled ones included")


class SecretRotation(Answer):
    model_config = example(
        {
            "webhook_id": _HOOK["webhook_id"],
            "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "previous_secret_valid_until": "2026-04-03T09:00:00Z",
        }
    )

    webhook_id: str = F("The webhook's id")
    secret: str = F("The new signing secret, shown once")
    previous_secret_valid_until: str = F(f"Until then the previous secret signs beside the new one, {INSTANT}")


class DeliveryPublic(Answer):
    model_config = example(_DELIVERY)

    delivery_id: str = F("The `webhook-id` header: the same on every attempt, the receiver's idempotency key")
    event_id: str = F("The event (one fact may give several events)")
    event_type: str = F("ledger.entry.issued, billing.run.completed or views.mismatch")
    position: int = F("Position in the log of the fact it comes from")
    state: Literal["pending", "delivered", "abandoned"] = F(
        "pending: not delivered yet; delivered: a 2xx answer; abandoned: the webhook was disabled"
    )
    attempts: int = F("Attempts made")
    last_status: int | None = F("The receiver's HTTP status at the last attempt; null: no answer (or no attempt)")
    last_error: str | None = F("Why the last attempt failed; null: it did not")
    created_at: str = F(f"When it was queued, {INSTANT}")
    last_attempt_at: str | None = F(f"When it was last attempted, {_WHEN}")
    next_attempt_at: str | None = F(f"When it is attempted next (once earlier deliveries are through), {_WHEN}")
    delivered_at: str | None = F(f"When a 2xx answer was received, {_WHEN}")


class DeliveryPage(Answer):
    model_config = example({"deliveries": [_DELIVERY], "next_cursor": "ZGVsaXZlcmllczo0MjowOg"})

    deliveries: list[DeliveryPublic] = F("The deliveries of this page, in log order")
    next_cursor: str = F("Pass as `after` for the next page (an empty page: nothing newer yet)")


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


def _recorded(body: dict[str, Any], created: bool, position: int | None, secret: bool = False) -> JSONResponse:
    headers = {"X-Log-Position": str(position)} if position is not None else {}
    if secret:  # an answer that shows a secret is kept by no cache, shared or private
        headers["Cache-Control"] = "no-store"
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
    return _recorded(answer, result.created, result.position, secret=True)


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
    return _recorded(answer, True, result.position, secret=True)


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
