"""Values the rules cannot process are refused with a 422 naming the field, nothing is
recorded, and the projection keeps running: the poison facts found in issues 13 and 17."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Cases, auth
from tests.api.test_live_figures import CONTRACT

OUTAGE = {"incident_id": "x1", "service": "api", "regions": [], "severity": "outage"}


def _terms(**changes: Any) -> dict[str, Any]:
    terms = {"credit_tiers": [{"below_percent": "99.9", "credit_percent": "10"}], **changes}
    return {**CONTRACT, "contract_id": "k2", "terms": terms}


REFUSED = [
    # (path, body, the field named)
    (
        "/v1/incidents",
        {**OUTAGE, "started_at": "0001-01-01T00:00:00Z", "ended_at": "9999-12-31T00:00:00Z"},
        "started_at",
    ),
    ("/v1/incidents", {**OUTAGE, "started_at": "0001-01-01T10:00:00+14:00"}, "started_at"),
    ("/v1/incidents", {**OUTAGE, "started_at": "2025-01-01T00:00:00Z", "ended_at": "9999-12-31T23:00:00Z"}, "ended_at"),
    ("/v1/incidents", {**OUTAGE, "started_at": "2100-01-01T00:00:00Z"}, "started_at"),
    ("/v1/incidents", {**OUTAGE, "started_at": "1969-12-31T23:59:59.999999Z"}, "started_at"),
    ("/v1/incidents", {**OUTAGE, "incident_id": "adv/open", "started_at": "2025-01-01T00:00:00Z"}, "incident_id"),
    ("/v1/incidents", {**OUTAGE, "incident_id": "x\u0000", "started_at": "2025-01-01T00:00:00Z"}, "incident_id"),
    ("/v1/incidents", {**OUTAGE, "title": "a\u0000b", "started_at": "2025-01-01T00:00:00Z"}, "title"),
    ("/v1/incidents", {**OUTAGE, "regions": [" "], "started_at": "2025-01-01T00:00:00Z"}, "regions[0]"),
    ("/v1/contracts/k1/termination", {"request_id": "t1", "ends_on": "9999-12-31"}, "ends_on"),
    (
        "/v1/contracts/k1/amendments",
        {
            "request_id": "a1",
            "effective_from": "2100-01-01",
            "terms": None,
            "subscriptions": [{"service": "api", "region": "eu", "monthly_fee_minor": 1}],
        },
        "effective_from",
    ),
    ("/v1/contracts", _terms(degraded_weight="0." + "3" * 80), "terms.degraded_weight"),
    ("/v1/contracts", _terms(degraded_weight="1e-1000000"), "terms.degraded_weight"),
    ("/v1/contracts", _terms(annual_cap={"percent_of_annual_fees": "1e20"}), "terms.annual_cap.percent_of_annual_fees"),
    (
        "/v1/contracts",
        _terms(annual_cap={"percent_of_annual_fees": "100.5"}),
        "terms.annual_cap.percent_of_annual_fees",
    ),
    (
        "/v1/contracts",
        {**_terms(), "terms": {"credit_tiers": [{"below_percent": "1e-999999999", "credit_percent": "10"}]}},
        "terms.credit_tiers[0].below_percent",
    ),
    ("/v1/contracts", {**_terms(), "timezone": "localtime"}, "timezone"),
    ("/v1/contracts", {**_terms(), "timezone": "Factory"}, "timezone"),
    ("/v1/contracts", {**_terms(), "timezone": "EST5EDT"}, "timezone"),
    ("/v1/contracts", {**_terms(), "customer_name": ""}, "customer_name"),
    ("/v1/contracts", {**_terms(), "customer_name": "  "}, "customer_name"),
    ("/v1/contracts", {**_terms(), "customer_name": "A\u0000"}, "customer_name"),
    ("/v1/contracts", {**_terms(), "customer_id": "a b"}, "customer_id"),
    ("/v1/contracts", {**_terms(), "starts_on": "1969-12-31"}, "starts_on"),
    ("/v1/customers/acme/claims", {"claim_id": "c", "month": "9999-12", "channel": "email", "message": "x"}, "month"),
]


def test_a_value_outside_the_domain_is_refused_naming_the_field(client: TestClient) -> None:
    """Each value on one store (one store per case cost a minute of CI): the log is read before
    and after each, so a case that recorded anything is the one that fails."""
    admin = auth("admin")
    assert client.post("/v1/contracts", json=CONTRACT, headers=admin).status_code == 201

    cases = Cases()
    for path, body, field in REFUSED:
        with cases.case(f"{path} {field}"):
            before = client.get("/v1/audit/events?limit=1000", headers=admin).json()

            for _ in range(2):  # a retry is refused the same way
                r = client.post(path, json=body, headers=admin)
                assert r.status_code == 422, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                named = {e["field"] for e in r.json().get("errors", [])} | {r.json().get("field", "")}
                assert any(field == n or n.startswith(field) for n in named), r.json()

            assert client.get("/v1/audit/events?limit=1000", headers=admin).json() == before
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
    cases.check()


@pytest.mark.parametrize("month", ["9999-12", "1969-12", "2100-01"])
def test_a_month_no_fact_can_reach_is_a_422_naming_it_not_a_server_error(client: TestClient, month: str) -> None:
    """Found by the console's fuzz run: the explanation of 9999-12 (and a billing run for it)
    worked out the month after it, year 10000, and failed with a 500."""
    admin = auth("admin")
    assert client.post("/v1/contracts", json=CONTRACT, headers=admin).status_code == 201
    before = client.get("/v1/audit/events?limit=1000", headers=admin).json()

    explained = client.get(f"/v1/customers/acme/periods/{month}/explanation", headers=admin)
    run = client.post("/v1/billing/runs", json={"month": month}, headers=admin)

    for r in (explained, run):
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == ["month"], r.json()
    assert client.get("/v1/audit/events?limit=1000", headers=admin).json() == before


@pytest.mark.parametrize(
    "query",
    [
        "from=2025-01&to=2025-02&as_of=0001-01-01T00:00:00%2B05:00",
        "from=0001-01&to=0001-02",
        "from=2025-01&to=9999-12",
    ],
)
def test_a_query_outside_the_domain_is_a_422(client: TestClient, query: str) -> None:
    r = client.get(f"/v1/customers/acme/credits?{query}", headers=auth("admin"))

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("after", ["5383002049108923518059282432", str(2**62 + 1), "-1"])
def test_an_audit_position_beyond_any_log_is_a_422_naming_it(client: TestClient, after: str) -> None:
    """Found by schemathesis: a position past 64 bits reached SQLite and failed there (a 500)."""
    r = client.get(f"/v1/audit/events?after={after}", headers=auth("admin"))

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"] == "after" for e in r.json()["errors"]), r.json()
    assert client.get(f"/v1/audit/events?after={2**62}", headers=auth("admin")).json()["events"] == []


def test_an_invoice_id_must_not_be_blank(client: TestClient) -> None:
    admin = auth("admin")
    assert client.post("/v1/contracts", json=CONTRACT, headers=admin).status_code == 201
    hour = {**OUTAGE, "started_at": "2025-03-10T00:00:00Z", "ended_at": "2025-03-10T01:00:00Z"}
    assert client.post("/v1/incidents", json=hour, headers=admin).status_code == 201
    run = client.post("/v1/billing/runs", json={"month": "2025-03"}, headers=admin).json()
    entry = run["entries"][0]["entry_id"]

    r = client.post(f"/v1/billing/ledger/{entry}/acknowledgement", json={"invoice_id": " "}, headers=admin)

    assert r.status_code == 422, r.text
    assert (
        client.post(
            f"/v1/billing/ledger/{entry}/acknowledgement", json={"invoice_id": "INV-1"}, headers=admin
        ).status_code
        == 200
    )
