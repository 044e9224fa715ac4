"""The console's routes against generated path and query values (the schemathesis run covers
the API; the console is not in the OpenAPI document): no value makes a 500."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import KEYS, Cases, auth
from tests.api.test_live_figures import CONTRACT

ROUTES = [
    "/ui/",
    "/ui/customers",
    "/ui/customers/{id}",
    "/ui/customers/{id}/periods/{month}",
    "/ui/claims",
    "/ui/incidents",
    "/ui/incidents/{id}",
    "/ui/billing",
    "/ui/billing/ledger.csv",
    "/ui/audit",
    "/ui/webhooks",
    "/ui/webhooks/{id}",
    "/ui/static/{id}",
]
PARAMS = ["page", "after", "as_of", "q", "service", "from", "to", "customer_id", "month", "kind"]
values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["acme", "k1", "2025-03", "9999-12", "0001-01", "-1", "abc", "1e9", "2025-03-01T00:00:00Z", "%2B"]),
    st.integers(-(10**20), 10**20).map(str),
)


@pytest.fixture
def signed_in(client: TestClient) -> TestClient:
    assert client.post("/v1/contracts", json=CONTRACT, headers=auth("admin")).status_code == 201
    client.get("/ui/login")
    data = {"key": KEYS["admin"], "csrf": client.cookies.get("slac_login"), "next": "/ui/"}
    assert client.post("/ui/login", data=data, follow_redirects=False).status_code == 303
    assert client.get("/ui/customers/acme", follow_redirects=False).status_code == 200  # signed in
    return client


def test_no_console_address_makes_a_server_error(signed_in: TestClient) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        route=st.sampled_from(ROUTES),
        path_value=values,
        month=values,
        query=st.dictionaries(st.sampled_from(PARAMS), values, max_size=3),
    )
    def probe(route: str, path_value: str, month: str, query: dict[str, str]) -> None:
        path = route.replace("{id}", quote(path_value, safe="") or "x").replace("{month}", quote(month, safe="") or "x")
        r = signed_in.get(f"{path}?{urlencode(query)}", follow_redirects=False)
        assert r.status_code < 500, (path, query, r.status_code, r.text[:300])

    probe()


NUL_CUSTOMER_PATHS = [
    "/ui/customers/%00",
    "/ui/customers/a%00b/periods/2025-03",
    "/v1/customers/%00/credits?from=2025-01&to=2025-03",
    "/v1/customers/a%00b/periods/2025-03/explanation",
]


def test_a_customer_id_with_a_nul_byte_is_unknown_not_a_database_failure(signed_in: TestClient) -> None:
    """Found by the run above on PostgreSQL (which refuses a NUL byte in a query's text): no
    customer can have such an id, so it is not found, on both stores."""
    cases = Cases()
    for path in NUL_CUSTOMER_PATHS:
        with cases.case(path):
            r = signed_in.get(path, headers=auth("admin") if path.startswith("/v1/") else None, follow_redirects=False)
            assert r.status_code == 404, (r.status_code, r.text[:300])
    cases.check()


def test_a_month_no_fact_can_reach_is_refused_on_the_console(signed_in: TestClient) -> None:
    """Found by the run above on PostgreSQL: the period page of 9999-12 worked out year 10000 (a 500)."""
    for month in ("9999-12", "1969-12", "2100-01"):
        r = signed_in.get(f"/ui/customers/acme/periods/{month}", follow_redirects=False)
        assert r.status_code == 422, (month, r.status_code, r.text[:300])
        assert "month" in r.text


NUL_ID_PATHS = [
    "/v1/contracts/a%00b",
    "/v1/incidents/a%00b",
    "/v1/billing/runs/a%00b",
    "/v1/webhooks/a%00b",
    "/v1/webhooks/a%00b/deliveries",
    "/v1/billing/ledger?customer_id=a%00b",
    "/v1/billing/ledger.csv?customer_id=a%00b",
    "/v1/billing/ledger?after=a%00b",
    "/v1/billing/unbilled?after=a%00b",
    "/v1/customers?q=a%00b",
    "/v1/customers?after=a%00b",
    "/v1/webhooks/x/deliveries?after=a%00b",
    "/ui/incidents/a%00b",
    "/ui/webhooks/a%00b",
    "/ui/customers?q=a%00b",
    "/ui/billing?customer_id=a%00b",
    "/ui/billing/ledger.csv?customer_id=a%00b",
    "/ui/billing?month=a%00b",
    "/ui/billing?kind=a%00b",
    "/ui/billing/ledger.csv?month=2025-0%00",
    "/ui/billing/ledger.csv?kind=credit%00",
    "/ui/incidents?service=a%00b",
    "/ui/customers?service=a%00b&month=a%00b",
    "/v1/billing/runs?month=a%00b",
]


def test_no_id_with_a_nul_byte_makes_a_server_error(signed_in: TestClient) -> None:
    """Every read that takes an id or a filter from the address, with a NUL byte in it: not found
    or refused as a bad value, never a database failure (PostgreSQL refuses a NUL byte in a
    query's text), on both stores."""
    cases = Cases()
    for path in NUL_ID_PATHS:
        with cases.case(path):
            r = signed_in.get(path, headers=auth("admin") if path.startswith("/v1/") else None, follow_redirects=False)
            assert r.status_code in (200, 404, 422), (r.status_code, r.text[:300])
    cases.check()
