"""The reference dataset for the benchmarks: a JSONL file for `sla-credits import`.

Default: 2,000 contracts (1-3 subscriptions, five time zones), 24 months from 2024-01,
5,000 incidents of which a fifth are later corrected, classified or retracted.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
SERVICES = ["compute", "storage", "database"]
REGIONS = ["eu-west", "us-east", "us-west", "ap-northeast", "ap-southeast"]
TIERS = [
    {"below_percent": "99.9", "credit_percent": "10"},
    {"below_percent": "99.0", "credit_percent": "25"},
    {"below_percent": "95.0", "credit_percent": "100"},
]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def commands(contracts: int = 2000, incidents: int = 5000, months: int = 24, seed: int = 1) -> Iterator[dict[str, Any]]:
    rnd = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(contracts):
        subs = rnd.sample([(s, r) for s in SERVICES for r in REGIONS], rnd.randint(1, 3))
        yield {
            "kind": "sign_contract",
            "contract_id": f"C{n:05d}",
            "customer_id": f"cust{n:05d}",
            "customer_name": f"Customer {n}",
            "timezone": ZONES[n % len(ZONES)],
            "starts_on": "2024-01-01",
            "currency": "USD",
            "terms": {
                "credit_tiers": TIERS,
                "degraded_weight": "0.5",
                "maintenance_notice_hours": 48,
                "annual_cap": {"percent_of_annual_fees": "20"},
            },
            "subscriptions": [
                {"service": s, "region": r, "monthly_fee_minor": rnd.choice([50000, 100000, 250000])} for s, r in subs
            ],
        }
    span = months * 30 * 86400
    follow_ups = []
    for n in range(incidents):
        at = start + timedelta(seconds=rnd.randrange(span))
        length = timedelta(seconds=rnd.randint(60, 6 * 3600))
        iid = f"I{n:06d}"
        yield {
            "kind": "open_incident",
            "incident_id": iid,
            "service": rnd.choice(SERVICES),
            "regions": [rnd.choice(REGIONS)],
            "severity": "outage" if rnd.random() < 0.75 else "degraded",
            "started_at": _iso(at),
            "ended_at": _iso(at + length),
        }
        if n % 5 == 0:
            roll = rnd.random()
            if roll < 0.5:
                follow_ups.append(
                    {
                        "kind": "correct_incident",
                        "incident_id": iid,
                        "request_id": "fix",
                        "reason": "corrected end",
                        "ended_at": _iso(at + length * 2),
                    }
                )
            elif roll < 0.8:
                follow_ups.append(
                    {
                        "kind": "classify_incident",
                        "incident_id": iid,
                        "request_id": "fm",
                        "cause": "force_majeure",
                        "reason": "storm",
                    }
                )
            else:
                follow_ups.append(
                    {"kind": "retract_incident", "incident_id": iid, "request_id": "rt", "reason": "false alarm"}
                )
    yield from follow_ups


def write(path: Path, **kw: Any) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for c in commands(**kw):
            f.write(json.dumps(c) + "\n")
            n += 1
    return n


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--contracts", type=int, default=2000)
    parser.add_argument("--incidents", type=int, default=5000)
    args = parser.parse_args()
    print(write(args.file, contracts=args.contracts, incidents=args.incidents), "commands written")
