"""Concurrent writers to the same incident never lose a fact and never get a 500."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.api.conftest import auth
from tests.api.scenario import contract, incident

ADMIN = auth("admin")


def test_concurrent_exclusions_on_one_incident_are_all_recorded(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)
    client.post("/v1/incidents", json=incident(), headers=ADMIN)

    def exclude(n: int) -> int:
        body = {"request_id": f"x{n}", "customer_id": f"cust{n}", "reason": "customer_caused"}
        return client.post("/v1/incidents/i1/exclusions", json=body, headers=ADMIN).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(exclude, range(24)))

    assert set(statuses) <= {201, 409}
    recorded = client.get("/v1/incidents/i1", headers=ADMIN).json()["excluded_customers"]
    assert len(recorded) == statuses.count(201)
    assert statuses.count(201) == 24
