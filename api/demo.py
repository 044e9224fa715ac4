"""A realistic demo data set: a dozen customers, three SLA plans, two years of incidents."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from api.importer import import_lines
from domain.application import CreditsApplication
from projections.stores import open_application

PLANS: dict[str, dict[str, Any]] = {
    "standard": {
        "credit_tiers": [
            {"below_percent": "99.9", "credit_percent": "10"},
            {"below_percent": "99.0", "credit_percent": "25"},
            {"below_percent": "95.0", "credit_percent": "100"},
        ],
        "degraded_weight": "0",
        "maintenance_notice_hours": 48,
        "annual_cap": {"percent_of_annual_fees": "20"},
    },
    "business": {
        "credit_tiers": [
            {"below_percent": "99.95", "credit_percent": "10"},
            {"below_percent": "99.5", "credit_percent": "25"},
            {"below_percent": "99.0", "credit_percent": "50"},
        ],
        "degraded_weight": "0.5",
        "maintenance_notice_hours": 72,
        "annual_cap": {"percent_of_annual_fees": "30"},
    },
    "enterprise": {
        "credit_tiers": [
            {"below_percent": "99.99", "credit_percent": "10"},
            {"below_percent": "99.9", "credit_percent": "25"},
            {"below_percent": "99.0", "credit_percent": "50"},
            {"below_percent": "95.0", "credit_percent": "100"},
        ],
        "degraded_weight": "0.25",
        "maintenance_notice_hours": 120,
        "annual_cap": {"amount_minor": 5_000_000},
    },
}

CUSTOMERS = [
    (
        "northwind",
        "Northwind Traders",
        "Europe/Berlin",
        "EUR",
        "business",
        [("compute", "eu-west"), ("storage", "eu-west")],
    ),
    ("acme", "Acme Corporation", "America/New_York", "USD", "standard", [("compute", "us-east")]),
    ("globex", "Globex", "America/Los_Angeles", "USD", "enterprise", [("compute", "us-west"), ("database", "us-west")]),
    ("initech", "Initech", "America/Chicago", "USD", "standard", [("storage", "us-east")]),
    (
        "umbrella",
        "Umbrella plc",
        "Europe/London",
        "GBP",
        "enterprise",
        [("compute", "eu-west"), ("database", "eu-west")],
    ),
    ("hooli", "Hooli", "America/Los_Angeles", "USD", "business", [("compute", "us-west")]),
    ("sakura", "Sakura Systems", "Asia/Tokyo", "JPY", "business", [("compute", "ap-northeast")]),
    ("kiwi", "Kiwi Logistics", "Pacific/Auckland", "NZD", "standard", [("storage", "ap-southeast")]),
    ("tyrell", "Tyrell Corp", "Asia/Kolkata", "INR", "enterprise", [("database", "ap-south")]),
    (
        "vandelay",
        "Vandelay Industries",
        "America/New_York",
        "USD",
        "standard",
        [("compute", "us-east"), ("storage", "us-east")],
    ),
    ("wonka", "Wonka Confectionery", "Europe/Zurich", "CHF", "business", [("database", "eu-west")]),
    ("oceanic", "Oceanic Airlines", "Australia/Sydney", "AUD", "enterprise", [("compute", "ap-southeast")]),
]
LOUD = "acme"  # files a claim every month
QUIET = "initech"  # never files one
REGIONS = ["eu-west", "us-east", "us-west", "ap-northeast", "ap-southeast", "ap-south"]
SERVICES = ["compute", "storage", "database"]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def demo_commands(today: date, seed: int = 7) -> Iterator[dict[str, Any]]:
    rnd = random.Random(seed)
    start = date(today.year - 2, today.month, 1)
    for cid, name, tz, currency, plan, subs in CUSTOMERS:
        fee = {"JPY": 3_000_000, "INR": 8_000_000}.get(currency, 250_000)
        yield {
            "kind": "sign_contract",
            "contract_id": f"{cid}-{start.year}",
            "customer_id": cid,
            "customer_name": name,
            "timezone": tz,
            "starts_on": start.isoformat(),
            "currency": currency,
            "terms": PLANS[plan],
            "subscriptions": [{"service": s, "region": r, "monthly_fee_minor": fee} for s, r in subs],
        }
    # one amendment (a price rise) a year in
    yield {
        "kind": "amend_contract",
        "contract_id": f"northwind-{start.year}",
        "request_id": "northwind-price-rise",
        "effective_from": date(start.year + 1, start.month, 1).isoformat(),
        "subscriptions": [
            {"service": "compute", "region": "eu-west", "monthly_fee_minor": 300_000},
            {"service": "storage", "region": "eu-west", "monthly_fee_minor": 300_000},
        ],
    }
    begin = datetime(start.year, start.month, 1, tzinfo=UTC)
    end = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=2)
    span = int((end - begin).total_seconds())
    for n in range(160):
        at = begin + timedelta(seconds=rnd.randrange(span))
        at = at.replace(microsecond=0)
        length = timedelta(minutes=rnd.choice([5, 12, 30, 45, 90, 180, 420, 1500]))
        service = rnd.choice(SERVICES)
        regions = [] if rnd.random() < 0.2 else [rnd.choice(REGIONS)]
        iid = f"INC-{n + 1:04d}"
        yield {
            "kind": "open_incident",
            "incident_id": iid,
            "service": service,
            "regions": regions,
            "severity": "outage" if rnd.random() < 0.7 else "degraded",
            "started_at": _iso(at),
            "title": f"{service} {'everywhere' if not regions else regions[0]} trouble",
        }
        yield {
            "kind": "resolve_incident",
            "incident_id": iid,
            "request_id": f"{iid}-resolve",
            "ended_at": _iso(at + length),
        }
        roll = rnd.random()
        if roll < 0.08:
            yield {
                "kind": "correct_incident",
                "incident_id": iid,
                "request_id": f"{iid}-fix",
                "reason": "monitoring showed the real end",
                "ended_at": _iso(at + length + timedelta(minutes=rnd.choice([10, 40, 200]))),
            }
        elif roll < 0.12:
            yield {
                "kind": "classify_incident",
                "incident_id": iid,
                "request_id": f"{iid}-fm",
                "cause": "force_majeure",
                "reason": "regional power grid failure",
            }
            if rnd.random() < 0.4:
                yield {
                    "kind": "classify_incident",
                    "incident_id": iid,
                    "request_id": f"{iid}-prov",
                    "cause": "provider",
                    "reason": "root cause was our failover",
                }
        elif roll < 0.15:
            yield {
                "kind": "retract_incident",
                "incident_id": iid,
                "request_id": f"{iid}-retract",
                "reason": "false alarm from a probe",
            }
        elif roll < 0.19:
            who = rnd.choice(CUSTOMERS)[0]
            yield {
                "kind": "exclude_customer",
                "incident_id": iid,
                "request_id": f"{iid}-x-{who}",
                "customer_id": who,
                "reason": "customer_caused",
            }
    for n in range(24):
        at = (begin + timedelta(seconds=rnd.randrange(span))).replace(minute=0, second=0, microsecond=0)
        notice = timedelta(hours=rnd.choice([24, 48, 72, 96, 168]))
        mid = f"MW-{n + 1:03d}"
        yield {
            "kind": "announce_maintenance",
            "maintenance_id": mid,
            "service": rnd.choice(SERVICES),
            "regions": [rnd.choice(REGIONS)],
            "starts_at": _iso(at),
            "ends_at": _iso(at + timedelta(hours=rnd.choice([1, 2, 4]))),
            "announced_at": _iso(at - notice),
        }
        if rnd.random() < 0.15:
            yield {"kind": "cancel_maintenance", "maintenance_id": mid, "request_id": f"{mid}-cancel"}
    month = date(start.year, start.month, 1)
    k = 0
    while month < date(today.year, today.month, 1):
        k += 1
        yield {
            "kind": "file_claim",
            "customer_id": LOUD,
            "claim_id": f"CLM-{LOUD}-{month:%Y-%m}",
            "month": f"{month:%Y-%m}",
            "channel": "email",
            "message": "We want our credit for this month.",
        }
        if k % 5 == 0:
            other = rnd.choice([c[0] for c in CUSTOMERS if c[0] not in (LOUD, QUIET)])
            yield {
                "kind": "file_claim",
                "customer_id": other,
                "claim_id": f"CLM-{other}-{month:%Y-%m}",
                "month": f"{month:%Y-%m}",
                "channel": "ticket",
                "message": "Outage last month hurt us.",
            }
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def load_demo(url: str, app: CreditsApplication | None = None) -> bool:
    """Record the demo data unless the store already holds facts. True when it recorded."""
    own = app is None
    app = app or open_application(url)
    try:
        if app.recorder.max_notification_id():
            return False
        lines = [json.dumps(c) for c in demo_commands(datetime.now(UTC).date())]
        report = import_lines(app, lines)
        if report.errors:
            raise RuntimeError(f"demo data refused: {report.errors[:3]}")
        return True
    finally:
        if own:
            app.close()
