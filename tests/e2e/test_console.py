"""The web console in a real browser (Debian's Chromium through Playwright) against a real
`sla-credits serve` with the demo data: roles, figures equal to the API's, claims, billing,
verification, a wrong key and an expired session."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from api.demo import CUSTOMERS, LATE, AsOfExample, demo_instant
from domain.calendar import Month
from projections.stores import open_application
from tests.e2e.console_browser import ROLE_KEYS, chromium, demo_server, only_our_origin, sign_in
from tests.e2e.processes import Server

NAV = {
    "admin": ["Customers", "Claims and fairness", "Incidents", "Billing", "Audit", "Webhooks"],
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
    "Webhooks": "/ui/webhooks",
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
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    outside = only_our_origin(context, server.base)  # as with the network cut
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    context.close()
    assert errors == [], errors  # no script error on any page
    assert outside == [], outside  # nothing asked of another origin


def api(server: Server, role: str = "admin") -> httpx.Client:
    return httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {ROLE_KEYS[role]}"}, timeout=60)


SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "AUD": "A$", "NZD": "NZ$", "INR": "₹", "CHF": "CHF\u00a0"}


def money(minor: int, currency: str) -> str:
    """The currency's own format, as an account manager writes it: €1,250.00, ¥3,000."""
    digits = 0 if currency == "JPY" else 2
    text = f"{SYMBOLS[currency]}{Decimal(abs(minor)).scaleb(-digits):,.{digits}f}"
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
    with api(server, "billing") as http:
        before = http.get("/v1/billing/ledger", params={"limit": 1000}).json()["entries"]

    forged = page.request.post(server.base + "/ui/billing/runs", form={"month": "2025-03"})
    other_site = page.request.post(
        server.base + "/ui/billing/runs", form={"month": "2025-03"}, headers={"Origin": "https://evil.example"}
    )

    assert forged.status == 403 and other_site.status == 403
    with api(server, "billing") as http:  # nothing was issued
        assert http.get("/v1/billing/ledger", params={"limit": 1000}).json()["entries"] == before


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
    with api(server, "billing") as http:  # the demo billed recent months: bill a year before the first
        first_billed = min(r["month"] for r in http.get("/v1/billing/runs").json()["runs"])
    month = str(Month.parse(first_billed).plus(-12))
    sign_in(page, server.base, "billing")
    page.goto(server.base + "/ui/billing")
    page.get_by_label("Month", exact=True).first.fill(month)
    page.get_by_role("button", name="Issue the run").click()
    result = page.get_by_test_id("run-result")
    expect(result).to_contain_text(f"for {month} issued")
    # the page a posted run answers with sends its as-of form to the page, not to the POST-only address
    as_of_form = page.get_by_role("form", name="Figures as known at an instant")
    assert as_of_form.get_attribute("action") == "/ui/billing"

    with api(server, "billing") as http:
        entries = http.get("/v1/billing/ledger", params={"limit": 1000}).json()["entries"]
    billed = [e for e in entries if e["month"] == month]
    assert billed, f"the demo has credits in {month}"
    page.get_by_role("form", name="Filter the ledger").get_by_label("Month").fill(month)
    page.get_by_role("button", name="Filter").click()
    ledger = page.get_by_test_id("ledger").inner_text()
    for e in billed:
        assert e["entry_id"] in ledger
        assert money(e["amount_minor"], e["currency"]) in ledger
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("entry_id,run_id,customer_id")
    assert all(e["entry_id"] in text for e in billed)
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


# -- issue 16, item 7: the console read by an account manager ----------------------------------

LABELS = ["Credit earned by the SLA", "Credit granted (after the annual cap)", "Lost to the annual cap"]


def demo_example(server: Server) -> AsOfExample:
    app = open_application(server.env["SLACREDITS_DATABASE_URL"])
    try:
        example = demo_instant(app)
    finally:
        app.close()
    assert example is not None
    return example


def local(instant: str, tz: str) -> str:
    """An instant as a person in `tz` reads it: "20 Sep 2026 03:00 CEST"."""
    t = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(ZoneInfo(tz))
    return f"{t.day} {t:%b %Y %H:%M} {t.tzname()}" if t.second == 0 else f"{t.day} {t:%b %Y %H:%M:%S} {t.tzname()}"


def test_in_words_amounts_are_in_the_contracts_currency_and_times_local(server: Server, page: Page) -> None:
    month = str(demo_example(server).last.plus(-2))  # the demo's maintenance month for Northwind
    with api(server, "account_manager") as http:
        (period,) = http.get(f"/v1/customers/northwind/periods/{month}/explanation").json()["periods"]
    sign_in(page, server.base, "account_manager")

    page.goto(f"{server.base}/ui/customers/northwind/periods/{month}")
    words = page.get_by_test_id("words").inner_text()

    tz = period["timezone"]
    assert f"times are local to {tz}" in words
    assert f"Credit earned by the SLA for the month: {money(period['credit_minor'], 'EUR')}." in words
    assert f"Credit granted (after the annual cap): {money(period['granted_minor'], 'EUR')}" in words
    assert "of the cap remains" in words and money(period["cap"]["remaining_after_minor"], "EUR") in words
    for line in period["lines"]:
        assert f"the credit is {money(line['credit_minor'], 'EUR')}, rounded once" in words
        for i in line["incidents"]:
            if i["counted"]:
                assert f"from {local(i['clipped']['start'], tz)} to {local(i['clipped']['end'], tz)}" in words
    assert "minor units" not in words and not re.search(r"\d{2}:\d{2}(:\d{2})?Z", words)


def test_maintenance_that_does_not_qualify_is_drawn_unlike_the_one_that_does(server: Server, page: Page) -> None:
    month = str(demo_example(server).last.plus(-2))
    with api(server, "account_manager") as http:
        (period,) = http.get(f"/v1/customers/northwind/periods/{month}/explanation").json()["periods"]
    (compute,) = [line for line in period["lines"] if line["service"] == "compute"]
    windows = {m["maintenance_id"]: m for m in compute["maintenance"] if m["reason"] in (None, "notice_too_short")}
    assert windows["MW-NW-1"]["qualified"] and not windows["MW-NW-2"]["qualified"]
    sign_in(page, server.base, "account_manager")

    page.goto(f"{server.base}/ui/customers/northwind/periods/{month}")
    chart = page.locator("[data-chart=timeline][data-drawn=true]")
    expect(chart).to_have_count(1)
    bars = chart.evaluate(
        """el => Object.fromEntries(el.data.map((t, n) => [t.y[0], {
              fill: el.querySelectorAll('.barlayer .trace')[n].querySelector('path').style.fill,
              pattern: (t.marker.pattern || {}).shape || ''}]))"""
    )

    excluded, not_excluded = (
        bars["compute/eu-west · maintenance MW-NW-1 (excluded)"],
        bars["compute/eu-west · maintenance MW-NW-2 (not excluded)"],
    )
    assert excluded["pattern"] == "" and not_excluded["pattern"] == "/"
    assert not_excluded["fill"].startswith("url(") and excluded["fill"] != not_excluded["fill"]  # hatched
    key = page.get_by_test_id("timeline-key").inner_text()
    assert "maintenance excluded" in key and "maintenance not excluded" in key
    words = page.get_by_test_id("words").inner_text()
    assert "maintenance MW-NW-1" in words and "announced 7 d before, in time" in words
    assert f"announced 1 d before, and the contract asks for {period['maintenance_notice_hours']} h notice" in words


def test_the_claims_page_draws_every_customer_in_one_chart(server: Server, page: Page) -> None:
    with api(server, "account_manager") as http:
        report = http.get("/v1/reports/claims", params={"from": "2025-01", "to": "2025-12"}).json()
    sign_in(page, server.base, "account_manager")

    page.goto(server.base + "/ui/claims?from=2025-01&to=2025-12")
    chart = page.locator("[data-chart=claims][data-drawn=true]")
    expect(chart).to_have_count(1)
    drawn = chart.evaluate("el => ({rows: el.data[0].y, claims: el.data[0].x, amounts: el.data[1].text})")

    customers = [r for r in report["customers"] if len(r["currencies"]) == 1]
    assert len(drawn["rows"]) == len(report["customers"]) and len(customers) > 5
    for r in customers:
        n = drawn["rows"].index(f"{r['customer_id']} · {r['currencies'][0]}")
        assert drawn["claims"][n] == r["claims_filed"]
        assert drawn["amounts"][n] == money(r["credit_entitled_minor"], r["currencies"][0])
    assert len({r["currencies"][0] for r in customers}) > 1  # several currencies, one chart


def test_the_customer_page_starts_at_the_first_contract_month_and_takes_a_range(server: Server, page: Page) -> None:
    this_month = Month.of(datetime.now(UTC).date())
    with api(server, "account_manager") as http:
        everything = http.get(
            "/v1/customers/acme/credits", params={"from": str(this_month.plus(-40)), "to": str(this_month)}
        ).json()
    first = everything["periods"][0]["month"]
    assert first > str(this_month.plus(-24))  # the demo's acme started after the demo's first month
    sign_in(page, server.base, "account_manager")

    page.goto(server.base + "/ui/customers/acme")
    months = page.get_by_test_id("periods").locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.month)")
    assert sorted(months) == [p["month"] for p in everything["periods"]]
    page.get_by_label("From", exact=True).fill(str(this_month.plus(-5)))
    page.get_by_label("To", exact=True).fill(str(this_month.plus(-3)))
    page.get_by_role("button", name="Show months").click()

    expect(page.get_by_test_id("periods").locator("tbody tr")).to_have_count(3)
    shown = page.get_by_test_id("periods").locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.month)")
    assert sorted(shown) == [str(this_month.plus(k)) for k in (-5, -4, -3)]
    granted = page.locator(f"tr[data-month='{this_month.plus(-4)}'] [data-field=granted]").inner_text()
    (middle,) = [p for p in everything["periods"] if p["month"] == str(this_month.plus(-4))]
    assert granted == money(middle["granted_minor"], middle["currency"])


def test_the_three_amounts_are_named_alike_on_every_page(server: Server, page: Page) -> None:
    month = str(demo_example(server).last.plus(-2))
    sign_in(page, server.base, "account_manager")

    page.goto(server.base + "/ui/customers/northwind")
    expect(page.locator("[data-chart=months][data-drawn=true]")).to_have_count(1)
    legend = page.locator("[data-chart=months] .legendtext").evaluate_all("els => els.map(e => e.textContent)")
    headers = page.get_by_test_id("periods").locator("thead th").all_inner_texts()
    customer_text = page.locator("main").inner_text()
    page.goto(f"{server.base}/ui/customers/northwind/periods/{month}")
    totals = page.locator("dl.totals dt").all_inner_texts()
    explanation_text = page.locator("main").inner_text()
    page.goto(server.base + "/ui/claims")
    claims_headers = page.get_by_test_id("claims-report").locator("thead th").all_inner_texts()

    assert sorted(legend) == sorted(LABELS)
    assert [h for h in headers if h in LABELS] == LABELS
    assert {LABELS[0], LABELS[1], LABELS[2]} <= set(totals)
    assert LABELS[:2] == [h for h in claims_headers if h in LABELS]
    for text in (customer_text, explanation_text):
        assert not re.search(r"\b(owed|forfeited|entitled)\b", text, re.IGNORECASE), text[:300]


def test_the_incident_list_shows_title_duration_and_customers_reached(server: Server, page: Page) -> None:
    example = demo_example(server)
    # customers with compute in eu-west in service this month (the demo's own contracts)
    compute_eu = {c[0] for c in (*CUSTOMERS, LATE) if ("compute", "eu-west") in c[5]}
    with api(server, "account_manager") as http:
        live = http.get("/v1/incidents/INC-LIVE").json()
    sign_in(page, server.base, "account_manager")

    page.goto(server.base + "/ui/incidents?service=compute")
    row = page.locator("tr[data-incident=INC-LIVE]")
    scoped = page.locator("tr[data-incident=INC-NW-1]")

    assert row.locator("[data-field=title]").inner_text() == live["title"] == "compute eu-west: API errors"
    assert row.locator("[data-field=duration]").inner_text() == "3 h 20 min"
    assert row.locator("[data-field=reached]").inner_text() == str(len(compute_eu))
    assert scoped.locator("[data-field=reached]").inner_text() == "1"  # for Northwind only
    page.goto(f"{server.base}/ui/incidents?service=compute&as_of={example.instant_text}")
    assert page.locator("tr[data-incident=INC-LIVE] [data-field=duration]").inner_text() == "ongoing"


def test_an_amended_contracts_subscription_is_listed_once_on_the_incident_page(server: Server, page: Page) -> None:
    sign_in(page, server.base, "account_manager")

    page.goto(server.base + "/ui/incidents/INC-LIVE")
    rows = page.get_by_test_id("affected").locator("tbody tr")
    northwind = rows.filter(has_text="northwind").locator("td").nth(2).inner_text()

    assert northwind == "compute/eu-west"  # signed with it, then amended with a new fee: one subscription
    with api(server, "admin") as http:
        contract = http.get(f"/v1/contracts/{rows.filter(has_text='northwind').locator('td').nth(1).inner_text()}")
    assert len(contract.json()["amendments"]) >= 1


def test_the_audit_feed_names_each_fact_in_words_with_its_subject(server: Server, page: Page) -> None:
    with api(server, "auditor") as http:
        facts = http.get("/v1/audit/events", params={"limit": 1000}).json()["events"]
    resolved = next(f for f in facts if f["type"].endswith("Incident.Resolved"))
    opened = next(f for f in facts if f["stream_id"] == resolved["stream_id"] and f["version"] == 1)
    signed = facts[0]
    sign_in(page, server.base, "auditor")

    page.goto(server.base + "/ui/audit")
    first = page.get_by_test_id("feed").locator("[data-field=fact]").first.inner_text()
    page.goto(f"{server.base}/ui/audit?after={resolved['position'] - 1}")
    feed = page.get_by_test_id("feed").locator("[data-field=fact]")

    assert first.startswith(f"Contract {signed['data']['contract_id']} signed by customer")
    assert feed.first.inner_text() == f"Incident {opened['data']['incident_id']} resolved"
    assert not any("domain." in t or "." in t.split(" ")[0] for t in feed.all_inner_texts())


def test_a_bad_number_in_the_address_shows_an_error_page(server: Server, page: Page) -> None:
    sign_in(page, server.base, "admin")

    for path, name in [
        ("/ui/incidents?page=abc", "page"),
        ("/ui/customers?page=abc", "page"),
        ("/ui/billing?after=abc", "after"),
        ("/ui/audit?after=abc", "after"),
    ]:
        answer = page.goto(server.base + path)

        assert answer is not None and answer.status == 422, path
        expect(page.locator("main h1")).to_have_text("Please check the form")
        expect(page.locator("main")).to_contain_text(f"{name}: must be a whole number")
