"""The HTTP contract over the real ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.api.conftest import auth
from tests.api.scenario import contract, incident

ADMIN = auth("admin")


def test_healthz_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_signing_twice_is_idempotent_and_another_body_conflicts(client: TestClient) -> None:
    first = client.post("/v1/contracts", json=contract(), headers=ADMIN)
    again = client.post("/v1/contracts", json=contract(), headers=ADMIN)
    other = client.post("/v1/contracts", json=contract(customer_name="Other"), headers=ADMIN)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["history"] == first.json()["history"]
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["errors"][0]["field"] == "contract_id"


def test_credits_answer_has_the_documented_shape_and_figures(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)
    client.post("/v1/incidents", json=incident(), headers=auth("ingest"))

    r = client.get("/v1/customers/a/credits", params={"from": "2025-03", "to": "2025-03"}, headers=auth("billing"))

    assert r.status_code == 200
    doc = r.json()
    (p,) = doc["periods"]
    # March 2025 UTC: 31 days = 2678400 s; 1 h down: 100*(2678400-3600)/2678400 = 99.865591 -> 10 %
    assert p["lines"] == [
        {
            "service": "compute",
            "region": "eu",
            "measured_seconds": 2678400,
            "downtime_seconds": "3600",
            "uptime_percent": "99.865591",
            "credit_percent": "10",
            "fee_minor": 100000,
            "credit_minor": 10000,
        }
    ]
    assert (p["credit_minor"], p["granted_minor"], p["capped_minor"], p["status"]) == (10000, 10000, 0, "closed")
    assert doc["contract_years"] == [
        {
            "contract_id": "c1",
            "starts_on": "2025-01-01",
            "cap_minor": None,
            "credit_minor": 10000,
            "granted_minor": 10000,
            "capped_minor": 0,
            "remaining_minor": None,
        }
    ]


def test_transitions_replay_and_conflict_by_request_id(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)
    client.post("/v1/incidents", json=incident(ended_at=None), headers=ADMIN)
    body = {"request_id": "r1", "ended_at": "2025-03-10T12:00:00Z"}

    first = client.post("/v1/incidents/i1/resolution", json=body, headers=ADMIN)
    again = client.post("/v1/incidents/i1/resolution", json=body, headers=ADMIN)
    other = client.post("/v1/incidents/i1/resolution", json={**body, "ended_at": "2025-03-10T13:00:00Z"}, headers=ADMIN)
    unknown = client.post("/v1/incidents/nope/resolution", json=body, headers=ADMIN)

    assert (first.status_code, again.status_code, other.status_code, unknown.status_code) == (201, 200, 409, 404)
    assert [h["type"] for h in again.json()["history"]] == ["Opened", "Resolved"]


def test_every_transition_endpoint_records_its_fact(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)
    client.post("/v1/incidents", json=incident(), headers=ADMIN)

    assert (
        client.post(
            "/v1/incidents/i1/corrections",
            json={"request_id": "c", "reason": "late", "ended_at": "2025-03-10T12:00:00Z"},
            headers=ADMIN,
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/v1/incidents/i1/classification",
            json={"request_id": "k", "cause": "force_majeure", "reason": "storm"},
            headers=ADMIN,
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/v1/incidents/i1/exclusions",
            json={"request_id": "x", "customer_id": "a", "reason": "customer_caused"},
            headers=ADMIN,
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/v1/incidents/i1/retraction", json={"request_id": "t", "reason": "false alarm"}, headers=ADMIN
        ).status_code
        == 201
    )
    refused = client.post(
        "/v1/incidents/i1/resolution", json={"request_id": "z", "ended_at": "2025-03-11T00:00:00Z"}, headers=ADMIN
    )
    m = client.post(
        "/v1/maintenance",
        json={
            "maintenance_id": "m1",
            "service": "compute",
            "regions": ["eu"],
            "starts_at": "2025-04-01T00:00:00Z",
            "ends_at": "2025-04-01T02:00:00Z",
            "announced_at": "2025-03-01T00:00:00Z",
        },
        headers=ADMIN,
    )
    cancel = client.post("/v1/maintenance/m1/cancellation", json={"request_id": "c"}, headers=ADMIN)

    assert refused.status_code == 409
    assert (m.status_code, cancel.status_code, cancel.json()["cancelled"]) == (201, 201, True)
    history = client.get("/v1/incidents/i1", headers=auth("ingest")).json()["history"]
    assert [h["type"] for h in history] == ["Opened", "Corrected", "Classified", "CustomerExcluded", "Retracted"]


def test_contract_amendment_termination_and_read(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)

    amend = client.post(
        "/v1/contracts/c1/amendments",
        json={
            "request_id": "a",
            "effective_from": "2025-06-01",
            "subscriptions": [{"service": "compute", "region": "eu", "monthly_fee_minor": 200000}],
        },
        headers=ADMIN,
    )
    bad_day = client.post(
        "/v1/contracts/c1/amendments",
        json={"request_id": "b", "effective_from": "2025-06-02", "terms": contract()["terms"]},
        headers=ADMIN,
    )
    end = client.post("/v1/contracts/c1/termination", json={"request_id": "t", "ends_on": "2025-12-31"}, headers=ADMIN)
    after = client.post(
        "/v1/contracts/c1/amendments",
        json={"request_id": "c", "effective_from": "2025-07-01", "terms": contract()["terms"]},
        headers=ADMIN,
    )
    read = client.get("/v1/contracts/c1", headers=auth("auditor"))

    assert amend.status_code == 201
    assert bad_day.status_code == 422 and bad_day.json()["errors"][0]["field"] == "effective_from"
    assert end.status_code == 201
    assert after.status_code == 409
    assert read.json()["ends_on"] == "2025-12-31"
    assert read.json()["amendments"][0]["effective_from"] == "2025-06-01"


def test_bad_input_is_a_422_naming_the_field(client: TestClient) -> None:
    cases = [
        (contract(timezone="Nowhere/City"), "timezone"),
        (contract(currency="dollars"), "currency"),
        (contract(starts_on="2025-02-30"), "starts_on"),
        (contract(unexpected=1), "unexpected"),
        ({**contract(), "terms": {**contract()["terms"], "degraded_weight": 0.5}}, "terms.degraded_weight"),
    ]
    for body, field in cases:
        r = client.post("/v1/contracts", json=body, headers=ADMIN)
        assert r.status_code == 422, body
        assert r.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in r.json()["errors"]], r.json()
    naive = client.post("/v1/incidents", json=incident(started_at="2025-03-10T10:00:00"), headers=ADMIN)
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "started_at"
    broken = client.post("/v1/contracts", content=b"{not json", headers={**ADMIN, "content-type": "application/json"})
    assert broken.status_code == 422
    for params, field in [
        ({"from": "2026-13", "to": "2026-12"}, "from"),
        ({"from": "2026-05", "to": "2026-01"}, "from"),
        ({"from": "2000-01", "to": "2026-01"}, "to"),
    ]:
        r = client.get("/v1/customers/a/credits", params=params, headers=ADMIN)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    naive_as_of = client.get(
        "/v1/customers/a/credits",
        params={"from": "2025-01", "to": "2025-02", "as_of": "2025-03-01T00:00:00"},
        headers=ADMIN,
    )
    assert naive_as_of.status_code == 422


def test_unknown_paths_and_wrong_methods_are_problems(client: TestClient) -> None:
    missing = client.get("/v1/nothing", headers=ADMIN)
    wrong = client.delete("/v1/contracts", headers=ADMIN)

    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert wrong.status_code == 405 and wrong.headers["content-type"] == "application/problem+json"


def test_as_of_answers_the_figure_known_at_an_instant_between_correction_facts(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)
    client.post("/v1/incidents", json=incident(), headers=ADMIN)
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    client.post(
        "/v1/incidents/i1/corrections",
        json={"request_id": "c", "reason": "longer", "ended_at": "2025-03-12T10:00:00Z"},
        headers=ADMIN,
    )

    then = client.get(
        "/v1/customers/a/credits", params={"from": "2025-03", "to": "2025-03", "as_of": between}, headers=ADMIN
    ).json()
    now = client.get("/v1/customers/a/credits", params={"from": "2025-03", "to": "2025-03"}, headers=ADMIN).json()

    # before: 1 h -> 10 % = 10000; after: 2 days -> 93.55 % -> 100 % = 100000
    assert then["periods"][0]["credit_minor"] == 10000
    assert now["periods"][0]["credit_minor"] == 100000


def test_claims_change_nothing_and_show_in_the_report(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)
    client.post("/v1/contracts", json=contract(contract_id="c2", customer_id="b"), headers=ADMIN)
    client.post("/v1/incidents", json=incident(), headers=ADMIN)
    before = client.get("/v1/customers/a/credits", params={"from": "2025-03", "to": "2025-03"}, headers=ADMIN).json()

    claim = client.post(
        "/v1/customers/a/claims",
        json={"claim_id": "k1", "month": "2025-03", "channel": "email", "message": "pay"},
        headers=auth("account_manager"),
    )
    again = client.post(
        "/v1/customers/a/claims",
        json={"claim_id": "k1", "month": "2025-03", "channel": "email", "message": "pay"},
        headers=auth("account_manager"),
    )
    nobody = client.post(
        "/v1/customers/zzz/claims",
        json={"claim_id": "k2", "month": "2025-03", "channel": "email", "message": "pay"},
        headers=ADMIN,
    )
    report = client.get(
        "/v1/reports/claims", params={"from": "2025-03", "to": "2025-03"}, headers=auth("auditor")
    ).json()
    after = client.get("/v1/customers/a/credits", params={"from": "2025-03", "to": "2025-03"}, headers=ADMIN).json()

    assert (claim.status_code, again.status_code, nobody.status_code) == (201, 200, 404)
    assert claim.json()["entitlement"]["periods"][0]["credit_minor"] == 10000
    assert after == before
    rows = {r["customer_id"]: r for r in report["customers"]}
    assert rows["a"]["claims_filed"] == 1 and rows["b"]["claims_filed"] == 0
    assert rows["a"]["credit_entitled_minor"] == rows["b"]["credit_entitled_minor"] == 10000
