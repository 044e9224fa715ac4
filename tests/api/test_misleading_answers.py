"""Answers that used to mislead (issue 16): an unknown customer, a number read as a Unix time,
a claim for a month that has not begun, a '+' that arrived as a space."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import auth
from tests.api.test_live_figures import CONTRACT


@pytest.fixture
def known(client: TestClient) -> TestClient:
    assert client.post("/v1/contracts", json=CONTRACT, headers=auth("admin")).status_code == 201
    return client


def test_credits_of_an_unknown_customer_are_a_404(known: TestClient) -> None:
    r = known.get("/v1/customers/nobody/credits?from=2025-01&to=2025-02", headers=auth("admin"))

    assert r.status_code == 404
    assert known.get("/v1/customers/acme/credits?from=2025-01&to=2025-02", headers=auth("admin")).status_code == 200


@pytest.mark.parametrize(
    ("as_of", "hint"),
    [
        ("0.5", "RFC 3339"),
        ("1700000000", "RFC 3339"),
        ("2025-06-01", "RFC 3339"),
        ("2025-06-01T00:00:00", "RFC 3339"),
        ("2025-06-01T00:00:00+02:00", "%2B"),  # sent unencoded: the '+' arrives as a space
    ],
)
def test_an_as_of_that_is_not_an_instant_is_refused_with_a_hint(known: TestClient, as_of: str, hint: str) -> None:
    for path in ("/v1/customers/acme/credits?from=2025-01&to=2025-02", "/v1/billing/ledger", "/v1/audit/events"):
        r = known.get(f"{path}{'&' if '?' in path else '?'}as_of={as_of}", headers=auth("admin"))

        assert r.status_code == 422, (path, r.text)
        assert hint in r.text, r.text


def test_an_encoded_offset_is_read(known: TestClient) -> None:
    r = known.get(
        "/v1/customers/acme/credits?from=2025-01&to=2025-02&as_of=2026-01-01T02:00:00%2B02:00", headers=auth("admin")
    )

    assert r.status_code == 200, r.text
    assert r.json()["as_of"] == "2026-01-01T00:00:00Z"


def test_a_claim_for_a_month_that_has_not_begun_is_refused(known: TestClient) -> None:
    body = {"claim_id": "c1", "month": "2090-01", "channel": "email", "message": "down"}

    r = known.post("/v1/customers/acme/claims", json=body, headers=auth("admin"))

    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "month"
    assert (
        known.post("/v1/customers/acme/claims", json={**body, "month": "2025-03"}, headers=auth("admin")).status_code
        == 201
    )


def test_one_representation_for_seconds_decimals_and_instants(client: TestClient) -> None:
    body = {**CONTRACT, "terms": {"credit_tiers": [{"below_percent": "99.0", "credit_percent": "25.0"}]}}
    assert client.post("/v1/contracts", json=body, headers=auth("admin")).status_code == 201
    outage = {"incident_id": "i1", "service": "api", "regions": [], "severity": "outage"}
    outage |= {"started_at": "2025-03-10T00:00:00+02:00", "ended_at": "2025-03-11T00:00:00+02:00"}
    assert client.post("/v1/incidents", json=outage, headers=auth("admin")).status_code == 201
    claim = {"claim_id": "c1", "month": "2025-03", "channel": "email", "message": "down"}
    assert client.post("/v1/customers/acme/claims", json=claim, headers=auth("admin")).status_code == 201

    explanation = client.get("/v1/customers/acme/periods/2025-03/explanation", headers=auth("admin")).json()
    credits = client.get("/v1/customers/acme/credits?from=2025-03&to=2025-03", headers=auth("admin")).json()
    report = client.get(
        "/v1/reports/claims?from=2025-03&to=2025-03&as_of=2026-01-01T01:00:00%2B01:00", headers=auth("admin")
    ).json()

    text = str(explanation)
    (line,) = credits["periods"][0]["lines"]
    assert line["measured_seconds"] == 2678400 and line["credit_percent"] == "25.0"  # as the contract writes it
    assert "'measured_seconds': 2678400" in text and "'below_percent': '99.0'" in text
    assert "+00:00" not in text and "+02:00" not in text  # instants always ...Z
    assert report["as_of"] == "2026-01-01T00:00:00Z"


def test_customers_are_found_by_id_or_name_and_paged_with_a_cursor(client: TestClient) -> None:
    for n, name in enumerate(("Acme Corp", "Beta Labs", "Acme Europe")):
        body = {**CONTRACT, "contract_id": f"k{n}", "customer_id": f"c{n}", "customer_name": name}
        assert client.post("/v1/contracts", json=body, headers=auth("admin")).status_code == 201
    claim = {"claim_id": "cl1", "month": "2025-03", "channel": "email", "message": "down"}
    assert client.post("/v1/customers/c2/claims", json=claim, headers=auth("admin")).status_code == 201

    first = client.get("/v1/customers?q=acme&limit=1", headers=auth("account_manager")).json()
    second = client.get(f"/v1/customers?q=ACME&limit=1&after={first['next_cursor']}", headers=auth("billing")).json()
    by_id = client.get("/v1/customers?q=c1", headers=auth("auditor")).json()

    assert [c["customer_id"] for c in first["customers"]] == ["c0"] and first["next_cursor"] == "c0"
    assert [(c["customer_id"], c["claims"], c["contracts"]) for c in second["customers"]] == [("c2", 1, ["k2"])]
    assert second["next_cursor"] is None
    assert [c["name"] for c in by_id["customers"]] == ["Beta Labs"]
    assert client.get("/v1/customers", headers=auth("ingest")).status_code == 403
