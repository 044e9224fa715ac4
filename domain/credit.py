"""RULES.md steps 6-8 and the terms in effect: uptime, tier, pro-rated credit, one rounding.

Every step returns a value object that the explanation shows as it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import cached_property, lru_cache
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from domain.calendar import (
    MICROS,
    Month,
    Window,
    contract_year_start,
    local_date,
    measured_window,
    month_window,
    zone,
)
from domain.downtime import (
    DowntimeStep,
    IncidentFacts,
    MaintenanceFacts,
    is_of_pair,
    weighted_downtime,
    why_incident_does_not_count,
    why_maintenance_does_not_qualify,
)
from domain.terms import CreditTier, Subscription, Terms


def round_half_up(value: Fraction) -> int:
    """The single rounding of RULES.md: to the nearest integer, halves away from zero."""
    if value < 0:
        return -round_half_up(-value)
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def decimal_places(value: Fraction, places: int) -> str:
    """`value` rounded half-up to `places` decimals, always with that many decimals."""
    scaled = round_half_up(value * 10**places)
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled)).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}" if places else f"{sign}{digits}"


def plain_decimal(value: Decimal) -> str:
    """An exact decimal without exponent or trailing zeros ("3600", "2419.2")."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def seconds(micros: int) -> int | Decimal:
    """Whole seconds as int, else an exact decimal (microsecond precision)."""
    return micros // MICROS if micros % MICROS == 0 else Decimal(micros).scaleb(-6)


@dataclass(frozen=True)
class TermsVersion:
    """What one fact (signing or amendment) set, effective from a local day."""

    effective_from: date
    sequence: int  # order of recording; a later one wins a tie
    terms: Terms | None
    subscriptions: tuple[Subscription, ...] | None


@dataclass(frozen=True)
class ContractFacts:
    contract_id: str
    customer_id: str
    customer_name: str
    timezone: str
    starts_on: date
    ends_on: date | None
    currency: str
    versions: tuple[TermsVersion, ...]

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    @cached_property
    def versions_in_order(self) -> tuple[TermsVersion, ...]:
        """The versions by effective day, a later recording winning a tie (sorted once)."""
        return tuple(sorted(self.versions, key=lambda v: (v.effective_from, v.sequence)))


class InEffect(NamedTuple):
    """The terms and subscriptions in effect on a day, resolved separately, with their source."""

    day: date
    terms: Terms
    terms_from: date
    subscriptions: tuple[Subscription, ...]
    subscriptions_from: date


def in_effect(contract: ContractFacts, day: date) -> InEffect:
    """Each of terms and subscriptions from the fact with the latest effective_from on or
    before `day` that sets it, ties going to the one recorded later."""
    versions = contract.versions
    if len(versions) == 1 and versions[0].effective_from <= day:
        # never amended: the signing sets both (the common case, asked once per period)
        only = versions[0]
        assert only.terms is not None and only.subscriptions is not None
        return InEffect(day, only.terms, only.effective_from, only.subscriptions, only.effective_from)
    applicable = [v for v in contract.versions_in_order if v.effective_from <= day]
    terms_v = next(v for v in reversed(applicable) if v.terms is not None)
    subs_v = next(v for v in reversed(applicable) if v.subscriptions is not None)
    assert terms_v.terms is not None and subs_v.subscriptions is not None
    return InEffect(day, terms_v.terms, terms_v.effective_from, subs_v.subscriptions, subs_v.effective_from)


class TierStep(NamedTuple):
    uptime_percent: Fraction
    credit_percent: Decimal
    tier_index: int | None  # which tier applied, None when none did
    uptime_text: str  # the uptime as the answers show it, six decimals


@lru_cache(maxsize=4096)
def exact(value: Decimal) -> Fraction:
    """A decimal as an exact fraction (cached: terms repeat across every period)."""
    return Fraction(value)


def uptime_percent(measured_micros: int, downtime_micros: Decimal) -> Fraction:
    """Step 6, exact."""
    d = exact(downtime_micros)
    return Fraction(100 * (measured_micros * d.denominator - d.numerator), measured_micros * d.denominator)


def tier_for(measured_micros: int, downtime_micros: Decimal, tiers: tuple[CreditTier, ...]) -> TierStep:
    """Steps 6-7: the uptime, and the largest credit among tiers whose below_percent the
    uptime is strictly under. The credit percent is the contract's own tier, as written."""
    uptime, uptime_text, index = _tier_choice(measured_micros, downtime_micros, tiers)
    credit = Decimal(0) if index is None else tiers[index].credit_percent
    return TierStep(uptime, credit, index, uptime_text)


@lru_cache(maxsize=65536)
def _tier_choice(
    measured_micros: int, downtime_micros: Decimal, tiers: tuple[CreditTier, ...]
) -> tuple[Fraction, str, int | None]:
    """Cached: every contract sharing a downtime, a window and tiers of the same values gets
    the same uptime and tier index (values only, so equal-valued tiers share the entry)."""
    uptime = uptime_percent(measured_micros, downtime_micros)
    best: tuple[Decimal, int] | None = None
    for i, tier in enumerate(tiers):
        if uptime < exact(tier.below_percent) and (best is None or tier.credit_percent > best[0]):
            best = (tier.credit_percent, i)
    return uptime, decimal_places(uptime, 6), None if best is None else best[1]


class ConsideredIncident(NamedTuple):
    incident: IncidentFacts
    reason: str | None  # None = counted


class ConsideredMaintenance(NamedTuple):
    maintenance: MaintenanceFacts
    reason: str | None  # None = qualified, excluded from downtime


class LineStep(NamedTuple):
    """One subscription in one measurement period, every step kept."""

    subscription: Subscription
    measured_micros: int
    month_micros: int
    incidents: tuple[ConsideredIncident, ...]
    maintenance: tuple[ConsideredMaintenance, ...]
    downtime: DowntimeStep
    tier: TierStep
    fee_minor: int
    credit_minor: int

    @property
    def measured_seconds(self) -> int | Decimal:
        return seconds(self.measured_micros)


def _round_ratio(numerator: int, denominator: int) -> int:
    """round_half_up(numerator / denominator) for non-negative integers, without a Fraction."""
    return (2 * numerator + denominator) // (2 * denominator)


def credit_line(
    subscription: Subscription,
    customer_id: str,
    terms: Terms,
    window: Window,
    month: Window,
    incidents: list[IncidentFacts],
    maintenance: list[MaintenanceFacts],
    now: int,
    memo: dict[tuple[object, ...], tuple[object, ...]] | None = None,
) -> LineStep:
    """Steps 3-8 for one subscription.

    Steps 3-5 depend only on the subscription's service and region, the window, the terms'
    weight and notice, "now", the candidate facts and (only when a candidate names customers)
    the customer; `memo`, shared by the callers of one recomputation, reuses them across the
    many contracts an incident reaches. Steps 6-8 add only the fee, the tiers and the month's
    length: the memo shares the whole line between contracts that agree on those too, the tiers
    as written (the line shows the credit percent as its contract writes it; a line is a value:
    the subscription it names is equal, not identical, to each such contract's own)."""
    key: tuple[object, ...] | None = None
    priced_key: tuple[object, ...] | None = None
    if memo is not None:
        # figures only: the facts of other services and regions cannot count, so they are left
        # out of the considered lists (the explanation calls without a memo and lists them all)
        incidents, maintenance, facts_key, personal = _of_pair(subscription, incidents, maintenance, memo)
        key = (
            subscription.service,
            subscription.region,
            customer_id if personal else None,
            window,
            terms.degraded_weight,
            terms.maintenance_notice_hours,
            now,
            facts_key,
        )
        priced_key = (key, subscription.monthly_fee_minor, terms.tiers_as_written, month.micros)
        line = memo.get(priced_key)
        if line is not None:
            return line  # type: ignore[return-value]
        hit = memo.get(key)
        if hit is not None:
            considered, considered_m, downtime = hit
            line = _priced(subscription, terms, window, month, considered, considered_m, downtime)  # type: ignore[arg-type]
            memo[priced_key] = line
            return line
    considered = tuple(
        ConsideredIncident(
            inc, why_incident_does_not_count(inc, subscription.service, subscription.region, customer_id, window)
        )
        for inc in incidents
    )
    considered_m = tuple(
        ConsideredMaintenance(
            m,
            why_maintenance_does_not_qualify(
                m, subscription.service, subscription.region, terms.maintenance_notice_hours
            )
            or (None if window.overlaps(m.starts_at, m.ends_at) else "outside_window"),
        )
        for m in maintenance
    )
    downtime = weighted_downtime(
        window,
        [c.incident for c in considered if c.reason is None],
        [c.maintenance for c in considered_m if c.reason is None],
        terms.degraded_weight,
        now,
    )
    line = _priced(subscription, terms, window, month, considered, considered_m, downtime)
    if memo is not None and key is not None and priced_key is not None:
        memo[key] = (considered, considered_m, downtime)
        memo[priced_key] = line
    return line


def _of_pair(
    subscription: Subscription,
    incidents: list[IncidentFacts],
    maintenance: list[MaintenanceFacts],
    memo: dict[tuple[object, ...], tuple[object, ...]],
) -> tuple[list[IncidentFacts], list[MaintenanceFacts], tuple[object, ...], bool]:
    """The candidates of the subscription's service and region, the ids that key the downtime
    memo, and whether any candidate names customers. The same candidate lists are handed to
    every contract sharing a window, so this is worked out once per list and pair, keyed by the
    lists' identities (the entry keeps the lists alive, so no other list can take their ids
    while the memo lives)."""
    service, region = subscription.service, subscription.region
    key = ("of_pair", id(incidents), id(maintenance), service, region)
    hit = memo.get(key)
    if hit is not None:
        return hit[2]  # type: ignore[return-value]
    mine = [i for i in incidents if is_of_pair(i, service, region)]
    mine_m = [m for m in maintenance if is_of_pair(m, service, region)]
    # these lists stand for their facts in the downtime memo's keys: identical lists are the
    # same objects (the callers share them), and the memo keeps them alive, so their identities
    # are never reused while it lives (hashing every id would cost as much as the facts)
    facts_key = ("facts", id(mine), id(mine_m))
    found = (mine, mine_m, facts_key, any(i.customers or i.excluded_customers for i in mine))
    memo[key] = (incidents, maintenance, found)
    return found


def _priced(
    subscription: Subscription,
    terms: Terms,
    window: Window,
    month: Window,
    considered: tuple[ConsideredIncident, ...],
    considered_m: tuple[ConsideredMaintenance, ...],
    downtime: DowntimeStep,
) -> LineStep:
    """Steps 6-8: uptime, tier and the pro-rated credit."""
    tier = tier_for(window.micros, downtime.downtime_micros, terms.credit_tiers)
    fee = subscription.monthly_fee_minor
    cp = exact(tier.credit_percent)
    # step 8, exactly and rounded once: credit% / 100 * fee * measured / month
    return LineStep(
        subscription=subscription,
        measured_micros=window.micros,
        month_micros=month.micros,
        incidents=considered,
        maintenance=considered_m,
        downtime=downtime,
        tier=tier,
        fee_minor=_round_ratio(fee * window.micros, month.micros),
        credit_minor=_round_ratio(cp.numerator * fee * window.micros, cp.denominator * 100 * month.micros),
    )


class PeriodStep(NamedTuple):
    """A contract's measurement period: the month, its windows, the terms used and the lines."""

    contract_id: str
    month: Month
    month_window: Window
    window: Window
    in_effect: InEffect
    lines: tuple[LineStep, ...]

    @property
    def credit_minor(self) -> int:
        return sum(line.credit_minor for line in self.lines)

    @property
    def fee_minor(self) -> int:
        return sum(line.fee_minor for line in self.lines)


class InService(Protocol):
    """What the windows of a contract's periods depend on (a contract's facts, or a report's frame
    of them)."""

    @property
    def timezone(self) -> str: ...
    @property
    def starts_on(self) -> date: ...
    @property
    def ends_on(self) -> date | None: ...


def period_window(contract: InService, month: Month) -> tuple[Window, Window] | None:
    """The month's window and the measured window, or None when the contract is not active."""
    return period_windows(month, contract.timezone, contract.starts_on, contract.ends_on)


@lru_cache(maxsize=1 << 16)
def period_windows(month: Month, timezone: str, starts_on: date, ends_on: date | None) -> tuple[Window, Window] | None:
    """`period_window` by the values it depends on (cached: every contract of a zone with the
    same dates has the same windows, asked once per period)."""
    tz = zone(timezone)
    window = measured_window(month, tz, starts_on, ends_on)
    if window is None:
        return None
    return month_window(month, tz), window


def contract_year_of(contract: ContractFacts, month: Month) -> str | None:
    """The first day of the contract year the period of `month` belongs to, or None when the
    contract is not active in the month."""
    windows = period_window(contract, month)
    return None if windows is None else year_of_window(contract, windows[1])


def year_of_window(contract: ContractFacts, window: Window) -> str:
    """The first day of the contract year a period whose measured window is `window` belongs to:
    the year of the window's first day, in the contract's time zone."""
    return year_text(contract.starts_on, contract.timezone, window.start)


@lru_cache(maxsize=1 << 16)
def year_text(starts_on: date, timezone: str, start: int) -> str:
    """`year_of_window` by the values it depends on (cached: shared by a zone's contracts)."""
    return contract_year_start(starts_on, local_date(start, zone(timezone))).isoformat()


def compute_period(
    contract: ContractFacts,
    month: Month,
    incidents: list[IncidentFacts],
    maintenance: list[MaintenanceFacts],
    now: int,
    memo: dict[tuple[object, ...], tuple[object, ...]] | None = None,
    per_pair: Callable[[str, str, Window], tuple[list[IncidentFacts], list[MaintenanceFacts]]] | None = None,
) -> PeriodStep | None:
    """The whole calculation for one contract and month, or None if it has no period
    (the month has not begun at `now`, or the contract is not active in it).

    `per_pair(service, region, window)`, when given, hands each subscription the candidates of
    its own service and region in the measured window instead of `incidents` and `maintenance`
    (the same lists for every contract sharing the window, so the memo's work is shared by all of
    them)."""
    windows = period_window(contract, month)
    if windows is None:
        return None
    whole, window = windows
    if whole.start > now:
        return None
    effect = in_effect(contract, local_date(window.start, contract.tz))
    if memo is not None and per_pair is not None:
        customer, terms = contract.customer_id, effect.terms
        lines = tuple(
            [
                _shared_line(sub, customer, terms, window, whole, per_pair(sub.service, sub.region, window), now, memo)
                for sub in effect.subscriptions
            ]
        )
    else:
        lines = tuple(
            credit_line(sub, contract.customer_id, effect.terms, window, whole, incidents, maintenance, now, memo)
            for sub in effect.subscriptions
        )
    return PeriodStep(contract.contract_id, month, whole, window, effect, lines)


def _shared_line(
    subscription: Subscription,
    customer_id: str,
    terms: Terms,
    window: Window,
    month: Window,
    candidates: tuple[list[IncidentFacts], list[MaintenanceFacts]],
    now: int,
    memo: dict[tuple[object, ...], tuple[object, ...]],
) -> LineStep:
    """`credit_line` with the shared candidates of the subscription's pair and window, found by
    a key of identities, cheap to hash: the candidates (one object per pair and window while the
    memo lives) and the pricing (the subscription and the terms' values that `credit_line` keys
    its line by, one object per distinct value), with the month's length and "now". They stand
    for everything `credit_line`'s own key holds but the customer, so a line is reused this way
    only when no candidate names customers; otherwise `credit_line` is asked every time. Each
    entry keeps the objects whose identities key it alive, so no other takes their ids while the
    memo lives."""
    pricing = memo.get(("pricing", id(subscription), id(terms)))
    if pricing is None:
        value = (
            subscription.service,
            subscription.region,
            subscription.monthly_fee_minor,
            terms.tiers_as_written,
            terms.degraded_weight,
            terms.maintenance_notice_hours,
        )
        shared = memo.setdefault(("pricing of", *value), value)
        pricing = memo[("pricing", id(subscription), id(terms))] = (subscription, terms, shared)
    key = ("line", id(candidates), id(pricing[2]), month.micros, now)
    hit = memo.get(key)
    if hit is not None and hit[1] is not None:
        return hit[1]  # type: ignore[return-value]
    incidents, maintenance = candidates
    line = credit_line(subscription, customer_id, terms, window, month, incidents, maintenance, now, memo)
    if hit is None:
        personal = _of_pair(subscription, incidents, maintenance, memo)[3]
        memo[key] = (candidates, None if personal else line)
    return line
