"""`/docs` works with the network cut: Swagger UI and its assets come from our own origin, and it
renders the API in Chromium with every request elsewhere blocked; `/redoc` leads to it (ReDoc's
page loads its logo from a CDN)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.console_browser import chromium
from tests.e2e.processes import Server


def test_the_api_docs_render_with_every_request_outside_the_origin_blocked(tmp_path: Path) -> None:
    server = Server(f"sqlite:///{tmp_path}/credits.db", tmp_path / "serve.log", workers=1)
    outside: list[str] = []
    try:
        with chromium() as browser:
            page = browser.new_page()

            def only_our_origin(route, request) -> None:  # type: ignore[no-untyped-def]
                if request.url.startswith(server.base):
                    route.continue_()
                else:
                    outside.append(request.url)
                    route.abort()

            page.route("**/*", only_our_origin)
            page.goto(f"{server.base}/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            assert "sla-credits" in page.inner_text(".swagger-ui .info .title")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            assert any("/credits" in p for p in paths), paths
            page.goto(f"{server.base}/redoc")  # leads to the same page
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            assert page.url == f"{server.base}/docs"
    finally:
        server.stop()
    assert outside == [], outside
