"""Contract terms and subscriptions as value objects, validated on construction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.errors import InvalidValueError

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class CreditTier:
    below_percent: Decimal
    credit_percent: Decimal


@dataclass(frozen=True)
class AnnualCap:
    """Either a fixed amount or a share of the annual fees (exactly one is set)."""

    percent_of_annual_fees: Decimal | None = None
    amount_minor: int | None = None


@dataclass(frozen=True)
class Terms:
    credit_tiers: tuple[CreditTier, ...]
    degraded_weight: Decimal = Decimal("0")
    maintenance_notice_hours: int = 48
    annual_cap: AnnualCap | None = None

    def to_data(self) -> dict[str, Any]:
        cap: dict[str, Any] | None = None
        if self.annual_cap is not None:
            if self.annual_cap.amount_minor is not None:
                cap = {"amount_minor": self.annual_cap.amount_minor}
            else:
                cap = {"percent_of_annual_fees": self.annual_cap.percent_of_annual_fees}
        return {
            "credit_tiers": [
                {"below_percent": t.below_percent, "credit_percent": t.credit_percent} for t in self.credit_tiers
            ],
            "degraded_weight": self.degraded_weight,
            "maintenance_notice_hours": self.maintenance_notice_hours,
            "annual_cap": cap,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Terms:
        cap = data.get("annual_cap")
        return cls(
            credit_tiers=tuple(
                CreditTier(Decimal(t["below_percent"]), Decimal(t["credit_percent"])) for t in data["credit_tiers"]
            ),
            degraded_weight=Decimal(data["degraded_weight"]),
            maintenance_notice_hours=int(data["maintenance_notice_hours"]),
            annual_cap=None
            if cap is None
            else AnnualCap(
                percent_of_annual_fees=None
                if cap.get("percent_of_annual_fees") is None
                else Decimal(cap["percent_of_annual_fees"]),
                amount_minor=cap.get("amount_minor"),
            ),
        )


@dataclass(frozen=True)
class Subscription:
    service: str
    region: str
    monthly_fee_minor: int

    def to_data(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "region": self.region,
            "monthly_fee_minor": self.monthly_fee_minor,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Subscription:
        return cls(data["service"], data["region"], int(data["monthly_fee_minor"]))


def _finite(value: Decimal, field: str) -> None:
    if not value.is_finite():
        raise InvalidValueError(field, "must be a finite decimal number")


def validate_terms(terms: Terms, field: str = "terms") -> None:
    """Refuse terms that RULES.md cannot apply: tiers outside 0-100 or not strictly ordered,
    a degraded weight outside 0-1, a negative notice or a malformed cap."""
    previous: CreditTier | None = None
    for i, tier in enumerate(terms.credit_tiers):
        where = f"{field}.credit_tiers[{i}]"
        _finite(tier.below_percent, f"{where}.below_percent")
        _finite(tier.credit_percent, f"{where}.credit_percent")
        if not Decimal(0) < tier.below_percent <= Decimal(100):
            raise InvalidValueError(f"{where}.below_percent", "must be above 0 and at most 100")
        if not Decimal(0) <= tier.credit_percent <= Decimal(100):
            raise InvalidValueError(f"{where}.credit_percent", "must be between 0 and 100")
        if previous is not None:
            if tier.below_percent >= previous.below_percent:
                raise InvalidValueError(
                    f"{where}.below_percent",
                    "tiers must be ordered by strictly decreasing below_percent",
                )
            if tier.credit_percent <= previous.credit_percent:
                raise InvalidValueError(
                    f"{where}.credit_percent",
                    "a lower uptime tier must give a strictly larger credit_percent",
                )
        previous = tier
    _finite(terms.degraded_weight, f"{field}.degraded_weight")
    if not Decimal(0) <= terms.degraded_weight <= Decimal(1):
        raise InvalidValueError(f"{field}.degraded_weight", "must be between 0 and 1")
    if terms.maintenance_notice_hours < 0:
        raise InvalidValueError(f"{field}.maintenance_notice_hours", "must not be negative")
    cap = terms.annual_cap
    if cap is not None:
        if (cap.amount_minor is None) == (cap.percent_of_annual_fees is None):
            raise InvalidValueError(
                f"{field}.annual_cap",
                "give exactly one of percent_of_annual_fees and amount_minor",
            )
        if cap.amount_minor is not None and cap.amount_minor < 0:
            raise InvalidValueError(f"{field}.annual_cap.amount_minor", "must not be negative")
        if cap.percent_of_annual_fees is not None:
            _finite(cap.percent_of_annual_fees, f"{field}.annual_cap.percent_of_annual_fees")
            if cap.percent_of_annual_fees < 0:
                raise InvalidValueError(f"{field}.annual_cap.percent_of_annual_fees", "must not be negative")


def validate_subscriptions(subscriptions: tuple[Subscription, ...], field: str = "subscriptions") -> None:
    """Refuse an empty list, blank names, negative fees and duplicate service/region pairs."""
    if not subscriptions:
        raise InvalidValueError(field, "at least one subscription is required")
    seen: set[tuple[str, str]] = set()
    for i, sub in enumerate(subscriptions):
        if not sub.service.strip():
            raise InvalidValueError(f"{field}[{i}].service", "must not be blank")
        if not sub.region.strip():
            raise InvalidValueError(f"{field}[{i}].region", "must not be blank")
        if sub.monthly_fee_minor < 0:
            raise InvalidValueError(f"{field}[{i}].monthly_fee_minor", "must not be negative")
        key = (sub.service, sub.region)
        if key in seen:
            raise InvalidValueError(f"{field}[{i}]", f"duplicate subscription {sub.service}/{sub.region}")
        seen.add(key)


def validate_currency(currency: str) -> None:
    if not _CURRENCY.match(currency):
        raise InvalidValueError("currency", "must be a three-letter ISO 4217 code, e.g. USD")
