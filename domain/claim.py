"""The Claim aggregate: a customer asked for compensation. It changes no amount."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.calendar import Month
from domain.contract import _require_id
from domain.errors import InvalidValueError
from domain.idempotency import fingerprint
from domain.identity import named_uuid
from domain.limits import check_month, check_text

CHANNELS = ("email", "phone", "ticket", "chat", "portal", "letter", "other")


def claim_uuid(claim_id: str) -> UUID:
    return named_uuid("claim", claim_id)


class Claim(Aggregate):
    @staticmethod
    def create_id(claim_id: str) -> UUID:
        return claim_uuid(claim_id)

    @classmethod
    def file(
        cls,
        *,
        claim_id: str,
        customer_id: str,
        month: str,
        channel: str,
        message: str,
        filed_at: datetime | None = None,
    ) -> Claim:
        _require_id(claim_id, "claim_id")
        _require_id(customer_id, "customer_id")
        m = Month.parse(month)
        check_month(m.year, m.month, "month")
        if filed_at is not None and m > Month.of((filed_at.astimezone(UTC) + timedelta(hours=14)).date()):
            # no time zone has begun that month yet: there is nothing to claim for
            raise InvalidValueError("month", "must be a month that has begun: a claim is about a period of service")
        check_text(message, "message", 10_000, blank=True)
        if channel not in CHANNELS:
            raise InvalidValueError("channel", f"must be one of {', '.join(CHANNELS)}")
        if len(message) > 10_000:
            raise InvalidValueError("message", "must be at most 10000 characters")
        return cls(claim_id, customer_id, month, channel, message)

    @event("Filed")
    def __init__(self, claim_id: str, customer_id: str, month: str, channel: str, message: str) -> None:
        self.claim_id = claim_id
        self.customer_id = customer_id
        self.month = month
        self.channel = channel
        self.message = message
        self.filed_print = fingerprint(
            "file_claim", customer_id=customer_id, month=month, channel=channel, message=message
        )
