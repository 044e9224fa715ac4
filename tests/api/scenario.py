"""Bodies of the HTTP contract, with EXAMPLES.md's defaults."""

from __future__ import annotations

from typing import Any

TIERS = [
    {"below_percent": "99.9", "credit_percent": "10"},
    {"below_percent": "99.0", "credit_percent": "25"},
    {"below_percent": "95.0", "credit_percent": "100"},
]


def contract(**kw: Any) -> dict[str, Any]:
    body = {
        "contract_id": "c1",
        "customer_id": "a",
        "customer_name": "A",
        "timezone": "UTC",
        "starts_on": "2025-01-01",
        "currency": "USD",
        "terms": {"credit_tiers": TIERS, "degraded_weight": "0.5", "maintenance_notice_hours": 48},
        "subscriptions": [{"service": "compute", "region": "eu", "monthly_fee_minor": 100000}],
    }
    body.update(kw)
    return body


def incident(incident_id: str = "i1", **kw: Any) -> dict[str, Any]:
    body = {
        "incident_id": incident_id,
        "service": "compute",
        "regions": [],
        "severity": "outage",
        "started_at": "2025-03-10T10:00:00Z",
        "ended_at": "2025-03-10T11:00:00Z",
    }
    body.update(kw)
    return body
