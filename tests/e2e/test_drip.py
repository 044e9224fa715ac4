"""Facts dripped over HTTP one at a time into the real server and its projection process, in
the order production sends them (incidents opened without an end, resolved several facts
later, corrected, excluded, retracted; maintenance; amendments), with reads in between: the
verification then reports no mismatch, and the live views equal a rebuild row for row."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from projections.runner import rebuild
from projections.service import CreditsService
from tests.e2e.processes import Server

BASE = datetime(2025, 1, 1, tzinfo=UTC)
ZONES = ("UTC", "Asia/Tokyo", "America/New_York", "Europe/Berlin")


def _instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _world(seed: int) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) in the order they are posted: a contract or an incident a step, each open
    incident resolved 2-6 steps after it was opened."""
    rnd = random.Random(seed)
    facts: list[tuple[str, dict[str, Any]]] = []
    resolutions: list[tuple[int, str, datetime]] = []  # (due step, incident, start)
    customers = ("acme", "beta", "gamma")
    for step in range(45):
        for due, incident_id, started in [r for r in resolutions if r[0] == step]:
            resolutions.remove((due, incident_id, started))
            end = started + timedelta(minutes=rnd.randint(1, 20 * 24 * 60))
            facts.append(
                (f"/v1/incidents/{incident_id}/resolution", {"request_id": f"r{step}", "ended_at": _instant(end)})
            )
        kind = rnd.choice(("contract", "incident", "incident", "incident", "correction", "maintenance", "exclusion"))
        if step < 4 or kind == "contract":
            customer = rnd.choice(customers)
            facts.append(
                (
                    "/v1/contracts",
                    {
                        "contract_id": f"k{step}",
                        "customer_id": customer,
                        "customer_name": customer.title(),
                        "timezone": rnd.choice(ZONES),
                        "starts_on": (date(2025, 1, 1) + timedelta(days=rnd.choice((0, 0, 40, 75)))).isoformat(),
                        "currency": "USD",
                        "terms": {
                            "credit_tiers": [
                                {"below_percent": "99.9", "credit_percent": "10"},
                                {"below_percent": "99", "credit_percent": "25"},
                            ],
                            "degraded_weight": "0.5",
                            "annual_cap": rnd.choice((None, {"amount_minor": 3000})),
                        },
                        "subscriptions": [
                            {
                                "service": rnd.choice(("api", "db")),
                                "region": rnd.choice(("eu", "us")),
                                "monthly_fee_minor": 10000,
                            }
                        ],
                    },
                )
            )
        elif kind == "incident":
            started = BASE + timedelta(hours=rnd.randint(0, 150 * 24))
            body: dict[str, Any] = {
                "incident_id": f"i{step}",
                "service": rnd.choice(("api", "db")),
                "regions": rnd.choice(([], ["eu"], ["us"])),
                "severity": rnd.choice(("outage", "outage", "degraded")),
                "started_at": _instant(started),
            }
            if rnd.random() < 0.3:
                body["ended_at"] = _instant(started + timedelta(minutes=rnd.randint(1, 3000)))
            else:
                resolutions.append((step + rnd.randint(2, 6), f"i{step}", started))
            facts.append(("/v1/incidents", body))
        elif kind == "correction" and any(p == "/v1/incidents" for p, _ in facts):
            target = rnd.choice([b for p, b in facts if p == "/v1/incidents"])
            started = BASE + timedelta(hours=rnd.randint(0, 150 * 24))
            facts.append(
                (
                    f"/v1/incidents/{target['incident_id']}/corrections",
                    {"request_id": f"c{step}", "reason": "timeline", "started_at": _instant(started)},
                )
            )
        elif kind == "exclusion" and any(p == "/v1/incidents" for p, _ in facts):
            target = rnd.choice([b for p, b in facts if p == "/v1/incidents"])
            facts.append(
                (
                    f"/v1/incidents/{target['incident_id']}/exclusions",
                    {"request_id": f"x{step}", "customer_id": rnd.choice(customers), "reason": "customer_caused"},
                )
            )
        elif kind == "maintenance":
            starts = BASE + timedelta(hours=rnd.randint(0, 150 * 24))
            facts.append(
                (
                    "/v1/maintenance",
                    {
                        "maintenance_id": f"m{step}",
                        "service": rnd.choice(("api", "db")),
                        "regions": [],
                        "starts_at": _instant(starts),
                        "ends_at": _instant(starts + timedelta(hours=rnd.randint(1, 30))),
                        "announced_at": _instant(starts - timedelta(hours=rnd.choice((1, 72)))),
                    },
                )
            )
    for _, incident_id, started in resolutions:  # the last ones are resolved at the end
        facts.append(
            (
                f"/v1/incidents/{incident_id}/resolution",
                {"request_id": "last", "ended_at": _instant(started + timedelta(hours=5))},
            )
        )
    return facts


def test_facts_dripped_over_http_leave_views_equal_to_a_rebuild(store_url: str, tmp_path: Path) -> None:
    server = Server(store_url, tmp_path / "serve.log", workers=1, projection_batch_seconds="0.05")
    rnd = random.Random(7)
    refused = 0
    try:
        with server.client("admin") as admin:
            for n, (path, body) in enumerate(_world(seed=20251)):
                r = admin.post(path, json=body)
                # a correction may contradict the incident's end: the rules refuse it, nothing is recorded
                assert r.status_code in (201, 409, 422), (path, body, r.text)
                refused += r.status_code != 201
                if rnd.random() < 0.3:  # reads in between (each waits for the write before it)
                    customer = rnd.choice(("acme", "beta", "gamma"))
                    assert admin.get(f"/v1/customers/{customer}/credits?from=2025-01&to=2025-07").status_code in (
                        200,
                        404,
                    ), n
            answers = {
                c: admin.get(f"/v1/customers/{c}/credits?from=2025-01&to=2025-07").json()
                for c in ("acme", "beta", "gamma")
            }
            with server.client("auditor") as auditor:
                verification = auditor.get("/v1/audit/verification").json()
    finally:
        server.stop()

    assert verification["mismatch_count"] == 0, verification["mismatches"]
    assert refused < 10
    service = CreditsService(store_url)
    live = service.view.dump_rows()
    rebuild(store_url)
    assert service.view.dump_rows() == live
    for customer, answer in answers.items():
        fresh = service.credits(customer, "2025-01", "2025-07", catch_up=False)
        assert answer["periods"] == fresh["periods"], customer
        assert answer["contract_years"] == fresh["contract_years"], customer
    service.close()
