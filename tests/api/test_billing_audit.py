"""Billing runs, the ledger, acknowledgements, the event feed and verification over HTTP."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

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


def test_a_poller_running_during_runs_never_misses_or_rereads_an_entry(client: TestClient) -> None:
    for n in range(12):
        client.post("/v1/contracts", json=contract(contract_id=f"c{n}", customer_id=f"cust{n}"), headers=ADMIN)
    for month in range(1, 7):
        body = incident(
            f"i{month}", started_at=f"2025-{month:02d}-10T00:00:00Z", ended_at=f"2025-{month:02d}-10T05:00:00Z"
        )
        client.post("/v1/incidents", json=body, headers=ADMIN)
    stop = threading.Event()
    polled: list[str] = []

    def poll() -> None:
        cursor = None
        while True:
            finished = stop.is_set()  # read before the page: the last page after it sees everything
            params = {"limit": 5, **({"after": cursor} if cursor else {})}
            page = client.get("/v1/billing/ledger", params=params, headers=BILLING).json()
            polled.extend(e["entry_id"] for e in page["entries"])
            cursor = page["next_cursor"]
            if finished and not page["entries"]:
                return

    def run(month: str) -> int:
        return client.post("/v1/billing/runs", json={"month": month}, headers=BILLING).status_code

    poller = threading.Thread(target=poll)
    poller.start()
    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(run, [f"2025-{m:02d}" for m in range(1, 7)] * 2))
        client.post(
            "/v1/incidents/i2/corrections",
            json={"request_id": "c", "reason": "longer", "ended_at": "2025-02-12T00:00:00Z"},
            headers=ADMIN,
        )
        statuses += list(pool.map(run, ["2025-07", "2025-07"]))
    stop.set()
    poller.join(timeout=60)

    everything = [e["entry_id"] for e in _entries(client)]
    assert set(statuses) == {201}
    assert len(everything) == 12 * 6 + 12  # a credit per contract and month, then the February adjustments
    assert polled == everything


def test_as_of_on_the_ledger_the_report_and_the_event_feed(client: TestClient) -> None:
    client.post("/v1/contracts", json=contract(), headers=ADMIN)
    client.post("/v1/incidents", json=incident(), headers=ADMIN)
    client.post("/v1/billing/runs", json={"month": "2025-03"}, headers=BILLING)
    client.post(
        "/v1/customers/a/claims",
        json={"claim_id": "k1", "month": "2025-03", "channel": "email"},
        headers=auth("account_manager"),
    )
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    client.post(
        "/v1/incidents/i1/corrections",
        json={"request_id": "c", "reason": "longer", "ended_at": "2025-03-10T20:00:00Z"},
        headers=ADMIN,
    )
    client.post("/v1/billing/runs", json={"month": "2025-04"}, headers=BILLING)
    client.post(
        "/v1/customers/a/claims",
        json={"claim_id": "k2", "month": "2025-03", "channel": "phone"},
        headers=auth("account_manager"),
    )

    def ledger(**params: str) -> list[tuple[str, int]]:
        page = client.get("/v1/billing/ledger", params=params, headers=BILLING).json()
        return [(e["kind"], e["amount_minor"]) for e in page["entries"]]

    def report(**params: str) -> tuple[int, int]:
        r = client.get("/v1/reports/claims", params={"from": "2025-03", "to": "2025-03", **params}, headers=ADMIN)
        (row,) = r.json()["customers"]
        return row["claims_filed"], row["credit_granted_minor"]

    feed_then = client.get("/v1/audit/events", params={"as_of": between}, headers=auth("auditor")).json()["events"]
    feed_now = client.get("/v1/audit/events", headers=auth("auditor")).json()["events"]
    csv_then = client.get("/v1/billing/ledger.csv", params={"as_of": between}, headers=BILLING).text
    future = client.get("/v1/billing/ledger", params={"as_of": "2999-01-01T00:00:00Z"}, headers=BILLING)

    # 1 h in March: 10 % = 10000; corrected to 10 h: 98.66 % -> 25 % = 25000, adjustment +15000
    assert ledger(as_of=between) == [("credit", 10000)]
    assert ledger() == [("credit", 10000), ("adjustment", 15000)]
    assert report(as_of=between) == (1, 10000)
    assert report() == (2, 25000)
    assert len(feed_then) == len(feed_now) - 3  # the correction, the second run, the second claim
    assert feed_then == feed_now[: len(feed_then)]
    assert len(csv_then.splitlines()) == 2
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "as_of"


def test_the_ledger_filters_by_customer_month_kind_and_acknowledgement(client: TestClient) -> None:
    from tests.api.test_live_figures import CONTRACT

    admin = auth("admin")
    for customer in ("acme", "beta"):
        body = {**CONTRACT, "contract_id": f"k-{customer}", "customer_id": customer}
        assert client.post("/v1/contracts", json=body, headers=admin).status_code == 201
    for month in ("03", "04"):
        hour = {"incident_id": f"i{month}", "service": "api", "regions": [], "severity": "outage"}
        hour |= {"started_at": f"2025-{month}-10T00:00:00Z", "ended_at": f"2025-{month}-10T01:00:00Z"}
        assert client.post("/v1/incidents", json=hour, headers=admin).status_code == 201
        assert client.post("/v1/billing/runs", json={"month": f"2025-{month}"}, headers=admin).status_code == 201
    first = client.get("/v1/billing/ledger?customer_id=acme&month=2025-03", headers=admin).json()["entries"]
    assert [(e["customer_id"], e["month"], e["kind"]) for e in first] == [("acme", "2025-03", "credit")]
    ack = {"invoice_id": "INV-1"}
    assert (
        client.post(f"/v1/billing/ledger/{first[0]['entry_id']}/acknowledgement", json=ack, headers=admin).status_code
        == 200
    )

    open_entries = client.get("/v1/billing/ledger?unacknowledged=true", headers=admin).json()["entries"]
    credits = client.get("/v1/billing/ledger?kind=credit&customer_id=beta", headers=admin).json()["entries"]
    csv_text = client.get("/v1/billing/ledger.csv?customer_id=beta&month=2025-04", headers=admin).text

    assert len(open_entries) == 3 and all(e["invoice_id"] is None for e in open_entries)
    assert [(e["customer_id"], e["month"]) for e in credits] == [("beta", "2025-03"), ("beta", "2025-04")]
    assert csv_text.count("\n") == 2 and "beta" in csv_text
    assert client.get("/v1/billing/ledger?kind=refund", headers=admin).status_code == 422


def test_billing_runs_are_listed_and_read_one_by_one(client: TestClient) -> None:
    from tests.api.test_live_figures import CONTRACT

    admin = auth("admin")
    assert client.post("/v1/contracts", json=CONTRACT, headers=admin).status_code == 201
    hour = {"incident_id": "i1", "service": "api", "regions": [], "severity": "outage"}
    hour |= {"started_at": "2025-03-10T00:00:00Z", "ended_at": "2025-03-10T01:00:00Z"}
    assert client.post("/v1/incidents", json=hour, headers=admin).status_code == 201
    first = client.post("/v1/billing/runs", json={"month": "2025-03"}, headers=admin).json()
    second = client.post("/v1/billing/runs", json={"month": "2025-04"}, headers=admin).json()

    runs = client.get("/v1/billing/runs", headers=auth("billing")).json()["runs"]
    march = client.get("/v1/billing/runs?month=2025-03", headers=auth("auditor")).json()["runs"]
    one = client.get(f"/v1/billing/runs/{first['run_id']}", headers=auth("billing")).json()

    assert [r["run_id"] for r in runs] == [first["run_id"], second["run_id"]]
    assert [r["run_id"] for r in march] == [first["run_id"]]
    # one hour in March: 99.865591 % -> 10 % of 10000
    assert one["totals"] == {"USD": {"credit": 1000, "adjustment": 0}} and one["entries"] == 1
    assert [e["amount_minor"] for e in one["entries_issued"]] == [1000]
    assert client.get("/v1/billing/runs/RUN-nope", headers=admin).status_code == 404


def test_closed_periods_not_issued_yet_are_listed_until_a_run_issues_them(client: TestClient) -> None:
    from tests.api.test_live_figures import CONTRACT

    admin = auth("admin")
    assert client.post("/v1/contracts", json={**CONTRACT, "starts_on": "2025-01-01"}, headers=admin).status_code == 201
    hour = {"incident_id": "i1", "service": "api", "regions": [], "severity": "outage"}
    hour |= {"started_at": "2025-03-10T00:00:00Z", "ended_at": "2025-03-10T01:00:00Z"}
    assert client.post("/v1/incidents", json=hour, headers=admin).status_code == 201
    before = client.get("/v1/billing/unbilled", headers=auth("billing")).json()
    assert before["billing_started_with"] is None
    march = [p for p in before["periods"] if p["month"] == "2025-03"]
    assert march == [
        {
            "customer_id": "acme",
            "contract_id": "k1",
            "month": "2025-03",
            "currency": "USD",
            "granted_minor": 1000,
            "issued_by_next_run": False,
        }
    ]

    assert client.post("/v1/billing/runs", json={"month": "2025-02"}, headers=admin).status_code == 201
    after = client.get("/v1/billing/unbilled", headers=auth("billing")).json()

    assert after["billing_started_with"] == "2025-02"
    months = {p["month"]: p["issued_by_next_run"] for p in after["periods"]}
    assert "2025-02" not in months and months["2025-01"] is False and months["2025-03"] is True
