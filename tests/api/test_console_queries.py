"""The console's query parameters: a value that is not a number is a 4xx page naming it,
never a 500 (issue 16: page=abc, after=abc)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import KEYS


def _signed_in(client: TestClient) -> None:
    client.get("/ui/login")
    token = client.cookies.get("slac_login")
    r = client.post("/ui/login", data={"key": KEYS["admin"], "csrf": token, "next": "/ui/"}, follow_redirects=False)
    assert r.status_code == 303, r.text


@pytest.mark.parametrize(
    "path",
    [
        "/ui/incidents?page=abc",
        "/ui/customers?page=abc",
        "/ui/billing?after=abc",
        "/ui/audit?after=abc",
        "/ui/audit?after=-1",
        "/ui/customers?page=99999999999999999999999",
    ],
)
def test_a_bad_number_in_a_console_address_is_not_a_server_error(client: TestClient, path: str) -> None:
    _signed_in(client)

    r = client.get(path)

    assert r.status_code == 422, r.text[:500]
    assert path.split("?")[1].split("=")[0] in r.text


def test_a_contract_with_a_cap_of_zero_is_listed(client: TestClient) -> None:
    from tests.api.test_live_figures import CONTRACT

    body = {**CONTRACT, "terms": {**CONTRACT["terms"], "annual_cap": {"amount_minor": 0}}}
    assert (
        client.post("/v1/contracts", json=body, headers={"Authorization": f"Bearer {KEYS['admin']}"}).status_code == 201
    )
    _signed_in(client)

    r = client.get("/ui/customers")

    assert r.status_code == 200, r.text[:500]
    assert "cap of 0" in r.text


def test_signing_out_ends_the_session_on_the_server(client: TestClient) -> None:
    _signed_in(client)
    kept = client.cookies.get("slac_session")
    page = client.get("/ui/audit")
    assert page.status_code == 200
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None

    assert client.post("/ui/logout", data={"csrf": csrf.group(1)}, follow_redirects=False).status_code == 303

    client.cookies.set("slac_session", kept, path="/ui")
    again = client.get("/ui/audit", follow_redirects=False)
    assert again.status_code in (303, 307), again.status_code
    form = client.post("/ui/audit/verification", data={"csrf": csrf.group(1)}, follow_redirects=False)
    assert form.status_code in (303, 307, 401, 403), form.status_code
