"""The web console in a real browser (Debian's Chromium through Playwright) against a real
`sla-credits serve` with the demo data: roles, figures equal to the API's, claims, billing,
verification, a wrong key and an expired session."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.console_browser import ROLE_KEYS, chromium, demo_server, sign_in
from tests.e2e.processes import Server

NAV = {
    "admin": ["Customers", "Claims and fairness", "Incidents", "Billing", "Audit"],
    "ingest": ["Incidents"],
    "account_manager": ["Customers", "Claims and fairness", "Incidents"],
    "billing": ["Customers", "Incidents", "Billing"],
    "auditor": ["Customers", "Claims and fairness", "Incidents", "Billing", "Audit"],
}
PAGES = {
    "Customers": "/ui/customers",
    "Claims and fairness": "/ui/claims",
    "Incidents": "/ui/incidents",
    "Billing": "/ui/billing",
    "Audit": "/ui/audit",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = demo_server(tmp_path_factory.mktemp("console"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    context.close()
    assert errors == [], errors  # no script error on any page


def api(server: Server, role: str = "admin") -> httpx.Client:
    return httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {ROLE_KEYS[role]}"}, timeout=60)


def money(minor: int, currency: str) -> str:
    digits = 0 if currency == "JPY" else 2
    amount = abs(minor) / 10**digits
    text = f"{currency}\u00a0{amount:,.{digits}f}"
    return f"-{text}" if minor < 0 else text


@pytest.mark.parametrize("role", list(NAV))
def test_each_role_sees_only_what_it_may(server: Server, page: Page, role: str) -> None:
    sign_in(page, server.base, role)

    links = page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()
    assert links == NAV[role]
    for label, path in PAGES.items():
        answer = page.goto(server.base + path)
        assert answer is not None
        if label in NAV[role]:
            assert answer.status == 200, (role, path)
            expect(page.locator("main h1")).to_be_visible()
        else:
            assert answer.status == 403, (role, path)
            expect(page.locator("main h1")).to_have_text("Not allowed")
    if "Billing" in NAV[role]:
        page.goto(server.base + "/ui/billing")
        expect(page.get_by_role("button", name="Issue the run")).to_have_count(1 if role in ("admin", "billing") else 0)
    if "Claims and fairness" in NAV[role]:
        page.goto(server.base + "/ui/claims")
        expect(page.get_by_role("button", name="File the claim")).to_have_count(
            1 if role in ("admin", "account_manager") else 0
        )


def test_the_session_cookie_is_httponly_strict_and_the_key_is_nowhere_else(server: Server, page: Page) -> None:
    sign_in(page, server.base, "account_manager")

    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["slac_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert ROLE_KEYS["account_manager"] not in session["value"]
    assert ROLE_KEYS["account_manager"] not in page.url
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("() => document.cookie") == ""  # scripts cannot read it


def test_a_form_without_its_token_is_refused(server: Server, page: Page) -> None:
    sign_in(page, server.base, "billing")

    forged = page.request.post(server.base + "/ui/billing/runs", form={"month": "2025-03"})
    other_site = page.request.post(
        server.base + "/ui/billing/runs", form={"month": "2025-03"}, headers={"Origin": "https://evil.example"}
    )

    assert forged.status == 403 and other_site.status == 403
    with api(server, "billing") as http:
        assert http.get("/v1/billing/ledger").json()["entries"] == []  # nothing was issued


def test_find_a_customer_and_read_the_same_figures_as_the_api(server: Server, page: Page) -> None:
    sign_in(page, server.base, "account_manager")
    page.get_by_label("Find a customer").fill("north")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Northwind Traders").click()
    expect(page.locator("[data-chart=months][data-drawn=true]")).to_have_count(1)
    expect(page.locator("[data-chart=gauge][data-drawn=true]").first).to_be_visible()
    page.get_by_role("link", name="Explain 2025-03").click()
    expect(page.locator("[data-chart=timeline][data-drawn=true]")).to_have_count(1)

    with api(server, "account_manager") as http:
        doc = http.get("/v1/customers/northwind/periods/2025-03/explanation").json()
    (period,) = doc["periods"]
    cur = period["currency"]
    assert page.locator("[data-field=granted]").inner_text() == money(period["granted_minor"], cur)
    assert page.locator("[data-field=credit]").inner_text() == money(period["credit_minor"], cur)
    uptimes = page.locator("[data-field=uptime]").all_inner_texts()
    assert uptimes == [f"{line['uptime_percent']} %" for line in period["lines"]]
    words = page.get_by_test_id("words").inner_text()
    for line in period["lines"]:
        for incident in line["incidents"]:
            assert incident["incident_id"] in words


def test_filing_a_claim_changes_the_report_but_not_the_credit(server: Server, page: Page) -> None:
    sign_in(page, server.base, "account_manager")
    page.goto(server.base + "/ui/claims?from=2025-01&to=2025-12")
    row = page.locator("tr[data-customer=globex]")
    claims_before = int(row.locator("[data-field=claims]").inner_text())
    entitled_before = row.locator("[data-field=entitled]").inner_text()
    with api(server, "account_manager") as http:
        credit_before = http.get("/v1/customers/globex/credits", params={"from": "2025-05", "to": "2025-05"}).json()

    time.sleep(1.1)  # the as-of form has whole seconds
    before_filing = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    time.sleep(1.1)
    page.get_by_label("Customer", exact=True).select_option("globex")
    page.get_by_label("Month", exact=True).fill("2025-05")
    page.get_by_label("Channel").select_option("phone")
    page.get_by_label("What the customer said").fill("Our shop was down, we want compensation!")
    page.get_by_role("button", name="File the claim").click()
    answer = page.get_by_test_id("claim-answer")
    expect(answer).to_be_visible()
    answer_text = answer.inner_text()

    page.goto(server.base + "/ui/claims?from=2025-01&to=2025-12")
    row = page.locator("tr[data-customer=globex]")
    assert int(row.locator("[data-field=claims]").inner_text()) == claims_before + 1
    assert row.locator("[data-field=entitled]").inner_text() == entitled_before
    with api(server, "account_manager") as http:
        credit_after = http.get("/v1/customers/globex/credits", params={"from": "2025-05", "to": "2025-05"}).json()
    assert credit_after == credit_before
    (may,) = credit_after["periods"]
    assert money(may["granted_minor"], may["currency"]) in answer_text
    # as known before the claim was filed: the report had one claim fewer
    page.goto(server.base + "/ui/claims?from=2025-01&to=2025-12")
    page.get_by_label("As of (UTC)").fill(before_filing)
    page.get_by_role("button", name="Show", exact=True).first.click()
    expect(page.get_by_role("status").first).to_contain_text("Figures as known at")
    then = page.locator("tr[data-customer=globex] [data-field=claims]").inner_text()
    assert int(then) == claims_before


def test_run_billing_and_see_the_ledger_then_download_it(server: Server, page: Page) -> None:
    sign_in(page, server.base, "billing")
    page.goto(server.base + "/ui/billing")
    page.get_by_label("Month", exact=True).first.fill("2025-11")
    page.get_by_role("button", name="Issue the run").click()
    result = page.get_by_test_id("run-result")
    expect(result).to_contain_text("for 2025-11 issued")

    with api(server, "billing") as http:
        entries = http.get("/v1/billing/ledger", params={"limit": 1000}).json()["entries"]
    november = [e for e in entries if e["month"] == "2025-11"]
    assert november, "the demo has credits in November 2025"
    ledger = page.get_by_test_id("ledger").inner_text()
    for e in november:
        assert e["entry_id"] in ledger
        assert money(e["amount_minor"], e["currency"]) in ledger
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("entry_id,run_id,customer_id")
    assert all(e["entry_id"] in text for e in november)
    # the runs, and the closed periods no run issued yet, as the API lists them
    page.goto(server.base + "/ui/billing")
    with api(server, "billing") as http:
        runs = http.get("/v1/billing/runs").json()["runs"]
        unbilled = http.get("/v1/billing/unbilled").json()["periods"]
    assert runs[-1]["run_id"] in page.get_by_test_id("runs").inner_text()
    shown = page.get_by_test_id("unbilled").inner_text()
    assert unbilled and all(f"{u['contract_id']}\t{u['month']}" in shown for u in unbilled), shown[:500]


def test_verify_shows_the_digest_and_a_kept_digest_checks(server: Server, page: Page) -> None:
    sign_in(page, server.base, "auditor")
    page.goto(server.base + "/ui/audit")
    expect(page.get_by_test_id("feed").locator("tbody tr").first).to_be_visible()
    page.get_by_role("button", name="Verify now").click()
    digest = page.locator("[data-field=digest]").inner_text()
    with api(server, "auditor") as http:
        official = http.get("/v1/audit/verification").json()
    assert "0 mismatches" in page.get_by_test_id("verification").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)

    page.get_by_label("Digest").fill(digest)
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_test_id("digest-result")).to_contain_text("no fact recorded up to that position has changed")
    page.get_by_label("Digest").fill("0" * 64)
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_test_id("digest-result")).to_contain_text("matches no position")
    assert digest == official["digest"]


def test_a_wrong_key_is_refused(server: Server, page: Page) -> None:
    page.goto(server.base + "/ui/")
    page.get_by_label("API key").fill("not-a-key")
    page.keyboard.press("Enter")  # the form works from the keyboard

    expect(page.get_by_role("alert")).to_have_text("That key is not valid.")
    assert "/ui/login" in page.url
    assert page.context.cookies() == [] or all(c["name"] != "slac_session" for c in page.context.cookies())


def test_an_expired_session_asks_to_sign_in_again(tmp_path: Path, browser: Browser) -> None:
    short = demo_server(tmp_path, console_session_seconds="2")
    try:
        context = browser.new_context()
        page = context.new_page()
        sign_in(page, short.base, "auditor")
        time.sleep(3)
        page.goto(short.base + "/ui/audit")

        expect(page.get_by_role("alert")).to_contain_text("Your session has expired")
        assert "/ui/login" in page.url and "next=%2Fui%2Faudit" in page.url
        page.get_by_label("API key").fill(ROLE_KEYS["auditor"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("main h1")).to_have_text("Audit")  # back where the user was
        context.close()
    finally:
        short.stop()
