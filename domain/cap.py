"""The annual cap: contract years, the cap in force at a year's start, allocation in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from domain.calendar import Month
from domain.credit import ContractFacts, in_effect, round_half_up


@dataclass(frozen=True)
class CapStep:
    year_start: date
    cap_minor: int | None  # None = uncapped
    annual_fees_minor: int | None  # the fees a percentage cap was taken from


def cap_for_year(contract: ContractFacts, year_start: date) -> CapStep:
    """The cap from the terms (and subscriptions) in effect at the contract year's start."""
    effect = in_effect(contract, year_start)
    cap = effect.terms.annual_cap
    if cap is None:
        return CapStep(year_start, None, None)
    if cap.amount_minor is not None:
        return CapStep(year_start, cap.amount_minor, None)
    assert cap.percent_of_annual_fees is not None
    annual = 12 * sum(s.monthly_fee_minor for s in effect.subscriptions)
    return CapStep(year_start, percent_of(cap.percent_of_annual_fees, annual), annual)


@lru_cache(maxsize=4096)
def percent_of(percent: Decimal, amount_minor: int) -> int:
    """`percent` % of an amount, exactly, rounded half up once (cached: contracts repeat them)."""
    return round_half_up(Fraction(percent) / 100 * amount_minor)


class Grant(NamedTuple):
    month: Month
    credit_minor: int
    remaining_before: int | None
    granted_minor: int
    capped_minor: int


@dataclass(frozen=True)
class YearAllocation:
    cap: CapStep
    grants: tuple[Grant, ...]

    @property
    def credit_minor(self) -> int:
        return sum(g.credit_minor for g in self.grants)

    @property
    def granted_minor(self) -> int:
        return sum(g.granted_minor for g in self.grants)

    @property
    def capped_minor(self) -> int:
        return sum(g.capped_minor for g in self.grants)

    @property
    def remaining_minor(self) -> int | None:
        return None if self.cap.cap_minor is None else self.cap.cap_minor - self.granted_minor


def allocate_annual_cap(cap: CapStep, credits: list[tuple[Month, int]]) -> YearAllocation:
    """Grant periods in chronological order: granted = min(credit, remaining)."""
    remaining = cap.cap_minor
    grants = []
    for month, credit in sorted(credits):
        if remaining is None:
            grants.append(Grant(month, credit, None, credit, 0))
            continue
        granted = min(credit, remaining)
        grants.append(Grant(month, credit, remaining, granted, credit - granted))
        remaining -= granted
    return YearAllocation(cap, tuple(grants))
