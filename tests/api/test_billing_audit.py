"""Billing runs, the ledger, acknowledgements, the event feed and verification over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import auth
from tests.api.scenario import contract, incident

ADMIN = auth("admin")
BILLING = auth("billing")


def _entries(client: TestClient) -> list[dict]:
    out, cursor = [], None
    while True:
        page = client.get(
            "/v1/billing/ledger", params={"limit": 2, **({"after": cursor} if cursor else {})}, headers=BILLING
        ).json()
        if not page["entries"]:
            return out
        out += page["entries"]
        cursor = page["next_cursor"]


def test_a_rerun_issues_only_changes_and_a_correction_a_negative_adjustment(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)
    client.post("/v1/incidents", json=incident(ended_at="2025-03-12T10:00:00Z"), headers=ADMIN)

    first = client.post("/v1/billing/runs", json={"month": "2025-03"}, headers=BILLING)
    again = client.post("/v1/billing/runs", json={"month": "2025-03"}, headers=BILLING)
    client.post(
        "/v1/incidents/i1/corrections",
        json={"request_id": "c", "reason": "shorter", "ended_at": "2025-03-10T11:00:00Z"},
        headers=ADMIN,
    )
    later = client.post("/v1/billing/runs", json={"month": "2025-04"}, headers=BILLING)

    # 2 days in March: 93.548387 % -> 100 % = 100000; corrected to 1 h: 10 % = 10000 -> -90000
    assert first.status_code == 201
    assert [(e["kind"], e["amount_minor"]) for e in first.json()["entries"]] == [("credit", 100000)]
    assert again.json()["entries"] == []
    assert [(e["kind"], e["month"], e["amount_minor"]) for e in later.json()["entries"]] == [
        ("adjustment", "2025-03", -90000)
    ]
    entries = _entries(client)
    assert sum(e["amount_minor"] for e in entries if e["month"] == "2025-03") == 10000
    march = client.get("/v1/customers/a/credits", params={"from": "2025-03", "to": "2025-03"}, headers=ADMIN).json()
    assert march["periods"][0]["status"] == "issued"
    assert march["periods"][0]["granted_minor"] == 10000


def test_a_month_not_ended_for_any_contract_is_a_conflict(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)

    r = client.post("/v1/billing/runs", json={"month": "2099-01"}, headers=BILLING)

    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "month"


def test_acknowledgements_are_idempotent_and_refuse_another_invoice(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)
    client.post("/v1/incidents", json=incident(), headers=ADMIN)
    entry = client.post("/v1/billing/runs", json={"month": "2025-03"}, headers=BILLING).json()["entries"][0]["entry_id"]

    first = client.post(f"/v1/billing/ledger/{entry}/acknowledgement", json={"invoice_id": "INV-1"}, headers=BILLING)
    again = client.post(f"/v1/billing/ledger/{entry}/acknowledgement", json={"invoice_id": "INV-1"}, headers=BILLING)
    other = client.post(f"/v1/billing/ledger/{entry}/acknowledgement", json={"invoice_id": "INV-2"}, headers=BILLING)
    unknown = client.post("/v1/billing/ledger/E999/acknowledgement", json={"invoice_id": "INV-1"}, headers=BILLING)

    assert (first.status_code, again.status_code, other.status_code, unknown.status_code) == (200, 200, 409, 404)
    assert _entries(client)[0]["invoice_id"] == "INV-1"
    csv_text = client.get("/v1/billing/ledger.csv", headers=BILLING).text
    assert csv_text.splitlines()[0].startswith("entry_id,run_id,customer_id")
    assert "INV-1" in csv_text


def test_the_event_feed_and_verification_agree_and_find_a_corrupted_view_row(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)
    client.post("/v1/incidents", json=incident(), headers=ADMIN)

    feed = client.get("/v1/audit/events", headers=auth("auditor")).json()["events"]
    clean = client.get("/v1/audit/verification", headers=auth("auditor")).json()
    service = client.app.state.service  # type: ignore[attr-defined]
    service.view.select("SELECT 1")  # the same store the service reads
    with service.view.cursor(commit=True) as c:
        c.execute("UPDATE v_periods SET granted_minor = granted_minor + 1")
    dirty = client.get("/v1/audit/verification", headers=auth("auditor")).json()

    assert [f["type"] for f in feed] == ["domain.contract:Contract.Signed", "domain.incident:Incident.Opened"]
    assert feed[-1]["link"] == clean["digest"]
    assert (clean["events"], clean["mismatch_count"], clean["first_bad_position"]) == (2, 0, None)
    assert dirty["mismatch_count"] == 2
    assert {m["table"] for m in dirty["mismatches"]} == {"v_periods"}
