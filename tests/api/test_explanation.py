"""The explanation says why each incident and maintenance window did or did not count,
and its figures are the credits answer's."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.api.conftest import auth
from tests.api.scenario import contract, incident

ADMIN = auth("admin")


def _setup(client: TestClient) -> None:
    client.post(
        "/v1/contracts",
        json=contract(
            subscriptions=[
                {"service": "compute", "region": "eu", "monthly_fee_minor": 100000},
                {"service": "storage", "region": "eu", "monthly_fee_minor": 50000},
            ],
            terms={**contract()["terms"], "annual_cap": {"amount_minor": 5000}},
        ),
        headers=ADMIN,
    )
    day = "2025-03-0{}T{}:00:00Z"
    client.post(
        "/v1/incidents",
        json=incident("counted", started_at=day.format(1, 10), ended_at=day.format(1, 11)),
        headers=ADMIN,
    )
    client.post(
        "/v1/incidents",
        json=incident("region", regions=["us"], started_at=day.format(2, 10), ended_at=day.format(2, 11)),
        headers=ADMIN,
    )
    client.post(
        "/v1/incidents",
        json=incident("customer", customers=["b"], started_at=day.format(3, 10), ended_at=day.format(3, 11)),
        headers=ADMIN,
    )
    client.post(
        "/v1/incidents",
        json=incident("fm", cause="force_majeure", started_at=day.format(4, 10), ended_at=day.format(4, 11)),
        headers=ADMIN,
    )
    client.post(
        "/v1/incidents", json=incident("gone", started_at=day.format(5, 10), ended_at=day.format(5, 11)), headers=ADMIN
    )
    client.post("/v1/incidents/gone/retraction", json={"request_id": "r", "reason": "false alarm"}, headers=ADMIN)
    client.post(
        "/v1/incidents", json=incident("excl", started_at=day.format(6, 10), ended_at=day.format(6, 11)), headers=ADMIN
    )
    client.post(
        "/v1/incidents/excl/exclusions",
        json={"request_id": "x", "customer_id": "a", "reason": "customer_caused"},
        headers=ADMIN,
    )
    client.post(
        "/v1/incidents",
        json=incident("feb", started_at="2025-02-27T10:00:00Z", ended_at="2025-03-01T00:00:00Z"),
        headers=ADMIN,
    )
    for mid, kw in {
        "ok": {"announced_at": "2025-02-01T00:00:00Z"},
        "late": {"announced_at": "2025-03-07T12:00:00Z"},
        "cancel": {"announced_at": "2025-02-01T00:00:00Z"},
        "elsewhere": {"announced_at": "2025-02-01T00:00:00Z", "regions": ["us"]},
    }.items():
        body = {
            "maintenance_id": mid,
            "service": "compute",
            "regions": ["eu"],
            "starts_at": "2025-03-08T00:00:00Z",
            "ends_at": "2025-03-08T02:00:00Z",
            **kw,
        }
        client.post("/v1/maintenance", json=body, headers=ADMIN)
    client.post("/v1/maintenance/cancel/cancellation", json={"request_id": "c"}, headers=ADMIN)


def test_each_reason_for_not_counting_is_named(client: TestClient) -> None:
    _setup(client)

    doc = client.get("/v1/customers/a/periods/2025-03/explanation", headers=auth("account_manager")).json()

    (period,) = doc["periods"]
    compute = next(line for line in period["lines"] if line["service"] == "compute")
    storage = next(line for line in period["lines"] if line["service"] == "storage")
    reasons = {i["incident_id"]: i["reason"] for i in compute["incidents"]}
    assert reasons == {
        "counted": None,
        "region": "other_region",
        "customer": "other_customer",
        "fm": "force_majeure",
        "gone": "retracted",
        "excl": "customer_excluded",
    }
    assert {i["incident_id"]: i["reason"] for i in storage["incidents"]}["counted"] == "other_service"
    maint = {m["maintenance_id"]: m["reason"] for m in compute["maintenance"]}
    assert maint == {"ok": None, "late": "notice_too_short", "cancel": "cancelled", "elsewhere": "other_region"}
    assert compute["downtime_intervals"] == [
        {"start": "2025-03-01T10:00:00Z", "end": "2025-03-01T11:00:00Z", "weight": "1"}
    ]


def test_an_incident_outside_the_window_is_named(client: TestClient) -> None:
    _setup(client)
    client.post(
        "/v1/contracts", json=contract(contract_id="late-c", customer_id="late", starts_on="2025-03-15"), headers=ADMIN
    )

    doc = client.get("/v1/customers/late/periods/2025-03/explanation", headers=ADMIN).json()

    reasons = {i["incident_id"]: i["reason"] for i in doc["periods"][0]["lines"][0]["incidents"]}
    assert reasons["counted"] == "outside_window"
    assert doc["periods"][0]["lines"][0]["downtime_seconds"] == "0"


FIGURES = ("service", "region", "downtime_seconds", "uptime_percent", "credit_percent", "fee_minor", "credit_minor")


def _figures(line: dict) -> dict:
    return {k: line[k] for k in FIGURES}


def test_explanation_figures_equal_the_credits_answer(client: TestClient) -> None:
    _setup(client)

    for month in ("2025-02", "2025-03", "2025-04"):
        exp = client.get(f"/v1/customers/a/periods/{month}/explanation", headers=ADMIN).json()["periods"][0]
        cred = client.get("/v1/customers/a/credits", params={"from": month, "to": month}, headers=ADMIN).json()[
            "periods"
        ][0]

        assert [_figures(line) for line in exp["lines"]] == [_figures(line) for line in cred["lines"]]
        assert (exp["credit_minor"], exp["granted_minor"], exp["capped_minor"]) == (
            cred["credit_minor"],
            cred["granted_minor"],
            cred["capped_minor"],
        )


def test_explanation_reads_as_text(client: TestClient) -> None:
    _setup(client)

    text = client.get("/v1/customers/a/periods/2025-03/explanation", headers={**ADMIN, "Accept": "text/plain"})
    fmt = client.get("/v1/customers/a/periods/2025-03/explanation?format=text", headers=ADMIN)

    assert text.headers["content-type"].startswith("text/plain")
    assert "incident region did not count: in another region." in text.text
    assert re.search(
        r"maintenance late \(.+ UTC to .+ UTC\) did not excuse downtime: announced .+ before, "
        r"and the contract asks for 48 h notice\.",
        text.text,
    ), text.text
    assert "minor units" not in text.text and "$" in text.text  # the contract's currency, as written
    assert "uptime 99.865591 %" in text.text
    assert fmt.text == text.text
