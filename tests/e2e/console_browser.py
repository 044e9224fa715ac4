"""Debian's Chromium driven by Playwright (never `playwright install`), and a served demo."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright
from playwright.sync_api import Request as BrowserRequest

from tests.e2e.processes import Server

CHROMIUM = os.environ.get("SLACREDITS_CHROMIUM", "/usr/bin/chromium")
ROLE_KEYS = {
    "admin": "e2e-admin",
    "ingest": "e2e-ingest",
    "account_manager": "e2e-am",
    "billing": "e2e-billing",
    "auditor": "e2e-auditor",
}
KEY_SETTING = ",".join(f"{r}:{k}" for r, k in ROLE_KEYS.items())


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is required for the console tests: apt-get install chromium ({CHROMIUM} missing)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


def demo_server(tmp: Path, **settings: str) -> Server:
    """`sla-credits demo` into a fresh SQLite file, then `sla-credits serve` on it."""
    url = f"sqlite:///{tmp}/console.db"
    env = dict(os.environ, SLACREDITS_DATABASE_URL=url)
    done = subprocess.run([sys.executable, "-m", "api.cli", "demo"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return Server(url, tmp / "server.log", workers=1, api_keys=KEY_SETTING, **settings)


def sign_in(page: Page, base: str, role: str) -> None:
    page.goto(f"{base}/ui/")
    page.get_by_label("API key").fill(ROLE_KEYS[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("[data-testid=role]")


def only_our_origin(context: BrowserContext, base: str) -> list[str]:
    """Abort every request the pages of `context` make outside `base` (the app's origin), as
    with the network cut; answers the list the aborted addresses are collected in."""
    outside: list[str] = []

    def route(r: Route, request: BrowserRequest) -> None:
        if request.url == base or request.url.startswith(base + "/"):
            r.continue_()
        else:
            outside.append(request.url)
            r.abort()

    context.route("**/*", route)
    return outside
