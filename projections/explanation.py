"""Why a month's credit is what it is: every step of the rules, from the same step values."""

from __future__ import annotations

from datetime import UTC
from functools import lru_cache
from typing import Any

from domain.calendar import Month, Window, from_micros
from domain.credit import LineStep, PeriodStep, plain_decimal
from domain.errors import NotFoundError
from projections.queries import ContractFigures, compute_live
from projections.readers import Reader
from projections.records import LineRow, whole_or_decimal

INCIDENT_REASONS = {
    "retracted": "retracted: it never happened",
    "other_service": "for another service",
    "other_region": "in another region",
    "other_customer": "limited to other customers",
    "customer_excluded": "this customer was excluded from it",
    "force_majeure": "force majeure",
    "outside_window": "outside the measured window",
}
MAINTENANCE_REASONS = {
    "cancelled": "cancelled",
    "other_service": "for another service",
    "other_region": "in another region",
    "notice_too_short": "announced with too little notice",
    "outside_window": "outside the measured window",
}


@lru_cache(maxsize=1 << 16)
def _instant(micros: int | None) -> str | None:
    """An instant as the answers write it (cached: an explanation writes each incident's ends
    once per line that lists it)."""
    if micros is None:
        return None
    return from_micros(micros).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _clip(start: int, end: int | None, window: Window, now: int) -> dict[str, str | None] | None:
    s, e = max(start, window.start), min(end if end is not None else now, window.end)
    return {"start": _instant(s), "end": _instant(e)} if e > s else None


def _line(line: LineStep, window: Window, terms_weight: str, now: int) -> dict[str, Any]:
    row = LineRow.of(line)
    return {
        "service": line.subscription.service,
        "region": line.subscription.region,
        "incidents": [
            {
                "incident_id": ci.incident.incident_id,
                "service": ci.incident.service,
                "severity": ci.incident.severity,
                "cause": ci.incident.cause,
                "started_at": _instant(ci.incident.started_at),
                "ended_at": _instant(ci.incident.ended_at),
                "counted": ci.reason is None,
                "reason": ci.reason,
                "reason_text": None if ci.reason is None else INCIDENT_REASONS[ci.reason],
                "clipped": _clip(ci.incident.started_at, ci.incident.ended_at, window, now),
                "weight": "1" if ci.incident.severity == "outage" else terms_weight,
            }
            for ci in line.incidents
        ],
        "maintenance": [
            {
                "maintenance_id": cm.maintenance.maintenance_id,
                "starts_at": _instant(cm.maintenance.starts_at),
                "ends_at": _instant(cm.maintenance.ends_at),
                "announced_at": _instant(cm.maintenance.announced_at),
                "qualified": cm.reason is None,
                "reason": cm.reason,
                "reason_text": None if cm.reason is None else MAINTENANCE_REASONS[cm.reason],
            }
            for cm in line.maintenance
        ],
        "downtime_intervals": [
            {"start": _instant(s.start), "end": _instant(s.end), "weight": plain_decimal(s.weight)}
            for s in line.downtime.segments
        ],
        "excluded_by_maintenance": [
            {"start": _instant(s.start), "end": _instant(s.end), "weight": plain_decimal(s.weight)}
            for s in line.downtime.excluded_by_maintenance
        ],
        "measured_seconds": whole_or_decimal(row.measured_seconds),
        "month_seconds": whole_or_decimal(row.month_seconds),
        "downtime_seconds": row.downtime_seconds,
        "uptime_percent": row.uptime_percent,
        "tier": None if line.tier.tier_index is None else line.tier.tier_index,
        "credit_percent": row.credit_percent,
        "monthly_fee_minor": line.subscription.monthly_fee_minor,
        "fee_minor": row.fee_minor,
        "credit_minor": row.credit_minor,
    }


def explain_month(reader: Reader, customer_id: str, month: Month, now: int) -> dict[str, Any]:
    """The explanation of every contract period of the customer in `month`."""
    contracts = reader.contracts_of(customer_id)
    if not contracts:
        raise NotFoundError("customer_id", f"no contract for customer {customer_id!r}")
    stored_all = reader.periods_of(customer_id)
    periods = []
    for c in contracts:
        step: PeriodStep | None = compute_live(reader, c, month, now)
        if step is None:
            continue
        stored = {m: r for (cid, m), r in stored_all.items() if cid == c.contract_id}
        figures = ContractFigures(reader, c, stored, now)
        p = figures.period(month)
        assert p is not None
        allocation = figures.allocation(p.year_start)
        grant = next((g for g in allocation.grants if g.month == month), None)
        granted, capped = figures.grant(p)
        cap_minor = allocation.cap.cap_minor
        before = (
            grant.remaining_before
            if grant is not None
            else None
            if cap_minor is None
            else cap_minor - sum(g.granted_minor for g in allocation.grants if g.month < month)
        )
        weight = str(step.in_effect.terms.degraded_weight)
        periods.append(
            {
                "contract_id": c.contract_id,
                "month": str(month),
                "currency": c.currency,
                "timezone": c.timezone,
                "status": p.status(now),
                "month_window": {"start": _instant(step.month_window.start), "end": _instant(step.month_window.end)},
                "measured_window": {"start": _instant(step.window.start), "end": _instant(step.window.end)},
                "terms_from": step.in_effect.terms_from.isoformat(),
                "subscriptions_from": step.in_effect.subscriptions_from.isoformat(),
                "degraded_weight": weight,
                "maintenance_notice_hours": step.in_effect.terms.maintenance_notice_hours,
                "credit_tiers": [
                    {"below_percent": str(t.below_percent), "credit_percent": str(t.credit_percent)}
                    for t in step.in_effect.terms.credit_tiers
                ],
                "lines": [_line(line, step.window, weight, now) for line in step.lines],
                "credit_minor": step.credit_minor,
                "contract_year_start": p.year_start,
                "cap": {
                    "cap_minor": allocation.cap.cap_minor,
                    "annual_fees_minor": allocation.cap.annual_fees_minor,
                    "remaining_before_minor": before,
                    "granted_minor": granted,
                    "capped_minor": capped,
                    "remaining_after_minor": None if before is None else before - granted,
                },
                "granted_minor": granted,
                "capped_minor": capped,
            }
        )
    return {"customer_id": customer_id, "month": str(month), "periods": periods}
