"""Contract terms and subscriptions as value objects, validated on construction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any, NamedTuple

from domain.errors import InvalidValueError
from domain.limits import MAX_NOTICE_HOURS, check_decimal, check_id, check_money

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class CreditTier(NamedTuple):
    """A named pair: hashed and compared as a tuple, at C speed (the tiers key the cache of the
    tier each downtime falls in, asked once per line of every period)."""

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

    @cached_property
    def tiers_as_written(self) -> tuple[tuple[str, str], ...]:
        """The tiers as the contract writes them ("10" and "10.0" are equal in value but each
        contract's answers show its own writing): a key for sharing a priced line between
        contracts, worked out once per terms."""
        return tuple((str(t.below_percent), str(t.credit_percent)) for t in self.credit_tiers)

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


def validate_terms(terms: Terms, field: str = "terms") -> None:
    """Refuse terms that RULES.md cannot apply: tiers outside 0-100 or not strictly ordered,
    a degraded weight outside 0-1, a negative notice or a malformed cap."""
    previous: CreditTier | None = None
    if len(terms.credit_tiers) > 20:
        raise InvalidValueError(f"{field}.credit_tiers", "must have at most 20 tiers")
    for i, tier in enumerate(terms.credit_tiers):
        where = f"{field}.credit_tiers[{i}]"
        check_decimal(tier.below_percent, f"{where}.below_percent", Decimal(0), Decimal(100), low_open=True)
        check_decimal(tier.credit_percent, f"{where}.credit_percent", Decimal(0), Decimal(100))
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
    check_decimal(terms.degraded_weight, f"{field}.degraded_weight", Decimal(0), Decimal(1))
    if not 0 <= terms.maintenance_notice_hours <= MAX_NOTICE_HOURS:
        raise InvalidValueError(f"{field}.maintenance_notice_hours", f"must be from 0 to {MAX_NOTICE_HOURS}")
    cap = terms.annual_cap
    if cap is not None:
        if (cap.amount_minor is None) == (cap.percent_of_annual_fees is None):
            raise InvalidValueError(
                f"{field}.annual_cap",
                "give exactly one of percent_of_annual_fees and amount_minor",
            )
        if cap.amount_minor is not None:
            check_money(cap.amount_minor, f"{field}.annual_cap.amount_minor")
        if cap.percent_of_annual_fees is not None:
            # a month's credit is at most 100 % of its fee, so a cap above 100 % could never bind
            where = f"{field}.annual_cap.percent_of_annual_fees"
            check_decimal(cap.percent_of_annual_fees, where, Decimal(0), Decimal(100))


def validate_subscriptions(subscriptions: tuple[Subscription, ...], field: str = "subscriptions") -> None:
    """Refuse an empty list, blank names, negative fees and duplicate service/region pairs."""
    if not subscriptions:
        raise InvalidValueError(field, "at least one subscription is required")
    seen: set[tuple[str, str]] = set()
    if len(subscriptions) > 100:
        raise InvalidValueError(field, "must have at most 100 subscriptions")
    for i, sub in enumerate(subscriptions):
        check_id(sub.service, f"{field}[{i}].service")
        check_id(sub.region, f"{field}[{i}].region")
        check_money(sub.monthly_fee_minor, f"{field}[{i}].monthly_fee_minor")
        key = (sub.service, sub.region)
        if key in seen:
            raise InvalidValueError(f"{field}[{i}]", f"duplicate subscription {sub.service}/{sub.region}")
        seen.add(key)


def validate_currency(currency: str) -> None:
    if not _CURRENCY.match(currency):
        raise InvalidValueError("currency", "must be a three-letter ISO 4217 code, e.g. USD")
