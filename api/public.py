"""Public views of aggregates and their history (plain JSON, never the events themselves)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.application import CreditsApplication
from domain.contract import Contract
from domain.credit import in_effect
from domain.incident import Incident

_HIDDEN = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def history(app: CreditsApplication, aggregate_id: Any) -> list[dict[str, Any]]:
    return [
        {
            "version": e.originator_version,
            "type": type(e).__name__,
            "recorded_at": jsonable(e.timestamp),
            "data": jsonable({k: v for k, v in e.__dict__.items() if k not in _HIDDEN}),
        }
        for e in app.events.get(aggregate_id)
    ]


def contract_public(app: CreditsApplication, c: Contract, today: date) -> dict[str, Any]:
    facts = c.facts()
    day = min(max(today, facts.starts_on), facts.ends_on or today) if facts.ends_on else max(today, facts.starts_on)
    effect = in_effect(facts, day)
    return {
        "contract_id": c.contract_id,
        "customer_id": c.customer_id,
        "customer_name": c.customer_name,
        "timezone": c.timezone,
        "starts_on": c.starts_on.isoformat(),
        "ends_on": None if c.ends_on is None else c.ends_on.isoformat(),
        "currency": c.currency,
        "terminated": c.terminated,
        "in_force_on": day.isoformat(),
        "terms": jsonable(effect.terms.to_data()),
        "subscriptions": [s.to_data() for s in effect.subscriptions],
        "amendments": [
            {
                "effective_from": v.effective_from.isoformat(),
                "terms": None if v.terms is None else jsonable(v.terms.to_data()),
                "subscriptions": None if v.subscriptions is None else [s.to_data() for s in v.subscriptions],
            }
            for v in facts.versions[1:]
        ],
        "history": history(app, c.id),
    }


def incident_public(app: CreditsApplication, i: Incident) -> dict[str, Any]:
    return {
        "incident_id": i.incident_id,
        "service": i.service,
        "regions": list(i.regions),
        "customers": list(i.customers),
        "severity": i.severity,
        "started_at": jsonable(i.started_at),
        "ended_at": jsonable(i.ended_at),
        "cause": i.cause,
        "title": i.title,
        "retracted": i.retracted,
        "excluded_customers": [{"customer_id": k, "reason": v} for k, v in sorted(i.excluded.items())],
        "history": history(app, i.id),
    }
