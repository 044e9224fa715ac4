"""The product checks itself: the projection's self-check finds a stored row changed behind
the service's back within one cycle and reports it (/readyz, /metrics, console), an
untampered store with an unresolved incident stays clean, and a billing run over the
corrupted row issues the figure computed from the facts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import api_settings, auth
from tests.api.test_live_figures import CONTRACT


@pytest.fixture
def checked(store_url: str) -> Iterator[TestClient]:
    settings = api_settings(store_url, self_check_customers=1, self_check_pause_seconds=0.02)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _eventually(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll until `probe` answers something truthy (an observed condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _metric(client: TestClient, name: str) -> float:
    """A metric's value in the scrape (0 when it has none yet)."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _cycle_after(client: TestClient, instant: str) -> dict[str, Any]:
    """The self-check's report once a full cycle has ended after `instant`."""

    def probe() -> dict[str, Any] | None:
        check = client.get("/readyz").json().get("self_check")
        done = check is not None and (check["last_full_cycle_at"] or "") > instant
        return check if done else None

    return _eventually(probe, "a full self-check cycle")  # type: ignore[no-any-return]


def test_a_corrupted_row_is_found_in_one_cycle_and_billing_issues_the_fresh_figure(checked: TestClient) -> None:
    admin = auth("admin")
    for customer in ("acme", "beta", "gamma"):
        body = {**CONTRACT, "contract_id": f"k-{customer}", "customer_id": customer, "customer_name": customer}
        assert checked.post("/v1/contracts", json=body, headers=admin).status_code == 201
    outage = {"incident_id": "i1", "service": "api", "regions": [], "severity": "outage"}
    hour = {**outage, "started_at": "2025-03-10T00:00:00Z", "ended_at": "2025-03-10T01:00:00Z"}
    assert checked.post("/v1/incidents", json=hour, headers=admin).status_code == 201
    # an unresolved incident that started in an earlier month: no false alarm
    ongoing = {**outage, "incident_id": "ongoing", "started_at": "2025-04-20T00:00:00Z"}
    assert checked.post("/v1/incidents", json=ongoing, headers=admin).status_code == 201
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    clean = _cycle_after(checked, started)
    assert clean["mismatch_count"] == 0, clean["mismatches"]

    # the row to corrupt exists: a read waits for the views to reach the log's head
    credits = checked.get("/v1/customers/beta/credits?from=2025-03&to=2025-03", headers=auth("account_manager"))
    assert credits.json()["periods"][0]["credit_minor"] == 1000, credits.text
    service = checked.app.state.service  # type: ignore[attr-defined]
    with service.view.cursor(commit=True) as c:
        c.execute(
            service.view.sql(
                "UPDATE v_periods SET credit_minor = credit_minor + 5000, granted_minor = granted_minor + 5000 "
                "WHERE contract_id = ? AND month = ?"
            ),
            ("k-beta", "2025-03"),
        )
    corrupted = service.view.select(
        "SELECT credit_minor FROM v_periods WHERE contract_id = ? AND month = ?", ("k-beta", "2025-03")
    )
    assert [r["credit_minor"] for r in corrupted] == [6000]
    corrupted_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    # the cycle after the one running at the corruption checks every customer after it
    found = _cycle_after(checked, _cycle_after(checked, corrupted_at)["last_full_cycle_at"])
    assert found["mismatch_count"] == 1
    (m,) = found["mismatches"]
    assert (m["contract_id"], m["key"], m["stored"]["credit_minor"], m["fresh"]["credit_minor"]) == (
        "k-beta",
        "2025-03",
        6000,
        1000,
    )
    assert _metric(checked, "sla_credits_view_mismatches") == 1

    billed_mismatches = _metric(checked, "sla_credits_billing_view_mismatches_total")
    run = checked.post("/v1/billing/runs", json={"month": "2025-03"}, headers=auth("billing"))
    assert run.status_code == 201, run.text
    issued = {e["contract_id"]: e["amount_minor"] for e in run.json()["entries"]}
    # a one-hour outage in March: 99.865591 % < 99.9 -> 10 % of 10000 = 1000 for every contract
    assert issued == {"k-acme": 1000, "k-beta": 1000, "k-gamma": 1000}
    assert _metric(checked, "sla_credits_billing_view_mismatches_total") == billed_mismatches + 1
