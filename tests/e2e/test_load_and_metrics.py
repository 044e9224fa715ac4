"""200 concurrent writers against 2 API workers and the projection process on PostgreSQL, the
service connecting as the role `sla-credits migrate` made: no fact lost or duplicated, the
views equal a fresh replay, the ledger holds its invariant, and /metrics counts what was done."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.scenario import contract, incident
from tests.e2e.processes import KEYS, Server, environment, headers, verified

WRITERS = 200
CUSTOMERS = 20


@pytest.fixture
def service_role(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(the owner's URL, the URL of a service role created by `sla-credits migrate`)."""
    import subprocess
    import sys

    role = f"slac_svc_{uuid.uuid4().hex[:8]}"
    env = environment(postgres_url, service_role=role)
    done = subprocess.run([sys.executable, "-m", "api.cli", "migrate"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([sys.executable, "-m", "api.cli", "migrate"], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr  # idempotent
    parsed = urlparse(postgres_url)
    yield postgres_url, urlunparse(parsed._replace(netloc=f"{role}@{parsed.hostname}:{parsed.port or 5432}"))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE "{role}"')


def _metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def _writer(http: httpx.AsyncClient, n: int) -> list[tuple[str, int]]:
    admin, am, billing = headers("admin"), headers("account_manager"), headers("billing")
    day, hour = 1 + n % 27, n % 24
    started = f"2025-02-{day:02d}T{hour:02d}:00:00Z"
    statuses = []
    r = await http.post("/v1/incidents", json=incident(f"w{n}", started_at=started, ended_at=None), headers=admin)
    statuses.append(("open", r.status_code))
    body = {"request_id": "r", "ended_at": f"2025-02-{day:02d}T{hour:02d}:30:00Z"}
    r = await http.post(f"/v1/incidents/w{n}/resolution", json=body, headers=admin)
    statuses.append(("resolve", r.status_code))
    claim = {"claim_id": f"k{n}", "month": "2025-02", "channel": "email", "message": "we were down"}
    r = await http.post(f"/v1/customers/cust{n % CUSTOMERS}/claims", json=claim, headers=am)
    statuses.append(("claim", r.status_code))
    if n % 25 == 0:
        r = await http.post("/v1/billing/runs", json={"month": "2025-02"}, headers=billing)
        statuses.append(("run", r.status_code))
    return statuses


async def _load(base: str) -> list[tuple[str, int]]:
    limits = httpx.Limits(max_connections=WRITERS, max_keepalive_connections=WRITERS)
    async with httpx.AsyncClient(base_url=base, timeout=180, limits=limits) as http:
        results = await asyncio.gather(*(_writer(http, n) for n in range(WRITERS)))
    return [s for r in results for s in r]


def test_200_concurrent_writers_lose_and_duplicate_nothing_and_metrics_count_them(
    service_role: tuple[str, str], tmp_path: Path
) -> None:
    _, service_url = service_role
    server = Server(service_url, tmp_path / "server.log", workers=2, create_tables="false", read_wait_seconds="120")
    try:
        with server.client() as http:
            for n in range(CUSTOMERS):
                body = contract(contract_id=f"c{n}", customer_id=f"cust{n}", customer_name=f"Customer {n}")
                assert http.post("/v1/contracts", json=body).status_code == 201

            statuses = asyncio.run(_load(server.base))
            final = http.post("/v1/billing/runs", json={"month": "2025-02"}, headers=headers("billing"))

            feed, after = [], 0
            while True:
                page = http.get("/v1/audit/events", params={"after": after, "limit": 1000}, headers=headers("auditor"))
                if not page.json()["events"]:
                    break
                feed += page.json()["events"]
                after = page.json()["next_after"]
            result = verified(http)
            ledger = http.get("/v1/billing/ledger", params={"limit": 1000}, headers=headers("billing")).json()
            granted = {}
            for n in range(CUSTOMERS):
                doc = http.get(f"/v1/customers/cust{n}/credits", params={"from": "2025-02", "to": "2025-02"}).json()
                granted[f"c{n}"] = doc["periods"][0]["granted_minor"]
            metrics = _metrics(http.get("/metrics").text)
            traced = http.get("/v1/contracts/c0", headers={"X-Request-ID": "trace-me-42"})
    finally:
        server.stop()

    # logs: one JSON object a line; each request's line carries its id; no key and no body
    log_text = (tmp_path / "server.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "sla_credits.access"]
    assert len(access) >= len(statuses)
    assert all(len(str(line["request_id"])) >= 8 for line in access)
    assert all(key not in log_text for key in KEYS.values())
    assert "we were down" not in log_text  # the claims' message (a body) is never logged
    assert traced.headers["X-Request-ID"] == "trace-me-42"
    assert [line["route"] for line in access if line["request_id"] == "trace-me-42"] == ["/v1/contracts/{contract_id}"]

    runs = sum(1 for kind, _ in statuses if kind == "run") + 1
    assert Counter(s for _, s in statuses) == Counter({201: len(statuses)}), Counter(statuses)
    assert final.status_code == 201
    types = Counter(f["type"].split(":")[1] for f in feed)
    assert types == Counter(
        {
            "Contract.Signed": CUSTOMERS,
            "Incident.Opened": WRITERS,
            "Incident.Resolved": WRITERS,
            "Claim.Filed": WRITERS,
            "Ledger.Started": 1,
            "Ledger.RunIssued": runs,
        }
    )
    assert len({(f["stream_id"], f["version"]) for f in feed}) == len(feed) == result["events"]
    assert [f["position"] for f in feed] == sorted(f["position"] for f in feed)
    # the ledger's invariant: each period's entries add up to its granted amount, whatever the order
    sums: Counter[str] = Counter()
    for e in ledger["entries"]:
        sums[e["contract_id"]] += e["amount_minor"]
    assert {c: sums[c] for c in granted} == granted
    assert sum(granted.values()) > 0

    def m(name: str, **labels: str) -> float:
        return metrics.get((name, tuple(sorted(labels.items()))), 0.0)

    assert m("slacredits_http_requests_total", route="/v1/incidents", method="POST", status="201") == WRITERS
    assert (
        m("slacredits_http_requests_total", route="/v1/customers/{customer_id}/claims", method="POST", status="201")
        == WRITERS
    )
    assert m("slacredits_http_requests_total", route="/v1/billing/runs", method="POST", status="201") == runs
    assert m("slacredits_http_request_duration_seconds_count", route="/v1/incidents", method="POST") == WRITERS
    assert m("slacredits_events_recorded_total", type="Incident.Opened") == WRITERS
    assert m("slacredits_events_recorded_total", type="Incident.Resolved") == WRITERS
    assert m("slacredits_events_recorded_total", type="Claim.Filed") == WRITERS
    assert m("slacredits_events_recorded_total", type="Ledger.RunIssued") == runs
    assert m("slacredits_billing_runs_total") == runs
    kinds = Counter(e["kind"] for e in ledger["entries"])
    assert m("slacredits_billing_entries_issued_total", kind="credit") == kinds["credit"]
    assert m("slacredits_billing_entries_issued_total", kind="adjustment") == kinds["adjustment"]
    assert m("slacredits_verifications_total", result="ok") == 1
    assert m("slacredits_verification_events") == result["events"]
    assert m("slacredits_projection_lag_events", view="credits") == 0
    assert m("slacredits_log_position") == result["position"]
