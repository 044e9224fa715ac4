"""A realistic demo data set: a dozen customers, three SLA plans, two years of incidents.

It is recorded in two phases, so that "as known at T" can be tried at once: the first phase
holds the contracts (starting in different months, one terminated), two years of incidents,
maintenance and claims, and billing runs for past months; the second, recorded after an instant
that `demo_instant` finds in the store again, brings what was learnt later: a correction of an
incident in a month already billed, the resolution of an incident that was still going on, and a
contract recorded late with a `starts_on` months earlier, then the run for last month, which
issues the adjustments and catches up the late contract's periods (RULES.md, Billing)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from api.importer import import_lines
from domain.application import CreditsApplication
from domain.calendar import Month
from domain.contract import contract_uuid
from projections.service import CreditsService
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
# months after the demo's first month in which each contract starts (by the order above)
START_OFFSETS = {"acme": 2, "globex": 5, "initech": 1, "hooli": 7, "sakura": 3, "tyrell": 9, "wonka": 4, "oceanic": 6}
TERMINATED = "kiwi"  # its last day of service: the end of the fourth month before the current one
BILLED_BEFORE = 6  # phase one bills the six months before last month; phase two bills last month
# phase two: a contract recorded late, with its first day five months before the current month
LATE = ("meridian", "Meridian Health", "Europe/Madrid", "EUR", "standard", [("compute", "eu-west")])
LATE_STARTS = 5
LATE_CONTRACT = "meridian-1"
LOUD = "acme"  # files a claim every month
QUIET = "initech"  # never files one
REGIONS = ["eu-west", "us-east", "us-west", "ap-northeast", "ap-southeast", "ap-south"]
SERVICES = ["compute", "storage", "database"]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _first_of(month: Month) -> date:
    return date(month.year, month.month, 1)


def _contract(
    customer: tuple[str, str, str, str, str, list[tuple[str, str]]], starts: Month, contract_id: str | None = None
) -> dict[str, Any]:
    cid, name, tz, currency, plan, subs = customer
    fee = {"JPY": 3_000_000, "INR": 8_000_000}.get(currency, 250_000)
    return {
        "kind": "sign_contract",
        "contract_id": contract_id or f"{cid}-{starts.year}",
        "customer_id": cid,
        "customer_name": name,
        "timezone": tz,
        "starts_on": _first_of(starts).isoformat(),
        "currency": currency,
        "terms": PLANS[plan],
        "subscriptions": [{"service": s, "region": r, "monthly_fee_minor": fee} for s, r in subs],
    }


def _at(month: Month, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(month.year, month.month, day, hour, minute, tzinfo=UTC)


def demo_commands(today: date, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Phase one: what was known before the demo's instant."""
    rnd = random.Random(seed)
    this_month = Month.of(today)
    first = this_month.plus(-24)
    start = _first_of(first)
    for customer in CUSTOMERS:
        yield _contract(customer, first.plus(START_OFFSETS.get(customer[0], 0)))
    yield {
        "kind": "terminate_contract",
        "contract_id": f"{TERMINATED}-{first.year}",
        "request_id": f"{TERMINATED}-leaves",
        "ends_on": (_first_of(this_month.plus(-3)) - timedelta(days=1)).isoformat(),
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
    # for Northwind only (a customer-scoped incident), in a month phase one bills; phase two
    # corrects its end, so the next run issues an adjustment
    corrected = this_month.plus(-3)
    yield {
        "kind": "open_incident",
        "incident_id": "INC-NW-1",
        "service": "compute",
        "regions": ["eu-west"],
        "customers": ["northwind"],
        "severity": "outage",
        "started_at": _iso(_at(corrected, 10, 8)),
        "ended_at": _iso(_at(corrected, 10, 10)),
        "title": "Northwind's compute cluster unreachable",
    }
    # two maintenance windows on Northwind's compute: one announced in time (a week ahead), one
    # with a day's notice where the business plan asks for 72 hours (its downtime counts)
    works = this_month.plus(-2)
    for mid, day, notice in (("MW-NW-1", 6, timedelta(days=7)), ("MW-NW-2", 20, timedelta(hours=24))):
        yield {
            "kind": "announce_maintenance",
            "maintenance_id": mid,
            "service": "compute",
            "regions": ["eu-west"],
            "starts_at": _iso(_at(works, day, 1)),
            "ends_at": _iso(_at(works, day, 3)),
            "announced_at": _iso(_at(works, day, 1) - notice),
        }
    yield {
        "kind": "open_incident",
        "incident_id": "INC-NW-2",
        "service": "compute",
        "regions": ["eu-west"],
        "severity": "outage",
        "started_at": _iso(_at(works, 20, 1)),
        "ended_at": _iso(_at(works, 20, 2, 30)),
        "title": "compute eu-west: an upgrade during maintenance went wrong",
    }
    # still going on when phase one ends; phase two resolves it
    live = (datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=2)).replace(hour=6)
    yield {
        "kind": "open_incident",
        "incident_id": "INC-LIVE",
        "service": "compute",
        "regions": ["eu-west"],
        "severity": "outage",
        "started_at": _iso(live),
        "title": "compute eu-west: API errors",
    }
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


def later_commands(today: date) -> Iterator[dict[str, Any]]:
    """Phase two: what was learnt after the demo's instant. The late contract comes first:
    its signing marks the phase (`demo_instant`)."""
    this_month = Month.of(today)
    starts = this_month.plus(-LATE_STARTS)
    yield _contract(LATE, starts, LATE_CONTRACT)
    yield {
        "kind": "open_incident",
        "incident_id": "INC-MER-1",
        "service": "compute",
        "regions": ["eu-west"],
        "customers": [LATE[0]],
        "severity": "outage",
        "started_at": _iso(_at(starts.next(), 12, 9)),
        "ended_at": _iso(_at(starts.next(), 12, 14)),
        "title": "Meridian's dedicated hosts lost power",
    }
    yield {
        "kind": "correct_incident",
        "incident_id": "INC-NW-1",
        "request_id": "INC-NW-1-fix",
        "reason": "the customer's logs show the outage lasted until 15:00",
        "ended_at": _iso(_at(this_month.plus(-3), 10, 15)),
    }
    live = (datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=2)).replace(hour=6)
    yield {
        "kind": "resolve_incident",
        "incident_id": "INC-LIVE",
        "request_id": "INC-LIVE-resolved",
        "ended_at": _iso(live + timedelta(hours=3, minutes=20)),
    }


@dataclass(frozen=True)
class AsOfExample:
    """The instant between the demo's two phases, and a request whose answer it changes."""

    instant: datetime
    customer_id: str
    first: Month
    last: Month

    @property
    def instant_text(self) -> str:
        return self.instant.isoformat().replace("+00:00", "Z")

    def path(self, as_of: bool = True) -> str:
        query = f"from={self.first}&to={self.last}" + (f"&as_of={self.instant_text}" if as_of else "")
        return f"/v1/customers/{self.customer_id}/credits?{query}"


def demo_instant(app: CreditsApplication) -> AsOfExample | None:
    """The instant between the phases, found in the store: the whole second before the late
    contract's signing, the first fact of phase two (None when the store holds no demo).
    Phase two began only once the clock had passed the whole second after phase one's last
    fact, so every fact of phase one was recorded at or before it and none of phase two."""
    from eventsourcing.application import AggregateNotFoundError

    try:
        marked = app.repository.get(contract_uuid(LATE_CONTRACT), version=1)
    except AggregateNotFoundError:
        return None
    signed: datetime = marked.created_on
    instant = (signed - timedelta(microseconds=1)).replace(microsecond=0)
    this_month = Month.of(signed.date())
    return AsOfExample(instant, "northwind", this_month.plus(-3), this_month)


def _record(app: CreditsApplication, commands: Iterator[dict[str, Any]]) -> None:
    report = import_lines(app, [json.dumps(c) for c in commands])
    if report.errors:
        raise RuntimeError(f"demo data refused: {report.errors[:3]}")


def _last_recorded(app: CreditsApplication) -> datetime:
    last = app.recorder.select_notifications(start=app.recorder.max_notification_id() or 1, limit=1)
    return app.mapper.to_domain_event(last[0]).timestamp  # type: ignore[attr-defined, no-any-return]


def load_demo(url: str, app: CreditsApplication | None = None) -> bool:
    """Record the demo data unless the store already holds facts. True when it recorded."""
    own = app is None
    app = app or open_application(url)
    try:
        if app.recorder.max_notification_id():
            return False
        today = datetime.now(UTC).date()
        last_month = Month.of(today).plus(-1)
        service = CreditsService(url, app)
        _record(app, demo_commands(today))
        service.catch_up()
        for back in range(BILLED_BEFORE, 0, -1):
            service.bill(last_month.plus(-back))
        # phase two only once the clock has passed the whole second after phase one's last fact
        boundary = _last_recorded(app).replace(microsecond=0) + timedelta(seconds=1)
        while datetime.now(UTC) <= boundary:
            time.sleep(0.05)
        _record(app, later_commands(today))
        service.catch_up()
        service.bill(last_month)  # last month, the adjustments, and the late contract's catch-up
        service.catch_up()
        service.view.datastore.close()  # type: ignore[attr-defined]
        return True
    finally:
        if own:
            app.close()
