"""`make screenshots`: the console's main pages, as images for the README (docs/screenshots/).

Serves the demo data on a fresh SQLite file, signs in as admin in Debian's Chromium, and
saves one PNG per page (a laptop-sized window, 1366x900)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from api.demo import demo_instant
from projections.stores import open_application
from tests.e2e.console_browser import chromium, demo_server, sign_in

OUT = Path("docs/screenshots")
PAGES = [
    ("customers", "/ui/customers", None),
    ("customer", "/ui/customers/northwind", "[data-chart=months][data-drawn=true]"),
    # the month of the demo's two maintenance windows for Northwind (one in time, one not)
    ("explanation", "/ui/customers/northwind/periods/{works}", "[data-chart=timeline][data-drawn=true]"),
    ("claims", "/ui/claims?from=2025-01&to=2025-12", "[data-chart=claims][data-drawn=true]"),
    ("incidents", "/ui/incidents", None),
    ("billing", "/ui/billing", None),
    ("audit", "/ui/audit", None),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = demo_server(Path(tmp))
        app = open_application(server.env["SLACREDITS_DATABASE_URL"])
        example = demo_instant(app)
        app.close()
        assert example is not None
        try:
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1366, "height": 900})
                sign_in(page, server.base, "admin")
                page.goto(server.base + "/ui/billing")
                page.get_by_label("Month", exact=True).first.fill("2025-11")
                page.get_by_role("button", name="Issue the run").click()
                page.get_by_test_id("run-result").wait_for()
                page.screenshot(path=str(OUT / "billing-run.png"))
                for name, path, ready in PAGES:
                    page.goto(server.base + path.format(works=example.last.plus(-2)))
                    if ready:
                        page.wait_for_selector(ready)
                    page.screenshot(path=str(OUT / f"{name}.png"))
                    print(f"{OUT / name}.png")
                page.goto(server.base + "/ui/audit")
                page.get_by_role("button", name="Verify now").click()
                page.get_by_test_id("verification").wait_for()
                page.screenshot(path=str(OUT / "verification.png"))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
