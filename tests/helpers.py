"""A scenario builder with the defaults of EXAMPLES.md, usable on any store."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from domain.application import CreditsApplication
from domain.calendar import Month, to_micros
from domain.terms import AnnualCap, CreditTier, Subscription, Terms
from projections.queries import credits_document
from projections.readers import ModelReader
from projections.runner import replay

TIERS = (
    CreditTier(Decimal("99.9"), Decimal("10")),
    CreditTier(Decimal("99.0"), Decimal("25")),
    CreditTier(Decimal("95.0"), Decimal("100")),
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def terms(cap: AnnualCap | None = None, degraded: str = "0.5", tiers: tuple[CreditTier, ...] = TIERS) -> Terms:
    return Terms(tiers, Decimal(degraded), 48, cap)


class Scenario:
    """EXAMPLES.md's defaults: contract c1 of customer a, UTC, from 2025-01-01, USD,
    compute/eu at 100000, the standard tiers, degraded weight 0.5, 48 h notice, no cap."""

    def __init__(self, app: CreditsApplication | None = None) -> None:
        self.app = app or CreditsApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.n = 0

    def contract(self, contract_id: str = "c1", customer_id: str = "a", **kw: Any) -> Scenario:
        args: dict[str, Any] = dict(
            contract_id=contract_id,
            customer_id=customer_id,
            customer_name=customer_id.upper(),
            timezone="UTC",
            starts_on=date(2025, 1, 1),
            ends_on=None,
            currency="USD",
            terms=terms(),
            subscriptions=(Subscription("compute", "eu", 100000),),
        )
        args.update(kw)
        self.app.sign_contract(**args)
        return self

    def incident(self, start: datetime, end: datetime | None, severity: str = "outage", **kw: Any) -> str:
        self.n += 1
        incident_id = kw.pop("incident_id", f"i{self.n}")
        args: dict[str, Any] = dict(
            incident_id=incident_id, service="compute", regions=[], severity=severity, started_at=start, ended_at=end
        )
        args.update(kw)
        self.app.open_incident(**args)
        return incident_id

    def credits(self, first: str, last: str, now: datetime, customer_id: str = "a") -> dict[str, Any]:
        model = replay(self.app).model
        return credits_document(ModelReader(model), customer_id, Month.parse(first), Month.parse(last), to_micros(now))

    def period(self, month: str, now: datetime | None = None, customer_id: str = "a") -> dict[str, Any]:
        doc = self.credits(month, month, now or utc(2030, 1, 1), customer_id)
        (p,) = doc["periods"]
        return p  # type: ignore[no-any-return]
