"""The role matrix: every endpoint x every role x no key x unknown key, from one table."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import KEYS, auth
from tests.api.scenario import contract, incident

ROLES = tuple(KEYS)
ALL_BUT_INGEST = {"admin", "account_manager", "billing", "auditor"}
CREDITS = {"admin", "account_manager", "billing", "auditor"}

# (method, path, body, roles allowed)
MATRIX = [
    ("POST", "/v1/contracts", contract(contract_id="m-c"), {"admin"}),
    (
        "POST",
        "/v1/contracts/c1/amendments",
        {"request_id": "r", "effective_from": "2025-02-01", "terms": contract()["terms"]},
        {"admin"},
    ),
    ("POST", "/v1/contracts/c1/termination", {"request_id": "r", "ends_on": "2030-01-31"}, {"admin"}),
    ("GET", "/v1/contracts/c1", None, ALL_BUT_INGEST),
    ("POST", "/v1/incidents", incident("m-i"), {"admin", "ingest"}),
    (
        "POST",
        "/v1/incidents/i1/resolution",
        {"request_id": "r", "ended_at": "2025-03-10T12:00:00Z"},
        {"admin", "ingest"},
    ),
    (
        "POST",
        "/v1/incidents/i1/corrections",
        {"request_id": "c", "reason": "x", "severity": "degraded"},
        {"admin", "ingest"},
    ),
    (
        "POST",
        "/v1/incidents/i1/classification",
        {"request_id": "k", "cause": "provider", "reason": "x"},
        {"admin", "ingest"},
    ),
    (
        "POST",
        "/v1/incidents/i1/exclusions",
        {"request_id": "e", "customer_id": "zz", "reason": "x"},
        {"admin", "ingest"},
    ),
    ("POST", "/v1/incidents/i1/retraction", {"request_id": "t", "reason": "x"}, {"admin", "ingest"}),
    ("GET", "/v1/incidents/i1", None, set(ROLES)),
    (
        "POST",
        "/v1/maintenance",
        {
            "maintenance_id": "m",
            "service": "compute",
            "regions": [],
            "starts_at": "2025-04-01T00:00:00Z",
            "ends_at": "2025-04-01T01:00:00Z",
            "announced_at": "2025-03-01T00:00:00Z",
        },
        {"admin", "ingest"},
    ),
    ("POST", "/v1/maintenance/m/cancellation", {"request_id": "c"}, {"admin", "ingest"}),
    ("GET", "/v1/customers/a/credits?from=2025-01&to=2025-03", None, CREDITS),
    ("GET", "/v1/customers/a/periods/2025-03/explanation", None, CREDITS),
    (
        "POST",
        "/v1/customers/a/claims",
        {"claim_id": "k", "month": "2025-03", "channel": "email", "message": ""},
        {"admin", "account_manager"},
    ),
    ("GET", "/v1/reports/claims?from=2025-01&to=2025-03", None, {"admin", "account_manager", "auditor"}),
    ("POST", "/v1/billing/runs", {"month": "2025-03"}, {"admin", "billing"}),
    ("GET", "/v1/billing/ledger", None, {"admin", "billing", "auditor"}),
    ("GET", "/v1/billing/runs", None, {"admin", "billing", "auditor"}),
    ("GET", "/v1/customers", None, {"admin", "account_manager", "billing", "auditor"}),
    ("GET", "/v1/billing/unbilled", None, {"admin", "billing", "auditor"}),
    ("GET", "/v1/billing/runs/RUN-000001-2025-01", None, {"admin", "billing", "auditor"}),
    ("GET", "/v1/billing/ledger.csv", None, {"admin", "billing", "auditor"}),
    ("POST", "/v1/billing/ledger/E000000001/acknowledgement", {"invoice_id": "INV-1"}, {"admin", "billing"}),
    ("GET", "/v1/audit/events", None, {"admin", "auditor"}),
    ("GET", "/v1/audit/verification", None, {"admin", "auditor"}),
    ("GET", "/v1/audit/checkpoint", None, {"admin", "auditor"}),
    ("POST", "/v1/audit/checkpoint/verification", {"position": 0, "digest": "0" * 64}, {"admin", "auditor"}),
    ("POST", "/v1/webhooks", {"url": "https://hooks.invalid/h", "events": ["ledger.entry.issued"]}, {"admin"}),
    ("GET", "/v1/webhooks", None, {"admin"}),
    ("GET", "/v1/webhooks/w1", None, {"admin"}),
    ("POST", "/v1/webhooks/w1/disable", {"reason": "x"}, {"admin"}),
    ("POST", "/v1/webhooks/w1/secret", None, {"admin"}),
    ("GET", "/v1/webhooks/w1/deliveries", None, {"admin"}),
    ("POST", "/v1/webhooks/w1/deliveries/dl1/retry", None, {"admin"}),
]


# for load balancers and scrapers on the operator's network: no customer data, no key
PUBLIC = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture
def world(client: TestClient) -> TestClient:
    assert client.post("/v1/contracts", json=contract(), headers=auth("admin")).status_code == 201
    assert client.post("/v1/incidents", json=incident(ended_at=None), headers=auth("admin")).status_code == 201
    return client


def test_every_endpoint_checks_every_role(world: TestClient) -> None:
    seen = []
    for method, path, body, allowed in MATRIX:
        for who in (*ROLES, None, "unknown"):
            headers = {} if who is None else {"Authorization": "Bearer not-a-key"} if who == "unknown" else auth(who)
            r = world.request(method, path, json=body, headers=headers)
            if who in (None, "unknown"):
                assert r.status_code == 401, (method, path, who)
                assert r.headers["www-authenticate"] == "Bearer"
            elif who in allowed:
                assert r.status_code not in (401, 403, 500), (method, path, who, r.status_code, r.text)
            else:
                assert r.status_code == 403, (method, path, who, r.status_code)
            assert r.headers["content-type"].split(";")[0] in (
                "application/json",
                "application/problem+json",
                "text/plain",
                "text/csv",
            )
            seen.append((method, path.split("?")[0]))
    documented = {
        (m.upper(), p) for p, ops in world.get("/openapi.json").json()["paths"].items() for m in ops if p not in PUBLIC
    }
    table = {
        (
            m,
            p.replace("c1", "{contract_id}")
            .replace("/i1", "/{incident_id}")
            .replace("/m/", "/{maintenance_id}/")
            .replace("/a/", "/{customer_id}/")
            .replace("2025-03/", "{month}/")
            .replace("E000000001", "{entry_id}")
            .replace("RUN-000001-2025-01", "{run_id}")
            .replace("/w1", "/{webhook_id}")
            .replace("/dl1/", "/{delivery_id}/"),
        )
        for m, p in set(seen)
    }
    assert documented == table, documented ^ table


def test_health_and_metrics_need_no_key(world: TestClient) -> None:
    for path in PUBLIC:
        assert world.get(path).status_code == 200, path


def test_keys_are_never_echoed(world: TestClient) -> None:
    r = world.get("/v1/contracts/c1", headers={"Authorization": "Bearer sneaky-guess"})

    assert "sneaky-guess" not in r.text
    assert r.status_code == 401
