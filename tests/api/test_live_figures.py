"""Live figures are a function of the facts alone, whatever the order in which they arrive:
the sequence of issue 11 (an incident opened without an end, another fact, then the
resolution) gives the rules' figures at once and after a restart, on both stores."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import api_settings, auth

CONTRACT = {
    "contract_id": "k1",
    "customer_id": "acme",
    "customer_name": "Acme",
    "timezone": "UTC",
    "starts_on": "2025-01-01",
    "currency": "USD",
    "terms": {"credit_tiers": [{"below_percent": "99.9", "credit_percent": "10"}]},
    "subscriptions": [{"service": "api", "region": "eu", "monthly_fee_minor": 10000}],
}


def _august(client: TestClient) -> dict:
    r = client.get("/v1/customers/acme/credits?from=2025-03&to=2025-09", headers=auth("admin"))
    assert r.status_code == 200, r.text
    (august,) = [p for p in r.json()["periods"] if p["month"] == "2025-08"]
    return august


def test_a_resolution_after_other_facts_leaves_no_stale_month(client: TestClient, store_url: str) -> None:
    admin = auth("admin")
    assert client.post("/v1/contracts", json=CONTRACT, headers=admin).status_code == 201
    opened = {"incident_id": "i1", "service": "api", "regions": [], "severity": "outage"}
    assert (
        client.post("/v1/incidents", json={**opened, "started_at": "2025-03-10T00:00:00Z"}, headers=admin).status_code
        == 201
    )
    _august(client)  # a read while i1 is open
    second = {**opened, "incident_id": "i2", "started_at": "2025-08-10T00:00:00Z", "ended_at": "2025-08-10T00:05:00Z"}
    assert client.post("/v1/incidents", json=second, headers=admin).status_code == 201
    _august(client)
    resolution = {"request_id": "r1", "ended_at": "2025-03-10T01:00:00Z"}
    assert client.post("/v1/incidents/i1/resolution", json=resolution, headers=admin).status_code == 201

    # the rules: August has i2's 5 minutes only, 99.99 % uptime, no credit; March has i1's hour
    august = _august(client)
    assert (august["lines"][0]["downtime_seconds"], august["granted_minor"]) == ("300", 0)
    verification = client.get("/v1/audit/verification", headers=auth("auditor")).json()
    assert verification["mismatch_count"] == 0, verification["mismatches"]

    with TestClient(create_app(api_settings(store_url)), raise_server_exceptions=False) as restarted:
        august = _august(restarted)
        assert (august["lines"][0]["downtime_seconds"], august["granted_minor"]) == ("300", 0)


def test_an_unresolved_incident_from_an_earlier_month_leaves_verification_clean(client: TestClient) -> None:
    admin = auth("admin")
    assert client.post("/v1/contracts", json=CONTRACT, headers=admin).status_code == 201
    hour = {"incident_id": "i1", "service": "api", "regions": [], "severity": "outage"}
    for n, start in enumerate(("2025-03-10T00:00:00Z", "2025-06-10T00:00:00Z", "2025-08-10T00:00:00Z")):
        body = {**hour, "incident_id": f"i{n}", "started_at": start, "ended_at": start.replace("T00", "T01")}
        assert client.post("/v1/incidents", json=body, headers=admin).status_code == 201
    ongoing = {**hour, "incident_id": "ongoing", "started_at": "2025-05-01T00:00:00Z"}

    assert client.post("/v1/incidents", json=ongoing, headers=admin).status_code == 201

    verification = client.get("/v1/audit/verification", headers=auth("auditor")).json()
    assert verification["mismatch_count"] == 0, verification["mismatches"]
    june = client.get("/v1/customers/acme/credits?from=2025-06&to=2025-06", headers=admin).json()["periods"][0]
    assert (june["status"], june["lines"][0]["downtime_seconds"]) == ("open", "2592000")
